"""When the gateway turns an Anthropic request's thinking off, nothing that needs thinking stays behind.

Claude Code sends ``context_management`` with a ``clear_thinking_20251015`` edit, which Anthropic rejects
("strategy requires `thinking` to be enabled") once thinking is off: a model whose reasoning level is
``off``, a forced tool, or a tool loop whose assistant turn has no Anthropic thinking. Such a turn comes
back after a fallback of another dialect answered: its thinking block carries that dialect's reasoning,
which Anthropic cannot take, so passthrough drops it.
"""

from __future__ import annotations

from types import SimpleNamespace

from droid2api.dialects.anthropic.passthrough import apply_policies
from droid2api.dialects.carried import wrap

CLEAR_THINKING = {"type": "clear_thinking_20251015", "keep": "all"}
CLEAR_TOOLS = {"type": "clear_tool_uses_20250919", "trigger": {"type": "input_tokens", "value": 100000}}


def body(*edits) -> dict:
    return {"model": "m", "max_tokens": 32000, "thinking": {"type": "enabled", "budget_tokens": 31999},
            "context_management": {"edits": list(edits)}, "messages": [{"role": "user", "content": "hi"}]}


def route(reasoning: str) -> SimpleNamespace:
    return SimpleNamespace(upstream_model="claude", model=SimpleNamespace(reasoning=reasoning))


def test_reasoning_off_drops_the_clear_thinking_edit_and_keeps_the_others():
    sent = apply_policies(body(CLEAR_THINKING, CLEAR_TOOLS), route("off"), "")
    assert "thinking" not in sent and sent["context_management"] == {"edits": [CLEAR_TOOLS]}


def test_reasoning_off_drops_a_context_management_of_nothing_else():
    sent = apply_policies(body(CLEAR_THINKING), route("off"), "")
    assert "thinking" not in sent and "context_management" not in sent


def test_a_forced_tool_turns_thinking_and_its_edit_off():
    sent = apply_policies({**body(CLEAR_THINKING, CLEAR_TOOLS), "tool_choice": {"type": "any"}}, route("high"), "")
    assert "thinking" not in sent and sent["context_management"] == {"edits": [CLEAR_TOOLS]}


def test_thinking_left_on_keeps_the_edit():
    sent = apply_policies(body(CLEAR_THINKING), route("high"), "")
    assert sent["thinking"]["type"] == "enabled" and sent["context_management"] == {"edits": [CLEAR_THINKING]}
    assert apply_policies(body(CLEAR_THINKING), route("auto"), "")["context_management"] == \
        {"edits": [CLEAR_THINKING]}


CARRIED = {"type": "thinking", "thinking": "", "signature": wrap("openai_responses", encrypted="gAAAA", item_id="rs_1")}
TOOL_USE = {"type": "tool_use", "id": "call_1", "name": "Bash", "input": {"command": "ls"}}
RESULT = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "a.txt"}]}


def test_thinking_carried_from_another_dialect_is_dropped_and_thinking_turned_off():
    sent = {**body(CLEAR_THINKING), "messages": [{"role": "user", "content": "hi"},
                                                 {"role": "assistant", "content": [CARRIED, TOOL_USE]}, RESULT]}
    relayed = apply_policies(sent, route("auto"), "")
    assert relayed["messages"] == [{"role": "user", "content": "hi"}, {"role": "assistant", "content": [TOOL_USE]},
                                   RESULT]
    assert "thinking" not in relayed and "context_management" not in relayed
    assert sent["messages"][1]["content"] == [CARRIED, TOOL_USE]  # the client's body as it was


def test_anthropics_own_thinking_stays_and_keeps_thinking_on():
    own = {"type": "thinking", "thinking": "Hm.", "signature": "EqQBCkYIBxgCKkA="}
    history = [{"role": "user", "content": "hi"},
               {"role": "assistant", "content": [CARRIED, {"type": "text", "text": "x"}]},
               {"role": "user", "content": "go on"}, {"role": "assistant", "content": [own, TOOL_USE]}, RESULT]
    relayed = apply_policies({**body(CLEAR_THINKING), "messages": history}, route("auto"), "")
    assert relayed["messages"][1]["content"] == [{"type": "text", "text": "x"}]
    assert relayed["messages"][3:] == history[3:] and relayed["thinking"]["type"] == "enabled"


def test_a_turn_of_carried_thinking_alone_is_left_out():
    history = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": [CARRIED]},
               {"role": "user", "content": "go on"}]
    relayed = apply_policies({**body(), "messages": history}, route("auto"), "")
    assert relayed["messages"] == [history[0], history[2]]
