"""Reading and writing server-sent events (SSE), on bytes, as the HTML spec defines them.

Lines end in CR, LF or CRLF (real upstreams use both; Gemini frames events
with CRLF CRLF) and a CRLF pair may be split across two network reads.
Splitting happens on bytes, never on decoded text: ``str.splitlines`` would
also break on U+2028 and friends, which occur inside JSON strings.
"""

from __future__ import annotations


class SSEDecoder:
    """Incremental decoder: feed it byte chunks as they arrive, get (event, data) pairs."""

    __slots__ = ("_tail", "_skip_lf", "_event", "_data")

    def __init__(self):
        self._tail = b""  # an unterminated line carried over to the next chunk
        self._skip_lf = False  # the previous chunk ended in CR: a leading LF completes CRLF
        self._event = None
        self._data = []

    def feed(self, chunk: bytes) -> list:
        if not chunk:
            return []
        if self._skip_lf and chunk[:1] == b"\n":
            chunk = chunk[1:]
        self._skip_lf = chunk[-1:] == b"\r"
        if self._tail:
            chunk = self._tail + chunk
            self._tail = b""
        lines = chunk.splitlines(keepends=True)
        if lines and lines[-1][-1:] not in (b"\n", b"\r"):
            self._tail = lines.pop()
        events = []
        for line in lines:
            event = self._line(line.rstrip(b"\r\n"))
            if event is not None:
                events.append(event)
        return events

    def close(self) -> list:
        """End of stream: flush an event the upstream forgot to terminate with a blank line."""
        events = []
        if self._tail:
            event = self._line(self._tail.rstrip(b"\r\n"))
            self._tail = b""
            if event is not None:
                events.append(event)
        event = self._line(b"")
        if event is not None:
            events.append(event)
        return events

    def _line(self, line: bytes):
        if not line:
            if not self._data:
                self._event = None
                return None
            event = (self._event, b"\n".join(self._data).decode("utf-8", "replace"))
            self._event = None
            self._data = []
            return event
        if line[:1] == b":":
            return None
        name, colon, value = line.partition(b":")
        if colon and value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            self._data.append(value)
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")
        # "id" and "retry" carry nothing a gateway needs to act on.
        return None


def iter_events(chunks):
    """Yield (event, data) pairs from an iterable of byte chunks."""
    decoder = SSEDecoder()
    for chunk in chunks:
        if chunk:
            yield from decoder.feed(chunk)
    yield from decoder.close()


def encode_event(data: str, event: str | None = None) -> bytes:
    """One SSE event as bytes; ``data`` must not contain newlines (JSON never does)."""
    if event is None:
        return b"data: " + data.encode() + b"\n\n"
    return b"event: " + event.encode() + b"\ndata: " + data.encode() + b"\n\n"
