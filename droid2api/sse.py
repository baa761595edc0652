"""Reading and writing server-sent events (SSE), on bytes, as the HTML spec defines them.

Lines end in CR, LF or CRLF (real upstreams use both; Gemini frames events
with CRLF CRLF) and a CRLF pair may be split across two network reads.
Splitting happens on bytes, never on decoded text: ``str.splitlines`` would
also break on U+2028 and friends, which occur inside JSON strings.

Decoding is linear in the stream's size however it is cut: each read is split
once, and the pieces of a line that spans many reads are joined once, when
its line break arrives (a multi-megabyte event arriving in 16 KB reads must
not be re-scanned on every read).
"""

from __future__ import annotations


class SSEDecoder:
    """Incremental decoder: feed it byte chunks as they arrive, get (event, data) pairs."""

    __slots__ = ("_pieces", "_skip_lf", "_event", "_data")

    def __init__(self):
        self._pieces = []  # an unterminated line, kept as the reads it came in until its line break arrives
        self._skip_lf = False  # the previous chunk ended in CR: a leading LF completes CRLF
        self._event = None
        self._data = []

    def feed(self, chunk: bytes) -> list:
        if not chunk:
            return []
        if self._skip_lf and chunk[:1] == b"\n":
            chunk = chunk[1:]
            if not chunk:
                self._skip_lf = False
                return []
        last = chunk[-1:]
        self._skip_lf = last == b"\r"
        lines = chunk.splitlines()  # bytes.splitlines breaks on CR, LF and CRLF only
        unterminated = lines.pop() if last != b"\n" and not self._skip_lf else None
        if lines and self._pieces:  # the first line of this read ends the one carried over
            self._pieces.append(lines[0])
            lines[0] = b"".join(self._pieces)
            self._pieces = []
        if unterminated is not None:
            self._pieces.append(unterminated)
        events = []
        data, name = self._data, self._event
        for line in lines:  # _line's work, inlined: this loop runs for every line of every stream
            if not line:
                if data:
                    events.append((name, b"\n".join(data).decode("utf-8", "replace")))
                    data = []
                name = None
            elif line.startswith(b"data:"):
                data.append(line[6:] if line[5:6] == b" " else line[5:])
            elif line[:1] != b":":
                self._data, self._event = data, name
                self._line(line)
                data, name = self._data, self._event
        self._data, self._event = data, name
        return events

    def close(self) -> list:
        """End of stream: flush an event the upstream forgot to terminate with a blank line."""
        events = []
        if self._pieces:
            event = self._line(b"".join(self._pieces))
            self._pieces = []
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


def encode_event(data: str | bytes, event: str | None = None) -> bytes:
    """One SSE event as bytes; ``data`` (UTF-8 bytes as the encoders write JSON, or text) must not contain
    newlines (JSON never does)."""
    if type(data) is str:
        data = data.encode()
    if event is None:
        return b"data: " + data + b"\n\n"
    return b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"
