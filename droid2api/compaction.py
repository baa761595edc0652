"""This module compacts a Responses conversation for a model whose upstream has no compact endpoint.

Codex calls ``POST /v1/responses/compact`` when a conversation grows long and
replaces its history with what comes back: the user's messages and one
``compaction`` item whose ``encrypted_content`` only OpenAI can read. For any
other upstream the gateway asks the model itself for a summary and hands it
out as such an item, its ``encrypted_content`` being ``d2a.summary.`` and the
summary in URL-safe base64. When the item comes back in ``input``, the
Responses front reads it as the summarised context (``summary_from``).
"""

from __future__ import annotations

import base64
import time
import uuid

from . import ir

SUMMARY_PREFIX = "d2a.summary."
SUMMARY_INTRO = "A summary of the conversation so far, made when it was compacted:\n\n"

COMPACTION_PROMPT = (
    "The conversation so far is about to be replaced by a summary, because it has grown too long. Write that "
    "summary now, for yourself to continue the work from it alone: the user's goals and constraints, what has "
    "been done and decided, the files, commands, names and values that matter, what is still open and the "
    "next step. Be complete and specific; do not address the user, and do not call any tool.")


def summary_token(summary: str) -> str:
    return SUMMARY_PREFIX + base64.urlsafe_b64encode(summary.encode()).decode().rstrip("=")


def summary_from(encrypted_content) -> str | None:
    """The summary a compaction item made by the gateway carries; None for anything else (OpenAI's own)."""
    if not isinstance(encrypted_content, str) or not encrypted_content.startswith(SUMMARY_PREFIX):
        return None
    text = encrypted_content[len(SUMMARY_PREFIX):]
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None


def summary_request(request: ir.Request) -> ir.Request:
    """The conversation of a compact request, asked for its summary: no tool call, no stream. The tools
    stay declared: Anthropic refuses a history with tool calls but no tools."""
    request.tool_choice, request.stream = ir.ToolChoice("none"), False
    request.messages.append(ir.Message("user", [ir.Text(COMPACTION_PROMPT)]))
    return request


def compacted(input_items: list, answer: ir.Response, usage: dict) -> dict:
    """The compacted response: the user's own messages, then the summary as one compaction item."""
    summary = "".join(part.text for part in answer.parts if isinstance(part, ir.Text))
    kept = [_user_item(item, index) for index, item in enumerate(input_items) if _is_user_message(item)]
    compaction = {"id": "cmp_" + uuid.uuid4().hex, "type": "compaction", "encrypted_content": summary_token(summary)}
    return {"id": "resp_" + uuid.uuid4().hex, "object": "response.compaction", "created_at": int(time.time()),
            "output": [*kept, compaction], "usage": usage}


def _is_user_message(item) -> bool:
    return isinstance(item, dict) and item.get("role") == "user" and item.get("type", "message") == "message"


def _user_item(item: dict, index: int) -> dict:
    content = item.get("content")
    if isinstance(content, str):
        content = [{"type": "input_text", "text": content}]
    return {"id": item.get("id") or f"msg_{index:03d}", "type": "message", "status": "completed", "role": "user",
            "content": content}
