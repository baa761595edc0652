"""Usage per access key, model and UTC day (droid2api/usage.py): the totals are the sum of what the upstreams
reported, relayed and converted, streamed and not; GET /v1/gateway/usage for admin keys; ``droid2api usage``."""

from __future__ import annotations

import datetime
import io
import json
import re

import pytest
import responses

from droid2api import cli, ir
from droid2api.record import RequestRecord
from droid2api.store import MemoryStore
from droid2api.usage import COUNTS, Usage, table

from .helpers import RECORDED, app_for, base_config, exchanges, recorded, recorded_json, upstream_events

UPSTREAMS = {"anthropic": "anthropic", "google": "google", "openai": "common", "openai_responses": "openai"}
SAME_DIALECT_FRONT = {"anthropic": "/v1/messages", "openai": "/v1/chat/completions",
                      "openai_responses": "/v1/responses", "google": "/v1beta/models/m-google:{method}"}
KEYS = [{"name": "alice", "key": "sk-alice"}, {"name": "root", "key": "sk-root", "admin": True}, "sk-plain"]
ALICE, ROOT, PLAIN = ({"x-api-key": key} for key in ("sk-alice", "sk-root", "sk-plain"))


def usage_app(data_dir=None, access_keys=KEYS):
    config = base_config(
        upstreams=[{"name": provider, "type": kind, "base_url": f"https://{provider.replace('_', '-')}.test",
                    "api_key": "k"} for provider, kind in UPSTREAMS.items()],
        models=[{"id": f"m-{provider}", "upstream": provider} for provider in UPSTREAMS],
        access_keys=access_keys)
    if data_dir is not None:
        config["data_dir"] = str(data_dir)
    return app_for(config).test_client()


def reported(provider: str, name: str) -> ir.Usage:
    """The usage a recorded answer reports, read by the dialect's own decoder."""
    return [e for e in upstream_events(provider, name) if isinstance(e, ir.Finish)][-1].usage


def answer_of(name: str) -> tuple:
    streamed = not (RECORDED / f"{name}.response.json").exists()
    return recorded(f"{name}.response.{'sse' if streamed else 'json'}"), streamed


def send(http, provider: str, name: str, *, relayed: bool, headers=ALICE):
    """One request answered by the recorded ``name``: relayed in the upstream's own dialect, or asked for in
    Chat Completions (Messages for a Chat upstream) and converted."""
    raw, streamed = answer_of(name)
    model = f"m-{provider}"
    if relayed:
        path, body = SAME_DIALECT_FRONT[provider], recorded_json(f"{name}.request.json")
        if provider == "google":
            path = path.format(method="streamGenerateContent?alt=sse" if streamed else "generateContent")
            body.pop("model", None)
        else:
            body["model"] = model
    elif provider == "openai":
        path = "/v1/messages"
        body = {"model": model, "max_tokens": 50, "stream": streamed, "messages": [{"role": "user", "content": "hi"}]}
    else:
        path = "/v1/chat/completions"
        body = {"model": model, "stream": streamed, "messages": [{"role": "user", "content": "hi"}]}
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, re.compile(f"https://{provider.replace('_', '-')}\\.test/.*"), body=raw,
                 content_type="text/event-stream" if streamed else "application/json")
        with http.open(path, method="POST", json=body, headers=headers) as answer:
            assert answer.status_code == 200, answer.get_data()[:300]
            answer.get_data()


CASES = [(p, n) for p in UPSTREAMS for n in exchanges(p)]


def test_usage_totals_are_the_sum_of_the_upstreams_usages():
    http = usage_app()
    expected = {}  # model -> kind -> tokens
    for relayed in (True, False):
        for provider, name in CASES:
            send(http, provider, name, relayed=relayed)
            usage = reported(provider, name)
            counts = expected.setdefault(f"m-{provider}", dict.fromkeys(COUNTS, 0))
            counts["requests"] += 1
            for kind, value in zip(COUNTS[1:], (usage.input_tokens, usage.output_tokens, usage.cache_read_tokens,
                                                 usage.cache_write_tokens, usage.reasoning_tokens)):
                counts[kind] += value
    with http.open("/v1/gateway/usage", headers=ROOT) as answer:
        assert answer.status_code == 200
        report = answer.get_json()
    today = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    assert {row["model"]: {k: row[k] for k in COUNTS} for row in report["data"]} == expected
    assert {(row["day"], row["key"]) for row in report["data"]} == {(today, "alice")}
    assert report["totals"] == {kind: sum(counts[kind] for counts in expected.values()) for kind in COUNTS}
    assert all(report["totals"][kind] for kind in ("input", "output", "reasoning"))


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/chat/completions"])
def test_cache_tokens_are_counted_apart_and_within_the_input(path):
    answer = recorded_json("anthropic__test_anthropic_tool_output.0.response.json")
    answer["usage"].update(input_tokens=5, cache_read_input_tokens=300, cache_creation_input_tokens=40)
    http = usage_app()
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, re.compile("https://anthropic\\.test/.*"), json=answer)
        with http.open(path, method="POST", headers=ALICE, json={
                "model": "m-anthropic", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}) as sent:
            assert sent.status_code == 200
    with http.open("/v1/gateway/usage", headers=ROOT) as report:
        [row] = report.get_json()["data"]
    assert {k: row[k] for k in COUNTS} == {"requests": 1, "input": 345, "output": answer["usage"]["output_tokens"],
                                           "cache_read": 300, "cache_write": 40, "reasoning": 0}


def test_each_key_has_its_own_rows_and_refused_requests_do_not_count():
    http = usage_app(access_keys=[{"name": "alice", "key": "sk-alice", "models": ["m-anthropic"]},
                                  {"name": "root", "key": "sk-root", "admin": True}, "sk-plain"])
    name = "anthropic__test_anthropic_tool_output.0"
    send(http, "anthropic", name, relayed=True)
    send(http, "anthropic", name, relayed=True, headers=PLAIN)
    with http.open("/v1/chat/completions", method="POST", headers=ALICE,
                   json={"model": "m-google", "messages": [{"role": "user", "content": "hi"}]}) as refused:
        assert refused.status_code == 403
    with http.open("/v1/gateway/usage", headers=ROOT) as answer:
        rows = answer.get_json()["data"]
    plain = next(row["key"] for row in rows if row["key"] != "alice")
    assert plain.startswith("key-") and [(row["key"], row["requests"]) for row in rows] == [("alice", 1), (plain, 1)]
    with http.open("/v1/gateway/usage?key=alice", headers=ROOT) as answer:
        assert [row["key"] for row in answer.get_json()["data"]] == ["alice"]


@pytest.mark.parametrize("headers", [ALICE, PLAIN])
def test_the_usage_endpoint_is_for_admin_keys_only(headers):
    with usage_app().open("/v1/gateway/usage", headers=headers) as answer:
        assert answer.status_code == 403
        assert answer.get_json()["error"]["type"] == "permission_error"
        assert "is not an admin key" in answer.get_json()["error"]["message"]


def test_without_access_keys_the_usage_endpoint_answers_loopback_only():
    http = usage_app(access_keys=[])
    with http.open("/v1/gateway/usage") as answer:
        assert answer.status_code == 200 and answer.get_json()["data"] == []
    with http.open("/v1/gateway/usage", environ_base={"REMOTE_ADDR": "192.0.2.7"}) as answer:
        assert answer.status_code == 403


def test_a_bad_since_is_400():
    with usage_app().open("/v1/gateway/usage?since=yesterday", headers=ROOT) as answer:
        assert answer.status_code == 400
        assert answer.get_json()["error"]["message"] == "since: 'yesterday' is not a date: use YYYY-MM-DD"


def finished(client, model, tokens, path="/v1/messages"):
    record = RequestRecord("r", "POST", path, client=client, requested=model, upstream="u")
    record.tokens = tokens
    return record


def test_rows_by_day_since_a_date_and_the_table():
    now = [datetime.datetime(2026, 3, 1, 23, 59, tzinfo=datetime.timezone.utc).timestamp()]
    usage = Usage(MemoryStore(clock=lambda: now[0]), clock=lambda: now[0])
    usage.record(finished("alice", "m1", {"input": 10, "output": 2}))
    usage.record(finished("alice", "m1", {"input": 5, "output": 1}, path="/v1/messages/count_tokens"))  # not counted
    now[0] += 120  # the next UTC day
    usage.record(finished("alice", "m1", {"input": 1, "output": 1, "cache_read": 1}))
    usage.record(finished(None, "m2", {"input": 7, "output": 3, "reasoning": 2}))
    rows = usage.rows()
    assert [(r["day"], r["key"], r["model"], r["requests"], r["input"]) for r in rows] == [
        ("2026-03-01", "alice", "m1", 1, 10), ("2026-03-02", None, "m2", 1, 7), ("2026-03-02", "alice", "m1", 1, 1)]
    assert [r["day"] for r in usage.rows(datetime.date(2026, 3, 2))] == ["2026-03-02", "2026-03-02"]
    assert [r["model"] for r in usage.rows(key="alice")] == ["m1", "m1"]
    assert table(rows).splitlines() == [
        "day         key    model  requests  input  output  cache read  cache write  reasoning",
        "2026-03-01  alice  m1            1     10       2           0            0          0",
        "2026-03-02  -      m2            1      7       3           0            0          2",
        "2026-03-02  alice  m1            1      1       1           1            0          0",
        "total                            3     18       6           1            0          2",
    ]


def test_the_usage_command_prints_the_table_from_the_configs_store(tmp_path, monkeypatch, capsys):
    http = usage_app(data_dir=tmp_path / "data")
    send(http, "anthropic", "anthropic__test_anthropic_tool_output.0", relayed=True)
    send(http, "anthropic", "anthropic__test_anthropic_tool_output.0", relayed=False)
    http.application.extensions["droid2api"].usage.flush()  # what the worker's flusher does each second
    config = base_config(data_dir=str(tmp_path / "data"), access_keys=KEYS)
    (tmp_path / "config.json").write_text(json.dumps(config))
    monkeypatch.delenv("DROID2API_DATA_DIR", raising=False)
    monkeypatch.setenv("DROID2API_CONFIG", str(tmp_path / "config.json"))
    assert cli.main(["usage", "--key", "alice"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["day", "key", "model", "requests", "input", "output", "cache", "read", "cache",
                                "write", "reasoning"]
    assert lines[1].split()[1:] == ["alice", "m-anthropic", "2", "890", "46", "0", "0", "0"]
    assert lines[2].split() == ["total", "2", "890", "46", "0", "0", "0"]
    assert cli.main(["usage", "--key", "bob"]) == 0
    assert capsys.readouterr().out.splitlines()[1].split() == ["total", "0", "0", "0", "0", "0", "0"]
    assert cli.main(["usage", "--since", "2026-13-01"]) == 2
    assert "is not a date" in capsys.readouterr().err


def test_the_usage_command_without_a_store_says_so(tmp_path, monkeypatch, capsys):
    (tmp_path / "config.json").write_text(json.dumps(base_config(data_dir=str(tmp_path / "none"))))
    monkeypatch.delenv("DROID2API_DATA_DIR", raising=False)
    assert cli.main(["usage", "--config", str(tmp_path / "config.json")]) == 0
    assert "no usage recorded" in capsys.readouterr().out
    assert not (tmp_path / "none").exists()


def test_a_worker_writes_its_counts_in_one_transaction_a_second_and_keeps_them_while_the_store_is_down():
    from droid2api.store import MemoryStore, StoreError
    from droid2api.usage import Usage
    from droid2api.record import RequestRecord

    class Flaky(MemoryStore):
        down = False
        writes = 0

        def increment_many(self, namespace, amounts, ttl=None):
            if self.down:
                raise StoreError("down")
            self.writes += 1
            return super().increment_many(namespace, amounts, ttl)

    store = Flaky()
    usage = Usage(store, flush_every=3600)  # the flusher thread will not run during the test
    for _ in range(3):
        record = RequestRecord("r", "POST", "/v1/messages", client="alice", model="m", upstream="u")
        record.tokens = {"input": 10, "output": 2}
        usage.record(record)
    assert store.items("usage") == {}  # held in memory
    store.down = True
    usage.flush()  # logged, kept
    store.down = False
    [row] = usage.rows()  # reading flushes this worker's counts first
    assert (row["requests"], row["input"], row["output"]) == (3, 30, 6) and store.writes == 1
