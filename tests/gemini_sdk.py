"""What the official google-genai SDK makes of a Gemini answer: streamed in either framing, or whole.

The SDK reads the bytes itself, from a mock transport, through its own
client (``generate_content``, ``generate_content_stream``, ``models.list``):
its SSE parser, its error handling and its models, which forbid any field
they do not know and insist that a ``thoughtSignature`` is base64. The
JSON-array framing, which the SDK never asks for, is parsed whole with
``json.loads`` and each element read as the SDK reads a chunk.
"""

from __future__ import annotations

import json

import httpx2
from google import genai
from google.genai import errors, models, types

BASE_URL = "http://gateway.test"


def client_for(answer) -> genai.Client:
    """A genai client whose every request ``answer(request) -> httpx2.Response`` answers."""
    transport = httpx2.MockTransport(answer)
    options = types.HttpOptions(base_url=BASE_URL, httpx_client=httpx2.Client(transport=transport))
    return genai.Client(api_key="test", http_options=options)


def _replying(status: int, content: bytes, content_type: str) -> genai.Client:
    return client_for(lambda request: httpx2.Response(status, headers={"content-type": content_type},
                                                      content=content))


def sdk_stream(raw: bytes, received: list | None = None) -> list:
    """The chunks the SDK yields for an SSE stream (``alt=sse``); an error chunk raises errors.APIError there,
    as it does for a real client, after the chunks before it have gone into ``received``."""
    received = [] if received is None else received
    client = _replying(200, raw, "text/event-stream")
    for chunk in client.models.generate_content_stream(model="client-model", contents="hi"):
        received.append(chunk)
    return received


def sdk_response(body: dict) -> types.GenerateContentResponse:
    """The SDK's GenerateContentResponse for a non-streamed answer body."""
    client = _replying(200, json.dumps(body).encode(), "application/json")
    return client.models.generate_content(model="client-model", contents="hi")


def array_chunks(raw: bytes) -> list:
    """The chunks of a JSON-array stream, parsed whole and validated one by one; an error element raises
    errors.APIError, as the SDK raises one it meets in a stream."""
    chunks = []
    for element in json.loads(raw):
        if "error" in element:
            errors.APIError.raise_error(element["error"]["code"], element, None)
        chunks.append(as_sdk_reads(element))
    return chunks


def as_sdk_reads(body: dict) -> types.GenerateContentResponse:
    """One GenerateContentResponse read as the SDK reads what the Gemini API sends (its own conversion first,
    which keeps only the fields it knows)."""
    return types.GenerateContentResponse._from_response(response=models._GenerateContentResponse_from_mldev(body),
                                                        kwargs={})


def fold(responses: list) -> list:
    """The answer's parts as google-genai's users put a stream together: consecutive text parts of one kind
    (thought or not) concatenated, a signature ending the part it is on; calls collected as they come;
    empty text parts that carry nothing dropped. A whole answer folds to its own parts."""
    parts = []
    for response in responses:
        for part in response.candidates[0].content.parts:
            data = part.model_dump(mode="json", exclude_none=True)
            last = parts[-1] if parts else None
            if ("text" in data and last is not None and "text" in last and "thought_signature" not in last
                    and last.get("thought") == data.get("thought")):
                last["text"] += data.pop("text")
                last.update(data)
            elif data != {"text": ""}:
                parts.append(data)
    return parts


def history_sent_back(raw: bytes, stream: bool) -> dict:
    """The request body google-genai's chat sends for its next turn after ``raw`` answered its first (a
    stream when ``stream``): the answer is in its history as the SDK keeps it."""
    bodies = []

    def answer(request):
        bodies.append(json.loads(request.content))
        return httpx2.Response(200, headers={"content-type": "text/event-stream" if stream else "application/json"},
                               content=raw)

    chat = client_for(answer).chats.create(model="client-model")
    for message in ("hi", "and then?"):
        if stream:
            list(chat.send_message_stream(message))
        else:
            chat.send_message(message)
    return bodies[1]


def list_models(body_of) -> tuple:
    """(the SDK's ``models.list()``, its ``models.get()`` of the first) when ``body_of(path)`` answers them."""
    client = client_for(lambda request: httpx2.Response(200, json=body_of(request.url.path)))
    listed = list(client.models.list())
    return listed, client.models.get(model=listed[0].name.removeprefix("models/")) if listed else None
