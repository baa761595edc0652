"""The SSE reader and writer, against the spec's framing rules and the recorded streams."""

import tracemalloc

import pytest

from droid2api.sse import SSEDecoder, encode_event, iter_events

from .helpers import RECORDED


def decode(*chunks) -> list:
    decoder = SSEDecoder()
    events = []
    for chunk in chunks:
        events += decoder.feed(chunk)
    return events + decoder.close()


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_every_line_ending(newline):
    raw = b"event: a" + newline + b"data: 1" + newline + newline + b"data: 2" + newline + newline
    assert decode(raw) == [("a", "1"), (None, "2")]


def test_crlf_split_across_reads_is_one_line_ending():
    assert decode(b"data: a\r", b"\n\r", b"\ndata: b\r\n\r\n") == [(None, "a"), (None, "b")]
    assert decode(b"data: a\r", b"", b"\ndata: b\r\n\r\n") == [(None, "a\nb")]
    # Lines that span several reads, ending in every way:
    assert decode(b"da", b"ta: a", b"b", b"c\r", b"\ndata: d", b"\r", b"\r\n") == [(None, "abc\nd")]
    assert decode(b"event: x", b"y\ndata: 1\n\nda", b"ta: 2", b"\n", b"\n") == [("xy", "1"), (None, "2")]


def test_multi_line_data_comments_and_fields():
    raw = b": keep-alive\nid: 7\nretry: 10\nevent: x\ndata: one\ndata:two\ndata\n\n"
    assert decode(raw) == [("x", "one\ntwo\n")]


def test_an_event_without_data_is_not_dispatched():
    assert decode(b"event: ping\n\ndata: x\n\n") == [(None, "x")]


def test_unicode_line_separators_inside_json_stay_put():
    payload = '{"text":"a\u2028b\u2029c\x85d"}'
    assert decode(("data: " + payload + "\n\n").encode()) == [(None, payload)]


def test_multibyte_characters_split_across_reads():
    raw = "data: héllo wörld 😀\n\n".encode()
    assert decode(*[raw[i:i + 1] for i in range(len(raw))]) == [(None, "héllo wörld 😀")]


def test_unterminated_last_event_is_flushed_at_close():
    assert decode(b"data: last") == [(None, "last")]
    assert decode(b"data: last\n") == [(None, "last")]
    assert decode(b"data: l", b"a", b"st") == [(None, "last")]


def test_a_long_line_in_many_reads_costs_work_linear_in_its_length():
    """An 8 MB event arriving in 16 KB reads: the line may be copied a few times in all, not once per read.

    The measure is memory allocated, deterministic where a timing is not: the
    peak each feed() reaches above what was allocated before it, summed over
    the reads. Joining the carried-over tail to every new read allocates the
    tail again each time, ~2 GB here (260 times the line); a linear decoder
    allocates a few times 8 MB.
    """
    piece, reads = b"x" * 16384, 512
    decoder, events, allocated = SSEDecoder(), [], 0
    tracing = tracemalloc.is_tracing()
    tracemalloc.start()
    try:
        for chunk in [b"data: ", *[piece] * reads, b"\n\n"]:
            tracemalloc.reset_peak()
            before = tracemalloc.get_traced_memory()[0]
            events += decoder.feed(chunk)
            allocated += tracemalloc.get_traced_memory()[1] - before
    finally:
        if not tracing:
            tracemalloc.stop()
    line = len(piece) * reads
    assert [(name, len(data), set(data)) for name, data in events] == [(None, line, {"x"})]
    assert allocated < 8 * line, f"{allocated / line:.0f} times the line's size allocated"  # ~3 today


@pytest.mark.parametrize("path", sorted(RECORDED.glob("*.response.sse")), ids=lambda p: p.name)
def test_recorded_streams_parse_identically_in_any_pieces(path):
    raw = path.read_bytes()
    whole = list(iter_events([raw]))
    assert whole and all(data for _, data in whole)
    assert list(iter_events(raw[i:i + 3] for i in range(0, len(raw), 3))) == whole


def test_encode_event_round_trips():
    raw = encode_event('{"a":1}', "message_start") + encode_event("[DONE]")
    assert raw == b'event: message_start\ndata: {"a":1}\n\ndata: [DONE]\n\n'
    assert decode(raw) == [("message_start", '{"a":1}'), (None, "[DONE]")]
