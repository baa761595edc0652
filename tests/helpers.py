"""Shared test helpers: the recorded upstream traffic, and configs and apps built from dicts."""

from __future__ import annotations

import functools
import json
import subprocess
import tempfile
import logging
from pathlib import Path

from droid2api import ir
from droid2api.config import parse_settings

RECORDED = Path(__file__).parent / "recorded"

FACTORY_ENDPOINTS = {
    "anthropic": "https://api.factory.ai/api/llm/a/v1/messages",
    "openai": "https://api.factory.ai/api/llm/o/v1/responses",
    "common": "https://api.factory.ai/api/llm/o/v1/chat/completions",
    "google": "https://api.factory.ai/api/llm/g/v1/generate",
}


def recorded(name: str) -> bytes:
    """The bytes of one recorded file, e.g. ``anthropic__test_anthropic_tool_output.0.response.json``."""
    return (RECORDED / name).read_bytes()


def recorded_json(name: str):
    return json.loads(recorded(name))


def exchanges(provider: str, kind: str = "") -> list:
    """Names (without suffix) of the recorded exchanges of one provider, e.g. ``google__test_x.0``.

    ``kind`` is ``sse`` or ``json`` to keep only streamed or only plain responses.
    """
    names = []
    for path in sorted(RECORDED.glob(f"{provider}__*.response.*")):
        if kind and not path.name.endswith(kind):
            continue
        names.append(path.name.rsplit(".response.", 1)[0])
    return names


# The recording prefix of each provider -> the Dialect its upstream speaks.
PROVIDER_DIALECTS = {"anthropic": ir.Dialect.ANTHROPIC, "openai": ir.Dialect.CHAT,
                     "openai_responses": ir.Dialect.RESPONSES, "google": ir.Dialect.GEMINI}


def upstream_events(provider: str, name: str) -> list:
    """The IR events a recorded upstream answer decodes to, through its dialect's StreamDecoder if it was
    streamed, else through decode_response."""
    from droid2api.dialects import BY_NAME
    from droid2api.sse import iter_events

    dialect = BY_NAME[PROVIDER_DIALECTS[provider]]
    if not (RECORDED / f"{name}.response.json").exists():
        decoder = dialect.StreamDecoder()
        events = [e for event, data in iter_events([recorded(f"{name}.response.sse")])
                  for e in decoder.feed(event, data)]
        return events + decoder.close()
    return list(ir.response_events(dialect.decode_response(recorded_json(f"{name}.response.json"))))


def convert_everywhere(decode_request, raw: bytes):
    """Decode a client's raw body with a front's ``decode_request`` and encode it for every upstream dialect:
    the property of the fronts' damaged-body tests is that nothing but a 400 may come of it."""
    from types import SimpleNamespace

    from droid2api.dialects import BY_NAME
    from droid2api.errors import GatewayError
    from droid2api.wire import parse_object

    route = SimpleNamespace(factory=False, upstream_model="m", fast=False)
    try:
        request = decode_request(parse_object(raw))
        for dialect in BY_NAME.values():
            dialect.encode_request(request, [], route)
    except GatewayError as e:
        assert e.status == 400, e
    except RecursionError:
        pass  # JSON nested too deep to walk, wherever it is first walked: app.py answers it with a 400


def assert_stream_contract(events: list):
    """The IR stream contract every decoder keeps: Start first; each part PartStart, Delta*, PartStop,
    one part at a time with dense indices in order; exactly one Finish, last."""
    assert isinstance(events[0], ir.Start) and isinstance(events[-1], ir.Finish)
    assert sum(isinstance(e, ir.Finish) for e in events) == 1
    open_index, next_index = None, 0
    for event in events[1:-1]:
        if isinstance(event, ir.PartStart):
            assert open_index is None and event.index == next_index
            open_index, next_index = event.index, next_index + 1
        elif isinstance(event, ir.Delta):
            assert event.index == open_index and event.value
        else:
            assert isinstance(event, ir.PartStop) and event.index == open_index
            open_index = None
    assert open_index is None


def base_config(**overrides) -> dict:
    config = {
        "port": 3000,
        "endpoint": [{"name": name, "base_url": url} for name, url in FACTORY_ENDPOINTS.items()],
        "models": [
            {"id": "claude-test", "type": "anthropic", "reasoning": "auto", "provider": "anthropic"},
            {"id": "gpt-test", "type": "openai", "reasoning": "auto", "provider": "openai"},
            {"id": "glm-test", "type": "common", "reasoning": "auto", "provider": "fireworks"},
            {"id": "gemini-test", "type": "google", "reasoning": "auto", "provider": "google"},
        ],
        "system_prompt": "",
        # Stored Responses go to a directory of the test run's own, never into the checkout.
        "data_dir": tempfile.mkdtemp(prefix="droid2api-test-data-"),
    }
    config.update(overrides)
    return config


def settings_for(config: dict, environ=None):
    return parse_settings(json.dumps(config), "test-config.json", environ or {})


def app_for(config: dict | None = None, environ=None):
    from droid2api.app import create_app

    environ = {"FACTORY_API_KEY": "fk-test-key"} if environ is None else environ
    return create_app(settings_for(config or base_config(), environ), environ)


def sse_events(raw: bytes) -> list:
    """(event, data) pairs of an SSE body, through the gateway's own decoder."""
    from droid2api.sse import iter_events

    return list(iter_events([raw]))


def chat_assemble(raw: bytes):
    """What the official openai SDK assembles from a Chat Completions stream: (completion, usage).

    Every chunk is validated against the SDK's ChatCompletionChunk model and fed
    to its ChatCompletionStreamState; an error payload raises like the SDK does.
    """
    import openai
    from openai.lib.streaming.chat import ChatCompletionStreamState
    from openai.types.chat import ChatCompletionChunk

    state = ChatCompletionStreamState()
    usage = None
    events = sse_events(raw)
    assert events and events[-1][1] == "[DONE]", "a Chat stream ends with data: [DONE]"
    for _, data in events[:-1]:
        payload = json.loads(data)
        if "error" in payload:
            raise openai.APIError(payload["error"]["message"], request=None, body=payload["error"])
        chunk = ChatCompletionChunk.model_validate(payload)
        if chunk.usage is not None:
            usage = chunk.usage
        if chunk.choices:
            state.handle_chunk(chunk)
    # The snapshot, not get_final_completion(), which refuses to parse a length-limited answer.
    return state.current_completion_snapshot, usage


def strictly(model_type, data: str):
    """``data`` (JSON text) validated in pydantic's strict mode as an anthropic SDK type, with no field
    the SDK does not know anywhere inside (its models allow extras; a misspelt field would pass unseen)."""
    value = _adapter(model_type).validate_json(data, strict=True)
    unknown = _unknown_fields(value, type(value).__name__)
    assert not unknown, f"fields the anthropic SDK does not know: {unknown}"
    return value


@functools.lru_cache(maxsize=None)
def _adapter(model_type):
    import pydantic

    return pydantic.TypeAdapter(model_type)


def _unknown_fields(value, path: str) -> list:
    import pydantic

    if isinstance(value, list):
        return [field for i, item in enumerate(value) for field in _unknown_fields(item, f"{path}[{i}]")]
    if not isinstance(value, pydantic.BaseModel):
        return []
    found = [f"{path}.{key}" for key in value.model_extra or {}]
    for name in type(value).model_fields:
        found += _unknown_fields(getattr(value, name), f"{path}.{name}")
    return found


def anthropic_events(raw: bytes) -> list:
    """The payloads of an Anthropic Messages stream, each checked against Anthropic's grammar and the SDK's
    types: every event named by an ``event:`` line equal to its type; message_start first; blocks numbered
    from 0, one open at a time, each delta inside its block; message_delta then message_stop last, or an
    error event last; pings anywhere."""
    from anthropic.types import RawMessageStreamEvent
    from anthropic.types.shared import ErrorResponse

    payloads = []
    events = sse_events(raw)
    open_block, next_block, seen = None, 0, []
    for position, (name, data) in enumerate(events):
        payload = json.loads(data)
        assert name == payload["type"], f"event {name!r} carries a {payload['type']!r}"
        payloads.append(payload)
        if name == "ping":
            continue
        if name == "error":
            strictly(ErrorResponse, data)
            assert position == len(events) - 1, "nothing may follow an error event"
            continue
        strictly(RawMessageStreamEvent, data)
        assert (name == "message_start") == (not seen), f"{name} where message_start belongs"
        assert "message_delta" not in seen or name == "message_stop", f"{name} after message_delta"
        if name == "content_block_start":
            assert open_block is None and payload["index"] == next_block
            open_block, next_block = next_block, next_block + 1
        elif name in ("content_block_delta", "content_block_stop"):
            assert payload["index"] == open_block, f"{name} for block {payload['index']}, open: {open_block}"
            open_block = None if name == "content_block_stop" else open_block
        elif name == "message_stop":
            assert seen[-1] == "message_delta" and position == len(events) - 1
        seen.append(name)
    assert seen[-1:] == ["message_stop"] or events[-1][0] == "error", "the stream ends with message_stop or error"
    return payloads


def anthropic_assemble(raw: bytes):
    """What the official anthropic SDK assembles from a Messages stream: its final Message.

    The events are first checked by anthropic_events; then the bytes go through
    the SDK's own MessageStream (its SSE parser, ping skipping and
    accumulate_event) from a mock transport. An error event raises
    anthropic.APIStatusError there, as it does for a real client.
    """
    import anthropic
    import httpx2

    anthropic_events(raw)

    def answer(request):
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=raw)

    client = anthropic.Anthropic(api_key="test", base_url="http://gateway.test", max_retries=0,
                                 http_client=httpx2.Client(transport=httpx2.MockTransport(answer)))
    with client.messages.stream(model="client-model", max_tokens=1024,
                                messages=[{"role": "user", "content": "hi"}]) as stream:
        return stream.get_final_message()


class LogRecords(logging.Handler):
    """Collects every log record while installed (``with LogRecords() as records``), for tests that
    assert nothing crashed: ``crashes()`` returns and forgets the records of errors logged with a
    traceback."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)

    def __enter__(self):
        logging.getLogger().addHandler(self)
        return self

    def __exit__(self, *exc_info):
        logging.getLogger().removeHandler(self)

    def crashes(self) -> list:
        found = [r.getMessage() for r in self.records if r.levelno >= logging.ERROR and r.exc_info]
        self.records.clear()
        return found


def stop_process(process, limit: float):
    """Terminate a test's child process and wait for it; killed if it has not gone within ``limit`` seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(limit)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
