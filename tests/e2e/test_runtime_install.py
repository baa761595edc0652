"""The product as `make run` installs and starts it: a new virtualenv without the test extras, the real gunicorn.

Every other test runs in the venv of ``make test``, which also holds the test extras and everything they
pull in; a runtime dependency the package forgets to declare is then there by luck (gunicorn's gevent
worker imports ``packaging`` without declaring it, and the suite stayed green while ``make run`` could
not start). So this module installs the package with ``pip install`` (no extras) into a virtualenv of
its own, starts ``gunicorn -c gunicorn.conf.py wsgi:app`` from that venv in the repository root, as
``make run`` does, and sends it converted requests for the fake upstream.

No network at test time: ``make test`` builds a wheelhouse of the runtime dependencies (and the build
backend) into ``$(VENV)/wheelhouse`` when it installs, and the install here is ``--no-index`` from it,
with pip's own configuration switched off so no other wheel source can fill a gap. Without that
wheelhouse (pytest run without make) the module is skipped; under CI (``CI=true``) it fails instead.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .client import post, sse_payloads
from .servers import ANTHROPIC_PATH, REPO, gateway_config, start_gateway

WHEELHOUSE_STAMP = ".built"  # written by the Makefile once the wheelhouse is complete
INSTALL_LIMIT = 600
NOT_COPIED = {".git", ".venv", "build", "dist", "__pycache__", ".pytest_cache", ".hypothesis"}


def wheelhouse() -> Path:
    """The wheelhouse ``make test`` built: in the venv running the tests, else in the repository's .venv."""
    candidates = list(dict.fromkeys([Path(sys.prefix).resolve() / "wheelhouse", REPO / ".venv" / "wheelhouse"]))
    for candidate in candidates:
        if (candidate / WHEELHOUSE_STAMP).exists():
            return candidate
    reason = (f"no wheelhouse of the runtime dependencies (looked for {' and '.join(map(str, candidates))}): "
              f"`make test` builds one; run the tests through it")
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(reason + " (CI=true: failing instead of skipping)", pytrace=False)
    pytest.skip(reason)


def clean_environ() -> dict:
    """This process's environment without anything that could make another Python or pip see more packages."""
    environ = {name: value for name, value in os.environ.items()
               if not name.startswith("PIP_") and name not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    environ.update({"PIP_CONFIG_FILE": os.devnull,  # no find-links or index from pip.conf
                    "PIP_NO_INPUT": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYTHONNOUSERSITE": "1"})
    return environ


def _not_copied(directory: str, names: list) -> set:
    return {name for name in names
            if name in NOT_COPIED or name.endswith(".egg-info") or (Path(directory, name) / "pyvenv.cfg").exists()}


def run(command: list, **options) -> subprocess.CompletedProcess:
    done = subprocess.run(command, capture_output=True, text=True, timeout=INSTALL_LIMIT, **options)
    if done.returncode != 0:
        pytest.fail(f"`{' '.join(map(str, command))}` exited with {done.returncode}:\n{done.stdout}\n{done.stderr}",
                    pytrace=False)
    return done


@pytest.fixture(scope="session")
def runtime_bin(tmp_path_factory) -> Path:
    """The bin directory of a new venv holding the package installed as `make run` installs it, without extras.

    The package is built from a copy of the working tree, so that the build's files never land in the
    repository, where another test run may be building at the same time.
    """
    wheels = wheelhouse()
    root = tmp_path_factory.mktemp("runtime-install")
    source, venv = root / "source", root / "venv"
    started = time.monotonic()
    shutil.copytree(REPO, source, ignore=_not_copied)
    environ = clean_environ()
    # The pip of the tests' venv, which `make test` made with the same `python -m venv`, installs into the new
    # one (--python): the same pip and resolver as the new venv's own, without the seconds ensurepip takes to
    # put one there. No byte-compiling either: Python compiles what it imports.
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], env=environ)
    run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--quiet", "--no-compile",
         "--no-index", "--find-links", str(wheels), str(source)], env=environ, cwd=root)
    print(f"runtime venv installed in {time.monotonic() - started:.1f}s")
    return venv / "bin"


@pytest.fixture(scope="module")
def runtime_gateway(runtime_bin, upstream_process, tmp_path_factory, running):
    """gunicorn with gevent workers from the runtime venv, in the repository root as `make run` starts it."""
    config = gateway_config(upstream_process.client.url)
    server = start_gateway(config, tmp_path_factory.mktemp("runtime-gateway"),
                           {"PYTHONPATH": "", "PYTHONNOUSERSITE": "1"}, bin_dir=runtime_bin)
    running["runtime gunicorn"] = server
    yield server
    del running["runtime gunicorn"]
    server.stop()


ASK = {"model": "claude-test", "messages": [{"role": "system", "content": "Be brief."},
                                            {"role": "user", "content": "What is the largest city in Mexico?"}]}
ANTHROPIC_ANSWER = {
    "id": "msg_01runtime", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
    "content": [{"type": "text", "text": "Mexico City."}], "stop_reason": "end_turn", "stop_sequence": None,
    "usage": {"input_tokens": 21, "output_tokens": 5},
}


def anthropic_stream(texts: list) -> bytes:
    events = [("message_start", {"type": "message_start", "message": {**ANTHROPIC_ANSWER, "content": [],
                                                                     "stop_reason": None}}),
              ("content_block_start", {"type": "content_block_start", "index": 0,
                                       "content_block": {"type": "text", "text": ""}})]
    events += [("content_block_delta", {"type": "content_block_delta", "index": 0,
                                        "delta": {"type": "text_delta", "text": text}}) for text in texts]
    events += [("content_block_stop", {"type": "content_block_stop", "index": 0}),
               ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                  "usage": {"output_tokens": 5}}),
               ("message_stop", {"type": "message_stop"})]
    return b"".join(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode() for name, data in events)


def test_chat_completion_over_anthropic_from_the_runtime_install(runtime_gateway, upstream):
    upstream.reply_json(ANTHROPIC_PATH, ANTHROPIC_ANSWER)

    response = post(runtime_gateway.url + "/v1/chat/completions", ASK)

    assert response.status == 200
    completion = response.json()
    assert completion["object"] == "chat.completion" and completion["model"] == "claude-test"
    assert [(c["message"]["role"], c["message"]["content"], c["finish_reason"]) for c in completion["choices"]] == \
        [("assistant", "Mexico City.", "stop")]
    assert (completion["usage"]["prompt_tokens"], completion["usage"]["completion_tokens"]) == (21, 5)
    sent = upstream.only_request(ANTHROPIC_PATH).json()
    assert sent["model"] == "claude-test"
    assert sent["messages"] == [{"role": "user", "content": [{"type": "text", "text": ASK["messages"][1]["content"]}]}]


def test_streamed_chat_completion_over_anthropic_from_the_runtime_install(runtime_gateway, upstream):
    """A stream goes through the gevent-patched sockets and urllib3's incremental reads of the runtime venv."""
    upstream.reply_sse(ANTHROPIC_PATH, anthropic_stream(["Mexico", " City."]))

    response = post(runtime_gateway.url + "/v1/chat/completions", {**ASK, "stream": True})

    assert response.status == 200
    raw = response.read()
    assert raw.rstrip().endswith(b"data: [DONE]")
    chunks = sse_payloads(raw)
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]) == "Mexico City."
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]] \
        == ["stop"]
    assert upstream.only_request(ANTHROPIC_PATH).json()["stream"] is True


def test_installed_package_loads_its_packaged_config(runtime_bin, tmp_path):
    """Outside the repository the installed package is what runs: its default config must have been installed."""
    environ = {name: value for name, value in clean_environ().items() if not name.startswith("DROID2API_")}
    done = run([str(runtime_bin / "droid2api"), "--check"], env=environ, cwd=tmp_path)
    assert "default config.json (packaged): ok" in done.stdout
    where = run([str(runtime_bin / "python"), "-c", "import droid2api; print(droid2api.__file__)"],
                env=environ, cwd=tmp_path).stdout.strip()
    assert Path(where).is_relative_to(runtime_bin.parent), where
