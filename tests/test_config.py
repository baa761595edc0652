"""The config file: droid2api's config.json accepted unchanged, the packaged default, the
extensions, and the one-line error that stops startup (also through the real commands)."""

from __future__ import annotations

import hashlib

import importlib.util
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import responses

from droid2api.app import create_app
from droid2api.config import ClientKey, ConfigError, load_settings, parse_settings
from droid2api.server import gunicorn_settings

from .helpers import base_config

REPO = Path(__file__).resolve().parent.parent

# The Node droid2api's config.json, verbatim.
NODE_CONFIG = (
    '{"port":3000,"model_redirects":{"claude-3-5-haiku-20241022":"claude-haiku-4-5-20251001",'
    '"claude-sonnet-4-5":"claude-sonnet-4-5-20250929"},"endpoint":[{"name":"openai","base_url":'
    '"https://api.factory.ai/api/llm/o/v1/responses"},{"name":"anthropic","base_url":'
    '"https://api.factory.ai/api/llm/a/v1/messages"},{"name":"common","base_url":'
    '"https://api.factory.ai/api/llm/o/v1/chat/completions"}],"proxies":[],"models":[{"name":"Opus 4.6",'
    '"id":"claude-opus-4-6","type":"anthropic","reasoning":"auto","provider":"anthropic"},{"name":'
    '"Opus 4.6 Fast","id":"claude-opus-4-6-fast","type":"anthropic","reasoning":"auto","fast":true,'
    '"provider":"anthropic"},{"name":"GPT-5.4","id":"gpt-5.4","type":"openai","reasoning":"auto",'
    '"provider":"openai"},{"name":"GLM-5","id":"glm-5","type":"common","reasoning":"off","provider":'
    '"fireworks"},{"name":"MiniMax M2.5","id":"minimax-m2.5","type":"anthropic","reasoning":"auto",'
    '"provider":"fireworks"}],"dev_mode":false,"user_agent":"factory-cli/0.84.0","system_prompt":'
    '"You are Droid, an AI software engineering agent built by Factory.\\n\\n"}'
)
DROID_PROMPT = "You are Droid, an AI software engineering agent built by Factory.\n\n"
REASONING_CHOICES = "must be one of auto, off, low, medium, high, xhigh"


def load(config: dict, environ=None):
    return parse_settings(json.dumps(config), "config.json", environ or {})


def error_of(config, environ=None) -> str:
    text = config if isinstance(config, str) else json.dumps(config)
    with pytest.raises(ConfigError) as caught:
        parse_settings(text, "config.json", environ or {})
    message = str(caught.value)
    assert "\n" not in message
    return message


def with_model(**fields) -> dict:
    return base_config(models=[{"id": "m", "type": "anthropic", **fields}])


# -- droid2api's own config.json ---------------------------------------------------------------

def test_node_config_is_accepted_unchanged_without_warnings(caplog):
    caplog.set_level(logging.WARNING, logger="droid2api")
    settings = parse_settings(NODE_CONFIG, "config.json", {})
    assert caplog.records == []
    assert settings.port == 3000
    assert settings.model_redirects == {"claude-3-5-haiku-20241022": "claude-haiku-4-5-20251001",
                                        "claude-sonnet-4-5": "claude-sonnet-4-5-20250929"}
    assert settings.endpoints == {"openai": "https://api.factory.ai/api/llm/o/v1/responses",
                                  "anthropic": "https://api.factory.ai/api/llm/a/v1/messages",
                                  "common": "https://api.factory.ai/api/llm/o/v1/chat/completions"}
    assert settings.proxies == []
    assert [(m.name, m.id, m.type, m.reasoning, m.provider, m.fast) for m in settings.models] == [
        ("Opus 4.6", "claude-opus-4-6", "anthropic", "auto", "anthropic", False),
        ("Opus 4.6 Fast", "claude-opus-4-6-fast", "anthropic", "auto", "anthropic", True),
        ("GPT-5.4", "gpt-5.4", "openai", "auto", "openai", False),
        ("GLM-5", "glm-5", "common", "off", "fireworks", False),
        ("MiniMax M2.5", "minimax-m2.5", "anthropic", "auto", "fireworks", False),
    ]
    assert settings.dev_mode is False
    assert settings.user_agent == "factory-cli/0.84.0"
    assert settings.system_prompt == DROID_PROMPT


@responses.activate
def test_node_config_serves_its_models_through_its_endpoints():
    settings = parse_settings(NODE_CONFIG, "config.json", {})
    app = create_app(settings, {"FACTORY_API_KEY": "fk-node"})
    responses.post("https://api.factory.ai/api/llm/a/v1/messages", json={"type": "message"})
    answer = app.test_client().post("/v1/messages", json={
        "model": "minimax-m2.5", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]})
    assert answer.status_code == 200
    sent = responses.calls[0].request
    assert sent.headers["x-api-provider"] == "fireworks"
    assert sent.headers["user-agent"] == "factory-cli/0.84.0"
    assert json.loads(sent.body)["system"] == [{"type": "text", "text": DROID_PROMPT}]


def test_packaged_default_is_used_when_there_is_no_config_file(tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.WARNING, logger="droid2api")
    monkeypatch.chdir(tmp_path)
    settings = load_settings({})
    assert settings.path == "default config.json (packaged)"
    assert caplog.records == []
    assert len(settings.models) == 20
    assert {m.type for m in settings.models} == {"anthropic", "openai", "common", "google"}
    assert all(m.type in settings.endpoints for m in settings.models)
    for target in settings.model_redirects.values():
        assert settings.model(target) is not None, target


def test_config_file_comes_from_env_then_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps(base_config(port=4001)))
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text(json.dumps(base_config(port=4002)))
    assert (load_settings({}).path, load_settings({}).port) == ("config.json", 4001)
    from_env = load_settings({"DROID2API_CONFIG": str(elsewhere)})
    assert (from_env.path, from_env.port) == (str(elsewhere), 4002)


def test_port_env_overrides_the_file():
    assert load(base_config(port=4000), {"PORT": "5123"}).port == 5123


@pytest.mark.parametrize("value", ["abc", "0", "70000"])
def test_invalid_port_env_is_a_one_line_error(value):
    with pytest.raises(ConfigError) as caught:
        load(base_config(), {"PORT": value})
    assert str(caught.value) == f"PORT: must be a port number (1-65535), not {value!r}"


def test_invalid_worker_count_env_is_a_one_line_error():
    with pytest.raises(ConfigError) as caught:
        load(base_config(), {"WEB_CONCURRENCY": "many"})
    assert str(caught.value) == "WEB_CONCURRENCY: must be a positive integer, not 'many'"


def test_access_keys_come_from_config_and_env():
    settings = load(base_config(access_keys=["from-file"]), {"DROID2API_ACCESS_KEYS": " a , ,b "})
    assert settings.access_keys == [ClientKey.plain("from-file"), ClientKey.plain("a"), ClientKey.plain("b")]
    assert settings.access_keys[0].name == "key-" + hashlib.sha256(b"from-file").hexdigest()[:8]


def test_access_keys_may_be_named_objects_with_limits():
    settings = load(base_config(access_keys=[
        "plain-key",
        {"name": "alice", "key": "sk-alice", "models": ["claude-*"], "rpm": 10, "tpm": 1000, "daily_tokens": 5000},
        {"name": "ops", "key_sha256": hashlib.sha256(b"sk-ops").hexdigest(), "admin": True},
    ]), {})
    alice, ops = settings.access_keys[1:]
    assert (alice.name, alice.models, alice.rpm, alice.tpm, alice.daily_tokens, alice.admin) == \
        ("alice", ["claude-*"], 10, 1000, 5000, False)
    assert alice.sha256 == hashlib.sha256(b"sk-alice").hexdigest() and "sk-alice" not in repr(alice)
    assert ops.admin and ops.sha256 == hashlib.sha256(b"sk-ops").hexdigest()


@pytest.mark.parametrize("entry, problem", [
    ({"name": "a"}, "access_keys[0].key: set key or key_sha256"),
    ({"name": "a", "key": "k", "rmp": 5}, "access_keys[0].rmp: unknown field"),
    ({"name": "a", "key_sha256": "abc"}, "access_keys[0].key_sha256: must be 64 lower-case hex digits"),
    ({"name": "a", "key": "k", "rpm": 0}, "access_keys[0].rpm: must be a positive integer"),
    (7, "access_keys[0]: must be a key (a string) or an object with name and key"),
])
def test_a_bad_key_object_is_one_line_naming_it(entry, problem):
    with pytest.raises(ConfigError) as raised:
        load(base_config(access_keys=[entry]), {})
    assert problem in str(raised.value)


# -- one line naming the file, the field path and the problem -----------------------------------

@pytest.mark.parametrize("config, expected", [
    ({"models": [{"id": "a", "type": "anthropic"}, {"id": "b", "type": "anthropic"},
                 {"id": "c", "type": "openai"}, {"id": "d", "type": "anthropic", "reasoning": "max"}]},
     f"config.json: models[3].reasoning: {REASONING_CHOICES}"),
    ({"port": "3000"}, "config.json: port: not a valid integer"),
    ({"port": 0}, "config.json: port: must be a port number (1-65535)"),
    ({"models": [{"type": "openai"}]}, "config.json: models[0].id: is required"),
    ({"models": [{"id": "x", "type": "azure"}]},
     "config.json: models[0].type: must be one of anthropic, openai, common, google"),
    ({"models": [{"id": "x"}]}, "config.json: models[0].type: is required (or name an upstream)"),
    ({"models": [{"id": "x", "type": "openai"}, {"id": "x", "type": "openai"}]},
     "config.json: models[1].id: duplicate model id 'x'"),
    ({"models": {"id": "x"}}, "config.json: models: not a valid list"),
    ({"model_redirects": {"a": 5}}, "config.json: model_redirects.a: not a valid string"),
    ({"endpoint": [{"name": "openai", "base_url": "ftp://x"}]},
     "config.json: endpoint[0].base_url: must be an http(s) URL"),
    ({"endpoint": [{"name": "openai"}]}, "config.json: endpoint[0].base_url: is required"),
    ({"proxies": [{"url": "not a url"}]}, "config.json: proxies[0].url: must be a proxy URL"),
    ({"proxies": [{"url": "http://u:p@proxy:8080"}, {"url": "ftp://proxy:21"}]},
     "config.json: proxies[1].url: must be a proxy URL"),
    ({"dev_mode": "maybe"}, "config.json: dev_mode: not a valid boolean"),
    ({"system_prompt": None}, "config.json: system_prompt: field may not be null"),
    ({"access_keys": [""]}, "config.json: access_keys[0]: must not be empty"),
    ({"read_timeout": 0}, "config.json: read_timeout: must be a positive number"),
    ({"upstreams": [{"name": "u", "type": "openai", "base_url": "https://x", "api_key": "k",
                     "api_key_env": "K"}]},
     "config.json: upstreams[0].api_key_env: set one of api_key, api_key_env, api_keys, api_keys_env, not api_key and api_key_env"),
    ({"upstreams": [{"name": "u", "type": "openai", "base_url": "https://x", "headers": {"x-a": 1}}]},
     "config.json: upstreams[0].headers.x-a: not a valid string"),
    ({"upstreams": [{"name": "u", "type": "openai", "base_url": "https://x"},
                    {"name": "u", "type": "common", "base_url": "https://y"}]},
     "config.json: upstreams[1].name: duplicate upstream name 'u'"),
    ({"models": [{"id": "x", "upstream": "nowhere"}]}, "config.json: models[0].upstream: no upstream named 'nowhere'"),
    ({"upstreams": [{"name": "u", "type": "openai", "base_url": "https://x"}],
      "models": [{"id": "x", "type": "anthropic", "upstream": "u"}]},
     "config.json: models[0].type: is 'anthropic' but upstream 'u' has type 'openai'"),
])
def test_invalid_field_is_one_line_with_file_path_and_problem(config, expected):
    assert error_of(config) == expected


def test_socks_proxies_need_pysocks(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert error_of({"proxies": [{"url": "socks5://proxy:1080"}]}) == (
        "config.json: proxies[0].url: a SOCKS proxy needs PySocks: pip install 'requests[socks]'")


def test_several_problems_stay_on_one_line():
    message = error_of({"port": -1, "models": [{"id": "x", "type": "openai", "reasoning": "max"}]})
    assert message == f"config.json: port: must be a port number (1-65535); models[0].reasoning: {REASONING_CHOICES}"


def test_broken_json_names_line_and_column():
    assert error_of('{\n  "port": 3000,\n}') == (
        "config.json: line 3 column 1: Expecting property name enclosed in double quotes")
    assert error_of("[]") == "config.json: must hold a JSON object"


def test_unreadable_files_are_one_line_errors(tmp_path):
    with pytest.raises(ConfigError) as missing:
        load_settings({"DROID2API_CONFIG": str(tmp_path / "nope.json")})
    assert str(missing.value) == f"{tmp_path / 'nope.json'}: cannot read: No such file or directory"
    binary = tmp_path / "binary.json"
    binary.write_bytes(b'{"port": "\xff"}')
    with pytest.raises(ConfigError) as not_text:
        load_settings({"DROID2API_CONFIG": str(binary)})
    assert str(not_text.value) == f"{binary}: is not UTF-8 text"


def test_unknown_keys_warn_with_their_path(caplog):
    caplog.set_level(logging.WARNING, logger="droid2api")
    config = base_config(colour="blue")
    config["models"][1]["temperature"] = 0.2
    config["endpoint"][0]["api_key"] = "x"
    load(config)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["config.json: unknown key endpoint[0].api_key (ignored)",
                        "config.json: unknown key models[1].temperature (ignored)",
                        "config.json: unknown key colour (ignored)"]


def test_model_without_endpoint_of_its_type_warns(caplog):
    caplog.set_level(logging.WARNING, logger="droid2api")
    load(base_config(endpoint=[{"name": "openai", "base_url": "https://a.example/v1/responses"}],
                     models=[{"id": "x", "type": "anthropic"}]))
    assert [r.getMessage() for r in caplog.records] == [
        "config.json: model 'x' has type 'anthropic' but no endpoint of that name"]


# -- extensions: any model behind any base URL of any dialect, with its own credential ---------

def test_upstreams_put_models_behind_any_base_url_with_their_own_credential():
    settings = load(base_config(
        upstreams=[
            {"name": "claude", "type": "anthropic", "base_url": "https://anthropic.example",
             "api_key_env": "ANTHROPIC_KEY"},
            {"name": "local", "type": "common", "base_url": "http://127.0.0.1:8000/v1", "api_key": "sk-local",
             "auth_header": "api-key", "auth_prefix": "", "headers": {"x-team": "a"}},
            {"name": "gem", "type": "google", "base_url": "https://gemini.example/v1beta"},
            {"name": "oai", "type": "openai", "base_url": "https://oai.example/v1"},
        ],
        models=[{"id": "c", "upstream": "claude", "upstream_model": "claude-real"},
                {"id": "l", "upstream": "local", "reasoning": "high", "max_tokens": 1000},
                {"id": "g", "upstream": "gem"},
                {"id": "o", "type": "openai", "upstream": "oai"}]))
    claude, local = settings.upstreams["claude"], settings.upstreams["local"]
    assert (claude.api_key, claude.api_key_env, claude.factory) == (None, "ANTHROPIC_KEY", False)
    assert (local.api_key, local.auth_header, local.auth_prefix) == ("sk-local", "api-key", "")
    assert local.headers == {"x-team": "a"}
    assert [(m.id, m.type, m.provider, m.upstream, m.upstream_model) for m in settings.models] == [
        ("c", "anthropic", "anthropic", "claude", "claude-real"),
        ("l", "common", "fireworks", "local", None),
        ("g", "google", "google", "gem", None),
        ("o", "openai", "openai", "oai", None),
    ]


# -- the real startup path ----------------------------------------------------------------------

def run_command(args, tmp_path, config: str):
    path = tmp_path / "config.json"
    path.write_text(config)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DROID2API_", "PORT", "FACTORY_", "DROID_"))}
    # HOME without ~/.factory/auth.json: a started app must not try to refresh a real token.
    env.update(DROID2API_CONFIG=str(path), HOME=str(tmp_path), PYTHONPATH=str(REPO))
    return subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60), path


BAD_CONFIG = json.dumps({"models": [{"id": "a", "type": "anthropic"}, {"id": "b", "type": "anthropic"},
                                    {"id": "c", "type": "anthropic"}, {"id": "d", "type": "anthropic",
                                                                       "reasoning": "maximum"}]})
GUNICORN = [str(Path(sys.executable).parent / "gunicorn"), "-c", str(REPO / "gunicorn.conf.py"), "wsgi:app",
            "--check-config"]


@pytest.mark.parametrize("command", [[sys.executable, "-m", "droid2api.cli", "--check"], GUNICORN],
                         ids=["droid2api --check", "gunicorn --check-config"])
def test_invalid_config_stops_startup_with_one_line(tmp_path, command):
    done, path = run_command(command, tmp_path, BAD_CONFIG)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [f"droid2api: {path}: models[3].reasoning: {REASONING_CHOICES}"]


def test_check_accepts_the_node_config(tmp_path):
    done, path = run_command([sys.executable, "-m", "droid2api.cli", "--check"], tmp_path, NODE_CONFIG)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{path}: ok, 5 models"


def test_gunicorn_start_says_it_binds_loopback_without_access_keys(tmp_path):
    done, _ = run_command(GUNICORN, tmp_path, NODE_CONFIG)
    assert done.returncode == 0, done.stderr
    assert "no access key is configured, so the server listens on 127.0.0.1 only" in done.stderr


def test_bind_address_follows_access_keys(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.json").write_text(NODE_CONFIG)
    assert gunicorn_settings({"PORT": "3999"})["bind"] == ["127.0.0.1:3999"]
    assert "listens on 127.0.0.1 only" in capsys.readouterr().err
    assert gunicorn_settings({"DROID2API_ACCESS_KEYS": "k1"})["bind"] == ["0.0.0.0:3000"]
    assert capsys.readouterr().err == ""
    assert gunicorn_settings({"DROID2API_HOST": "10.0.0.5"})["bind"] == ["10.0.0.5:3000"]
    assert "listening on 10.0.0.5 without access keys" in capsys.readouterr().err


def test_worker_connections_come_from_the_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.json").write_text(NODE_CONFIG)
    assert gunicorn_settings({})["worker_connections"] == 1000
    (tmp_path / "config.json").write_text(json.dumps({**json.loads(NODE_CONFIG), "worker_connections": 2500}))
    assert gunicorn_settings({})["worker_connections"] == 2500
    with pytest.raises(ConfigError):
        load(base_config(worker_connections=0), {})
