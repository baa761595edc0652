"""Stream conversion speed: each upstream stream decoder feeding the Chat Completions encoder.

Replays every recorded upstream stream in tests/recorded through the same
pipeline the gateway runs (SSE parsing -> dialect StreamDecoder -> IR ->
Chat StreamEncoder) and prints events per second and CPU microseconds per
upstream event, both with the stream's fixed cost spread over its events and
without it (the fixed cost: the three codecs set up and closed on a stream that
ends at once, measured on its own); then what passthrough adds per relayed event (SSE parsing and
the dialect's is_final_event), and the SSE decoder on one 8 MB event arriving
in 16 KB reads. Prints figures; asserts nothing. Run: ``make bench``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from droid2api import ir  # noqa: E402
from droid2api.dialects import BY_NAME, openai_chat  # noqa: E402
from droid2api.sse import SSEDecoder  # noqa: E402

RECORDED = Path(__file__).resolve().parents[1] / "tests" / "recorded"
# The recordings' provider names, and the dialect each speaks.
PROVIDERS = {"anthropic": ir.Dialect.ANTHROPIC, "openai_responses": ir.Dialect.RESPONSES, "google": ir.Dialect.GEMINI,
             "openai": ir.Dialect.CHAT}
MIN_SECONDS = 0.5


def chunks_of(raw: bytes, size: int = 512) -> list:
    """The body in network-sized pieces, so SSE line splitting is part of what is measured."""
    return [raw[i:i + size] for i in range(0, len(raw), size)]


def convert(chunks, dialect) -> int:
    """Run one stream through decode + encode; return the number of upstream SSE events."""
    sse, decoder, encoder = SSEDecoder(), dialect.StreamDecoder(), openai_chat.StreamEncoder("m", ir.Request("m", include_usage=True))
    count = 0
    for chunk in chunks:
        for name, data in sse.feed(chunk):
            count += 1
            for event in decoder.feed(name, data):
                encoder.encode(event)
    for event in decoder.close():
        encoder.encode(event)
    return count


def measure(path: Path) -> tuple:
    """(provider, events, events per second, µs per event, µs per event less the stream's fixed cost)."""
    provider = path.name.split("__", 1)[0]
    dialect = BY_NAME[PROVIDERS[provider]]
    chunks = chunks_of(path.read_bytes())
    events = convert(chunks, dialect)
    runs, started = 0, time.process_time()
    while time.process_time() - started < MIN_SECONDS:
        convert(chunks, dialect)
        runs += 1
    cpu = time.process_time() - started
    per_stream = cpu / runs * 1e6
    return provider, events, runs * events / cpu, per_stream / events, (per_stream - setup(dialect)) / events


def setup(dialect) -> float:
    """CPU microseconds of a stream's fixed cost: the codecs made, and closed on a stream that sent nothing."""
    runs, started = 0, time.process_time()
    while time.process_time() - started < MIN_SECONDS / 5:
        convert([], dialect)
        runs += 1
    return (time.process_time() - started) / runs * 1e6


def judge(chunks, dialect) -> int:
    """What passthrough runs beside the relayed bytes: SSE parsing and the final-event check."""
    sse, count = SSEDecoder(), 0
    for chunk in chunks:
        for name, data in sse.feed(chunk):
            count += 1
            if dialect.is_final_event(name, data):
                return count
    return count


def per_event(work, *args) -> float:
    """CPU microseconds per event of ``work(*args)``, which returns its number of events."""
    events = work(*args)
    runs, started = 0, time.process_time()
    while time.process_time() - started < MIN_SECONDS:
        work(*args)
        runs += 1
    return (time.process_time() - started) / (runs * events) * 1e6


def long_line_ms(size: int = 8 << 20, read: int = 16 << 10) -> float:
    """CPU milliseconds to decode one ``size``-byte event arriving in ``read``-byte pieces."""
    piece, started = b"x" * read, time.process_time()
    sse = SSEDecoder()
    sse.feed(b"data: ")
    for _ in range(size // read):
        sse.feed(piece)
    assert len(sse.feed(b"\n\n")) == 1
    return (time.process_time() - started) * 1e3


def main():
    print(f"{'recording':<72} {'events':>6} {'events/s':>10} {'µs/event':>9} {'less setup':>10} {'relay µs':>9}")
    worst = worst_marginal = worst_relay = 0.0
    for path in sorted(RECORDED.glob("*.response.sse")):
        provider, events, rate, micros, marginal = measure(path)
        relay = per_event(judge, chunks_of(path.read_bytes()), BY_NAME[PROVIDERS[provider]])
        worst, worst_marginal, worst_relay = max(worst, micros), max(worst_marginal, marginal), max(worst_relay, relay)
        print(f"{path.name:<72} {events:>6} {rate:>10,.0f} {micros:>9.1f} {marginal:>10.1f} {relay:>9.1f}")
    print("\nsetup, µs of CPU per stream: " + ", ".join(f"{name} {setup(BY_NAME[dialect]):.0f}"
                                                      for name, dialect in PROVIDERS.items()))
    print(f"slowest: {worst:.1f} µs of CPU per upstream event with the setup spread over the events, "
          f"{worst_marginal:.1f} without it")
    print(f"passthrough end check: at most {worst_relay:.1f} µs of CPU per relayed event")
    print(f"one 8 MB event in 16 KB reads: {long_line_ms():.0f} ms of CPU to decode")


if __name__ == "__main__":
    main()
