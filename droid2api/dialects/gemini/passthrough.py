"""Policies applied to a Gemini generateContent body that is otherwise forwarded untouched."""

from __future__ import annotations

from ...reasoning import FORCED_LEVELS
from .request import thinking_config

STREAM_END_MARKERS = (b'"finishReason"', b'"error"')


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
    if level == "off" and isinstance(config, dict):
        config.pop("thinkingConfig", None)
    elif level in FORCED_LEVELS:  # the same mapping the request encoder uses
        body["generationConfig"] = {**(config if isinstance(config, dict) else {}),
                                    "thinkingConfig": thinking_config(route.upstream_model, level, None)}
    return body
