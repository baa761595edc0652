"""Gemini CLI's own two recorded requests, replayed through the real gunicorn + gevent gateway to every
upstream type of the e2e config.

The requests (../shared/fixtures/clients/gemini-cli.json) are what Gemini CLI 0.61 sent to
``POST /v1beta/models/gemini-3.1-pro-preview:streamGenerateContent?alt=sse``: a ``systemInstruction``,
a user turn of two text parts, 15 ``functionDeclarations`` with ``parametersJsonSchema`` (one with
``$schema`` and ``additionalProperties``), ``generationConfig`` with ``temperature``, ``topP``, ``topK``
and ``thinkingConfig: {includeThoughts: true, thinkingLevel: HIGH}``; the second adds the model's
``functionCall`` (with an ``id`` and a ``thoughtSignature``) and the ``functionResponse`` answering it.
Each goes, exactly as recorded (the model in the path swapped for an e2e model), once per model:

* ``claude-test``: converted to Anthropic; ``gpt-test``: to Responses; ``glm-test``: to Chat;
* ``gemini-test`` (Factory's Gemini) and ``gemini-direct`` (the public API): relayed, with only the
  policies applied (system prompt; the model into Factory's body).

A variant sends the second request with the ids of its call and response left out, as Gemini's API
allows (the gateway pairs them by name), to the three converted models.

The fake upstream answers each with a recorded real stream of its dialect. The checks: a 200 and a
stream of ``data:`` events, each a GenerateContentResponse that google-genai's types accept strictly,
which the SDK's own client reads; the answer against the recording; and the request each upstream got,
field by field against Gemini CLI's body, the expected values written from the body and the README's
rules, not through the gateway's codecs. Every exchange happens once, in a module fixture.

Last, Gemini CLI's own tool loop on a converted model that thinks: its first request answered by a
recording with reasoning and a function call, its second built from the gateway's stream the way Gemini
CLI builds its history (thought parts dropped), to see whether the upstream gets its reasoning back.
"""

from __future__ import annotations

import copy
import json
import re
from typing import NamedTuple

import pytest

from tests.helpers import recorded, recorded_json

from .checks import (Replayed, join_texts, assert_factory_headers, client_requests, gemini_folded, gemini_sse_chunks,
                     genai_reads_stream, keys_anywhere, log_since)
from .client import post, sse_payloads
from .servers import (ANTHROPIC_PATH, CHAT_PATH, DIRECT_GEMINI_KEY, DIRECT_GEMINI_PATH, FACTORY_KEY, GEMINI_PATH,
                      RESPONSES_PATH, SYSTEM_PROMPT)

RECORDED_MODEL = "gemini-3.1-pro-preview"
AUTH_HEADERS = ("authorization", "x-api-key", "x-goog-api-key")
# Sent as recorded; not connection (the raw client's own) nor accept-encoding (it would not decompress).
SENT_HEADERS = ("content-type", "user-agent", "x-goog-api-client", "accept", "accept-language", "sec-fetch-mode")

# One line per request in the gateway's log (droid2api/logs.py AccessLog).
ACCESS_LINE = re.compile(r"POST /v1beta/models/\S+:streamGenerateContent model=(\S+) upstream=\S+ status=(\d+) ")


class Target(NamedTuple):
    path: str  # where the fake upstream is called
    answers: tuple  # the recorded answer to the first request, and to the second
    provider: str | None  # the x-api-provider Factory is told; None for a direct upstream


GEMINI_ANSWERS = ("google__test_google_streaming_tool_call_thought_signature.0",  # a call, with its signature
                  "google__test_google_streaming_tool_call_thought_signature.1")  # text
TARGETS = {
    # Signed thinking and text; redacted thinking and text (no Anthropic stream with a tool call is recorded).
    "claude-test": Target(ANTHROPIC_PATH, ("anthropic__test_anthropic_model_thinking_part_stream.0",
                                           "anthropic__test_anthropic_model_thinking_part_redacted_stream.0"),
                          "anthropic"),
    # Encrypted reasoning and a function call; reasoning summaries and text.
    "gpt-test": Target(RESPONSES_PATH, ("openai_responses__test_openai_responses_streaming_usage.0",
                                        "openai_responses__test_openai_responses_thinking_part_iter.0"), "openai"),
    # A tool call; text.
    "glm-test": Target(CHAT_PATH, ("openai__test_run_stream_sync_streams_real_model.0",
                                   "openai__test_run_stream_sync_streams_real_model.1"), "fireworks"),
    "gemini-test": Target(GEMINI_PATH, GEMINI_ANSWERS, "google"),
    "gemini-direct": Target(DIRECT_GEMINI_PATH + ":streamGenerateContent", GEMINI_ANSWERS, None),
}
CONVERTED = ["claude-test", "gpt-test", "glm-test"]
RELAYED = ["gemini-test", "gemini-direct"]
BOTH = [0, 1]

# thinkingLevel HIGH, by the README's reasoning table: Anthropic's budget, with max_tokens raised to
# budget + 4096 (Gemini CLI sets no maxOutputTokens, so the gateway's default 4096 is not above it).
EFFORT = "high"
BUDGET = 24576
DEFAULT_MAX_TOKENS = 4096

# Fields that mean something to Gemini only: none may appear, at any depth, in a converted body (tool
# parameter schemas aside: they are the client's own).
GEMINI_ONLY = {"contents", "parts", "systemInstruction", "system_instruction", "generationConfig", "thinkingConfig",
               "thinkingLevel", "includeThoughts", "thinkingBudget", "functionDeclarations", "parametersJsonSchema",
               "functionCall", "functionResponse", "thoughtSignature", "thought", "topK", "topP", "maxOutputTokens",
               "toolConfig", "safetySettings", "candidateCount", "responseMimeType"}


def keys() -> list:
    """(model, index) of every exchange as recorded, and ("no-ids", model) for the variant."""
    return [(model, index) for model in TARGETS for index in BOTH] + [("no-ids", model) for model in CONVERTED]


def key_id(key: tuple) -> str:
    return "-".join(map(str, key))


def model_of(key: tuple) -> str:
    return key[1] if key[0] == "no-ids" else key[0]


# -- what Gemini CLI sent, read from its body ---------------------------------------------------------


def system_texts(body: dict) -> list:
    """The gateway's prompt first, then the system instruction's texts."""
    return [SYSTEM_PROMPT, *[part["text"] for part in body["systemInstruction"]["parts"]]]


def declarations(body: dict) -> list:
    return [declaration for tool in body["tools"] for declaration in tool.get("functionDeclarations", [])]


def json_schema(declaration: dict) -> dict:
    """The JSON Schema of a declaration's parameters: ``parametersJsonSchema`` is one already."""
    assert "parameters" not in declaration  # Gemini CLI writes JSON Schema; Google's subset is not read here
    return declaration["parametersJsonSchema"]


def parts_of(body: dict, kind: str) -> list:
    return [part[kind] for content in body["contents"] for part in content["parts"] if kind in part]


def texts_of(content: dict) -> list:
    return [part["text"] for part in content["parts"] if "text" in part]


def function_output(response: dict) -> str:
    """What a function answered, as the README says it is sent: a lone ``output`` string as its text."""
    assert list(response["response"]) == ["output"], response
    return response["response"]["output"]


def without_ids(body: dict) -> dict:
    """The body with the ids of its calls and responses left out."""
    body = copy.deepcopy(body)
    for content in body["contents"]:
        for part in content["parts"]:
            for kind in ("functionCall", "functionResponse"):
                part.get(kind, {}).pop("id", None)
    return body


# -- what the recorded upstream answers say -------------------------------------------------------------


def recorded_answer(recording: str) -> dict:
    """What a recorded Anthropic, Responses or Chat stream says: its thought text, text, function calls
    ``(id, name, args)`` and token counts ``(input, output, reasoning)``."""
    answer = {"thoughts": "", "text": "", "calls": [], "usage": None}
    calls = {}
    for payload in sse_payloads(recorded(f"{recording}.response.sse")):
        kind = payload.get("type")
        if kind == "message_start":  # Anthropic
            answer["usage"] = [payload["message"]["usage"]["input_tokens"], 0, 0]
        elif kind == "content_block_delta":
            answer["text"] += payload["delta"].get("text", "")
            answer["thoughts"] += payload["delta"].get("thinking", "")
        elif kind == "message_delta":
            answer["usage"][1] = payload["usage"]["output_tokens"]
        elif kind == "response.completed":  # Responses
            response = payload["response"]
            for item in response["output"]:
                if item["type"] == "reasoning":
                    answer["thoughts"] += "".join(summary["text"] for summary in item["summary"])
                elif item["type"] == "message":
                    answer["text"] += "".join(part["text"] for part in item["content"])
                elif item["type"] == "function_call":
                    answer["calls"].append((item["call_id"], item["name"], json.loads(item["arguments"])))
            usage = response["usage"]
            answer["usage"] = [usage["input_tokens"], usage["output_tokens"],
                               usage["output_tokens_details"]["reasoning_tokens"]]
        for choice in payload.get("choices") or []:  # Chat
            answer["text"] += choice["delta"].get("content") or ""
            for call in choice["delta"].get("tool_calls") or []:
                found = calls.setdefault(call["index"], ["", "", ""])
                found[0] += call.get("id") or ""
                found[1] += call["function"].get("name") or ""
                found[2] += call["function"].get("arguments") or ""
        if payload.get("usage") and "prompt_tokens" in payload["usage"]:
            usage = payload["usage"]
            details = usage.get("completion_tokens_details") or {}
            answer["usage"] = [usage["prompt_tokens"], usage["completion_tokens"], details.get("reasoning_tokens", 0)]
    answer["calls"] += [(call_id, name, json.loads(arguments)) for call_id, name, arguments in calls.values()]
    answer["usage"] = tuple(answer["usage"])
    return answer


# -- the replay ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gemini_cli():
    requests = client_requests("gemini-cli.json")
    assert len(requests) == 2
    assert all((r["method"], r["path"]) == ("POST", f"/v1beta/models/{RECORDED_MODEL}:streamGenerateContent?alt=sse")
               for r in requests)
    return requests


@pytest.fixture(scope="module")
def replays(gemini_cli, gateway, upstream_process) -> dict:
    """{key: Replayed} for every key of keys(), plus the gateway's log written meanwhile under "log"."""
    upstream = upstream_process.client
    log_start = gateway.log_path.stat().st_size
    results = {}
    for key in keys():
        model = model_of(key)
        index = 1 if key[0] == "no-ids" else key[1]
        request, target = gemini_cli[index], TARGETS[model]
        body = without_ids(request["body"]) if key[0] == "no-ids" else request["body"]
        upstream.reset()
        upstream.reply_sse(target.path, recorded(f"{target.answers[index]}.response.sse"))
        raw = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()  # as JSON.stringify writes it
        headers = {name: value for name, value in request["headers"].items() if name.lower() in SENT_HEADERS}
        sent = post(gateway.url + request["path"].replace(RECORDED_MODEL, model), raw, headers)
        results[key] = Replayed(body, target.path, sent.status, sent.headers.get("content-type", ""), sent.read(),
                                target.answers[index], upstream.requests())
    upstream.reset()
    results["log"] = log_since(gateway.log_path, log_start, ACCESS_LINE, expected_lines=len(keys()))
    return results


# -- every replay ----------------------------------------------------------------------------------------


def test_the_recording_is_what_this_module_expects(gemini_cli):
    """The two requests hold what the checks below rely on (a changed recording fails here, readably)."""
    first, second = (request["body"] for request in gemini_cli)
    for body in (first, second):
        assert set(body) == {"contents", "systemInstruction", "tools", "generationConfig"}
        assert body["generationConfig"] == {"temperature": 1, "topP": 0.95, "topK": 64,
                                            "thinkingConfig": {"includeThoughts": True, "thinkingLevel": "HIGH"}}
        assert [list(tool) for tool in body["tools"]] == [["functionDeclarations"]]
        assert all(set(d) == {"name", "description", "parametersJsonSchema"} for d in declarations(body))
        assert len(body["contents"][0]["parts"]) == 2 and body["contents"][0]["role"] == "user"
    assert second["tools"] == first["tools"] and second["systemInstruction"] == first["systemInstruction"]
    assert second["contents"][0] == first["contents"][0] and len(first["contents"]) == 1
    assert [content["role"] for content in second["contents"]] == ["user", "model", "user"]
    [call], [response] = parts_of(second, "functionCall"), parts_of(second, "functionResponse")
    assert call["id"] == response["id"] and call["name"] == response["name"]
    assert second["contents"][1]["parts"][0]["thoughtSignature"]
    # The id fits every upstream's rule (Anthropic's [a-zA-Z0-9_-], Chat's 40 characters): the README says
    # such an id is sent as it is, so the upstreams must get it unchanged.
    assert re.fullmatch(r"[a-zA-Z0-9_-]{1,40}", call["id"])
    for request in gemini_cli:
        assert not {name.lower() for name in request["headers"]} & set(AUTH_HEADERS), "auth headers were recorded"


@pytest.mark.parametrize("key", keys(), ids=key_id)
def test_gemini_cli_gets_a_well_formed_gemini_stream(replays, key):
    replay = replays[key]
    assert replay.status == 200, replay.answer[:2000]
    assert replay.received  # exactly one upstream call, to the model's path
    assert replay.content_type.startswith("text/event-stream")
    payloads = gemini_sse_chunks(replay.answer)  # each a GenerateContentResponse, strictly
    chunks = genai_reads_stream(replay.answer)  # and what the SDK's own client makes of the bytes
    assert len(chunks) == len(payloads)
    if model_of(key) in RELAYED:
        assert replay.answer == recorded(f"{replay.recording}.response.sse")  # relayed byte for byte
        return
    assert {p["modelVersion"] for p in payloads} == {model_of(key)}  # the name Gemini CLI asked for
    assert len({p["responseId"] for p in payloads}) == 1
    assert all(p["candidates"][0]["content"]["parts"] for p in payloads)  # google-genai's chats need a part each
    assert payloads[-1]["candidates"][0]["finishReason"] == "STOP"
    assert all("finishReason" not in p["candidates"][0] and "usageMetadata" not in p for p in payloads[:-1])


def test_the_gateway_logged_every_request_and_no_traceback(replays):
    log = replays["log"]
    assert "Traceback" not in log, log[-5000:]
    assert sorted(ACCESS_LINE.findall(log)) == sorted((model_of(key), "200") for key in keys()), log[-5000:]


@pytest.mark.parametrize("model,index", [(m, i) for m in TARGETS for i in BOTH], ids=lambda v: str(v))
def test_every_upstream_gets_the_gateways_headers_not_gemini_clis(replays, gemini_cli, model, index):
    received = replays[model, index].received
    client = {name.lower(): value for name, value in gemini_cli[index]["headers"].items()}
    assert "x-goog-api-client" not in received.headers
    assert received.headers["user-agent"] != client["user-agent"]
    assert not {"accept-language", "sec-fetch-mode"} & set(received.headers)
    assert received.headers["content-type"] == "application/json"
    if TARGETS[model].provider:
        assert_factory_headers(received, TARGETS[model].provider)
    else:
        assert received.headers["x-goog-api-key"] == DIRECT_GEMINI_KEY and "authorization" not in received.headers


# -- the answers --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model,index", [(m, i) for m in CONVERTED for i in BOTH], ids=lambda v: str(v))
def test_converted_answers_say_what_the_upstream_said(replays, model, index):
    replay = replays[model, index]
    chunks = genai_reads_stream(replay.answer)
    folded = gemini_folded(chunks)
    expected = recorded_answer(replay.recording)
    # includeThoughts: the thought text is shown (Anthropic's redacted thinking has none to show).
    assert (folded["thoughts"], folded["text"], folded["calls"]) == \
        (expected["thoughts"], expected["text"], expected["calls"])
    usage = chunks[-1].usage_metadata
    prompt, output, reasoning = expected["usage"]
    assert (usage.prompt_token_count, usage.total_token_count) == (prompt, prompt + output)
    assert (usage.candidates_token_count, usage.thoughts_token_count or 0) == (output - reasoning, reasoning)


def signed_parts(recording: str) -> int:
    """How many thought parts of the answer carry opaque data, by the recording: one per Anthropic thinking
    block with a signature (its redacted thinking cannot be shown, as the README says of the Responses front
    too); one per summary part of a Responses reasoning item (each names the item, so that a client's
    history regroups them; the last adds the encrypted content), or one for an item without a summary;
    none for Chat."""
    payloads = sse_payloads(recorded(f"{recording}.response.sse"))
    signed = {p["index"] for p in payloads if p.get("type") == "content_block_delta"
              and p["delta"]["type"] == "signature_delta"}
    items = [item for p in payloads if p.get("type") == "response.completed"
             for item in p["response"]["output"] if item["type"] == "reasoning"]
    return len(signed) + sum(max(1, len(item["summary"])) for item in items)


@pytest.mark.parametrize("model,index", [(m, i) for m in CONVERTED for i in BOTH], ids=lambda v: str(v))
def test_converted_answers_carry_the_upstreams_opaque_reasoning_as_signatures(replays, model, index):
    replay = replays[model, index]
    signatures = gemini_folded(genai_reads_stream(replay.answer))["signatures"]
    assert len(signatures) == signed_parts(replay.recording)
    # Another dialect's data, tagged (README: base64-encoded, because google-genai refuses anything else).
    assert all(signature.startswith(b"d2a.") for signature in signatures)


# -- the converted requests: the common rules -----------------------------------------------------------


@pytest.mark.parametrize("key", [k for k in keys() if model_of(k) in CONVERTED], ids=key_id)
def test_no_gemini_field_leaks_into_another_dialect(replays, key):
    replay = replays[key]
    leaked = keys_anywhere(replay.body, skip=("parameters", "input_schema")) & GEMINI_ONLY
    assert not leaked, leaked
    assert "thoughtSignature" not in replay.received.body
    for signature in (part.get("thoughtSignature") for content in replay.sent["contents"] for part in content["parts"]):
        assert signature is None or signature not in replay.received.body  # Gemini's own: for Gemini alone


@pytest.mark.parametrize("model", CONVERTED)
def test_the_variant_without_ids_pairs_call_and_response_by_name(replays, model):
    """Without ids the gateway makes one for the call and gives the response the same."""
    body = replays["no-ids", model].body
    if model == "claude-test":
        [use] = [b for m in body["messages"] for b in m["content"] if b["type"] == "tool_use"]
        [result] = [b for m in body["messages"] for b in m["content"] if b["type"] == "tool_result"]
        ids = use["id"], result["tool_use_id"]
        assert re.fullmatch(r"[a-zA-Z0-9_-]+", ids[0])
    elif model == "gpt-test":
        ids = tuple(item["call_id"] for item in body["input"]
                    if item["type"] in ("function_call", "function_call_output"))
        assert len(ids[0]) <= 64
    else:
        [call] = [c for m in body["messages"] for c in m.get("tool_calls") or []]
        [tool] = [m for m in body["messages"] if m["role"] == "tool"]
        ids = call["id"], tool["tool_call_id"]
        assert len(ids[0]) <= 40
    assert len(ids) == 2 and ids[0] == ids[1] and ids[0]
    # Apart from the ids, the same request as with the CLI's own ids.
    with_ids = json.dumps(replays[model, 1].body)
    call_id = parts_of(replays[model, 1].sent, "functionCall")[0]["id"]
    assert json.loads(with_ids.replace(json.dumps(call_id), json.dumps(ids[0]))) == body


# -- Anthropic -------------------------------------------------------------------------------------------


def anthropic_content(content: dict) -> list:
    """The Anthropic blocks of one Gemini content: texts, tool_use for calls, tool_result for responses
    (a Gemini signature on a call cannot go to Anthropic)."""
    blocks = []
    for part in content["parts"]:
        if "text" in part:
            blocks.append({"type": "text", "text": part["text"]})
        elif "functionCall" in part:
            call = part["functionCall"]
            blocks.append({"type": "tool_use", "id": call["id"], "name": call["name"], "input": call["args"]})
        elif "functionResponse" in part:
            response = part["functionResponse"]
            blocks.append({"type": "tool_result", "tool_use_id": response["id"], "content": function_output(response)})
    return blocks


def with_result_text(messages: list) -> list:
    """Anthropic messages, each tool_result's content as one string (Anthropic takes a string or text blocks)."""
    def block_of(block):
        if block["type"] != "tool_result" or isinstance(block["content"], str):
            return block
        assert all(part["type"] == "text" for part in block["content"]), block
        return {**block, "content": "".join(part["text"] for part in block["content"])}
    return [{**message, "content": [block_of(block) for block in message["content"]]} for message in messages]


@pytest.mark.parametrize("index", BOTH)
def test_anthropic_gets_the_system_messages_and_tool_pair(replays, index):
    replay = replays["claude-test", index]
    body, sent = replay.body, replay.sent
    assert body["model"] == "claude-test" and body["stream"] is True
    assert body["system"] == [{"type": "text", "text": text} for text in system_texts(sent)]
    assert with_result_text(body["messages"]) == [
        {"role": "assistant" if content["role"] == "model" else "user", "content": anthropic_content(content)}
        for content in sent["contents"]]


@pytest.mark.parametrize("index", BOTH)
def test_anthropic_gets_the_tools_and_the_reasoning(replays, index):
    body, sent = replays["claude-test", index].body, replays["claude-test", index].sent
    assert body["tools"] == [{"name": d["name"], "description": d["description"], "input_schema": json_schema(d)}
                             for d in declarations(sent)]
    assert "tool_choice" not in body and "metadata" not in body
    assert body.get("top_p", 0.95) == 0.95  # 0.95 is the least Anthropic takes while thinking
    assert body.get("temperature", 1) == 1
    if index == 0:  # thinkingLevel HIGH: the README's budget for high; Anthropic's constraints met
        assert body["thinking"] == {"type": "enabled", "budget_tokens": BUDGET}
        assert body["max_tokens"] == BUDGET + 4096
        assert "top_k" not in body
    else:
        # The tool loop's assistant turn carries no Anthropic signed thinking (Gemini's signature cannot go
        # there), so thinking is off rather than refused (README), and the rest is sent as asked.
        assert "thinking" not in body
        assert body["max_tokens"] == DEFAULT_MAX_TOKENS
        assert body["top_k"] == sent["generationConfig"]["topK"]


# -- Responses ---------------------------------------------------------------------------------------------




@pytest.mark.parametrize("index", BOTH)
def test_responses_gets_the_instructions_input_and_call_pair(replays, index):
    body, sent = replays["gpt-test", index].body, replays["gpt-test", index].sent
    assert body["model"] == "gpt-test"
    assert body["instructions"] == join_texts(system_texts(sent))
    expected = []
    for content in sent["contents"]:
        if content["role"] == "user" and texts_of(content):
            expected.append({"type": "message", "role": "user",
                             "content": [{"type": "input_text", "text": text} for text in texts_of(content)]})
        for part in content["parts"]:
            if "functionCall" in part:
                call = part["functionCall"]
                expected.append({"type": "function_call", "call_id": call["id"], "name": call["name"],
                                 "arguments": call["args"]})
            elif "functionResponse" in part:
                response = part["functionResponse"]
                expected.append({"type": "function_call_output", "call_id": response["id"],
                                 "output": function_output(response)})
    items = [dict(item, arguments=json.loads(item["arguments"])) if item["type"] == "function_call" else item
             for item in body["input"]]
    assert items == expected


@pytest.mark.parametrize("index", BOTH)
def test_responses_gets_the_tools_reasoning_and_settings(replays, index):
    body, sent = replays["gpt-test", index].body, replays["gpt-test", index].sent
    assert body["tools"] == [{"type": "function", "name": d["name"], "description": d["description"],
                              "parameters": json_schema(d), "strict": False} for d in declarations(sent)]
    assert body["reasoning"] == {"effort": EFFORT, "summary": "auto"}  # includeThoughts: the summaries
    assert body["include"] == ["reasoning.encrypted_content"]
    assert body["temperature"] == 1 and body["top_p"] == 0.95  # Responses has no top_k
    assert body["stream"] is True and body["store"] is False
    assert not {"tool_choice", "max_output_tokens", "top_k", "user"} & set(body)


# -- Chat --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("index", BOTH)
def test_chat_gets_the_system_messages_and_tool_pair(replays, index):
    body, sent = replays["glm-test", index].body, replays["glm-test", index].sent
    assert body["model"] == "glm-test"
    messages = body["messages"]
    system = [message for message in messages if message["role"] == "system"]
    assert messages[:len(system)] == system  # all of them first
    assert [message["content"] for message in system] == system_texts(sent)
    rest = messages[len(system):]
    position = 0
    for content in sent["contents"]:
        if content["role"] == "model":
            message = rest[position]
            position += 1
            calls = [part["functionCall"] for part in content["parts"] if "functionCall" in part]
            assert message["role"] == "assistant" and message["content"] in (None, "")
            assert [(c["id"], c["type"], c["function"]["name"], json.loads(c["function"]["arguments"]))
                    for c in message["tool_calls"]] == [(c["id"], "function", c["name"], c["args"]) for c in calls]
            assert not {"reasoning_content", "reasoning_details", "extra_content"} & set(message)
            continue
        for part in content["parts"]:
            if "functionResponse" in part:
                response = part["functionResponse"]
                assert rest[position] == {"role": "tool", "tool_call_id": response["id"],
                                          "content": function_output(response)}
                position += 1
        texts = texts_of(content)
        if texts:
            message = rest[position]
            position += 1
            assert message["role"] == "user"
            joined = [message["content"]] if isinstance(message["content"], str) else \
                [part["text"] for part in message["content"]]
            assert joined == texts or joined == ["\n\n".join(texts)]  # one Gemini content's parts, one message
    assert position == len(rest)


@pytest.mark.parametrize("index", BOTH)
def test_chat_gets_the_tools_reasoning_and_settings(replays, index):
    body, sent = replays["glm-test", index].body, replays["glm-test", index].sent
    assert body["tools"] == [{"type": "function", "function": {"name": d["name"], "parameters": json_schema(d),
                                                               "description": d["description"]}}
                             for d in declarations(sent)]
    assert body["reasoning_effort"] == EFFORT
    assert body["temperature"] == 1 and body["top_p"] == 0.95
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert not {"tool_choice", "max_tokens", "top_k", "reasoning"} & set(body)


# -- Gemini, through Factory and direct: relayed ------------------------------------------------------------


@pytest.mark.parametrize("model", RELAYED)
@pytest.mark.parametrize("index", BOTH)
def test_gemini_gets_gemini_clis_body_with_only_the_policies_applied(replays, model, index):
    replay = replays[model, index]
    instruction = replay.sent["systemInstruction"]
    expected = {**replay.sent,
                "systemInstruction": {**instruction, "parts": [{"text": SYSTEM_PROMPT}, *instruction["parts"]]}}
    if model == "gemini-test":
        expected["model"] = "gemini-test"  # Factory's /g/v1/generate reads the model from the body
    # Everything else as Gemini CLI sent it: thinkingConfig, topK, the call's id and thoughtSignature, tools.
    assert replay.body == expected


def test_gemini_factory_and_direct_differ_only_in_where_they_go(replays):
    for index in BOTH:
        factory, direct = replays["gemini-test", index].received, replays["gemini-direct", index].received
        assert (factory.path, factory.query) == (GEMINI_PATH, "")
        assert factory.headers["authorization"] == f"Bearer {FACTORY_KEY}"
        # alt=sse once: the URL the gateway builds says it; the client's own query is not added to it.
        assert (direct.path, direct.query) == (DIRECT_GEMINI_PATH + ":streamGenerateContent", "alt=sse")
        assert direct.headers["x-goog-api-key"] == DIRECT_GEMINI_KEY


# -- Gemini CLI's own tool loop, on a model that thinks ---------------------------------------------------
#
# Gemini CLI builds its next request from the stream it read (GeminiChat.processStreamResponse in
# packages/core/src/core/geminiChat.ts): it keeps the parts of the chunks whose content is valid (no empty
# text part that is not a thought), drops every thought part (``content.parts.filter((part) =>
# !part.thought)``), joins runs of text parts, and sends the result back as the model's turn, then the
# functionResponse. Real Gemini puts its signatures on the functionCall part, which survives that; the
# recorded second request shows it coming back. Here the first request goes to a converted model whose
# recorded answer thinks and then calls a function; the second is built from the gateway's stream as
# Gemini CLI would build it.

LOOP_TARGETS = {
    # Signed thinking, text, a tool_use (recorded whole; the gateway streams it to the client).
    "claude-test": (ANTHROPIC_PATH, "anthropic__test_anthropic_tool_with_thinking.0.response.json",
                    "anthropic__test_anthropic_tool_with_thinking.1.response.json"),
    # Encrypted reasoning and a function call; text.
    "gpt-test": (RESPONSES_PATH, "openai_responses__test_openai_responses_streaming_usage.0.response.sse",
                 "openai_responses__test_openai_responses_stream.1.response.sse"),
}


def cli_model_turn(payloads: list) -> dict:
    """The model turn Gemini CLI puts in its history after reading ``payloads`` (see above)."""
    parts = []
    for payload in payloads:
        content = payload["candidates"][0]["content"]
        valid = content.get("parts") and all(part.get("thought") or part.get("text") != "" for part in content["parts"])
        if valid:
            parts += [part for part in content["parts"] if not part.get("thought")]

    def plain_text(part):
        return isinstance(part.get("text"), str) and not part.get("thought") and \
            not {"functionCall", "functionResponse", "inlineData", "fileData"} & set(part)

    joined = []
    for part in parts:
        if joined and joined[-1].get("text") and plain_text(joined[-1]) and plain_text(part):
            joined[-1] = {**joined[-1], "text": joined[-1]["text"] + part["text"]}
        else:
            joined.append(dict(part))
    return {"role": "model", "parts": joined}


def answer_upstream(upstream, path: str, recording: str):
    if recording.endswith(".sse"):
        upstream.reply_sse(path, recorded(recording))
    else:
        upstream.reply(path, [recorded(recording)], chunked=False)


@pytest.fixture(scope="module")
def cli_tool_loops(gemini_cli, gateway, upstream_process) -> dict:
    """{model: (the model turn Gemini CLI keeps, the second request the upstream received)}."""
    upstream = upstream_process.client
    request = gemini_cli[0]
    headers = {name: value for name, value in request["headers"].items() if name.lower() in SENT_HEADERS}
    results = {}
    for model, (path, first, second) in LOOP_TARGETS.items():
        url = gateway.url + request["path"].replace(RECORDED_MODEL, model)
        upstream.reset()
        answer_upstream(upstream, path, first)
        sent = post(url, request["body"], headers)
        assert sent.status == 200
        turn = cli_model_turn(gemini_sse_chunks(sent.read()))
        [call] = [part["functionCall"] for part in turn["parts"] if "functionCall" in part]
        answer_upstream(upstream, path, second)
        follow_up = {**request["body"], "contents": [
            *request["body"]["contents"], turn,
            {"role": "user", "parts": [{"functionResponse": {"id": call["id"], "name": call["name"],
                                                             "response": {"output": "Mexico"}}}]}]}
        sent = post(url, follow_up, headers)
        assert sent.status == 200, sent.read()[:2000]
        sent.read()
        received = upstream.requests(path)
        assert len(received) == 2
        results[model] = turn, received[1].json()
    upstream.reset()
    return results


@pytest.mark.parametrize("model", LOOP_TARGETS)
def test_gemini_clis_tool_loop_reaches_the_upstream_as_a_call_and_result_pair(cli_tool_loops, model):
    turn, body = cli_tool_loops[model]
    [call] = [part["functionCall"] for part in turn["parts"] if "functionCall" in part]
    if model == "claude-test":
        uses = [block for message in body["messages"] for block in message["content"] if block["type"] == "tool_use"]
        results = [block for message in body["messages"] for block in message["content"]
                   if block["type"] == "tool_result"]
        assert [(u["id"], u["name"]) for u in uses] == [(call["id"], call["name"])]
        assert [r["tool_use_id"] for r in results] == [call["id"]]
    else:
        pair = [(item["type"], item["call_id"]) for item in body["input"]
                if item["type"] in ("function_call", "function_call_output")]
        assert pair == [("function_call", call["id"]), ("function_call_output", call["id"])]


# Gemini CLI drops thought parts from its history; the gateway's reasoning memory gives the upstream its
# reasoning back by the call's id (droid2api/reasoning_memory.py).
@pytest.mark.parametrize("model", ["claude-test", "gpt-test"])
def test_gemini_clis_tool_loop_gives_the_upstream_its_reasoning_back(cli_tool_loops, model):
    _, body = cli_tool_loops[model]
    _, first, _ = LOOP_TARGETS[model]
    if model == "claude-test":
        thinking = recorded_json(first)["content"][0]
        assert body["thinking"] == {"type": "enabled", "budget_tokens": BUDGET}
        assistant = [message for message in body["messages"] if message["role"] == "assistant"][-1]
        assert assistant["content"][0] == thinking  # signed thinking first, exactly, as Anthropic requires
    else:
        done = [p["item"] for p in sse_payloads(recorded(first))
                if p.get("type") == "response.output_item.done" and p["item"]["type"] == "reasoning"]
        sent = [(item["id"], item.get("encrypted_content")) for item in body["input"] if item["type"] == "reasoning"]
        assert sent == [(item["id"], item["encrypted_content"]) for item in done]


def test_the_recorded_answers_are_streams():
    """Every recording this module replays is a real stream of its dialect (a sanity check on TARGETS)."""
    for target in TARGETS.values():
        for recording in target.answers:
            assert sse_payloads(recorded(f"{recording}.response.sse")), recording
