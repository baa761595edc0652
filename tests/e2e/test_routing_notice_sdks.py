"""A fallback, seen through each official SDK in strict mode: the call succeeds, the answer is the one the
primary would have given, and the gateway's notice is where the SDK lets its user read it.

The gateway of this module has pairs of models of one type, a primary ("lead") on the session's fake
upstream and its fallback ("spare") on a second fake upstream process, each with its own key:
Anthropic, Chat and Gemini. Each test first lets the primary answer a recorded real answer (the run
without a fallback: ``x-gateway-switched: 0`` and no notice anywhere), then makes the primary answer
529 or 500 and the fallback the same recording: the SDK must assemble the same answer, the routing
headers must name the fallback, and the notice must be in the ``x-gateway-notice`` header and in the
body: ``model_extra["gateway_notice"]`` of an openai or anthropic answer, of a stream's first chunk or
event, of the message_start message the anthropic stream helper ends with. google-genai drops fields it
does not know, so there the header is what its user reads (``sdk_http_response.headers``).

A front of the pair's own dialect is relayed (the notice is added to the upstream's bytes); the others
are converted (the gateway writes the events). Old recorded Responses answers fail the openai SDK's
strict types (conftest.py), so the Responses pair, relayed to the Responses front, is read by the SDK
without them; the Responses front converting from Anthropic and Gemini is read strictly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import anthropic
import openai
import pytest
from google import genai
from google.genai import errors, types

from tests.helpers import recorded, recorded_json

from .checks import completed_response
from .servers import SDK_OPTIONS, fresh

LEAD_KEY, SPARE_KEY = "sk-lead-upstream", "sk-spare-upstream"
ASK = "What is the largest city in my country?"
MAX_TOKENS = 4096
GEMINI_UPSTREAM_MODEL = "gemini-2.0-flash"
# Both models of a pair name the same upstream model, so the two upstreams get the same body.
UPSTREAM_MODELS = {"anthropic": "claude-sonnet-4-5", "common": "glm-4.6", "google": GEMINI_UPSTREAM_MODEL,
                   "openai": "gpt-5"}
SUFFIXES = {"anthropic": "", "common": "/v1", "google": "/v1beta", "openai": "/v1"}


@dataclass(frozen=True)
class Pair:
    """A primary and its fallback of one upstream type: the recordings they answer, and the failure."""

    kind: str  # the config's upstream type
    answer_json: str | None  # a recorded whole answer, for plain calls (Responses: the stream's final one)
    answer_sse: str  # a recorded stream
    status: int  # what the primary answers when it fails
    error: dict
    strict: bool = True  # whether the SDK validates strictly (see the module docstring)

    @property
    def lead(self) -> str:
        return f"{self.kind}-lead"

    @property
    def spare(self) -> str:
        return f"{self.kind}-spare"

    def path(self, side: str, stream: bool) -> str:
        if self.kind == "anthropic":
            return f"/{side}/v1/messages"
        if self.kind == "common":
            return f"/{side}/v1/chat/completions"
        if self.kind == "openai":
            return f"/{side}/v1/responses"
        method = "streamGenerateContent" if stream else "generateContent"
        return f"/{side}/v1beta/models/{GEMINI_UPSTREAM_MODEL}:{method}"


PAIRS = {
    "anthropic": Pair("anthropic", "anthropic__test_anthropic_tool_output.0",
                      "anthropic__test_anthropic_model_thinking_part_stream.0",
                      529, {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    "common": Pair("common", None, "openai__test_run_stream_sync_streams_real_model.0",
                   500, {"error": {"message": "The server had an error while processing your request.",
                                   "type": "server_error", "param": None, "code": None}}),
    "google": Pair("google", "google__test_google_tool_output.0", "google__test_google_model_iter_stream.0",
                   500, {"error": {"code": 500, "message": "Internal error encountered.", "status": "INTERNAL"}}),
    # Relayed old Responses streams fail the SDK's strict types (conftest.py): this pair is read without them.
    "openai": Pair("openai", "openai_responses__test_openai_responses_stream.1",
                   "openai_responses__test_openai_responses_thinking_part_iter.0",
                   503, {"error": {"message": "The engine is currently overloaded, please try again later.",
                                   "type": "server_error", "param": None, "code": None}}, strict=False),
}


def routing_config(lead_url: str, spare_url: str) -> dict:
    """The upstreams and models of every pair: the lead on ``lead_url``, the spare on ``spare_url``."""
    upstreams, models = [], []
    for pair in PAIRS.values():
        suffix = SUFFIXES[pair.kind]
        for side, url, key in (("lead", lead_url, LEAD_KEY), ("spare", spare_url, SPARE_KEY)):
            upstreams.append({"name": f"{pair.kind}-{side}", "type": pair.kind, "base_url": f"{url}/{side}{suffix}",
                              "api_key": key})
            model = {"id": f"{pair.kind}-{side}", "upstream": f"{pair.kind}-{side}",
                     "upstream_model": UPSTREAM_MODELS[pair.kind]}
            if side == "lead":
                model["fallbacks"] = [pair.spare]
            models.append(model)
    return {"upstreams": upstreams, "models": models}


@pytest.fixture
def spare(upstream_b_process):
    yield from fresh(upstream_b_process)


@pytest.fixture(scope="module")
def routed(start_server, upstream_process, upstream_b_process):
    return start_server(**routing_config(upstream_process.client.url, upstream_b_process.client.url))


# -- what each SDK call shows its user ---------------------------------------------------------------


@dataclass
class Seen:
    """One SDK call: what it assembled (ids and times left out), its response headers, and the notice
    found in each body object it produced (first chunk first), None where there was none."""

    answer: object
    headers: dict
    notices: list


def dumped(value, *volatile) -> dict:
    """An SDK object as JSON data, without the notice and the ``volatile`` keys at its top level."""
    data = value.model_dump(mode="json")
    return {key: item for key, item in data.items() if key not in {"gateway_notice", *volatile}}


def extra(value) -> dict | None:
    return (value.model_extra or {}).get("gateway_notice")


def chat_create(client, model):
    raw = client.chat.completions.with_raw_response.create(model=model, max_tokens=MAX_TOKENS,
                                                          messages=[{"role": "user", "content": ASK}])
    completion = raw.parse()
    return Seen(dumped(completion, "id", "created"), raw.headers, [extra(completion)])


def chat_create_stream(client, model):
    stream = client.chat.completions.create(model=model, max_tokens=MAX_TOKENS, stream=True,
                                            stream_options={"include_usage": True},
                                            messages=[{"role": "user", "content": ASK}])
    chunks = list(stream)
    return Seen([dumped(c, "id", "created") for c in chunks], stream.response.headers, [extra(c) for c in chunks])


def chat_stream_helper(client, model):
    with client.chat.completions.stream(model=model, max_tokens=MAX_TOKENS,
                                        messages=[{"role": "user", "content": ASK}]) as stream:
        chunks = [event.chunk for event in stream if event.type == "chunk"]
        final = stream.get_final_completion()
        headers = stream._response.headers  # the helper keeps the response only under this name
    assert extra(final) == extra(chunks[0])  # the final completion is built on the first chunk
    return Seen(dumped(final, "id", "created"), headers, [extra(c) for c in chunks])


def responses_create(client, model):
    raw = client.responses.with_raw_response.create(model=model, input=ASK, max_output_tokens=MAX_TOKENS)
    response = raw.parse()
    return Seen(without_ids(dumped(response, "created_at")), raw.headers, [extra(response)])


def without_ids(data):
    """Responses data without ids, which the gateway issues afresh for each converted answer and item
    (``call_id``, the tool call's own, stays)."""
    if isinstance(data, list):
        return [without_ids(item) for item in data]
    if isinstance(data, dict):
        return {key: without_ids(value) for key, value in data.items()
                if key not in ("id", "item_id", "created_at")}
    return data


def responses_event(event) -> dict:
    return without_ids(dumped(event))


def responses_create_stream(client, model):
    stream = client.responses.create(model=model, input=ASK, max_output_tokens=MAX_TOKENS, stream=True)
    events = list(stream)
    return Seen([responses_event(e) for e in events], stream.response.headers, [extra(e) for e in events])


def responses_stream_helper(client, model):
    with client.responses.stream(model=model, input=ASK, max_output_tokens=MAX_TOKENS) as stream:
        events = list(stream)
        final = stream.get_final_response()
        headers = stream._raw_stream.response.headers  # the helper keeps the response only under this name
    return Seen(without_ids(dumped(final)), headers, [extra(e) for e in events])


def messages_create(client, model):
    raw = client.messages.with_raw_response.create(model=model, max_tokens=MAX_TOKENS,
                                                   messages=[{"role": "user", "content": ASK}])
    message = raw.parse()
    return Seen(dumped(message, "id"), raw.headers, [extra(message)])


def messages_create_stream(client, model):
    stream = client.messages.create(model=model, max_tokens=MAX_TOKENS, stream=True,
                                    messages=[{"role": "user", "content": ASK}])
    events = list(stream)
    assert events[0].type == "message_start"
    notices = [extra(events[0].message)] + [extra(e) for e in events]  # inside message_start's message only
    answer = [dumped(e) if e.type != "message_start" else {**dumped(e), "message": dumped(e.message, "id")}
              for e in events]
    return Seen(answer, stream.response.headers, notices)


def messages_stream_helper(client, model):
    with client.messages.stream(model=model, max_tokens=MAX_TOKENS,
                                messages=[{"role": "user", "content": ASK}]) as stream:
        final = stream.get_final_message()
        headers = stream.response.headers
    return Seen(dumped(final, "id"), headers, [extra(final)])


def genai_dump(response) -> dict:
    return response.model_dump(mode="json", exclude={"sdk_http_response", "create_time"})


def gemini_generate(client, model):
    response = client.models.generate_content(model=model, contents=ASK)
    return Seen(genai_dump(response), response.sdk_http_response.headers, [])


def gemini_generate_stream(client, model):
    chunks = list(client.models.generate_content_stream(model=model, contents=ASK))
    return Seen([genai_dump(c) for c in chunks], chunks[0].sdk_http_response.headers, [])


# front -> (its SDK calls: (call, streamed), the pairs it is tested with)
FRONTS = {
    "chat": ([(chat_create, False), (chat_create_stream, True), (chat_stream_helper, True)], ["anthropic", "common"]),
    "responses": ([(responses_create, False), (responses_create_stream, True), (responses_stream_helper, True)],
                  ["anthropic", "google", "openai"]),
    "messages": ([(messages_create, False), (messages_create_stream, True), (messages_stream_helper, True)],
                 ["anthropic", "google"]),
    "gemini": ([(gemini_generate, False), (gemini_generate_stream, True)], ["google", "anthropic"]),
}
CASES = [(front, call, streamed, PAIRS[pair]) for front, (calls, pairs) in FRONTS.items()
         for pair in pairs for call, streamed in calls if streamed or PAIRS[pair].answer_json]


@pytest.fixture
def sdk(routed):
    """front -> a client of the official SDK for it, strict where the SDK has a strict mode, no retries."""
    openai_client = openai.OpenAI(base_url=routed.url + "/v1", **SDK_OPTIONS)
    anthropic_client = anthropic.Anthropic(base_url=routed.url, **SDK_OPTIONS)
    options = types.HttpOptions(base_url=routed.url, timeout=20_000, retry_options=types.HttpRetryOptions(attempts=1))
    gemini_client = genai.Client(api_key=SDK_OPTIONS["api_key"], http_options=options)
    lax_client = openai.OpenAI(base_url=routed.url + "/v1", **{**SDK_OPTIONS, "_strict_response_validation": False})
    yield {"chat": openai_client, "responses": openai_client, "messages": anthropic_client, "gemini": gemini_client,
           "responses-lax": lax_client}
    openai_client.close()
    lax_client.close()
    anthropic_client.close()
    gemini_client.close()


def queue_answer(fake, pair: Pair, side: str, streamed: bool):
    path = pair.path(side, streamed)
    if streamed:
        fake.reply_sse(path, recorded(f"{pair.answer_sse}.response.sse"))
    else:
        fake.reply_json(path, completed_response(pair.answer_json) if pair.kind == "openai" else
                        recorded_json(f"{pair.answer_json}.response.json"))


def header_notice(headers) -> dict | None:
    value = headers.get("x-gateway-notice")
    return None if value is None else json.loads(value)


# -- the tests ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("front,call,streamed,pair", CASES,
                         ids=[f"{f}-{c.__name__}-{p.kind}" for f, c, s, p in CASES])
def test_a_fallback_answers_as_the_primary_would_and_says_so(sdk, upstream, spare, front, call, streamed, pair):
    client = sdk[front] if pair.strict else sdk[f"{front}-lax"]
    queue_answer(upstream, pair, "lead", streamed)
    direct = call(client, pair.lead)  # no fallback
    sent = upstream.only_request(pair.path("lead", streamed))

    assert (direct.headers["x-gateway-switched"], direct.headers["x-gateway-attempts"]) == ("0", "1")
    assert direct.headers["x-gateway-model"] == pair.lead
    assert header_notice(direct.headers) is None and not any(direct.notices)
    assert not spare.requests()

    upstream.reset()
    upstream.reply_json(pair.path("lead", streamed), pair.error, status=pair.status)
    queue_answer(spare, pair, "spare", streamed)
    switched = call(client, pair.lead)

    assert switched.answer == direct.answer  # assembled exactly as when the primary answered
    expected = {"type": "gateway_notice", "from": pair.lead, "to": pair.spare, "trigger_status": pair.status,
                "attempts": 2}
    notice = header_notice(switched.headers)
    assert {k: v for k, v in notice.items() if k != "reason"} == expected
    assert pair.error["error"]["message"] in notice["reason"]  # the primary's own words
    assert (switched.headers["x-gateway-switched"], switched.headers["x-gateway-attempts"]) == ("1", "2")
    assert switched.headers["x-gateway-model"] == pair.spare
    if switched.notices:  # openai and anthropic: on the answer, or the stream's first object only
        assert switched.notices[0] == notice and not any(switched.notices[1:])

    # The fallback got the very request the primary got, with its own key.
    failed = upstream.only_request(pair.path("lead", streamed))
    answered = spare.only_request(pair.path("spare", streamed))
    assert failed.json() == sent.json() == answered.json()
    assert failed.query == answered.query
    assert any(SPARE_KEY in value for value in answered.headers.values())
    assert not any(LEAD_KEY in value for value in answered.headers.values())


FAILING = [("chat", chat_create_stream, openai.InternalServerError),
           ("responses", responses_create, openai.APIStatusError),
           ("messages", messages_stream_helper, anthropic.APIStatusError), ("gemini", gemini_generate, errors.APIError)]


@pytest.mark.parametrize("front,call,error", FAILING, ids=[f for f, _, _ in FAILING])
def test_when_the_fallback_fails_too_the_sdk_gets_the_last_failure_and_no_notice(sdk, upstream, spare, front, call,
                                                                                  error):
    pair = PAIRS["anthropic"]
    streamed = call in (chat_create_stream, messages_stream_helper)
    upstream.reply_json(pair.path("lead", streamed), pair.error, status=529)
    spare.reply_json(pair.path("spare", streamed), {"type": "error", "error": {"type": "api_error", "message": "boom"}},
                     status=500)

    with pytest.raises(error) as caught:
        call(sdk[front], pair.lead)

    failure = caught.value
    status = failure.code if front == "gemini" else failure.status_code
    assert status == 500
    headers = failure.response.headers
    assert (headers["x-gateway-switched"], headers["x-gateway-attempts"]) == ("0", "2")
    assert "x-gateway-notice" not in headers
    assert "gateway_notice" not in json.dumps(failure.body if front != "gemini" else failure.details)
