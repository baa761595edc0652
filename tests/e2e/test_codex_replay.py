"""Codex's own two recorded requests, replayed through the real gunicorn + gevent gateway to every upstream
type of the e2e config.

The requests (../shared/fixtures/clients/codex.json) are what Codex CLI sent to ``POST /v1/responses``:
streamed, ``store: false``, no ``instructions`` but two ``developer`` messages (the second with two
texts), two user messages, ``function`` tools, a ``namespace`` of five sub-agent tools and a
``web_search``, ``include: ["reasoning.encrypted_content"]``, ``reasoning: {summary: auto}`` (no effort),
``prompt_cache_key``, ``client_metadata``, and in the second one the ``function_call`` /
``function_call_output`` pair of the tool loop. Each goes, with its recorded headers, once per model:

* ``gpt-test``: Responses, relayed with only the policies applied (model, system prompt);
* ``claude-test``: converted to Anthropic; ``glm-test``: to Chat; ``gemini-test``: to Factory's Gemini;
  ``gemini-direct``: to the public Gemini API.

Two variants add what the recording alone cannot show: both requests with ``reasoning.effort: "high"``
(what Codex sends with ``model_reasoning_effort = "high"``) to the converted models, to see the effort
mapped; and the first request answered by a recording whose function call names a tool of Codex's
namespace (the recorded name swapped for the flattened one), to see the call come back under Codex's
own name and namespace. And since the e2e config has no Gemini 3 model, whose rules are stricter, both
requests also go to one added on a gateway of this module's own.

The fake upstream answers each with a recorded real stream of its dialect. The checks: a 200 and a
Responses event stream the openai SDK's types and ResponseStream accept; the answer against what the
recording says; and the request each upstream got, field by field against Codex's body, the expected
values written from the body itself and the documented rules, not through the gateway's codecs. Every
exchange happens once, in a module fixture; each test then reads what they produced.
"""

from __future__ import annotations

import json
import re
from typing import NamedTuple

import pytest

from tests.helpers import recorded
from tests.responses_sdk import responses_assemble, responses_events

from .checks import (Replayed, assert_factory_headers, assert_gemini_schema, client_requests, keys_anywhere,
                     log_since, relayed_responses_stream)
from .client import get, post, sse_payloads
from .servers import (ANTHROPIC_PATH, CHAT_PATH, DIRECT_GEMINI_KEY, DIRECT_GEMINI_PATH, FACTORY_KEY, GEMINI_PATH,
                      RESPONSES_PATH, SYSTEM_PROMPT, gateway_config)

AUTH_HEADERS = ("authorization", "x-api-key", "x-goog-api-key", "chatgpt-account-id")
# Recorded headers that say nothing about Codex: every other one is Codex's own (originator, session-id,
# x-codex-*...), for the gateway to keep to itself.
GENERIC_HEADERS = ("content-type", "accept", "accept-encoding", "user-agent")

# One line per request in the gateway's log (droid2api/logs.py AccessLog).
ACCESS_LINE = re.compile(r"POST /v1/responses model=(\S+) upstream=\S+ status=(\d+) ")


class Target(NamedTuple):
    path: str  # where the fake upstream is called
    answers: tuple  # the recorded answer to Codex's first request, and to its second
    provider: str | None  # the x-api-provider Factory is told; None for a direct upstream


GEMINI_ANSWERS = ("google__test_google_streaming_tool_call_thought_signature.0",  # a call, with its signature
                  "google__test_google_streaming_tool_call_thought_signature.1")  # text
TARGETS = {
    # Real Responses streams with sequence numbers: reasoning and a function call; reasoning and text.
    "gpt-test": Target(RESPONSES_PATH, ("openai_responses__test_openai_responses_streaming_usage.0",
                                        "openai_responses__test_openai_responses_thinking_part_iter.0"), "openai"),
    # Signed thinking and text; redacted thinking and text (no Anthropic stream with a tool call is recorded).
    "claude-test": Target(ANTHROPIC_PATH, ("anthropic__test_anthropic_model_thinking_part_stream.0",
                                           "anthropic__test_anthropic_model_thinking_part_redacted_stream.0"),
                          "anthropic"),
    # A tool call; text.
    "glm-test": Target(CHAT_PATH, ("openai__test_run_stream_sync_streams_real_model.0",
                                   "openai__test_run_stream_sync_streams_real_model.1"), "fireworks"),
    "gemini-test": Target(GEMINI_PATH, GEMINI_ANSWERS, "google"),
    "gemini-direct": Target(DIRECT_GEMINI_PATH + ":streamGenerateContent", GEMINI_ANSWERS, None),
}
CONVERTED = [model for model in TARGETS if model != "gpt-test"]
GEMINI = ["gemini-test", "gemini-direct"]
NAMESPACED = ["glm-test", *GEMINI]  # the converted models whose recorded first answer calls a function
BOTH = [0, 1]

# The e2e config has no Gemini 3 model, whose rules differ (thought signatures required on the function
# calls of the current turn): one is added, direct, on a gateway of this module's own.
GEMINI_3 = "gemini-3-direct"
GEMINI_3_UPSTREAM_MODEL = "gemini-3-pro-preview"
GEMINI_3_PATH = f"/direct/v1beta/models/{GEMINI_3_UPSTREAM_MODEL}:streamGenerateContent"

# The effort of the variant, and what the README's reasoning table makes of it: Anthropic's thinking
# budget (also Gemini 2.5's thinkingBudget, Flash's cap being the same 24576), with max_tokens raised to
# budget + 4096 when it is not above the budget.
EFFORT = "high"
BUDGET = 24576
ANSWER_ROOM = 4096
# Anthropic requires max_tokens: when neither Codex nor the model's config sets one, the gateway's default.
DEFAULT_MAX_TOKENS = 4096

# Fields that mean something to Responses only: none may appear, at any depth, in a converted body
# (tool parameter schemas aside). ``input`` is left out: it is Anthropic's tool_use input too.
RESPONSES_ONLY = {"include", "store", "prompt_cache_key", "client_metadata", "instructions", "call_id", "namespace",
                  "external_web_access", "encrypted_content", "summary", "reasoning", "max_output_tokens",
                  "previous_response_id"}


def exact_ids():
    return [f"{model}-{index}" for model in TARGETS for index in BOTH]


def keys():
    """The key of every exchange: (model, index) as recorded, ("high", model, index) with the effort, and
    ("namespaced", model) answered by a call of a namespaced tool."""
    return ([(model, index) for model in TARGETS for index in BOTH]
            + [("high", model, index) for model in CONVERTED for index in BOTH]
            + [("namespaced", model) for model in NAMESPACED])


def model_of(key: tuple) -> str:
    return key[0] if key[0] in TARGETS else key[1]


# -- what Codex sent, read from its body ------------------------------------------------------------


def texts(item: dict) -> list:
    """The texts of a message item, whose content is a string or parts."""
    content = item["content"]
    return [content] if isinstance(content, str) else [part["text"] for part in content]


def developer_texts(body: dict) -> list:
    """The texts of Codex's developer (and any system) messages, in order: its instructions."""
    return [text for item in body["input"] if item.get("type", "message") == "message"
            and item["role"] in ("developer", "system") for text in texts(item)]


def turns(body: dict) -> list:
    """(side, items) of every turn: consecutive items of one side, the developer messages left out. User
    messages and call outputs are the user's; calls and assistant messages the assistant's."""
    result = []
    for item in body["input"]:
        kind = item.get("type", "message")
        if kind == "message" and item["role"] in ("developer", "system"):
            continue
        side = item["role"] if kind == "message" else "user" if kind.endswith("_output") else "assistant"
        if result and result[-1][0] == side:
            result[-1][1].append(item)
        else:
            result.append((side, [item]))
    return result


def of_type(body: dict, kind: str) -> list:
    return [item for item in body["input"] if item.get("type") == kind]


def flat_name(name: str, namespace: str | None) -> str:
    """The upstream name of a tool of a namespace, as the README says: ``namespace__tool``."""
    return f"{namespace}__{name}" if namespace else name


def function_tools(body: dict) -> list:
    """(upstream name, tool) of every function tool, a namespace's tools in its place, flattened."""
    flat = []
    for tool in body["tools"]:
        if tool["type"] == "function":
            flat.append((tool["name"], tool))
        elif tool["type"] == "namespace":
            flat += [(flat_name(inner["name"], tool["name"]), inner) for inner in tool["tools"]]
    return flat


def namespace_tool(body: dict) -> tuple:
    """(namespace, name) of a tool inside Codex's namespace: its last."""
    namespace = next(tool for tool in body["tools"] if tool["type"] == "namespace")
    return namespace["name"], namespace["tools"][-1]["name"]


def codex_values(body: dict) -> list:
    """What Codex says about itself in a request, for no converted upstream to see."""
    return [body["prompt_cache_key"], *body["client_metadata"].values()]


# -- what the recorded upstream answers say ---------------------------------------------------------


def recorded_answer(recording: str) -> tuple:
    """(text, [(function name, arguments)], thinking text) of a recorded Anthropic, Chat or Gemini stream."""
    payloads = sse_payloads(recorded(f"{recording}.response.sse"))
    text, thinking, calls = "", "", {}
    for payload in payloads:
        if payload.get("type") == "content_block_delta":  # Anthropic
            text += payload["delta"].get("text", "")
            thinking += payload["delta"].get("thinking", "")
        for choice in payload.get("choices") or []:  # Chat
            text += choice["delta"].get("content") or ""
            for call in choice["delta"].get("tool_calls") or []:
                name, arguments = calls.get(call["index"], ("", ""))
                calls[call["index"]] = (name + (call["function"].get("name") or ""),
                                        arguments + (call["function"].get("arguments") or ""))
        for candidate in payload.get("candidates") or []:  # Gemini
            for part in candidate["content"].get("parts", []):
                if "functionCall" in part:
                    calls[len(calls)] = (part["functionCall"]["name"], json.dumps(part["functionCall"]["args"]))
                elif part.get("thought"):
                    thinking += part.get("text", "")
                else:
                    text += part.get("text", "")
    return text, [(name, json.loads(arguments)) for name, arguments in calls.values()], thinking


def renamed_call(recording: str, name: str) -> bytes:
    """The recorded stream, its one function call calling ``name`` instead."""
    raw = recorded(f"{recording}.response.sse")
    [(called, _)] = recorded_answer(recording)[1]
    assert raw.count(json.dumps(called).encode()) == 1, called
    return raw.replace(json.dumps(called).encode(), json.dumps(name).encode())


# -- the replay -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def codex():
    requests = client_requests("codex.json")
    assert len(requests) == 2 and all((r["method"], r["path"]) == ("POST", "/v1/responses") for r in requests)
    return requests


def exchange(codex: list, key: tuple) -> tuple:
    """(model, Codex's request, the body sent, upstream path, recording name, recorded answer) of ``key``."""
    model, index = model_of(key), key[-1] if isinstance(key[-1], int) else 0
    request, target = codex[index], TARGETS[model]
    body = {**request["body"], "model": model}
    recording = target.answers[index]
    answer = recorded(f"{recording}.response.sse")
    if key[0] == "high":
        body["reasoning"] = {**body["reasoning"], "effort": EFFORT}
    elif key[0] == "namespaced":
        answer = renamed_call(recording, flat_name(*reversed(namespace_tool(body))))
    return model, request, body, target.path, recording, answer


def replay(gateway, upstream, request: dict, body: dict, path: str, recording: str, answer: bytes) -> Replayed:
    """Codex's ``request`` with ``body``, its headers but auth, to ``gateway``; ``answer`` from ``path``."""
    upstream.reset()
    upstream.reply_sse(path, answer)
    raw = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()  # as serde_json writes it
    headers = {name: value for name, value in request["headers"].items() if name.lower() not in AUTH_HEADERS}
    sent = post(gateway.url + request["path"], raw, headers)
    return Replayed(body, path, sent.status, sent.headers.get("content-type", ""), sent.read(), recording,
                    upstream.requests())


@pytest.fixture(scope="module")
def replays(codex, gateway, upstream_process) -> dict:
    """{key: Replayed} for every key of keys(), plus the gateway's log written meanwhile under "log"."""
    upstream = upstream_process.client
    log_start = gateway.log_path.stat().st_size
    results = {}
    for key in keys():
        model, request, body, path, recording, answer = exchange(codex, key)
        results[key] = replay(gateway, upstream, request, body, path, recording, answer)
    upstream.reset()
    results["log"] = log_since(gateway.log_path, log_start, ACCESS_LINE, expected_lines=len(keys()))
    return results


@pytest.fixture(scope="module")
def own_gateway(start_server, upstream_process):
    """A gateway of this module's own: the e2e config's models and a Gemini 3 one, and a state store that
    no other module writes to (a response id comes from the upstream's, so another module replaying the
    same recording with store on would store one of these ids on the shared gateway)."""
    models = [*gateway_config(upstream_process.client.url)["models"],
              {"id": GEMINI_3, "upstream": "gemini-direct", "upstream_model": GEMINI_3_UPSTREAM_MODEL}]
    return start_server(models=models)


@pytest.fixture(scope="module")
def gemini_3(codex, own_gateway, upstream_process) -> list:
    """Both requests replayed to the Gemini 3 model: the Replayed of each."""
    upstream = upstream_process.client
    results = [replay(own_gateway, upstream, request, {**request["body"], "model": GEMINI_3}, GEMINI_3_PATH,
                      recording, recorded(f"{recording}.response.sse"))
               for request, recording in zip(codex, GEMINI_ANSWERS)]
    upstream.reset()
    return results


@pytest.fixture(scope="module")
def stored(codex, own_gateway, upstream_process) -> dict:
    """{(model, store): (the Response id, the status and body of GET /v1/responses/{id})}: Codex's first
    request as recorded (store false) to each converted model, then with store true to claude-test."""
    upstream = upstream_process.client
    results = {}
    for model, store in [*((model, False) for model in CONVERTED), ("claude-test", True)]:
        request, (path, answers, _) = codex[0], TARGETS[model]
        body = {**request["body"], "model": model, "store": store}
        answered = replay(own_gateway, upstream, request, body, path, answers[0],
                          recorded(f"{answers[0]}.response.sse"))
        response_id = final_payload(answered)["id"]
        looked_up = get(f"{own_gateway.url}/v1/responses/{response_id}")
        results[model, store] = response_id, looked_up.status, looked_up.read()
    upstream.reset()
    return results


# -- every replay -----------------------------------------------------------------------------------


def test_the_recording_is_what_this_module_expects(codex):
    """The two requests hold what the checks below rely on (a changed recording fails here, readably)."""
    first, second = (request["body"] for request in codex)
    for body in (first, second):
        assert body["stream"] is True and body["store"] is False and "instructions" not in body
        assert body["include"] == ["reasoning.encrypted_content"] and body["reasoning"] == {"summary": "auto"}
        assert body["prompt_cache_key"] and body["client_metadata"]
        assert (body["tool_choice"], body["parallel_tool_calls"]) == ("auto", True)
        assert [item["role"] for item in body["input"][:4]] == ["developer", "developer", "user", "user"]
        assert len(developer_texts(body)) == 3  # the second developer message has two texts
        assert [tool["type"] for tool in body["tools"]].count("namespace") == 1
        assert body["tools"][-1] == {"type": "web_search", "external_web_access": True}
        assert {tool["type"] for tool in body["tools"]} == {"function", "namespace", "web_search"}
        assert all(tool["strict"] is False for _, tool in function_tools(body))
    assert second["tools"] == first["tools"] and second["input"][:4] == first["input"][:4]
    assert not of_type(first, "function_call")
    [call], [output] = of_type(second, "function_call"), of_type(second, "function_call_output")
    assert call["call_id"] == output["call_id"] and "namespace" not in call
    # The call id fits every upstream's rule (Anthropic's [a-zA-Z0-9_-], Chat's 40 characters): the README
    # says such an id is sent as it is, so the upstreams must get it unchanged.
    assert re.fullmatch(r"[a-zA-Z0-9_-]{1,40}", call["call_id"])
    for request in codex:
        assert not {name.lower() for name in request["headers"]} & set(AUTH_HEADERS), "auth headers were recorded"


@pytest.mark.parametrize("key", keys(), ids=lambda key: "-".join(map(str, key)))
def test_codex_gets_a_well_formed_responses_stream(replays, key):
    replay = replays[key]
    model = model_of(key)
    assert replay.status == 200, replay.answer[:2000]
    assert replay.received  # exactly one upstream call, to the model's path
    assert replay.content_type.startswith("text/event-stream")
    if model == "gpt-test":
        assert replay.answer == recorded(f"{replay.recording}.response.sse")  # relayed byte for byte
        _, final = relayed_responses_stream(replay.answer)
    else:
        # Every event valid as the SDK's type (strictly, no unknown field), numbered by sequence_number
        # from 0, in the Responses grammar; then the SDK's own ResponseStream assembles the answer.
        payloads = responses_events(replay.answer)
        assert payloads[-1]["type"] == "response.completed"
        _, final = responses_assemble(replay.answer)
        assert final.model == model  # the name Codex asked for
    assert final.status == "completed" and final.output


def test_the_gateway_logged_every_request_and_no_traceback(replays):
    log = replays["log"]
    assert "Traceback" not in log, log[-5000:]
    models = [model_of(key) for key in keys()]
    assert sorted(ACCESS_LINE.findall(log)) == sorted((model, "200") for model in models), log[-5000:]


@pytest.mark.parametrize("model,index", [(m, i) for m in TARGETS for i in BOTH], ids=exact_ids())
def test_every_upstream_gets_the_gateways_headers_not_codexs(replays, codex, model, index):
    received = replays[model, index].received
    own = {name.lower(): value for name, value in codex[index]["headers"].items()
           if name.lower() not in GENERIC_HEADERS}
    assert not set(received.headers) & set(own), set(received.headers) & set(own)
    assert received.headers["user-agent"] != codex[index]["headers"]["user-agent"]
    assert received.headers["content-type"] == "application/json"
    if TARGETS[model].provider:
        assert_factory_headers(received, TARGETS[model].provider)
    else:
        assert received.headers["x-goog-api-key"] == DIRECT_GEMINI_KEY and "authorization" not in received.headers


# -- the answers ------------------------------------------------------------------------------------


def final_payload(replay: Replayed) -> dict:
    """The Response object the stream completes with, as the gateway wrote it."""
    return sse_payloads(replay.answer)[-1]["response"]


def unparsed(item: dict) -> dict:
    """An output item without what the SDK's stream helper adds: ``parsed_arguments``, a part's ``parsed``."""
    item = {key: value for key, value in item.items() if key != "parsed_arguments"}
    if isinstance(item.get("content"), list):
        item["content"] = [{key: value for key, value in part.items() if key != "parsed"} for part in item["content"]]
    return item


@pytest.mark.parametrize("index", BOTH)
def test_responses_answers_are_the_upstreams_own(replays, index):
    """Relayed: what the SDK assembles is the Response the recorded stream completes with."""
    replay = replays["gpt-test", index]
    _, final = relayed_responses_stream(replay.answer)
    completed = final_payload(replay)
    assert final.id == completed["id"] and final.usage.to_dict() == completed["usage"]
    assert [unparsed(item.to_dict()) for item in final.output] == completed["output"]


# Output items of each converted answer, as the README describes them: signed thinking is a reasoning
# item (Anthropic's redacted thinking cannot be shown), a Gemini function call's signature rides in a
# reasoning item just before it, since Codex asks for encrypted content.
OUTPUTS = {
    ("claude-test", 0): ["reasoning", "message"], ("claude-test", 1): ["message"],
    ("glm-test", 0): ["function_call"], ("glm-test", 1): ["message"],
    ("gemini-test", 0): ["reasoning", "function_call"], ("gemini-test", 1): ["message"],
    ("gemini-direct", 0): ["reasoning", "function_call"], ("gemini-direct", 1): ["message"],
}


@pytest.mark.parametrize("model,index", list(OUTPUTS), ids=[f"{m}-{i}" for m, i in OUTPUTS])
def test_converted_answers_say_what_the_upstream_said(replays, model, index):
    replay = replays[model, index]
    _, final = responses_assemble(replay.answer)
    text, calls, thinking = recorded_answer(replay.recording)
    assert [item.type for item in final.output] == OUTPUTS[model, index]
    assert final.output_text == text
    assert [(item.name, json.loads(item.arguments)) for item in final.output if item.type == "function_call"] == calls
    assert all(item.namespace is None for item in final.output if item.type == "function_call")
    reasoning = [item for item in final.output if item.type == "reasoning"]
    assert "".join(part.text for item in reasoning for part in item.summary) == thinking
    # Codex asks for encrypted content: the opaque data (Anthropic's signature, Gemini's thought
    # signature) rides in it, tagged "d2a." with its dialect, so that Codex can send it back.
    assert all(item.encrypted_content.startswith("d2a.") for item in reasoning)


@pytest.mark.parametrize("model", NAMESPACED)
def test_a_namespaced_tool_is_called_by_codexs_own_name_and_namespace(replays, codex, model):
    replay = replays["namespaced", model]
    namespace, name = namespace_tool(codex[0]["body"])
    _, final = responses_assemble(replay.answer)
    [call] = [item for item in final.output if item.type == "function_call"]
    [(_, arguments)] = recorded_answer(replay.recording)[1]
    assert (call.name, call.namespace, json.loads(call.arguments)) == (name, namespace, arguments)
    added = [payload["item"] for payload in sse_payloads(replay.answer)
             if payload["type"] == "response.output_item.added" and payload["item"]["type"] == "function_call"]
    assert [(item["name"], item.get("namespace")) for item in added] == [(name, namespace)]  # from the first event on


def echoed_tools(body: dict) -> list:
    """Codex's tools as a Response echoes them: as sent, but for web_search's default external_web_access:
    true, left out (front_request.py's documented normalisation)."""
    return [{key: value for key, value in tool.items() if (key, value) != ("external_web_access", True)}
            for tool in body["tools"]]


@pytest.mark.parametrize("model,index", [(m, i) for m in CONVERTED for i in BOTH],
                         ids=[f"{m}-{i}" for m in CONVERTED for i in BOTH])
def test_converted_answers_echo_codexs_settings_and_tools(replays, model, index):
    """The Response repeats the request as Codex made it: its namespace whole again, its own cache key,
    no instructions (the gateway's system prompt is not Codex's to read)."""
    replay = replays[model, index]
    response = final_payload(replay)
    sent = replay.sent
    assert response["tools"] == echoed_tools(sent)
    assert (response["tool_choice"], response["parallel_tool_calls"]) == (sent["tool_choice"], True)
    assert response["reasoning"] == {"effort": None, "summary": "auto"}
    assert response["prompt_cache_key"] == sent["prompt_cache_key"]
    assert response["instructions"] is None and response["model"] == model


@pytest.mark.parametrize("model", CONVERTED)
def test_store_false_leaves_nothing_stored(stored, model):
    """Codex sends store: false; the gateway, which stores converted responses itself, keeps none."""
    _, status, answer = stored[model, False]
    assert status == 404, answer[:500]


def test_the_same_request_with_store_true_is_kept(stored):
    """The control of the test above: asked to, the gateway keeps the response, under its id."""
    response_id, status, answer = stored["claude-test", True]
    assert status == 200, answer[:500]
    assert json.loads(answer)["id"] == response_id


# -- Responses: passthrough ---------------------------------------------------------------------------


@pytest.mark.parametrize("index", BOTH)
def test_responses_gets_codexs_body_with_only_the_policies_applied(replays, index):
    replay = replays["gpt-test", index]
    # Codex sends no instructions: the system prompt is all of them. Everything else as Codex sent it:
    # developer messages, namespace, web_search, include, store, prompt_cache_key, client_metadata.
    assert replay.body == {**replay.sent, "model": "gpt-test", "instructions": SYSTEM_PROMPT}


# -- converted: the common rules ----------------------------------------------------------------------


@pytest.mark.parametrize("model,index", [(m, i) for m in CONVERTED for i in BOTH],
                         ids=[f"{m}-{i}" for m in CONVERTED for i in BOTH])
def test_no_responses_field_reaches_another_dialect(replays, model, index):
    replay = replays[model, index]
    assert not keys_anywhere(replay.body, skip=("parameters", "input_schema")) & RESPONSES_ONLY
    # Nor what Codex says of itself in them (prompt_cache_key, client_metadata), under any name.
    assert not [value[:60] for value in codex_values(replay.sent)
                if value in replay.received.body or json.dumps(value)[1:-1] in replay.received.body]


@pytest.mark.parametrize("model,index", [(m, i) for m in CONVERTED for i in BOTH],
                         ids=[f"{m}-{i}" for m in CONVERTED for i in BOTH])
def test_the_effort_changes_only_the_reasoning_settings(replays, model, index):
    """The variant with reasoning.effort sends the same body but for the fields the effort maps to."""
    reasoning_fields = {"thinking", "max_tokens", "reasoning_effort", "generationConfig"}
    plain, high = replays[model, index].body, replays["high", model, index].body
    assert {k: v for k, v in plain.items() if k not in reasoning_fields} == \
        {k: v for k, v in high.items() if k not in reasoning_fields}


# -- Anthropic -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("index", BOTH)
def test_anthropic_gets_system_blocks_messages_and_the_tool_pair(replays, index):
    replay = replays["claude-test", index]
    body, sent = replay.body, replay.sent
    assert body["model"] == "claude-test"
    # The gateway's prompt, then one block per developer text (Anthropic has one system slot for both).
    assert body["system"] == [{"type": "text", "text": text} for text in [SYSTEM_PROMPT, *developer_texts(sent)]]
    expected = []
    for side, items in turns(sent):
        blocks = []
        for item in items:
            if item.get("type", "message") == "message":
                blocks += [{"type": "text", "text": text} for text in texts(item)]
            elif item["type"] == "function_call":  # the call id fits Anthropic's rule: sent as it is
                blocks.append({"type": "tool_use", "id": item["call_id"],
                               "name": flat_name(item["name"], item.get("namespace")),
                               "input": json.loads(item["arguments"])})
            else:
                blocks.append({"type": "tool_result", "tool_use_id": item["call_id"],
                               "content": [{"type": "text", "text": item["output"]}]})
        expected.append({"role": side, "content": blocks})
    assert body["messages"] == expected
    assert body["stream"] is True


@pytest.mark.parametrize("index", BOTH)
def test_anthropic_gets_the_tools_flattened_and_its_own_web_search(replays, index):
    replay = replays["claude-test", index]
    body, sent = replay.body, replay.sent
    assert body["tools"] == [{"name": name, "description": tool["description"], "input_schema": tool["parameters"]}
                             for name, tool in function_tools(sent)] + \
        [{"type": "web_search_20250305", "name": "web_search"}]  # Anthropic's search, external access its default
    # tool_choice auto, and parallel calls allowed (no disable_parallel_tool_use).
    assert body["tool_choice"] == {"type": "auto"}


@pytest.mark.parametrize("index", BOTH)
def test_anthropic_thinks_only_when_codex_names_an_effort(replays, index):
    plain, high = replays["claude-test", index].body, replays["high", "claude-test", index].body
    # No effort: the model's default, no thinking, and the gateway's max_tokens (Anthropic requires one).
    assert "thinking" not in plain and plain["max_tokens"] == DEFAULT_MAX_TOKENS
    if index == 0:
        assert high["thinking"] == {"type": "enabled", "budget_tokens": BUDGET}
        assert high["max_tokens"] == BUDGET + ANSWER_ROOM
    else:
        # The tool loop's call came from another model, without an Anthropic thinking block: Anthropic
        # rejects thinking then, so it is turned off (anthropic/request.py), not sent to fail.
        assert "thinking" not in high and high["max_tokens"] == DEFAULT_MAX_TOKENS


# -- Chat ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("index", BOTH)
def test_chat_gets_system_and_developer_messages_user_text_and_the_tool_pair(replays, index):
    replay = replays["glm-test", index]
    body, sent = replay.body, replay.sent
    assert body["model"] == "glm-test"
    expected = [{"role": "system", "content": SYSTEM_PROMPT}]
    expected += [{"role": "developer", "content": text} for text in developer_texts(sent)]
    for side, items in turns(sent):
        if side == "assistant":  # the call id fits Chat's 40 characters: sent as it is
            expected.append({"role": "assistant", "content": None, "tool_calls": [
                {"id": item["call_id"], "type": "function",
                 "function": {"name": flat_name(item["name"], item.get("namespace")), "arguments": item["arguments"]}}
                for item in items]})
            continue
        expected += [{"role": "tool", "tool_call_id": item["call_id"], "content": item["output"]}
                     for item in items if item["type"] == "function_call_output"]
        user = [text for item in items if item.get("type", "message") == "message" for text in texts(item)]
        if user:  # one string, separate texts apart by a blank line
            expected.append({"role": "user", "content": "\n\n".join(user)})
    assert body["messages"] == expected
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize("index", BOTH)
def test_chat_gets_the_function_tools_flattened_and_no_web_search(replays, index):
    replay = replays["glm-test", index]
    body, sent = replay.body, replay.sent
    assert body["tools"] == [{"type": "function", "function": {
        "name": name, "description": tool["description"], "parameters": tool["parameters"], "strict": False}}
        for name, tool in function_tools(sent)]  # Chat has no web search tool: dropped
    assert (body["tool_choice"], body["parallel_tool_calls"]) == ("auto", True)


@pytest.mark.parametrize("index", BOTH)
def test_chat_gets_a_reasoning_effort_only_when_codex_names_one(replays, index):
    plain, high = replays["glm-test", index].body, replays["high", "glm-test", index].body
    assert "reasoning_effort" not in plain and "max_tokens" not in plain
    assert high["reasoning_effort"] == EFFORT


# -- Gemini, through Factory and direct -------------------------------------------------------------


@pytest.mark.parametrize("model", GEMINI)
@pytest.mark.parametrize("index", BOTH)
def test_gemini_gets_system_instruction_contents_and_the_function_pair(replays, model, index):
    replay = replays[model, index]
    body, sent = replay.body, replay.sent
    assert body["systemInstruction"] == {"parts": [{"text": text} for text in [SYSTEM_PROMPT, *developer_texts(sent)]]}
    expected, names = [], {}
    for side, items in turns(sent):
        parts = []
        for item in items:
            if item.get("type", "message") == "message":
                parts += [{"text": text} for text in texts(item)]
            elif item["type"] == "function_call":  # no id: Gemini pairs calls and responses by name and order
                names[item["call_id"]] = flat_name(item["name"], item.get("namespace"))
                parts.append({"functionCall": {"name": names[item["call_id"]], "args": json.loads(item["arguments"])}})
            else:  # output text that is not a JSON object goes as {"result": text} (gemini/request.py)
                parts.append({"functionResponse": {"name": names[item["call_id"]],
                                                   "response": {"result": item["output"]}}})
        expected.append({"role": "model" if side == "assistant" else "user", "parts": parts})
    assert body["contents"] == expected


def declarations(body: dict) -> list:
    """The function declarations of a Gemini body, all in one tool."""
    [tool] = [tool for tool in body["tools"] if "functionDeclarations" in tool]
    return tool["functionDeclarations"]


@pytest.mark.parametrize("model", GEMINI)
@pytest.mark.parametrize("index", BOTH)
def test_gemini_gets_cleaned_function_declarations(replays, model, index):
    replay = replays[model, index]
    body, sent = replay.body, replay.sent
    declared = declarations(body)
    assert body["tools"][0] == {"functionDeclarations": declared}  # one tool holds them all
    assert [d["name"] for d in declared] == [name for name, _ in function_tools(sent)]
    for declaration, (name, tool) in zip(declared, function_tools(sent)):
        assert declaration["description"] == tool["description"]
        if tool["parameters"].get("properties"):
            assert_gemini_schema(declaration["parameters"], tool["parameters"], f"{name}.parameters")
        else:  # get_goal takes nothing: a function without parameters leaves them out
            assert "parameters" not in declaration
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}


@pytest.mark.parametrize("index", BOTH)
def test_gemini_thinks_as_codex_asks(replays, index):
    plain, high = replays["gemini-test", index].body, replays["high", "gemini-test", index].body
    # summary "auto" asks for the thoughts; no effort leaves the budget to the model.
    assert plain["generationConfig"] == {"thinkingConfig": {"includeThoughts": True}}
    # No version in the name: a 2.5-style budget.
    assert high["generationConfig"] == {"thinkingConfig": {"includeThoughts": True, "thinkingBudget": BUDGET}}
    # gemini-2.0-flash never thinks: no thinking settings at all, and nothing else to configure.
    for key in [("gemini-direct", index), ("high", "gemini-direct", index)]:
        assert "generationConfig" not in replays[key].body


@pytest.mark.parametrize("index", BOTH)
def test_gemini_factory_and_direct_differ_only_in_where_the_model_goes(replays, index):
    factory, direct = replays["gemini-test", index], replays["gemini-direct", index]
    factory_body, direct_body = factory.body, direct.body
    assert factory_body.pop("model") == "gemini-test" and "model" not in direct_body
    assert factory_body.pop("generationConfig")  # gemini-2.0-flash (direct) never thinks
    assert declarations(factory_body) == declarations(direct_body)
    for body in (factory_body, direct_body):  # whether the search may go depends on the model: another test
        del body["tools"]
        body.get("toolConfig", {}).pop("includeServerSideToolInvocations", None)
    assert factory_body == direct_body
    assert factory.received.headers["authorization"] == f"Bearer {FACTORY_KEY}"
    assert direct.received.path == DIRECT_GEMINI_PATH + ":streamGenerateContent"
    assert direct.received.query == "alt=sse"


# Gemini refuses a built-in tool beside function declarations: 2.x models cannot combine them at all
# (400 "Tool use with function calling is unsupported"), Gemini 3 only when the request sets
# toolConfig.includeServerSideToolInvocations (400 "Please enable
# tool_config.include_server_side_tool_invocations"; https://ai.google.dev/gemini-api/docs/tool-combination).
# Codex always offers both, so every Codex request to a Gemini model would fail upstream.
@pytest.mark.parametrize("model", [*GEMINI, GEMINI_3])
def test_gemini_never_gets_google_search_beside_functions_unless_it_may_combine_them(replays, gemini_3, model):
    body = gemini_3[0].body if model == GEMINI_3 else replays[model, 0].body
    assert declarations(body)
    searches = any("googleSearch" in tool for tool in body["tools"])
    combines = body.get("toolConfig", {}).get("includeServerSideToolInvocations") is True
    if model == "gemini-direct":  # gemini-2.0-flash: no combination at all, the flag included
        assert not searches and not combines
    else:  # an unversioned name may be Gemini 3: the search with the flag, or no search
        assert combines if searches else not combines


@pytest.mark.parametrize("index", BOTH)
def test_gemini_3_answers_codex_well_formed(gemini_3, index):
    replay = gemini_3[index]
    assert replay.status == 200, replay.answer[:2000]
    assert replay.received.query == "alt=sse"
    assert responses_events(replay.answer)[-1]["type"] == "response.completed"


# Gemini 3 refuses (400 "Function call is missing a thought_signature in functionCall parts") a function
# call of the current turn without its thought signature; one that another model made has none, and
# Google's documented way to send it is a dummy signature such as "skip_thought_signature_validator"
# (https://ai.google.dev/gemini-api/docs/thought-signatures). Codex's second request is such a turn: its
# exec_command call came from another model.
def test_gemini_3_gets_a_signature_on_every_function_call_of_the_current_turn(gemini_3):
    contents = gemini_3[1].body["contents"]
    last_text = max(i for i, content in enumerate(contents)
                    if content["role"] == "user" and any("text" in part for part in content["parts"]))
    calls = [part for content in contents[last_text + 1:] for part in content["parts"] if "functionCall" in part]
    assert all(part.get("thoughtSignature") for part in calls)  # or no foreign call sent as one
