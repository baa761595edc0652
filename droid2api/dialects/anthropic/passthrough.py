"""Policies applied to an Anthropic Messages body that is otherwise forwarded untouched."""

from __future__ import annotations

from ...reasoning import FORCED_LEVELS, THINKING_BUDGETS
from ...wire import loads_or_none

ANSWER_ROOM = 4096  # tokens left for the answer when max_tokens has to grow past the thinking budget
MIN_THINKING_TOP_P = 0.95  # Anthropic takes top_p from 0.95 to 1 while thinking

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
    body["model"] = route.upstream_model
    if system_prompt:
        body["system"] = prepend_system(body.get("system"), system_prompt)
    level = route.model.reasoning
    if level == "off":
        body.pop("thinking", None)
    elif level in FORCED_LEVELS and not forces_tool_use(body.get("tool_choice")):
        # Anthropic refuses thinking while tool_choice forces a tool: the client's explicit
        # choice wins over the configured level.
        enable_thinking(body, THINKING_BUDGETS[level], count_tokens=count_tokens)
    return body


def forces_tool_use(tool_choice) -> bool:
    return isinstance(tool_choice, dict) and tool_choice.get("type") in ("any", "tool")


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


def enable_thinking(body: dict, budget: int, *, count_tokens: bool = False) -> list:
    """Turn on extended thinking and make the body valid for it; the request encoder shares this.

    Returns the names of the fields it had to change: max_tokens raised above
    the budget, temperature (other than 1), top_k and top_p below 0.95 dropped, because
    Anthropic rejects them while thinking. A count_tokens body has no
    max_tokens or sampling fields to fix.
    """
    body["thinking"] = {"type": "enabled", "budget_tokens": budget}
    if count_tokens:
        return []
    changed = []
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or max_tokens <= budget:
        body["max_tokens"] = budget + ANSWER_ROOM
        changed.append("max_tokens")
    if body.get("temperature") not in (None, 1):
        body.pop("temperature")
        changed.append("temperature")
    if body.pop("top_k", None) is not None:
        changed.append("top_k")
    top_p = body.get("top_p")
    if isinstance(top_p, (int, float)) and top_p < MIN_THINKING_TOP_P:
        body.pop("top_p")
        changed.append("top_p")
    return changed
