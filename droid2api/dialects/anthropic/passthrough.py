"""Policies applied to an Anthropic Messages body that is otherwise forwarded untouched.

One repair is made too: thinking blocks whose signature carries another
dialect's reasoning (dialects/carried.py) are dropped. An Anthropic client
gets them when a fallback of another dialect answered a turn, and sends them
back; Anthropic rejects their signature. Thinking is then turned off if the
tool call the last turn answers is left without thinking, as Anthropic
requires (the converting path drops such blocks and decides the same way).
"""

from __future__ import annotations

import logging

from ... import ir
from ...reasoning import reasoning_for
from ...wire import loads_or_none
from ..carried import unwrap
from .response import decode_usage
from .thinking import opens_tool_loop_without_thinking, turn_off_thinking, write_thinking

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
    messages = without_carried_thinking(body.get("messages"))
    if messages is not None:
        body["messages"] = messages
        if "thinking" in body and not count_tokens and opens_tool_loop_without_thinking(messages):
            turn_off_thinking(body)
            log.debug("thinking turned off: the tool call being answered was made after another dialect's "
                      "reasoning, which Anthropic cannot take back")
    reasoning = reasoning_for(route.model.reasoning)
    if reasoning is not None:  # the same writer the request encoder uses
        losses = []
        write_thinking(body, reasoning, losses, count_tokens=count_tokens)
        for loss in losses:
            log.debug("reasoning level %s for %s: %s", route.model.reasoning, route.upstream_model, loss.reason)
    return body


def without_carried_thinking(messages) -> list | None:
    """``messages`` without the thinking blocks that carry another dialect's reasoning (and without a turn
    left empty by that), or None if there are none."""
    if not isinstance(messages, list):
        return None
    kept, dropped = [], False
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list) and any(_carried(block) for block in content):
            dropped = True
            content = [block for block in content if not _carried(block)]
            if not content:
                continue
            message = {**message, "content": content}
        kept.append(message)
    return kept if dropped else None


def _carried(block) -> bool:
    return isinstance(block, dict) and block.get("type") == "thinking" and unwrap(block.get("signature")) is not None


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


def usage_of(payload: dict) -> ir.Usage | None:
    """The usage a relayed answer or event reports: a body's ``usage``, message_start's ``message.usage``,
    message_delta's ``usage`` (output counted so far)."""
    usage = payload.get("usage")
    if payload.get("type") == "message_start" and isinstance(payload.get("message"), dict):
        usage = payload["message"].get("usage")
    return decode_usage(usage) if isinstance(usage, dict) else None
