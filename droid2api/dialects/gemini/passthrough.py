"""Policies applied to a Gemini generateContent body that is otherwise forwarded untouched."""

from __future__ import annotations

import logging

from ...reasoning import FORCED_LEVELS
from ...wire import loads_or_none
from .request import thinking_config, thinking_off

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


def apply_policies(body: dict, route, system_prompt: str) -> dict:
    if route.factory:
        body["model"] = route.upstream_model  # Factory's /g/v1/generate reads the model from the body
    if system_prompt:
        instruction = body.get("systemInstruction") or body.get("system_instruction") or {}
        parts = instruction.get("parts") if isinstance(instruction, dict) else None
        body.pop("system_instruction", None)
        body["systemInstruction"] = {**(instruction if isinstance(instruction, dict) else {}),
                                     "parts": [{"text": system_prompt}, *(parts or [])]}
    level = route.model.reasoning
    config = body.get("generationConfig")
    if level == "off":
        off, loss = thinking_off(route.upstream_model)  # the same mapping the request encoder uses
        config = config if isinstance(config, dict) else {}
        config.pop("thinkingConfig", None)
        if off is not None:
            config["thinkingConfig"] = off
        if config:
            body["generationConfig"] = config
        if loss:
            log.debug("reasoning off for %s: %s", route.requested, loss)
    elif level in FORCED_LEVELS:  # the same mapping the request encoder uses
        thinking = thinking_config(route.upstream_model, level, None)
        if thinking is not None:
            body["generationConfig"] = {**(config if isinstance(config, dict) else {}), "thinkingConfig": thinking}
    return body
