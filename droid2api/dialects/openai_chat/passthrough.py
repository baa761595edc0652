"""Policies applied to a Chat Completions body that is otherwise forwarded untouched."""

from __future__ import annotations

from ...reasoning import FORCED_LEVELS

# End markers of a complete Chat stream. "[DONE]" counts only at the start of a data line: model text
# may say it too, but cannot hold an unescaped line break.
STREAM_END_MARKERS = (b"\ndata: [DONE]", b"\ndata:[DONE]", b'{"error"')


def apply_policies(body: dict, route, system_prompt: str) -> dict:
    body["model"] = route.upstream_model
    if system_prompt:
        messages = body.get("messages")
        if isinstance(messages, list):
            # A message of its own, so the client's system message stays exactly as sent.
            body["messages"] = [{"role": "system", "content": system_prompt}, *messages]
    level = route.model.reasoning
    if level == "off":
        body.pop("reasoning_effort", None)
        body.pop("reasoning", None)
    elif level in FORCED_LEVELS:
        body.pop("reasoning", None)
        body["reasoning_effort"] = level
    return body
