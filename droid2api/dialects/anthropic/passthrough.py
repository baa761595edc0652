"""Policies applied to an Anthropic Messages body that is otherwise forwarded untouched."""

from __future__ import annotations

from ...reasoning import FORCED_LEVELS, THINKING_BUDGETS

ANSWER_ROOM = 4096  # tokens left for the answer when max_tokens has to grow past the thinking budget

# End markers of a complete Messages stream, looked for in the relayed bytes.
STREAM_END_MARKERS = (b"message_stop", b"event: error")


def apply_policies(body: dict, route, system_prompt: str, *, count_tokens: bool = False) -> dict:
    body["model"] = route.upstream_model
    if system_prompt:
        body["system"] = prepend_system(body.get("system"), system_prompt)
    level = route.model.reasoning
    if level == "off":
        body.pop("thinking", None)
    elif level in FORCED_LEVELS:
        budget = THINKING_BUDGETS[level]
        body["thinking"] = {"type": "enabled", "budget_tokens": budget}
        if not count_tokens:
            require_thinking_room(body, budget)
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


def require_thinking_room(body: dict, budget: int):
    """Make a body valid for extended thinking: max_tokens above the budget, no sampling overrides."""
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or max_tokens <= budget:
        body["max_tokens"] = budget + ANSWER_ROOM
    # Anthropic rejects temperature other than 1 and any top_k while thinking.
    if body.get("temperature") not in (None, 1):
        body.pop("temperature")
    body.pop("top_k", None)
