"""Reasoning levels and the numbers they stand for, shared by policy and the dialect codecs."""

from __future__ import annotations

import re

LEVELS = ("auto", "off", "low", "medium", "high", "xhigh")
FORCED_LEVELS = ("low", "medium", "high", "xhigh")  # levels that override what the client asked

# Anthropic thinking budgets per effort; Gemini 2.x's thinkingBudget uses the same numbers.
THINKING_BUDGETS = {"minimal": 1024, "low": 4096, "medium": 12288, "high": 24576, "xhigh": 40960}

# Effort names clients send, normalised: "none" means no reasoning at all.
EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")


def reasoning_for(level: str):
    """What a model's configured reasoning level asks of every request, as an ir.Reasoning; None for auto
    (the client's own settings stand). The one place a level is turned into a decision: both the
    converting path (Policy.apply) and passthrough (each dialect's apply_policies) start from it."""
    from .ir import Reasoning  # the IR imports nothing; keep this module importable alone

    if level == "off":
        return Reasoning(effort="none")
    if level in FORCED_LEVELS:
        return Reasoning(effort=level, budget_tokens=THINKING_BUDGETS[level])
    return None


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


def openai_off_effort(model: str) -> tuple:
    """How to ask an OpenAI model (Responses or Chat) for no reasoning: (effort or None, loss or None).

    Per the Responses API reference: gpt-5.1 and later take ``none``; earlier
    gpt-5 models go no lower than ``minimal``; codex and o-series models no lower
    than ``low``; gpt-5-pro only ``high``. Any other model is sent no effort at
    all, which is right for models that never reason (gpt-4o, gpt-4.1, most
    Chat providers) and the best the gateway can do for the rest.
    """
    name = (model or "").lower().rpartition("/")[2]  # "openai/gpt-5" on routers
    match = re.match(r"gpt-(\d+)(?:\.(\d+))?", name)
    if match and int(match.group(1)) >= 5:
        if "-pro" in name:
            return None, f"{model} only reasons at high effort; it cannot turn reasoning off"
        if "codex" in name:
            return "low", f"{model} reasons at least at low effort; it cannot turn reasoning off"
        if int(match.group(1)) > 5 or int(match.group(2) or 0) >= 1:
            return "none", None
        return "minimal", f"{model} reasons at least at minimal effort; it cannot turn reasoning off"
    if re.match(r"o\d", name):
        return "low", f"{model} reasons at least at low effort; it cannot turn reasoning off"
    return None, None
