"""Each dialect's passthrough ``apply_policies`` leaves the client's body as it was sent.

A routed request is tried on one route after another with the same body: a fallback must get the
client's body with its own route's policies, not the first route's applied a second time (the system
prompt twice, the first model's reasoning or service tier).
"""

from __future__ import annotations

import copy
from types import SimpleNamespace

import pytest

from droid2api.dialects import BY_NAME

PROMPT = "You are the gateway."
DIALECTS = {"anthropic": "anthropic", "openai": "openai_responses", "common": "openai_chat", "google": "gemini"}
BODIES = {
    "anthropic": {"model": "m", "max_tokens": 100, "system": "Be brief.",
                  "messages": [{"role": "user", "content": "hi"}]},
    "openai": {"model": "m", "instructions": "Be brief.", "input": "hi", "reasoning": {"effort": "low"}},
    "common": {"model": "m", "messages": [{"role": "user", "content": "hi"}], "reasoning_effort": "low"},
    "google": {"contents": [{"role": "user", "parts": [{"text": "hi"}]}],
               "systemInstruction": {"parts": [{"text": "Be brief."}]}, "generationConfig": {"temperature": 1}},
}


def route(reasoning: str, fast: bool) -> SimpleNamespace:
    return SimpleNamespace(upstream_model="upstream-model", factory=True, fast=fast,
                           model=SimpleNamespace(reasoning=reasoning, fast=fast))


@pytest.mark.parametrize("name", sorted(BODIES))
def test_apply_policies_never_changes_the_clients_body(name):
    dialect = BY_NAME[DIALECTS[name]]
    body = copy.deepcopy(BODIES[name])

    first = dialect.apply_policies(body, route("high", True), PROMPT)
    assert body == BODIES[name]
    second = dialect.apply_policies(body, route("high", True), PROMPT)
    assert second == first  # the same route twice: the same body, the prompt once
    assert PROMPT in str(first) and str(first).count(PROMPT) == 1
