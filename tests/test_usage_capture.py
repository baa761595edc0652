"""The tokens a request's record reports are what the upstream reported: every recorded answer, relayed
(the per-dialect ``usage_of`` on bodies and events) and converted (the IR's Finish), streamed and not."""

from __future__ import annotations

import re

import pytest
import responses

from droid2api import ir
from droid2api.record import RequestRecord

from .helpers import RECORDED, app_for, base_config, exchanges, recorded, recorded_json, upstream_events

UPSTREAMS = {"anthropic": "anthropic", "google": "google", "openai": "common", "openai_responses": "openai"}
FRONTS = {  # provider -> (path of the front of the same dialect, whether the model goes in the URL)
    "anthropic": "/v1/messages",
    "openai": "/v1/chat/completions",
    "openai_responses": "/v1/responses",
    "google": "/v1beta/models/m:{method}",
}


def app_with_sink():
    config = base_config(
        upstreams=[{"name": provider, "type": kind, "base_url": f"https://{provider.replace('_', '-')}.test",
                    "api_key": "k"} for provider, kind in UPSTREAMS.items()],
        models=[{"id": "m" if provider == "google" else f"m-{provider}", "upstream": provider}
                for provider, kind in UPSTREAMS.items()] + [{"id": "glm", "type": "common"}])
    app = app_for(config)
    records = []
    app.extensions["droid2api"].sinks.append(records.append)
    return app.test_client(), records


def expected_tokens(provider: str, name: str) -> dict:
    finish = [e for e in upstream_events(provider, name) if isinstance(e, ir.Finish)][-1]
    probe = RequestRecord("x", "POST", "/")
    probe.add_usage(finish.usage)
    return probe.tokens


def recorded_answer(name: str) -> tuple:
    """(the recorded answer's bytes, whether it was streamed)."""
    streamed = not (RECORDED / f"{name}.response.json").exists()
    return recorded(f"{name}.response.{'sse' if streamed else 'json'}"), streamed


def upstream_url(provider: str):
    return re.compile(f"https://{provider.replace('_', '-')}\\.test/.*")


def send(http, provider: str, name: str, model: str):
    streamed = recorded_answer(name)[1]
    body = recorded_json(f"{name}.request.json")
    path = FRONTS[provider]
    if provider == "google":
        path = path.format(method="streamGenerateContent?alt=sse" if streamed else "generateContent")
        body.pop("model", None)
    else:
        body["model"] = model
    with http.open(path, method="POST", json=body) as served:
        assert served.status_code == 200, served.get_data()[:300]
        served.get_data()


@pytest.mark.parametrize("provider, name", [(p, n) for p in UPSTREAMS for n in exchanges(p)])
def test_a_relayed_answer_reports_the_upstreams_usage(provider, name):
    http, records = app_with_sink()
    raw, streamed = recorded_answer(name)
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, upstream_url(provider), body=raw,
                 content_type="text/event-stream" if streamed else "application/json")
        send(http, provider, name, "m" if provider == "google" else f"m-{provider}")
    assert records[-1].tokens == expected_tokens(provider, name)
    assert records[-1].tokens.get("input", 0) > 0


@pytest.mark.parametrize("provider, name", [(p, n) for p in ("anthropic", "openai_responses", "google")
                                            for n in exchanges(p)][::3])
def test_a_converted_answer_reports_the_upstreams_usage(provider, name):
    http, records = app_with_sink()
    raw, streamed = recorded_answer(name)
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, upstream_url(provider), body=raw,
                 content_type="text/event-stream" if streamed else "application/json")
        with http.open("/v1/chat/completions", method="POST", json={
                "model": "m" if provider == "google" else f"m-{provider}", "stream": streamed,
                "messages": [{"role": "user", "content": "hi"}]}) as served:
            assert served.status_code == 200
            served.get_data()
    assert records[-1].tokens == expected_tokens(provider, name)
