"""What the official openai SDK makes of a Responses API stream, and the Responses grammar it relies on."""

from __future__ import annotations

import copy
import functools
import json
import typing

from .helpers import sse_events, strictly

TERMINAL = ("response.completed", "response.incomplete", "response.failed")
# The events that write one value, ``<prefix>.delta`` and ``<prefix>.done``: prefix -> (the item's entry list
# it is in, or None for a field of the item itself; the field, which the done event names the same way).
_VALUES = {
    "response.output_text": ("content", "text"),
    "response.refusal": ("content", "refusal"),
    "response.reasoning_summary_text": ("summary", "text"),
    "response.function_call_arguments": (None, "arguments"),
    "response.custom_tool_call_input": (None, "input"),
}
_ENTRY_ADDED = {"response.content_part.added": "content", "response.reasoning_summary_part.added": "summary"}
_ENTRY_DONE = {"response.content_part.done": "content", "response.reasoning_summary_part.done": "summary"}
_INDEX = {"content": "content_index", "summary": "summary_index"}


@functools.lru_cache(maxsize=None)
def event_types() -> dict:
    """Event type -> the SDK's model of it."""
    from openai.types.responses import ResponseStreamEvent

    union = typing.get_args(ResponseStreamEvent)[0]
    return {kind: model for model in typing.get_args(union)
            for kind in typing.get_args(model.model_fields["type"].annotation)}


def responses_events(raw: bytes) -> list:
    """The payloads of a Responses stream, each checked against the SDK's types (strictly, no unknown field)
    and against the grammar: every event named by an ``event:`` line equal to its type and numbered by
    ``sequence_number`` from 0; response.created and response.in_progress first; output items added with
    ``output_index`` 0, 1, 2..., one open at a time, every event inside naming the open item and entry;
    each done value equal to what the deltas before it add up to; then one terminal event, last (after an
    ``error`` event for a failure, which may leave an item unfinished), whose Response holds exactly the
    items that were done."""
    payloads, done_items = [], []
    item = entry = None  # the open item as its added event and deltas build it; the open (list, index)
    events = sse_events(raw)
    for position, (name, data) in enumerate(events):
        payload = json.loads(data)
        assert name == payload["type"], f"event {name!r} carries a {payload['type']!r}"
        strictly(event_types()[name], data)
        assert payload["sequence_number"] == position, f"{name} numbered {payload['sequence_number']} at {position}"
        payloads.append(payload)
        if position < 2:
            assert name == ("response.created", "response.in_progress")[position], f"{name} where the start belongs"
            assert payload["response"]["status"] == "in_progress" and payload["response"]["output"] == []
            continue
        if name == "error":
            assert events[position + 1][0] == "response.failed" and position + 2 == len(events)
            continue
        if name in TERMINAL:
            assert position == len(events) - 1, f"{name} must end the stream"
            assert item is None or name == "response.failed", f"{name} with an item left open"
            assert payload["response"]["status"] == name.removeprefix("response.")
            assert payload["response"]["output"] == done_items
            continue
        if name == "response.output_item.added":
            assert item is None and payload["output_index"] == len(done_items)
            item = copy.deepcopy(payload["item"])
            continue
        assert item is not None and payload["output_index"] == len(done_items), f"{name} outside its item"
        if name == "response.output_item.done":
            assert entry is None and _settled(payload["item"]) == _settled(item), "the done item is not the deltas'"
            done_items.append(payload["item"])
            item = None
            continue
        assert payload["item_id"] == item["id"]
        if name in _ENTRY_ADDED:
            field = _ENTRY_ADDED[name]
            assert entry is None and payload[_INDEX[field]] == len(item[field])
            item[field].append(copy.deepcopy(payload["part"]))
            entry = (field, payload[_INDEX[field]])
        elif name in _ENTRY_DONE:
            field = _ENTRY_DONE[name]
            assert entry == (field, payload[_INDEX[field]]) and payload["part"] == item[field][entry[1]]
            entry = None
        else:
            prefix, stage = name.rsplit(".", 1)
            field, key = _VALUES[prefix]
            target = item if field is None else item[field][entry[1]]
            assert field is None or entry == (field, payload[_INDEX[field]])
            if stage == "delta":
                target[key] += payload["delta"]
            else:
                assert payload[key] == target[key], f"{name} says other than its deltas"
    assert payloads and payloads[-1]["type"] in TERMINAL, "the stream ends with a terminal event"
    return payloads


def _settled(item: dict) -> dict:
    """An item without what only its done event knows (its status, a reasoning item's encrypted content)."""
    return {key: value for key, value in item.items() if key not in ("status", "encrypted_content")}


def responses_assemble(raw: bytes, **stream_options) -> tuple:
    """What the official openai SDK makes of a Responses stream: (the events its ResponseStream yields, the
    Response it ends with — get_final_response() for a completed one, else the terminal event's).

    The events are first checked by responses_events; then the bytes go through
    the SDK's own ``client.responses.stream`` (its SSE parser, its
    ResponseStreamState) from a mock transport."""
    import httpx2
    import openai

    responses_events(raw)

    def answer(request):
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=raw)

    client = openai.OpenAI(api_key="test", base_url="http://gateway.test/v1", max_retries=0,
                           http_client=httpx2.Client(transport=httpx2.MockTransport(answer)))
    with client.responses.stream(model="client-model", input="hi", **stream_options) as stream:
        events = list(stream)
        final = stream.get_final_response() if events[-1].type == "response.completed" else events[-1].response
    return events, final
