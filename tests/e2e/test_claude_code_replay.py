"""Claude Code's own two recorded requests, replayed through the real gunicorn + gevent gateway to every
upstream type of the e2e config.

The requests (../shared/fixtures/clients/claude-code.json) are what Claude Code 2.1 sent: ~117 KB bodies
with three system blocks, ``cache_control`` on blocks, ``thinking`` with a 31999-token budget,
``context_management``, ``metadata.user_id``, 24 tools, and in the second one a ``tool_use`` /
``tool_result`` pair. Each goes, with the headers that matter (``anthropic-version``, ``anthropic-beta``,
``content-type``) to ``/v1/messages?beta=true``, once per model:

* ``claude-test``: Anthropic, relayed with only the policies applied (model, system prompt);
* ``gpt-test``: converted to Responses; ``glm-test``: to Chat; ``gemini-test``: to Factory's Gemini;
  ``gemini-direct``: to the public Gemini API.

The fake upstream answers each with a recorded real stream of its dialect. The checks: a 200 and an
Anthropic event stream the anthropic SDK's own types and MessageStream accept; and the request each
upstream got, field by field against Claude Code's body, the expected values written from the body
itself (and the documented rules), not through the gateway's codecs. All ten exchanges happen once, in
a module fixture; each test then reads what they produced.
"""

from __future__ import annotations

import json
import re

import pytest

from droid2api.dialects.ids import hashed
from tests.helpers import anthropic_assemble, anthropic_events, recorded

from .checks import Replayed, assert_gemini_schema, client_requests, join_texts, keys_anywhere, log_since
from .client import post, sse_payloads
from .servers import (ANTHROPIC_PATH, CHAT_PATH, DIRECT_GEMINI_KEY, DIRECT_GEMINI_PATH, FACTORY_KEY, GEMINI_PATH,
                      RESPONSES_PATH, SYSTEM_PROMPT)

FORWARDED_HEADERS = ("anthropic-version", "anthropic-beta", "content-type")
AUTH_HEADERS = ("authorization", "x-api-key", "x-goog-api-key")

# One line per request in the gateway's log (droid2api/logs.py AccessLog).
ACCESS_LINE = re.compile(r"POST /v1/messages model=(\S+) upstream=\S+ status=(\d+) ")

# model -> (upstream path, recorded answer to the first request (a tool call), to the second (text)).
TARGETS = {
    "claude-test": (ANTHROPIC_PATH, "anthropic__test_anthropic_model_thinking_part_stream.0",
                    "anthropic__test_anthropic_model_thinking_part_redacted_stream.0"),
    "gpt-test": (RESPONSES_PATH, "openai_responses__test_openai_responses_stream.0",
                 "openai_responses__test_openai_responses_stream.1"),
    "glm-test": (CHAT_PATH, "openai__test_run_stream_sync_streams_real_model.0",
                 "openai__test_run_stream_sync_streams_real_model.1"),
    "gemini-test": (GEMINI_PATH, "google__test_google_streaming_tool_call_thought_signature.0",
                    "google__test_google_streaming_tool_call_thought_signature.1"),
    "gemini-direct": (DIRECT_GEMINI_PATH + ":streamGenerateContent",
                      "google__test_google_streaming_tool_call_thought_signature.0",
                      "google__test_google_streaming_tool_call_thought_signature.1"),
}
CONVERTED = [model for model in TARGETS if model != "claude-test"]
GEMINI = ["gemini-test", "gemini-direct"]
BOTH = [0, 1]

# Fields that mean something to Anthropic only: none may appear, at any depth, in a converted body
# (tool parameter schemas aside: Claude Code's tools have properties named ``metadata``, ``model``...).
ANTHROPIC_ONLY = {"cache_control", "context_management", "thinking", "budget_tokens", "anthropic_version",
                  "anthropic-beta", "anthropic_beta", "input_schema", "tool_use_id", "tool_use", "tool_result",
                  "metadata", "stop_sequences", "system"}

# Claude Code's budget (31999 tokens) is more than "high" (24576) and at most "xhigh" (40960): the smallest
# effort whose budget covers it, as the README's reasoning table reads.
EFFORT = "xhigh"


# -- the replay -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def claude_code():
    requests = client_requests("claude-code.json")
    assert len(requests) == 2 and all(r["path"] == "/v1/messages?beta=true" for r in requests)
    return requests


@pytest.fixture(scope="module")
def replays(claude_code, gateway, upstream_process) -> dict:
    """{(model, request index): Replayed} for every model of TARGETS and both requests, plus the gateway's
    log written meanwhile under the key "log"."""
    upstream = upstream_process.client
    log_start = gateway.log_path.stat().st_size
    results = {}
    for model, (path, *recordings) in TARGETS.items():
        for index, (request, recording) in enumerate(zip(claude_code, recordings)):
            upstream.reset()
            upstream.reply_sse(path, recorded(f"{recording}.response.sse"))
            body = {**request["body"], "model": model}
            raw = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()  # as JSON.stringify does
            headers = {name: value for name, value in request["headers"].items()
                       if name.lower() in FORWARDED_HEADERS}
            exchange = post(gateway.url + request["path"], raw, headers)
            answer = exchange.read()
            results[model, index] = Replayed(request["body"], path, exchange.status,
                                             exchange.headers.get("content-type", ""), answer, recording,
                                             upstream.requests())
    upstream.reset()
    results["log"] = log_since(gateway.log_path, log_start, ACCESS_LINE, expected_lines=len(TARGETS) * len(claude_code))
    return results


def replay_ids():
    return [f"{model}-{index}" for model in TARGETS for index in BOTH]


# -- what Claude Code sent, read from its body ----------------------------------------------------


def system_texts(body: dict) -> list:
    """The gateway's prompt first, then Claude Code's system blocks, then any role: system message's text."""
    system = body.get("system") or []
    texts = [system] if isinstance(system, str) else [block["text"] for block in system]
    for message in body["messages"]:
        if message["role"] == "system":
            content = message["content"]
            texts += [content] if isinstance(content, str) else [block["text"] for block in content]
    return [SYSTEM_PROMPT, *texts]


def turns(body: dict) -> list:
    """(role, blocks) of every user and assistant message, content strings as one text block."""
    return [(m["role"], [{"type": "text", "text": m["content"]}] if isinstance(m["content"], str) else m["content"])
            for m in body["messages"] if m["role"] != "system"]


def texts_of(blocks: list) -> list:
    return [block["text"] for block in blocks if block["type"] == "text"]


def tool_uses(body: dict) -> list:
    return [block for role, blocks in turns(body) for block in blocks if block["type"] == "tool_use"]


def tool_results(body: dict) -> list:
    return [block for role, blocks in turns(body) for block in blocks if block["type"] == "tool_result"]


def result_text(block: dict) -> str:
    content = block.get("content") or ""
    return content if isinstance(content, str) else "\n\n".join(texts_of(content))


def custom_tools(body: dict) -> list:
    """Claude Code's tools that every upstream can take: custom ones, not Anthropic's server tools."""
    return [tool for tool in body["tools"] if tool.get("type", "custom") == "custom"]




def leaked(body: dict) -> set:
    return keys_anywhere(body) & ANTHROPIC_ONLY


# -- every replay -----------------------------------------------------------------------------------


def test_the_recording_is_what_this_module_expects(claude_code):
    """The two requests hold what the checks below rely on (a changed recording fails here, readably)."""
    first, second = (request["body"] for request in claude_code)
    assert first["stream"] is True and first["thinking"] == {"type": "enabled", "budget_tokens": 31999}
    assert first["context_management"] and first["metadata"]["user_id"] and first["max_tokens"] == 32000
    assert len(custom_tools(first)) == len(first["tools"]) == 24
    assert any("cache_control" in block for block in first["system"])
    assert not tool_uses(first) and len(tool_uses(second)) == len(tool_results(second)) == 1
    assert tool_uses(second)[0]["id"] == tool_results(second)[0]["tool_use_id"]
    assert [role for role, _ in turns(second)] == ["user", "assistant", "user"]
    for request in claude_code:
        assert not {name.lower() for name in request["headers"]} & set(AUTH_HEADERS), "auth headers were recorded"


@pytest.mark.parametrize("model,index", [(m, i) for m in TARGETS for i in BOTH], ids=replay_ids())
def test_claude_code_gets_a_well_formed_anthropic_stream(replays, model, index):
    replay = replays[model, index]
    assert replay.status == 200, replay.answer[:2000]
    assert replay.received  # exactly one upstream call, to the model's path
    assert replay.content_type.startswith("text/event-stream")
    payloads = anthropic_events(replay.answer)  # Anthropic's grammar, each event valid as the SDK's type
    names = [p["type"] for p in payloads if p["type"] != "ping"]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    assert "error" not in names
    final = anthropic_assemble(replay.answer)  # what the SDK's MessageStream assembles
    if model == "claude-test":
        assert replay.answer == recorded(f"{replay.recording}.response.sse")  # relayed byte for byte
        return
    assert final.model == model  # the name the client asked for
    if index == 0:  # each first recording answers with a function call
        assert final.stop_reason == "tool_use"
        assert [block.type for block in final.content].count("tool_use") >= 1
        assert all(block.input is not None for block in final.content if block.type == "tool_use")
    else:
        texts = "".join(block.text for block in final.content if block.type == "text")
        assert texts and final.stop_reason == "end_turn"


def test_the_gateway_logged_every_request_and_no_traceback(replays):
    log = replays["log"]
    assert "Traceback" not in log, log[-5000:]
    assert sorted(ACCESS_LINE.findall(log)) == sorted((model, "200") for model in TARGETS for _ in BOTH), log[-5000:]


# -- Anthropic: passthrough ---------------------------------------------------------------------------


@pytest.mark.parametrize("index", BOTH)
def test_anthropic_gets_claude_codes_body_with_only_the_policies_applied(replays, index):
    replay = replays["claude-test", index]
    expected = {**replay.sent, "model": "claude-test",
                "system": [{"type": "text", "text": SYSTEM_PROMPT}, *replay.sent["system"]]}
    # Everything else as Claude Code sent it: cache_control, thinking, context_management, metadata, tools.
    assert replay.body == expected


@pytest.mark.parametrize("index", BOTH)
def test_anthropic_gets_claude_codes_version_and_betas(replays, claude_code, index):
    headers = replays["claude-test", index].received.headers
    client = claude_code[index]["headers"]
    assert headers["anthropic-version"] == client["anthropic-version"]
    betas = [beta.strip() for beta in headers["anthropic-beta"].split(",")]
    assert [beta for beta in betas if beta in client["anthropic-beta"].split(",")] == \
        client["anthropic-beta"].split(",")  # every one of the client's, in its order
    assert headers["content-type"] == "application/json"
    assert headers["authorization"] == f"Bearer {FACTORY_KEY}"


# -- converted: the common rules ----------------------------------------------------------------------


@pytest.mark.parametrize("model,index", [(m, i) for m in CONVERTED for i in BOTH],
                         ids=[f"{m}-{i}" for m in CONVERTED for i in BOTH])
def test_no_anthropic_header_reaches_another_dialect(replays, model, index):
    headers = replays[model, index].received.headers
    assert not [name for name in headers if name.startswith("anthropic-")], headers
    assert headers["content-type"] == "application/json"


LEAK_FREE = [(m, i) for m in CONVERTED for i in BOTH if (m, i) != ("glm-test", 0)]


@pytest.mark.parametrize("model,index", LEAK_FREE, ids=[f"{m}-{i}" for m, i in LEAK_FREE])
def test_no_anthropic_field_leaks_into_another_dialect(replays, model, index):
    assert not leaked(replays[model, index].body)


def test_no_cache_control_reaches_a_chat_upstream(replays):
    """Claude Code's first request marks its last user text with cache_control."""
    assert not leaked(replays["glm-test", 0].body)


# -- Responses -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("index", BOTH)
def test_responses_gets_the_system_text_messages_and_tool_pair(replays, index):
    replay = replays["gpt-test", index]
    body, sent = replay.body, replay.sent
    assert body["model"] == "gpt-test"
    assert body["instructions"] == join_texts(system_texts(sent))
    expected = []
    for role, blocks in turns(sent):
        if role == "user":
            texts = texts_of(blocks)
            if texts:
                expected.append({"type": "message", "role": "user",
                                 "content": [{"type": "input_text", "text": text} for text in texts]})
            expected += [{"type": "function_call_output", "call_id": block["tool_use_id"],
                          "output": result_text(block)} for block in blocks if block["type"] == "tool_result"]
        else:  # Anthropic's thinking cannot go to Responses; the tool call can
            expected += [{"type": "function_call", "call_id": block["id"], "name": block["name"],
                          "arguments": block["input"]} for block in blocks if block["type"] == "tool_use"]
    items = [dict(item, arguments=json.loads(item["arguments"])) if item["type"] == "function_call" else item
             for item in body["input"]]
    assert items == expected
    # toolu_ ids fit the Responses call_id rule (at most 64 characters): sent as they are, call and output alike.
    calls = [item["call_id"] for item in body["input"] if item["type"] in ("function_call", "function_call_output")]
    assert calls == [block["id"] for block in tool_uses(sent)] * 2


@pytest.mark.parametrize("index", BOTH)
def test_responses_gets_the_tools_reasoning_limit_and_user(replays, index):
    replay = replays["gpt-test", index]
    body, sent = replay.body, replay.sent
    tools = custom_tools(sent)
    assert [tool["name"] for tool in body["tools"]] == [tool["name"] for tool in tools]
    for encoded, tool in zip(body["tools"], tools):
        assert encoded == {"type": "function", "name": tool["name"], "description": tool["description"],
                           "parameters": tool["input_schema"], "strict": False}
    assert body["reasoning"] == {"effort": EFFORT, "summary": "auto"}
    assert body["include"] == ["reasoning.encrypted_content"]
    assert body["max_output_tokens"] == sent["max_tokens"]
    user_id = sent["metadata"]["user_id"]
    assert len(user_id) > 64 and body["user"] == hashed(user_id, "user_") and len(body["user"]) <= 64
    assert body["stream"] is True and body["store"] is False
    assert "max_tokens" not in body and "tool_choice" not in body


# -- Chat ------------------------------------------------------------------------------------------------


def chat_content(content) -> list:
    """The texts of a Chat message's content, a string or text parts."""
    if isinstance(content, str):
        return [content]
    assert all(part["type"] == "text" for part in content), content
    return [part["text"] for part in content]


@pytest.mark.parametrize("index", BOTH)
def test_chat_gets_the_system_text_messages_and_tool_pair(replays, index):
    replay = replays["glm-test", index]
    body, sent = replay.body, replay.sent
    assert body["model"] == "glm-test"
    messages = body["messages"]
    system = [message for message in messages if message["role"] == "system"]
    assert messages[:len(system)] == system  # all of them first
    assert [message["content"] for message in system] == system_texts(sent)
    rest = messages[len(system):]
    position = 0
    for role, blocks in turns(sent):
        if role == "assistant":
            message = rest[position]
            position += 1
            uses = [block for block in blocks if block["type"] == "tool_use"]
            assert message["role"] == "assistant" and message["content"] in (None, "")
            assert [(c["id"], c["type"], c["function"]["name"], json.loads(c["function"]["arguments"]))
                    for c in message["tool_calls"]] == \
                [(block["id"], "function", block["name"], block["input"]) for block in uses]
            assert not {"reasoning_content", "reasoning_details", "thinking"} & set(message)
            continue
        for block in blocks:  # tool results first: they answer the assistant turn
            if block["type"] == "tool_result":
                assert rest[position] == {"role": "tool", "tool_call_id": block["tool_use_id"],
                                          "content": result_text(block)}
                position += 1
        texts = texts_of(blocks)
        if texts:
            message = rest[position]
            position += 1
            assert message["role"] == "user"
            joined = chat_content(message["content"])
            assert joined == texts or joined == ["\n\n".join(texts)]  # separate blocks stay apart
    assert position == len(rest)
    # toolu_ ids fit Chat's rule (at most 40 characters): the call and its result keep them.
    assert [use["id"] for use in tool_uses(sent)] == [r["tool_use_id"] for r in tool_results(sent)]


@pytest.mark.parametrize("index", BOTH)
def test_chat_gets_the_tools_reasoning_limit_and_user(replays, index):
    replay = replays["glm-test", index]
    body, sent = replay.body, replay.sent
    tools = custom_tools(sent)
    assert body["tools"] == [{"type": "function", "function": {"name": tool["name"], "parameters": tool["input_schema"],
                                                               "description": tool["description"]}}
                             for tool in tools]
    assert body["reasoning_effort"] == EFFORT
    assert body["max_tokens"] == sent["max_tokens"]
    assert body["user"] == hashed(sent["metadata"]["user_id"], "user_") and len(body["user"]) <= 64
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert "tool_choice" not in body and "reasoning" not in body


# -- Gemini, through Factory and direct -------------------------------------------------------------


@pytest.mark.parametrize("model", GEMINI)
@pytest.mark.parametrize("index", BOTH)
def test_gemini_gets_the_system_text_contents_and_function_pair(replays, model, index):
    replay = replays[model, index]
    body, sent = replay.body, replay.sent
    assert body["systemInstruction"] == {"parts": [{"text": text} for text in system_texts(sent)]}
    expected, names = [], {}
    for role, blocks in turns(sent):
        parts = []
        for block in blocks:
            if block["type"] == "text":
                parts.append({"text": block["text"]})
            elif block["type"] == "tool_use":  # no id: Gemini pairs calls and responses by name and order
                names[block["id"]] = block["name"]
                parts.append({"functionCall": {"name": block["name"], "args": block["input"]}})
            elif block["type"] == "tool_result":
                parts.append({"functionResponse": {"name": names[block["tool_use_id"]],
                                                   "response": {"result": result_text(block)}}})
            # an Anthropic thinking block cannot go to Gemini
        gemini_role = "model" if role == "assistant" else "user"
        if expected and expected[-1]["role"] == gemini_role:
            expected[-1]["parts"] += parts
        elif parts:
            expected.append({"role": gemini_role, "parts": parts})
    assert body["contents"] == expected


@pytest.mark.parametrize("model", GEMINI)
@pytest.mark.parametrize("index", BOTH)
def test_gemini_gets_cleaned_tools_thinking_and_limit(replays, model, index):
    replay = replays[model, index]
    body, sent = replay.body, replay.sent
    tools = custom_tools(sent)
    assert len(body["tools"]) == 1
    declarations = body["tools"][0]["functionDeclarations"]
    assert [d["name"] for d in declarations] == [tool["name"] for tool in tools]
    for declaration, tool in zip(declarations, tools):
        assert declaration["description"] == tool["description"]
        if tool["input_schema"].get("properties"):
            assert_gemini_schema(declaration["parameters"], tool["input_schema"], f"{tool['name']}.parameters")
        else:
            assert "parameters" not in declaration
    config = body["generationConfig"]
    assert config["maxOutputTokens"] == sent["max_tokens"]
    if model == "gemini-direct":  # gemini-2.0-flash never thinks: no thinking settings at all
        assert "thinkingConfig" not in config
    else:  # no version in the name: a 2.5-style budget, Claude Code's 31999 capped at Flash's 24576
        assert config["thinkingConfig"] == {"includeThoughts": True,
                                            "thinkingBudget": min(sent["thinking"]["budget_tokens"], 24576)}
    assert "user" not in body  # Gemini has no end-user field


@pytest.mark.parametrize("index", BOTH)
def test_gemini_factory_and_direct_differ_only_in_where_the_model_goes(replays, index):
    factory, direct = replays["gemini-test", index], replays["gemini-direct", index]
    factory_body, direct_body = factory.body, direct.body
    assert factory_body.pop("model") == "gemini-test" and "model" not in direct_body
    assert factory_body["generationConfig"].pop("thinkingConfig")  # gemini-2.0-flash (direct) never thinks
    assert factory_body == direct_body
    assert factory.received.headers["authorization"] == f"Bearer {FACTORY_KEY}"
    assert direct.received.headers["x-goog-api-key"] == DIRECT_GEMINI_KEY
    assert direct.received.path == DIRECT_GEMINI_PATH + ":streamGenerateContent"
    assert direct.received.query == "alt=sse"  # Claude Code's ?beta=true is its own dialect's, not sent on


def test_the_recorded_answers_are_streams():
    """Every recording this module replays is a real stream of its dialect (a sanity check on TARGETS)."""
    for path, *recordings in TARGETS.values():
        for recording in recordings:
            assert sse_payloads(recorded(f"{recording}.response.sse")), recording
