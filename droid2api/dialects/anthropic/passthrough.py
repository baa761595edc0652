"""Policies applied to an Anthropic Messages body that is otherwise forwarded untouched."""

from __future__ import annotations

import logging

from ...reasoning import reasoning_for
from ...wire import loads_or_none
from .thinking import write_thinking

log = logging.getLogger(__name__)

FINAL_EVENTS = frozenset({"message_stop", "error"})


def is_final_event(name: str | None, data: str) -> bool:
    """Whether this event ends a complete Messages stream: ``message_stop``, or an ``error``.

    The event name decides; a server that sends data lines only is judged by
    its payload's ``type``, parsed only when one of those names occurs in it
    as a JSON string (model text holds its quotes escaped, so cannot fake it).
    """
    if name:
        return name in FINAL_EVENTS
    if '"message_stop"' not in data and '"error"' not in data:
        return False
    payload = loads_or_none(data)
    return isinstance(payload, dict) and payload.get("type") in FINAL_EVENTS


def apply_policies(body: dict, route, system_prompt: str, *, count_tokens: bool = False) -> dict:
    body = dict(body)  # the client's body stays as sent: a fallback applies its own route's policies to it
    body["model"] = route.upstream_model
    if system_prompt:
        body["system"] = prepend_system(body.get("system"), system_prompt)
    reasoning = reasoning_for(route.model.reasoning)
    if reasoning is not None:  # the same writer the request encoder uses
        losses = []
        write_thinking(body, reasoning, losses, count_tokens=count_tokens)
        for loss in losses:
            log.debug("reasoning level %s for %s: %s", route.model.reasoning, route.upstream_model, loss.reason)
    return body


def prepend_system(system, prompt: str) -> list:
    """The system blocks with ``prompt`` first; the client's own system text is always kept."""
    block = {"type": "text", "text": prompt}
    if system is None or system == "" or system == []:
        return [block]
    if isinstance(system, str):
        return [block, {"type": "text", "text": system}]
    if isinstance(system, list):
        return [block, *system]
    return [block, system]
