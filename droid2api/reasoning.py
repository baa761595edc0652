"""Reasoning levels and the numbers they stand for, shared by policy and the dialect codecs."""

from __future__ import annotations

LEVELS = ("auto", "off", "low", "medium", "high", "xhigh")
FORCED_LEVELS = ("low", "medium", "high", "xhigh")  # levels that override what the client asked

# Anthropic thinking budgets per effort; Gemini 2.x's thinkingBudget uses the same numbers.
THINKING_BUDGETS = {"minimal": 1024, "low": 4096, "medium": 12288, "high": 24576, "xhigh": 40960}

# Effort names clients send, normalised: "none" means no reasoning at all.
EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")


def budget_for(reasoning) -> int | None:
    """The thinking budget an ir.Reasoning asks for, or None when it asks for no thinking."""
    if reasoning is None or reasoning.effort == "none":
        return None
    if reasoning.budget_tokens:
        return reasoning.budget_tokens
    return THINKING_BUDGETS.get(reasoning.effort)


def effort_for_budget(budget: int) -> str:
    """The smallest effort whose budget covers ``budget`` (for dialects that speak in efforts)."""
    for effort in ("minimal", "low", "medium", "high"):
        if budget <= THINKING_BUDGETS[effort]:
            return effort
    return "xhigh"


def effort_for(reasoning) -> str | None:
    """The effort an ir.Reasoning asks for (derived from its budget if need be); None for no reasoning."""
    if reasoning is None or reasoning.effort == "none":
        return None
    if reasoning.effort:
        return reasoning.effort
    return effort_for_budget(reasoning.budget_tokens) if reasoning.budget_tokens else None
