"""This module writes an ir.Response as the GenerateContentResponse a Gemini client reads, and the model list.

The part builders, finish reasons and usage here are shared with the stream
encoder (front_stream.py), so the chunks of a streamed answer, put together
the way google-genai's users do (text parts concatenated, function calls
collected), give the answer a non-streamed call returns.

Choices a Gemini client forces on us:

* Thought text goes out (a part with ``thought: true``) only when the client
  asked for it with ``generationConfig.thinkingConfig.includeThoughts``, as
  Gemini does. A thought's opaque data goes out whether or not its text does,
  as that part's ``thoughtSignature`` (with empty text if the thought is not
  shown): Gemini's own signature unchanged, another dialect's data wrapped by
  carried.py so that it comes back to the dialect that made it. Anthropic's
  redacted thinking has no place in that wrapping, so it cannot be shown.
* ``functionCall.args`` must be an object. Arguments the upstream left empty
  are ``{}``. Arguments that are not a JSON object are a call the model did
  not manage to write, which Gemini reports as finishReason
  ``MALFORMED_FUNCTION_CALL`` with no call in the answer: the call is left
  out and the answer says so (``MAX_TOKENS`` instead, when the answer was cut
  off, which is why the call is incomplete). Nothing runs on arguments the
  model did not give.
* Every answer and chunk has at least one part: google-genai's chats leave a
  turn out of their history if any chunk of it has a candidate without parts,
  so an answer with nothing to show has an empty text part, as Gemini's own
  last chunks do.
"""

from __future__ import annotations

import uuid

from ... import ir
from ...wire import arguments_object
from .. import carried

# IR stop reason -> finishReason; anything else (end_turn, tool_use, stop_sequence, pause_turn, None) is STOP.
FINISH_REASONS = {"max_tokens": "MAX_TOKENS", "content_filter": "SAFETY", "refusal": "SAFETY", "error": "OTHER"}
MALFORMED_CALL = "MALFORMED_FUNCTION_CALL"
GENERATION_METHODS = ("generateContent", "streamGenerateContent", "countTokens")
EMPTY_TEXT = {"text": ""}


def response_id(upstream_id: str | None) -> str:
    """The upstream's id as the answer's responseId (Gemini's ids have no prefix to add)."""
    return upstream_id or uuid.uuid4().hex


def shows_thoughts(request: ir.Request | None) -> bool:
    """Whether the client asked for thought text: ``thinkingConfig.includeThoughts``, which the request
    decoder (front_config.py) reads as a reasoning summary."""
    reasoning = request.reasoning if request is not None else None
    return reasoning is not None and reasoning.summary not in (None, "none")


def finish_reason(stop_reason: str | None, malformed_calls: list) -> str:
    reason = FINISH_REASONS.get(stop_reason, "STOP")
    return MALFORMED_CALL if malformed_calls and reason == "STOP" else reason


def finish_message(malformed_calls: list) -> str | None:
    if not malformed_calls:
        return None
    names = ", ".join(repr(name) for name in malformed_calls)
    return f"the upstream sent arguments for function call {names} that are not a JSON object; the call was left out"


def encode_usage(usage: ir.Usage) -> dict:
    """Gemini's counts: the prompt includes cached tokens (as the IR's input does); thoughts are counted apart
    from the candidates, where the IR's output includes them."""
    counts = {"promptTokenCount": usage.input_tokens,
              "candidatesTokenCount": max(usage.output_tokens - usage.reasoning_tokens, 0),
              "totalTokenCount": usage.total_tokens}
    if usage.cache_read_tokens:
        counts["cachedContentTokenCount"] = usage.cache_read_tokens
    if usage.reasoning_tokens:
        counts["thoughtsTokenCount"] = usage.reasoning_tokens
    return counts


# -- parts ------------------------------------------------------------------


def thought_part(text: str, signature: str | None) -> dict:
    part = {"text": text, "thought": True}
    if signature:
        part["thoughtSignature"] = signature
    return part


def thought_signature(part: ir.Thinking) -> str | None:
    """The ``thoughtSignature`` of a thinking part: Gemini's own, or another dialect's data wrapped."""
    return carried.wrap_thinking(part, client=ir.Dialect.GEMINI)


def thinking_part(part: ir.Thinking, show: bool) -> dict | None:
    """A thought part; None when it has nothing to show this client (redacted thinking among them)."""
    text = part.text if show else ""
    signature = thought_signature(part)
    if not text and signature is None:
        return None
    return thought_part(text, signature)



def call_part(call: ir.ToolCall, arguments: str, signature: str | None) -> dict | None:
    """A functionCall part (with the call's Gemini thought signature), or None if its arguments are unreadable."""
    args = arguments_object(arguments)
    if args is None:
        return None
    part = {"functionCall": {"id": call.id, "name": call.name, "args": args}}
    if signature:
        part["thoughtSignature"] = signature
    return part


def encode_part(part, show_thoughts: bool, malformed_calls: list) -> dict | None:
    """The Gemini part for one IR part, if it has one; the name of a call that cannot be read goes in
    ``malformed_calls``."""
    if isinstance(part, ir.Thinking):
        return thinking_part(part, show_thoughts)
    if isinstance(part, ir.ToolCall):
        encoded = call_part(part, part.arguments, part.signature)
        if encoded is None:
            malformed_calls.append(part.name)
        return encoded
    if isinstance(part, (ir.Text, ir.Refusal)) and part.text:  # Gemini has no refusal part: it is text
        return {"text": part.text}
    return None


# -- the answer -------------------------------------------------------------


def generate_content_response(parts: list, model: str, resp_id: str, finish: str | None = None,
                              usage: ir.Usage | None = None, message: str | None = None) -> dict:
    """One GenerateContentResponse: a whole answer, or one chunk of a streamed one."""
    candidate = {"content": {"role": "model", "parts": parts or [EMPTY_TEXT]}}
    if finish is not None:
        candidate["finishReason"] = finish
    if message is not None:
        candidate["finishMessage"] = message
    candidate["index"] = 0
    body = {"candidates": [candidate]}
    if usage is not None:
        body["usageMetadata"] = encode_usage(usage)
    body["modelVersion"] = model  # the name the client asked for, not the upstream's
    body["responseId"] = resp_id
    return body


def encode_response(response: ir.Response, model: str, request: ir.Request | None = None) -> dict:
    show = shows_thoughts(request)
    parts, malformed = [], []
    for part in response.parts:
        encoded = encode_part(part, show, malformed)
        if encoded is not None:
            parts.append(encoded)
    return generate_content_response(parts, model, response_id(response.id),
                                     finish_reason(response.stop_reason, malformed), response.usage,
                                     finish_message(malformed))


# -- models -----------------------------------------------------------------


def model_entry(model, created: int) -> dict:
    """One configured model as Gemini's Model (GET /v1beta/models/{id}).

    ``version`` is when the gateway started serving it, a number that grows
    whenever the configuration may have changed. The token limits are the
    upstream's to know and the configuration does not say them, so they are
    left out rather than made up.
    """
    label = model.name or model.id
    return {"name": f"models/{model.id}", "baseModelId": model.id, "version": str(created), "displayName": label,
            "description": f"{label}, served by droid2api", "supportedGenerationMethods": list(GENERATION_METHODS)}


def model_list(models, created: int) -> dict:
    """The configured models as Gemini's ListModelsResponse: all of them, on one page."""
    return {"models": [model_entry(model, created) for model in models]}
