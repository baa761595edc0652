"""Shared test helpers: the recorded upstream traffic, and configs and apps built from dicts."""

from __future__ import annotations

import json
import logging
from pathlib import Path

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


def assert_stream_contract(events: list):
    """The IR stream contract every decoder keeps: Start first; each part PartStart, Delta*, PartStop,
    one part at a time with dense indices in order; exactly one Finish, last."""
    from droid2api import ir

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
