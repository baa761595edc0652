"""This module writes a reasoning decision into an Anthropic Messages body: one writer for both paths.

The request encoder (a converted request) and passthrough (a client's own
Messages body, when a model's reasoning level overrides it) call the same
``write_thinking``, so a level means the same on either path. Anthropic's
rules are met here: no thinking while tool_choice forces a tool, nor when the
last turn answers tool calls of an assistant turn without a thinking block;
a budget of at least 1024; max_tokens above the budget; no temperature other
than 1, no top_k and no top_p below 0.95 while thinking; no ``clear_thinking``
context edit (Claude Code sends one) without thinking.
"""

from __future__ import annotations

from ... import ir
from ...reasoning import budget_for

ANSWER_ROOM = 4096  # tokens left for the answer when max_tokens has to grow past the thinking budget
MIN_THINKING_BUDGET = 1024  # the smallest budget_tokens Anthropic accepts
MIN_THINKING_TOP_P = 0.95  # Anthropic takes top_p from 0.95 to 1 while thinking

_THINKING_CHANGES = {
    "max_tokens": "raised above the thinking budget, as Anthropic requires",
    "temperature": "Anthropic takes only temperature 1 while thinking; dropped",
    "top_k": "Anthropic takes no top_k while thinking; dropped",
    "top_p": "Anthropic takes top_p of 0.95 or more while thinking; dropped",
}


def write_thinking(body: dict, reasoning: ir.Reasoning, losses: list, *, count_tokens: bool = False,
                   max_tokens_asked: bool = True):
    """Set ``body["thinking"]`` for ``reasoning`` (none: thinking off), and make the body valid for it.

    ``max_tokens_asked`` says whether the client chose max_tokens (raising a default is no loss).
    """
    budget = budget_for(reasoning)
    if not budget:
        turn_off_thinking(body)
        return
    if forces_tool_use(body.get("tool_choice")):
        turn_off_thinking(body)
        losses.append(ir.Loss("reasoning", "Anthropic cannot think while tool_choice forces a tool; "
                                           "thinking turned off"))
        return
    if not count_tokens and opens_tool_loop_without_thinking(body.get("messages")):
        turn_off_thinking(body)
        losses.append(ir.Loss("reasoning", "the assistant turn these tool results answer has no Anthropic "
                                           "thinking block, which Anthropic requires while thinking; "
                                           "thinking turned off"))
        return
    if budget < MIN_THINKING_BUDGET:
        losses.append(ir.Loss("reasoning.budget_tokens", f"Anthropic's smallest thinking budget is "
                                                         f"{MIN_THINKING_BUDGET}; {budget} raised to it"))
        budget = MIN_THINKING_BUDGET
    for field in enable_thinking(body, budget, count_tokens=count_tokens):
        if field != "max_tokens" or max_tokens_asked:
            losses.append(ir.Loss(field, _THINKING_CHANGES[field]))


def turn_off_thinking(body: dict):
    """No thinking in ``body``, nor a context edit that needs it: Anthropic rejects a ``clear_thinking_*``
    edit in ``context_management`` unless thinking is on."""
    body.pop("thinking", None)
    management = body.get("context_management")
    edits = management.get("edits") if isinstance(management, dict) else None
    if not isinstance(edits, list):
        return
    kept = [edit for edit in edits
            if not (isinstance(edit, dict) and str(edit.get("type", "")).startswith("clear_thinking"))]
    if len(kept) == len(edits):
        return
    rest = {key: value for key, value in management.items() if key != "edits"}
    if kept or rest:
        body["context_management"] = {**rest, "edits": kept} if kept else rest
    else:
        body.pop("context_management")


def forces_tool_use(tool_choice) -> bool:
    return isinstance(tool_choice, dict) and tool_choice.get("type") in ("any", "tool")


def opens_tool_loop_without_thinking(turns) -> bool:
    """True when the conversation ends in tool results for an assistant turn that does not start
    with thinking: Anthropic rejects such a request when thinking is on (typical of a history
    that came from another dialect, whose thinking could not be sent back)."""
    if not isinstance(turns, list) or len(turns) < 2:
        return False
    user, assistant = turns[-1], turns[-2]
    if not (isinstance(user, dict) and isinstance(assistant, dict)
            and user.get("role") == "user" and assistant.get("role") == "assistant"):
        return False
    results, content = user.get("content"), assistant.get("content")
    if not isinstance(results, list) or not any(isinstance(b, dict) and b.get("type") == "tool_result"
                                                for b in results):
        return False
    first = content[0] if isinstance(content, list) and content else None
    return not (isinstance(first, dict) and first.get("type") in ("thinking", "redacted_thinking"))


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
