"""Turning an upstream answer into the client's response, as it arrives.

Passthrough relays bytes untouched; conversion pipes upstream SSE through a
stream decoder (upstream dialect -> IR events) and a stream encoder (IR events
-> client dialect). Both flush every piece the moment it is ready, close the
upstream response when the client goes away, and never end a failed stream
cleanly: the client's dialect gets an error event instead.
"""

from __future__ import annotations

import logging

from flask import Response

from . import ir
from .errors import GatewayError
from .logs import DEV_BODY_LIMIT, dev_dump
from .sse import SSEDecoder
from .upstream import UpstreamBroken

log = logging.getLogger(__name__)

# Relayed bytes kept per stream: room for any end marker and, usually, the last event (the
# Responses error event is numbered after it).
STREAM_TAIL = 8192
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
# Upstream response headers a client may act on (rate limits, request ids); all others stay behind.
_RELAYED_PREFIXES = ("anthropic-ratelimit-", "x-ratelimit-", "openai-", "x-request-id", "request-id",
                     "retry-after", "anthropic-organization-id")


def relayed_headers(headers) -> dict:
    return {name: value for name, value in headers.items() if name.lower().startswith(_RELAYED_PREFIXES)}


def stream_response(chunks, headers: dict, status: int = 200,
                    content_type: str = "text/event-stream; charset=utf-8") -> Response:
    response = Response(chunks, status=status, content_type=content_type, direct_passthrough=True)
    response.headers.update(STREAM_HEADERS)
    response.headers.update(headers)
    return response


def passthrough_stream(upstream, dialect, dev: bool):
    """Relay an upstream event stream byte for byte; append an error event if it breaks off.

    A stream that ends without the dialect's final event was cut short, even
    if the connection closed politely, so it gets an error event too.
    """
    markers = dialect.STREAM_END_MARKERS
    finished = False
    tail = bytearray()  # the last relayed bytes: a marker may span several reads
    seen = bytearray() if dev else None
    try:
        for chunk in upstream.iter_bytes():
            tail += chunk
            if not finished:
                finished = _has_marker(tail, len(chunk), markers)
            del tail[:-STREAM_TAIL]
            if seen is not None and len(seen) < DEV_BODY_LIMIT:
                seen += chunk
            yield chunk
        if not finished:
            raise UpstreamBroken(502, f"upstream {upstream.name} ended its stream before the final event")
    except UpstreamBroken as e:
        log.warning("stream from %s failed: %s", upstream.name, e.message)
        yield dialect.stream_error(e, bytes(tail))
    finally:
        upstream.close()
        if seen is not None:
            dev_dump(f"<- {upstream.name} stream (relayed)", None, bytes(seen))


def _has_marker(tail: bytearray, new: int, markers) -> bool:
    """Whether a marker ends in the ``new`` bytes just added to ``tail`` (searching only where it can)."""
    return any(tail.find(marker, max(0, len(tail) - new - len(marker) + 1)) >= 0 for marker in markers)


def decode_stream(upstream, decoder):
    """IR events from an upstream SSE body, as each event arrives."""
    sse = SSEDecoder()
    for chunk in upstream.iter_bytes():
        for name, data in sse.feed(chunk):
            yield from decoder.feed(name, data)
    for name, data in sse.close():
        yield from decoder.feed(name, data)
    yield from decoder.close()


def converted_stream(upstream, events, encoder):
    """Encode IR events for the client; a failure anywhere becomes the client's error event."""
    try:
        for event in events:
            chunk = encoder.encode(event)
            if chunk:
                yield chunk
    except GatewayError as e:
        log.warning("stream from %s failed: %s", upstream.name, e.message)
        yield encoder.encode(ir.StreamError(e.status, "upstream_error", e.message))
    except Exception:
        log.exception("converting the stream from %s failed", upstream.name)
        yield encoder.encode(ir.StreamError(502, "api_error",
                                            f"the gateway could not convert the stream from {upstream.name}"))
    finally:
        upstream.close()
