"""Benchmarks: `make bench` runs benchmarks/bench.py (latency under wrk) and benchmarks/stream_codecs.py."""
