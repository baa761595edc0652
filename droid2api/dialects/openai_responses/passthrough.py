"""Policies applied to a Responses body that is otherwise forwarded untouched."""

from __future__ import annotations

import logging
import re

from ... import ir
from ...reasoning import reasoning_for
from ...errors import GatewayError
from ...validation import json_type
from ...wire import loads_or_none
from .request import ask_fast_tier, join_texts, reasoning_object
from .response import usage_from

log = logging.getLogger(__name__)

FINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed", "error"})
# Not a bare '"error"': the response object in every response.created event holds "error": null.
_FINAL_TYPE = re.compile(r'"type"\s*:\s*"(?:response\.(?:completed|incomplete|failed)|error)"')


def is_final_event(name: str | None, data: str) -> bool:
    """Whether this event ends a complete Responses stream: completed, incomplete, failed, or an error.

    The event name decides; a server that sends data lines only is judged by
    its payload's own ``type`` (``"type":"x"`` or ``"type": "x"``), parsed only
    when one of those names occurs in it as a JSON string: model text holds
    its quotes escaped, so cannot fake one.
    """
    if name:
        return name in FINAL_EVENTS
    if _FINAL_TYPE.search(data) is None:
        return False
    payload = loads_or_none(data)
    return isinstance(payload, dict) and payload.get("type") in FINAL_EVENTS


def apply_policies(body: dict, route, system_prompt: str) -> dict:
    body = dict(body)  # the client's body stays as sent: a fallback applies its own route's policies to it
    body["model"] = route.upstream_model
    if system_prompt:
        instructions = body.get("instructions")
        if instructions is not None and not isinstance(instructions, str):
            raise GatewayError(400, f"instructions must be a string, not {json_type(instructions)}",
                               param="instructions")
        body["instructions"] = join_texts([system_prompt, instructions]) if instructions else system_prompt
    forced = reasoning_for(route.model.reasoning)
    if forced is not None:  # the same writer the request encoder uses
        losses = []
        body.pop("reasoning", None)
        written = reasoning_object(forced, route.upstream_model, losses)
        if written is not None:
            body["reasoning"] = written
        for loss in losses:
            log.debug("reasoning level %s for %s: %s", route.model.reasoning, route.upstream_model, loss.reason)
    ask_fast_tier(body, route)
    return body


def usage_of(payload: dict) -> ir.Usage | None:
    """The usage a relayed answer reports, or a stream's final event (``response.completed`` and its kin)."""
    response = payload.get("response") if isinstance(payload.get("response"), dict) else payload
    usage = response.get("usage")
    return usage_from(usage) if isinstance(usage, dict) else None
