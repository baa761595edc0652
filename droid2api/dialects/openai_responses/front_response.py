"""This module writes an ir.Response as the Response object a client of /v1/responses reads.

The item builders, ids, statuses and usage here are shared with the stream
encoder (front_stream.py), so a streamed answer accumulates, in the openai
SDK, to exactly the Response a non-streamed call returns.

How IR parts become output items:

* Consecutive Text and Refusal parts are one ``message`` item, one content
  part each (``output_text`` / ``refusal``); consecutive Thinking parts with
  the same id (the summary parts of one upstream reasoning item) are one
  ``reasoning`` item, one ``summary_text`` each; every tool call is an item of
  its own. Parts with nothing in them make no content part, and an item left
  with nothing to show is not sent.
* ``encrypted_content`` is sent only when the request's ``include`` asks for
  ``reasoning.encrypted_content``, as the API does: a Responses upstream's own
  data, or another dialect's opaque reasoning wrapped by carried.py. A Gemini
  thought signature on a function call rides in a reasoning item of its own,
  with an empty summary, just before the call (without ``include`` there is
  nothing to carry it, so it is not sent). Anthropic's redacted thinking has
  no place in carried.py's wrapping, so it cannot be shown to this client.
* A call of a ``custom`` tool is a ``custom_tool_call`` whose ``input`` is the
  ``input`` string the upstream was asked for (any other arguments are passed
  on as their raw text); a call of a namespaced or renamed tool gets the
  client's name back, and its ``namespace``. Function arguments are passed on
  as the model wrote them: a Responses client parses them itself.
* ``status`` is ``incomplete`` when the answer was cut off (max tokens, a
  content filter, Anthropic's refusal classifier), and the item being written
  when that happened is ``incomplete`` too.
* Item ids are derived from the response id, so the streamed and the plain
  answer to one upstream answer name their items alike.
"""

from __future__ import annotations

import hashlib
import time
import uuid

from ... import ir
from ...errors import GatewayError
from .. import carried
from .front_echo import client_name, echoed_settings
from .tools import custom_input

ENCRYPTED_REASONING = "reasoning.encrypted_content"  # the ``include`` entry that asks for encrypted_content
ENDED_IN_ERROR = "the upstream ended its answer with an error"
# IR stop reasons that cut an answer off -> incomplete_details.reason; any other stop completes it.
INCOMPLETE_REASONS = {"max_tokens": "max_output_tokens", "content_filter": "content_filter",
                      "refusal": "content_filter"}
# ResponseError.code values the openai SDK knows, plus those Codex acts on (it compacts its history on
# context_length_exceeded, and stops retrying on the quota ones).
FAILURE_CODES = frozenset({
    "server_error", "rate_limit_exceeded", "invalid_prompt", "vector_store_timeout", "invalid_image",
    "invalid_image_format", "invalid_base64_image", "invalid_image_url", "image_too_large", "image_too_small",
    "image_parse_error", "image_content_policy_violation", "invalid_image_mode", "image_file_too_large",
    "unsupported_image_media_type", "empty_image_file", "failed_to_download_image", "image_file_not_found",
    "context_length_exceeded", "insufficient_quota", "usage_not_included"})


def response_id(upstream_id: str | None) -> str:
    """The upstream's id as a Responses id (kept inside it, so logs can be matched up)."""
    if not upstream_id:
        return "resp_" + uuid.uuid4().hex
    return upstream_id if upstream_id.startswith("resp_") else "resp_" + upstream_id


def item_id(prefix: str, of_response: str, output_index: int) -> str:
    """The id of the item at ``output_index``: a function of the response id, in the API's own alphabet."""
    digest = hashlib.sha256(f"{of_response}/{output_index}".encode("utf-8", "surrogatepass")).hexdigest()
    return f"{prefix}_{digest[:48]}"


def completion(stop_reason: str | None) -> tuple:
    """(status, incomplete_details) of an answer that stopped for ``stop_reason`` (never "error")."""
    reason = INCOMPLETE_REASONS.get(stop_reason)
    return ("incomplete", {"reason": reason}) if reason else ("completed", None)


def failure_code(status: int, kind: str | None) -> str:
    """The ``code`` of a failed response: the upstream's own when clients know it, else one by status."""
    if kind in FAILURE_CODES:
        return kind
    if status == 429:
        return "rate_limit_exceeded"
    return "invalid_prompt" if 400 <= status < 500 else "server_error"


def encode_usage(usage: ir.Usage) -> dict:
    """Responses counts like the IR: input includes cached tokens, output includes reasoning."""
    return {"input_tokens": usage.input_tokens,
            "input_tokens_details": {"cached_tokens": usage.cache_read_tokens,
                                     "cache_write_tokens": usage.cache_write_tokens},
            "output_tokens": usage.output_tokens,
            "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
            "total_tokens": usage.total_tokens}


def response_object(request: ir.Request | None, model: str, resp_id: str, created_at: int, status: str,
                    output: list, usage: ir.Usage | None = None, incomplete: dict | None = None,
                    error: dict | None = None) -> dict:
    """The Response object, as the API sends it at every stage of an answer."""
    return {"id": resp_id, "object": "response", "created_at": created_at, "status": status, "background": False,
            "error": error, "incomplete_details": incomplete, "model": model,  # the name the client asked for
            "output": output, "usage": encode_usage(usage) if usage is not None else None,
            **echoed_settings(request)}


# -- items -------------------------------------------------------------------


def joins(previous, part) -> bool:
    """Whether ``part`` belongs to the same output item as the part before it."""
    if isinstance(part, (ir.Text, ir.Refusal)):
        return isinstance(previous, (ir.Text, ir.Refusal))
    if isinstance(part, ir.Thinking):
        return isinstance(previous, ir.Thinking) and part.id is not None and previous.id == part.id
    return False


def content_entry(part, text: str) -> dict:
    """A message content part: ``output_text`` for Text, ``refusal`` for Refusal."""
    if isinstance(part, ir.Refusal):
        return {"type": "refusal", "refusal": text}
    return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}


def message_item(item: str, content: list, status: str) -> dict:
    return {"id": item, "type": "message", "status": status, "content": content, "role": "assistant"}


def summary_entry(text: str) -> dict:
    return {"type": "summary_text", "text": text}


def reasoning_item(item: str, summaries: list, encrypted: str | None = None) -> dict:
    encoded = {"id": item, "type": "reasoning", "summary": [summary_entry(text) for text in summaries]}
    if encrypted is not None:
        encoded["encrypted_content"] = encrypted
    return encoded


def merged_thinking(parts: list) -> ir.Thinking:
    """The opaque data of one reasoning item's Thinking parts, as one part for carried.py."""
    return ir.Thinking(signature="".join(part.signature or "" for part in parts) or None,
                       encrypted="".join(part.encrypted or "" for part in parts) or None,
                       source=parts[0].source, id=parts[0].id)


class ClientView:
    """What of the client's request shapes its answer: its tools' kinds and names, and ``include``."""

    def __init__(self, request: ir.Request | None):
        self.tools = {tool.name: tool for tool in request.tools} if request else {}
        include = request.extras.get("include") if request else None
        self.shows_encrypted = isinstance(include, list) and ENCRYPTED_REASONING in include

    def is_custom(self, call: ir.ToolCall) -> bool:
        tool = self.tools.get(call.name)
        return tool is not None and tool.kind == "custom"

    def call_item_id(self, call: ir.ToolCall, of_response: str, output_index: int) -> str:
        return item_id("ctc" if self.is_custom(call) else "fc", of_response, output_index)

    def call_item(self, item: str, call: ir.ToolCall, arguments: str, status: str) -> dict:
        """A ``function_call`` or ``custom_tool_call`` item; ``arguments`` is the IR's JSON text."""
        tool = self.tools.get(call.name)
        if self.is_custom(call):  # an item without a status field
            encoded = {"id": item, "type": "custom_tool_call", "call_id": call.id, "name": client_name(tool),
                       "input": custom_input(arguments)}
        else:
            encoded = {"id": item, "type": "function_call", "status": status, "arguments": arguments,
                       "call_id": call.id, "name": client_name(tool) if tool else call.name}
        if tool is not None and tool.namespace is not None:
            encoded["namespace"] = tool.namespace
        return encoded

    def encrypted(self, parts: list) -> str | None:
        """A reasoning item's encrypted_content, if the client asked for it and there is any."""
        if not self.shows_encrypted:
            return None
        return carried.wrap_thinking(merged_thinking(parts), client=ir.Dialect.RESPONSES)

    def signature_carrier(self, item: str, call: ir.ToolCall, signature: str | None) -> dict | None:
        """The reasoning item that carries a function call's Gemini thought signature, if it can be shown."""
        if not signature or not self.shows_encrypted:
            return None
        return reasoning_item(item, [], carried.wrap(ir.Dialect.GEMINI, signature=signature, call_id=call.id))


# -- the whole answer ----------------------------------------------------------


def _groups(parts: list) -> list:
    groups = []
    for part in parts:
        if groups and joins(groups[-1][-1], part):
            groups[-1].append(part)
        else:
            groups.append([part])
    return groups


def _group_items(group: list, view: ClientView, resp_id: str, first_index: int, status: str) -> list:
    """The items of one group of parts (none, one, or a signature carrier and its call)."""
    head = group[0]
    if isinstance(head, ir.ToolCall):
        carrier = view.signature_carrier(item_id("rs", resp_id, first_index), head, head.signature)
        call_index = first_index + (carrier is not None)
        call = view.call_item(view.call_item_id(head, resp_id, call_index), head, head.arguments or "{}", status)
        return [carrier, call] if carrier else [call]
    if isinstance(head, ir.Thinking):
        summaries = [part.text for part in group if part.text]
        encrypted = view.encrypted(group)
        if not summaries and encrypted is None:
            return []
        return [reasoning_item(head.id or item_id("rs", resp_id, first_index), summaries, encrypted)]
    content = [content_entry(part, part.text) for part in group if part.text]
    return [message_item(item_id("msg", resp_id, first_index), content, status)] if content else []


def encode_response(response: ir.Response, model: str, request: ir.Request | None = None) -> dict:
    if response.stop_reason == "error":
        raise GatewayError(502, ENDED_IN_ERROR)
    view = ClientView(request)
    resp_id = response_id(response.id)
    status, incomplete = completion(response.stop_reason)
    groups = _groups(response.parts)
    output = []
    for position, group in enumerate(groups):
        cut_off = status == "incomplete" and position == len(groups) - 1  # the item being written at the end
        output += _group_items(group, view, resp_id, len(output), "incomplete" if cut_off else "completed")
    return response_object(request, model, resp_id, response.created or int(time.time()), status, output,
                           response.usage, incomplete)
