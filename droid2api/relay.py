"""Turning an upstream answer into the client's response, as it arrives.

Passthrough relays bytes untouched; conversion pipes upstream SSE through a
stream decoder (upstream dialect -> IR events) and a stream encoder (IR events
-> client dialect). Both flush every piece the moment it is ready, close the
upstream response when the client goes away, and never end a failed stream
cleanly: the client's dialect gets an error event instead.
"""

from __future__ import annotations

import logging
import queue
import re
import threading

from flask import Response

from . import ir
from .errors import GatewayError
from .logs import DEV_BODY_LIMIT, dev_dump
from .sse import SSEDecoder
from .upstream import UpstreamBroken
from .wire import loads_or_none

log = logging.getLogger(__name__)

STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
# Upstream response headers a client may act on (rate limits, request ids); all others stay behind.
_RELAYED_PREFIXES = ("anthropic-ratelimit-", "x-ratelimit-", "openai-", "x-request-id", "request-id",
                     "retry-after")
# Among those, the operator's account ids: they identify whose upstream account serves the gateway.
_WITHHELD = frozenset({"openai-organization", "openai-project", "anthropic-organization-id"})


def relayed_headers(headers) -> dict:
    relayed = {}
    for name, value in headers.items():
        lowered = name.lower()
        if lowered.startswith(_RELAYED_PREFIXES) and lowered not in _WITHHELD:
            relayed[name] = value
    return relayed


SSE_TYPE = "text/event-stream; charset=utf-8"


def stream_response(chunks, headers: dict, status: int = 200, content_type: str = SSE_TYPE) -> Response:
    response = Response(chunks, status=status, content_type=content_type, direct_passthrough=True)
    response.headers.update(STREAM_HEADERS)
    response.headers.update(headers)
    return response


def passthrough_stream(upstream, dialect, dev: bool, on_usage=None):
    """Relay an upstream event stream byte for byte; append an error event if it breaks off.

    Each chunk is yielded as it arrives, unchanged; a copy goes through the SSE
    decoder beside it, and the dialect's ``is_final_event`` judges each event
    until one ends the stream, and ``on_usage`` hears the usage events report.
    Deciding on events, not byte patterns, lets a
    stream end the ways real servers end it (a Chat finish_reason without
    ``[DONE]``, Responses events without ``event:`` lines). A stream that ends
    without its final event was cut short, even if the connection closed
    politely, so it gets an error event too.
    """
    is_final_event = dialect.is_final_event
    events = SSEDecoder()
    finished = False
    last_data = ""  # the last complete event: the Responses error event is numbered after it
    seen = bytearray() if dev else None
    try:
        for chunk in upstream.iter_bytes():
            if not finished:
                finished, last_data = _judge(events.feed(chunk), is_final_event, last_data, dialect, on_usage)
            elif on_usage is not None:  # usage may follow the final event (Chat's include_usage chunk)
                _judge(events.feed(chunk), _never, last_data, dialect, on_usage)
            if seen is not None and len(seen) < DEV_BODY_LIMIT:
                seen += chunk
            yield chunk
        if not finished:  # an upstream may leave its last event without the blank line that ends it
            finished, last_data = _judge(events.close(), is_final_event, last_data, dialect, on_usage)
        if not finished:
            upstream.broken = True
            raise UpstreamBroken(502, f"upstream {upstream.name} ended its stream before the final event")
    except UpstreamBroken as e:
        log.warning("stream from %s failed: %s", upstream.name, e.message)
        yield dialect.stream_error(e, last_data)
    finally:
        upstream.close()
        if seen is not None:
            dev_dump(f"<- {upstream.name} stream (relayed)", None, bytes(seen))


def _judge(events: list, is_final_event, last_data: str, dialect=None, on_usage=None) -> tuple:
    """(whether one of ``events`` ends the stream, the data of the last one looked at); usage goes to
    ``on_usage`` on the way."""
    finished = False
    for name, data in events:
        if on_usage is not None and _USAGE.search(data):
            note_usage(dialect, loads_or_none(data), on_usage)
        if not finished:
            last_data = data
            finished = is_final_event(name, data)
    return finished, last_data


def _never(name, data) -> bool:
    return False


# An event worth parsing for its usage (most carry none, or "usage": null).
_USAGE = re.compile(r'"usage(?:Metadata)?"\s*:\s*\{')


def note_usage(dialect, payload, on_usage):
    """Tell ``on_usage`` what a relayed answer or event says it used; an unreadable report is no error of
    the client's or the relay's, only a gap in the accounting."""
    if not isinstance(payload, (dict, list)):
        return
    try:
        usage = dialect.usage_of(payload)
    except (GatewayError, ValueError, TypeError, AttributeError, KeyError) as e:
        log.debug("unreadable usage from a %s upstream: %s", dialect.NAME, e)
        return
    if usage is not None:
        on_usage(usage)


def opening_error(dialect, first: bytes):
    """(the IR error, its event's data) when an upstream stream's first bytes hold the dialect's error event
    before any content (Anthropic's ``overloaded_error`` after a 200, a Chat or Gemini chunk that is an
    error body); else None. Only an event whose data is the dialect's own error body counts, never a
    decoder's complaint about a shape: that is for the real decoding to report, once the stream is kept.
    """
    decoder, sse = dialect.StreamDecoder(), SSEDecoder()
    # In pieces: a first read may hold a whole answer, and the first event or two decide.
    for start in range(0, len(first), _OPENING_PIECE):
        for name, data in sse.feed(first[start:start + _OPENING_PIECE]):
            try:
                decoded = decoder.feed(name, data)
            except GatewayError:
                return None
            for event in decoded:
                if isinstance(event, ir.StreamError) and dialect.is_error_body(loads_or_none(data)):
                    return event, data
                if not isinstance(event, ir.Start):
                    return None  # content came first (or a complaint): the answer has begun
    return None


_OPENING_PIECE = 2048


READ_DONE = object()  # among decoded events: the events of one upstream read end here


def decode_stream(upstream, decoder):
    """IR events from an upstream SSE body, as each event arrives, and READ_DONE after each read's events:
    converted_stream writes what one read produced as one piece."""
    sse = SSEDecoder()
    for chunk in upstream.iter_bytes():
        for name, data in sse.feed(chunk):
            yield from decoder.feed(name, data)
        yield READ_DONE
    for name, data in sse.close():
        yield from decoder.feed(name, data)
    yield from decoder.close()


def with_heartbeats(events, interval: float):
    """``events`` as they come, with a None whenever ``interval`` seconds pass without one.

    A reader thread (a greenlet under gevent) pulls the events, so a silent
    upstream never holds back the heartbeat. The queue is small: the reader
    waits for the client rather than reading the stream ahead into memory.
    Closing this generator stops the reader at its next event (the caller
    closes the upstream, which ends a read that is waiting).
    """
    handoff = queue.Queue(maxsize=8)
    stopped = threading.Event()

    def read():
        try:
            for event in events:
                while not stopped.is_set():
                    try:
                        handoff.put((event, None), timeout=interval)
                        break
                    except queue.Full:
                        continue
                if stopped.is_set():
                    return
            _hand_over(handoff, stopped, (_END, None))
        except BaseException as error:  # handed to the consumer, which raises it where it reads
            _hand_over(handoff, stopped, (_END, error))

    reader = threading.Thread(target=read, name="droid2api-stream-reader", daemon=True)
    reader.start()
    try:
        while True:
            try:
                event, error = handoff.get(timeout=interval)
            except queue.Empty:
                yield None
                continue
            if event is _END:
                if error is not None:
                    raise error
                return
            yield event
    finally:
        stopped.set()


_END = object()


def _hand_over(handoff: queue.Queue, stopped: threading.Event, item):
    """Put ``item`` for the consumer, unless it has left: a full queue nobody reads must not hold the
    reader forever."""
    while not stopped.is_set():
        try:
            handoff.put(item, timeout=1.0)
            return
        except queue.Full:
            continue


def converted_stream(upstream, events, encoder, on_complete=None, on_usage=None):
    """Encode IR events for the client; a failure anywhere becomes the client's error event.

    A None among the events means the upstream has been silent for a while:
    the encoder's ``ping()`` goes out, so clients and proxies see the stream
    is alive. ``on_complete`` gets the encoder's ``final_response`` once a
    stream has completed (the Responses front stores it).

    What the events of one upstream read encode to goes out as one piece at
    READ_DONE (one write, not one per event: a read often holds many events);
    nothing waits for more upstream data than has arrived.
    """
    pending = []
    try:
        for event in events:
            if event is READ_DONE:
                if pending:
                    yield b"".join(pending)
                    pending.clear()
                continue
            if isinstance(event, ir.StreamError):  # the upstream's own error event: a failed attempt too
                upstream.broken = True
            elif isinstance(event, ir.Finish) and on_usage is not None:
                on_usage(event.usage)
            chunk = encoder.ping() if event is None else encoder.encode(event)
            if chunk:
                pending.append(chunk)
            if event is None:  # a keep-alive goes out at once
                yield b"".join(pending)
                pending.clear()
        final = getattr(encoder, "final_response", None)
        if on_complete is not None and final is not None:
            on_complete(final)
        if pending:
            yield b"".join(pending)
    except GatewayError as e:
        upstream.broken = True
        log.warning("stream from %s failed: %s", upstream.name, e.message)
        yield b"".join([*pending, encoder.encode(ir.StreamError(e.status, "upstream_error", e.message))])
    except Exception:
        upstream.broken = True
        log.exception("converting the stream from %s failed", upstream.name)
        yield b"".join([*pending, encoder.encode(ir.StreamError(
            502, "api_error", f"the gateway could not convert the stream from {upstream.name}"))])
    finally:
        upstream.close()
