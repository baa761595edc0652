"""benchmarks/bench.py measures what it says: wrk's report read right, nginx answering the recorded bodies byte
for byte, requests wrk can send, a gateway config the gateway accepts. No timing is asserted anywhere.

nginx is installed with apt-get when missing (as in tests/e2e/test_nginx.py); only loopback is used, and wrk
is not run here: its report is a captured sample.
"""

from __future__ import annotations

import http.client
import io
import json
import socket
import subprocess
import time

import pytest

from benchmarks import bench, floors, nginx, wrk
from droid2api.config import parse_settings

# What wrk 4.1.0 printed here for `wrk -t1 -c1 -d1s --latency -s request.lua <url>`.
REPORT = """\
Running 1s test @ http://127.0.0.1:40431/anthropic/v1/messages
  1 threads and 1 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    73.49us   63.42us   2.06ms   99.21%
    Req/Sec    13.94k     5.01k   28.75k    90.91%
  Latency Distribution
     50%   75.00us
     75%   82.00us
     90%   94.00us
     99%  126.00us
  15227 requests in 1.10s, 20.29MB read
Requests/sec:  13844.63
Transfer/sec:     18.44MB
"""

# The same against a path nginx answers 404, with a socket-errors line as wrk prints it
# (`Socket errors: connect %d, read %d, write %d, timeout %d`) and times in ms and s.
REPORT_WITH_ERRORS = """\
Running 10s test @ http://127.0.0.1:40431/nothing
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    11.74ms   60.93ms   2.19s    99.52%
    Req/Sec    14.24k     0.92k   16.20k    63.64%
  Latency Distribution
     50%   11.50ms
     75%   76.00ms
     90%  850.00ms
     99%    1.25s
  15549 requests in 10.10s, 4.57MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 15549
Requests/sec:   1539.53
Transfer/sec:      4.15MB
"""


def test_wrk_report_gives_p50_p99_and_requests_per_second_in_milliseconds():
    result = wrk.parse(REPORT)

    assert (result.p50, result.p99, result.rps, result.requests) == (pytest.approx(0.075), pytest.approx(0.126),
                                                                    13844.63, 15227)
    assert result.clean


def test_wrk_report_with_errors_is_not_clean():
    result = wrk.parse(REPORT_WITH_ERRORS)

    assert (result.p50, result.p99) == (pytest.approx(11.5), pytest.approx(1250.0))
    assert (result.non_2xx, result.socket_errors) == (15549, 5)
    assert not result.clean


def test_a_report_without_percentiles_is_an_error_not_a_zero():
    with pytest.raises(ValueError, match="99"):
        wrk.parse(REPORT.replace("     99%  126.00us\n", ""))


def test_lua_script_sends_the_body_file_and_headers_but_leaves_host_and_length_to_wrk():
    script = wrk.lua_script('/tmp/a "dir"/body.json', {"Content-Type": "application/json", "Host": "x",
                                                        "content-length": "5", "x-note": 'say "hi"\\'})

    assert 'wrk.method = "POST"' in script
    assert 'io.open("/tmp/a \\"dir\\"/body.json", "rb")' in script
    assert 'wrk.body = file:read("*a")' in script
    assert 'wrk.headers["Content-Type"] = "application/json"' in script
    assert 'wrk.headers["x-note"] = "say \\"hi\\"\\\\"' in script
    assert "Host" not in script and "content-length" not in script


def test_wrk_command_uses_the_given_connections_threads_and_whole_seconds():
    assert wrk.command("wrk", "http://h/p", "s.lua", 16, 1, 10.0) == [
        "wrk", "-t1", "-c16", "-d10s", "--latency", "--timeout", "10s", "-s", "s.lua", "http://h/p"]


def row_with(label, c1, c16):
    row = bench.Row(label, "gateway", "/", {}, {}, b"")
    row.results = {1: c1, 16: c16}
    return row


def test_table_adds_latency_against_the_direct_row_and_marks_rows_with_errors():
    direct = row_with("direct", wrk.Result(0.1, 0.2, 9000, 90000), wrk.Result(0.5, 1.0, 30000, 300000))
    gateway = row_with("gateway", wrk.Result(1.35, 2.0, 700, 7000), wrk.Result(10.0, 40.0, 1200, 12000, non_2xx=3))

    lines = bench.table([direct, gateway]).splitlines()

    assert lines[0].split() == ["c1", "p50", "c1", "p99", "c16", "p50", "c16", "p99", "c16", "rps", "c1", "added",
                                "c16", "p99/p50"]
    assert lines[1].split() == ["direct", "0.10", "0.20", "0.50", "1.00", "30,000", "2.0"]
    assert lines[2].split() == ["gateway", "*", "1.35", "2.00", "10.00", "40.00", "1,200", "+1.25", "4.0"]
    assert lines[3].startswith("* wrk counted")


def test_the_streamed_answers_have_the_event_counts_the_rows_name():
    def events(body):
        return sum(1 for line in body.split(b"\n") if line.startswith(b"event:"))

    assert events(bench.ANTHROPIC_SSE) == 27
    assert any("27 events" in row.label for row in bench.rows())


def test_gateway_config_is_accepted_and_every_upstream_path_has_an_answer():
    settings = parse_settings(json.dumps(bench.gateway_config("http://127.0.0.1:9")), "bench config", {})
    suffixes = {"anthropic": "/v1/messages", "openai": "/responses"}

    for model in settings.models:
        base = settings.upstreams[model.upstream].base_url.removeprefix("http://127.0.0.1:9")
        assert base + suffixes[model.type] in bench.ANSWERS
    models = {row.body.get("model") for row in bench.rows()}
    assert models <= {model.id for model in settings.models}


def test_claude_code_rows_send_its_recorded_117_kb_body_with_only_the_model_changed():
    recorded = bench.CLAUDE_CODE["body"]
    claude_code_rows = [row for row in bench.rows() if row.path == bench.CLAUDE_CODE["path"]]

    assert len(claude_code_rows) == 2
    for row in claude_code_rows:
        assert 110_000 < len(row.raw_body()) < 120_000
        assert {**row.body, "model": recorded["model"]} == recorded


def test_floors_answer_the_upstreams_json():
    answered = []
    environ = {"REQUEST_METHOD": "POST", "wsgi.input": io.BytesIO(b"{}")}

    body = b"".join(floors.bare_wsgi(environ, lambda status, headers: answered.append(status)))
    flask_answer = floors.bare_flask.test_client().post("/v1/messages", data=b"{}")

    assert (answered, body) == (["200 OK"], floors.ANSWER)
    assert (flask_answer.status_code, flask_answer.data) == (200, floors.ANSWER)


def test_missing_tools_without_apt_get_get_a_clear_message(monkeypatch):
    monkeypatch.setattr(bench.shutil, "which", lambda *args, **kwargs: None)

    with pytest.raises(bench.Missing, match="nginx not installed and apt-get is not available"):
        bench.tools({"nginx": "nginx"})


TRICKY = ("line one\nit's $1 or ${x} or $ alone, a \\n that is not a newline, \\' and \\\\, {braces}; #no comment\n"
          "non-ASCII: é ü 漢字 \U0001F600\n" + "long " * 2000).encode()


@pytest.fixture(scope="module")
def static_upstream(tmp_path_factory):
    binary = bench.tools({"nginx": "nginx"})["nginx"]
    directory = tmp_path_factory.mktemp("bench-nginx")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    answers = {**bench.ANSWERS, "/tricky": ("text/plain; charset=utf-8", TRICKY), "/empty": ("application/json", b"")}
    (directory / "nginx.conf").write_text(nginx.config(str(directory), port, answers))
    process = subprocess.Popen([binary, "-p", str(directory), "-c", str(directory / "nginx.conf"),
                                "-e", str(directory / "error.log"), "-g", "daemon off;"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while True:
        assert process.poll() is None, (directory / "error.log").read_text()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "nginx did not listen"
            time.sleep(0.05)
    yield port, answers
    process.terminate()
    process.wait(15)


@pytest.mark.parametrize("path", [*bench.ANSWERS, "/tricky", "/empty"])
def test_nginx_answers_every_path_byte_for_byte_with_its_content_type(static_upstream, path):
    port, answers = static_upstream
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("POST", path, body=bench.Row("", "", path, {}, bench.MESSAGES, b"").raw_body(),
                       headers={"Content-Type": "application/json"})
    response = connection.getresponse()

    assert (response.status, response.getheader("Content-Type"), response.read()) == (200, *answers[path])
    connection.close()


def test_nginx_answers_unknown_paths_404(static_upstream):
    port, _ = static_upstream
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("POST", "/v1/unknown", body=b"{}")

    assert connection.getresponse().status == 404
    connection.close()


def test_the_floors_that_call_upstream_answer_what_it_sent(static_upstream, monkeypatch):
    port, answers = static_upstream
    monkeypatch.setenv("BENCH_UPSTREAM", f"http://127.0.0.1:{port}{bench.DIRECT_PATH}")
    answered = []
    environ = {"REQUEST_METHOD": "POST", "wsgi.input": io.BytesIO(b"{}")}

    urllib3_body = b"".join(floors.upstream_call(environ, lambda status, headers: answered.append(status)))
    relayed = floors.stack_relay.test_client().post("/v1/messages", data=b"{}")

    content_type, answer = answers[bench.DIRECT_PATH]
    assert (answered, urllib3_body) == (["200 OK"], answer)
    assert (relayed.status_code, relayed.headers["Content-Type"], relayed.data) == (200, content_type, answer)
