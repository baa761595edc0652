"""Policies applied to a Gemini generateContent body that is otherwise forwarded untouched."""

from __future__ import annotations

import logging

from ... import ir
from ...reasoning import reasoning_for
from ...wire import loads_or_none
from .request import thinking_for
from .stream import decode_usage

log = logging.getLogger(__name__)


def is_final_event(name: str | None, data: str) -> bool:
    """Whether this chunk ends a complete Gemini stream: a candidate with a finishReason, or an error.

    Parsed only when one of those keys occurs in it: model text holds its
    quotes escaped, so cannot fake one.
    """
    if '"finishReason"' not in data and '"error"' not in data:
        return False
    payload = loads_or_none(data)
    if isinstance(payload, list) and len(payload) == 1:
        payload = payload[0]  # the JSON-array framing some servers use
    if not isinstance(payload, dict):
        return False
    if isinstance(payload.get("error"), dict):
        return True
    candidates = payload.get("candidates")
    return isinstance(candidates, list) and any(
        isinstance(candidate, dict) and candidate.get("finishReason") for candidate in candidates)


def apply_policies(body: dict, route, system_prompt: str, *, count_tokens: bool = False) -> dict:
    body = dict(body)  # the client's body stays as sent: a fallback applies its own route's policies to it
    if count_tokens:
        # A countTokens body counts `contents` alone, or a whole request under generateContentRequest:
        # the policies apply to that request, which names its model.
        inner = body.get("generateContentRequest")
        if isinstance(inner, dict):
            inner = apply_policies(dict(inner), route, system_prompt)
            inner["model"] = f"models/{route.upstream_model}"
            body["generateContentRequest"] = inner
        return body
    if route.factory:
        body["model"] = route.upstream_model  # Factory's /g/v1/generate reads the model from the body
    if system_prompt:
        instruction = body.get("systemInstruction") or body.get("system_instruction") or {}
        parts = instruction.get("parts") if isinstance(instruction, dict) else None
        body.pop("system_instruction", None)
        body["systemInstruction"] = {**(instruction if isinstance(instruction, dict) else {}),
                                     "parts": [{"text": system_prompt}, *(parts or [])]}
    forced = reasoning_for(route.model.reasoning)
    if forced is not None:  # the same writer the request encoder uses
        losses = []
        config = body.get("generationConfig")
        config = dict(config) if isinstance(config, dict) else {}
        config.pop("thinkingConfig", None)
        thinking = thinking_for(forced, route.upstream_model, losses)
        if thinking is not None:
            config["thinkingConfig"] = thinking
        if config:
            body["generationConfig"] = config
        for loss in losses:
            log.debug("reasoning level %s for %s: %s", route.model.reasoning, route.upstream_model, loss.reason)
    return body


def usage_of(payload) -> ir.Usage | None:
    """The usage a relayed answer or chunk reports (``usageMetadata``: every chunk has the counts so far)."""
    if isinstance(payload, list) and payload:  # the JSON-array framing: the last element has the totals
        payload = payload[-1]
    usage = payload.get("usageMetadata") if isinstance(payload, dict) else None
    return decode_usage(usage) if isinstance(usage, dict) else None
