"""This module reads a non-streamed Gemini generateContent answer into an ir.Response.

A non-streamed answer is one GenerateContentResponse, exactly like one event
of a stream, so it goes through the stream decoder and is folded with
``ir.accumulate``: parts, ids, stop reason and usage cannot differ between
the two ways of asking.
"""

from __future__ import annotations

from ... import ir
from ...errors import GatewayError
from .stream import StreamDecoder


def decode_response(body: dict) -> ir.Response:
    decoder = StreamDecoder()
    events = decoder.feed_response(body) + decoder.finish()
    for event in events:
        if isinstance(event, ir.StreamError):
            raise GatewayError(event.status, event.message)
    return ir.accumulate(events)
