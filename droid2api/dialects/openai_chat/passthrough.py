"""Policies applied to a Chat Completions body that is otherwise forwarded untouched."""

from __future__ import annotations

import logging
import re

from ... import ir
from ...reasoning import reasoning_for
from ...wire import loads_or_none
from .request import reasoning_effort
from .response import decode_usage

log = logging.getLogger(__name__)

# Every chunk carries "finish_reason", mostly as null (some servers send ""): only another value is worth
# parsing the chunk for.
_FINISH_REASON_SET = re.compile(r'"finish_reason"\s*:\s*(?!null|"")\S')


def is_final_event(name: str | None, data: str) -> bool:
    """Whether this event ends a complete Chat stream: ``[DONE]``, a choice's finish_reason, or an error.

    Several providers end with the finish_reason chunk and never send
    ``[DONE]``. A chunk is parsed only when a set finish_reason or an
    "error" key occurs in it: model text holds its quotes escaped, so a
    delta that merely says ``"finish_reason": "stop"`` or ``[DONE]`` cannot
    match, and the parse settles the rest.
    """
    if data.strip() == "[DONE]":
        return True
    if '"error"' not in data and _FINISH_REASON_SET.search(data) is None:
        return False
    payload = loads_or_none(data)
    if not isinstance(payload, dict):
        return False
    if payload.get("error"):  # what the openai SDKs raise on
        return True
    choices = payload.get("choices")
    return isinstance(choices, list) and any(
        isinstance(choice, dict) and choice.get("finish_reason") for choice in choices)


def apply_policies(body: dict, route, system_prompt: str) -> dict:
    body = dict(body)  # the client's body stays as sent: a fallback applies its own route's policies to it
    body["model"] = route.upstream_model
    if system_prompt:
        messages = body.get("messages")
        if isinstance(messages, list):
            # A message of its own, so the client's system message stays exactly as sent.
            body["messages"] = [{"role": "system", "content": system_prompt}, *messages]
    forced = reasoning_for(route.model.reasoning)
    if forced is not None:  # the same writer the request encoder uses
        losses = []
        body.pop("reasoning_effort", None)
        body.pop("reasoning", None)
        effort = reasoning_effort(forced, route.upstream_model, losses)
        if effort:
            body["reasoning_effort"] = effort
        for loss in losses:
            log.debug("reasoning level %s for %s: %s", route.model.reasoning, route.upstream_model, loss.reason)
    return body


def usage_of(payload: dict) -> ir.Usage | None:
    """The usage a relayed answer or chunk reports (a stream's last chunk, with ``include_usage``)."""
    usage = payload.get("usage")
    return decode_usage(usage) if isinstance(usage, dict) else None
