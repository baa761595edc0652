# `make run` and `make test` are all a fresh machine needs: each creates .venv and installs into it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test install bench bench-streams bench-latency check clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-run: setup.py setup.cfg | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: setup.py setup.cfg | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed-run

# The runtime dependencies as wheels, resolved as `pip install .` resolves them, plus the build backend:
# tests/e2e/test_runtime_install.py installs from it, offline and without the test extras, as `make run` does.
$(VENV)/wheelhouse/.built: setup.py setup.cfg | $(VENV)/.installed-test
	rm -rf $(VENV)/wheelhouse
	$(BIN)/pip wheel --quiet --wheel-dir $(VENV)/wheelhouse . setuptools wheel
	rm -f $(VENV)/wheelhouse/droid2api-*.whl
	touch $@

install: $(VENV)/.installed-run

run: $(VENV)/.installed-run
	$(BIN)/gunicorn -c gunicorn.conf.py wsgi:app

check: $(VENV)/.installed-run
	$(BIN)/droid2api --check

test: $(VENV)/.installed-test $(VENV)/wheelhouse/.built
	$(BIN)/pytest $(PYTEST_ARGS)

# The wrk table (nginx and wrk installed with apt-get when missing; BENCH_SECONDS per run, default 10),
# then CPU per streamed event. bench-latency: the older sequential timing with one worker.
bench: $(VENV)/.installed-test
	$(BIN)/python benchmarks/bench.py
	$(BIN)/python benchmarks/stream_codecs.py

# 1,000 streams open in one worker and its memory, the time to first byte added, and a 10-minute soak
# (STREAMS, TTFB_REQUESTS, SOAK_SECONDS; PARTS=1,2,3 picks the parts).
bench-streams: $(VENV)/.installed-test
	$(BIN)/python benchmarks/streams.py

bench-latency: $(VENV)/.installed-test
	$(BIN)/python benchmarks/latency.py

clean:
	rm -rf $(VENV) *.egg-info build
