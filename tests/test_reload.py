"""The master's config across reloads (droid2api/reload.py) and the gunicorn settings built from it, without
gunicorn: a start takes a valid config or stops, a reload takes a valid one or keeps the previous one."""

from __future__ import annotations

import json
import os

import pytest

from droid2api import reload as reload_module
from droid2api.reload import ServedConfig, address, served_settings
from droid2api.server import gunicorn_settings

CONFIG = {"models": [{"id": "claude-a", "type": "anthropic"}, {"id": "gpt-a", "type": "openai"}]}
SCHEMA_ERROR = {"models": [{"id": "claude-a", "type": "anthropic"}, {"id": "x", "type": "bedrock"}]}


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "config.json"

    def write(config):
        path.write_text(config if isinstance(config, str) else json.dumps(config))
        return path

    write.path = path
    return write


def served(lines: list) -> ServedConfig:
    return ServedConfig(say=lines.append)


def test_a_start_takes_a_valid_config_quietly(config_file):
    lines = []
    config = served(lines)
    config_file(CONFIG)

    settings = config.take({"DROID2API_CONFIG": str(config_file.path), "PORT": "3100"})

    assert [m.id for m in settings.models] == ["claude-a", "gpt-a"]
    assert config.settings is settings and config.bind == ("127.0.0.1", 3100) and not config.refused
    assert lines == []


@pytest.mark.parametrize("text, reason", [("{", "line 1 column 2: Expecting property name enclosed in double quotes"),
                                          (json.dumps(SCHEMA_ERROR),
                                           "models[1].type: must be one of anthropic, openai, common, google")])
def test_a_start_with_an_invalid_config_stops_with_one_line(config_file, text, reason):
    lines = []
    config = served(lines)
    config_file(text)

    with pytest.raises(SystemExit) as stopped:
        config.take({"DROID2API_CONFIG": str(config_file.path)})

    assert stopped.value.code == 2
    assert lines == [f"droid2api: {config_file.path}: {reason}"]
    assert config.settings is None


def test_a_reload_takes_a_valid_config(config_file):
    lines = []
    config = served(lines)
    environ = {"DROID2API_CONFIG": str(config_file.path)}
    config_file(CONFIG)
    config.take(environ)
    config_file({"models": CONFIG["models"] + [{"id": "glm-a", "type": "common"}]})

    settings = config.take(environ)

    assert [m.id for m in settings.models] == ["claude-a", "gpt-a", "glm-a"]
    assert config.settings is settings and not config.refused
    assert lines == [f"droid2api: config reloaded: 3 models ({config_file.path})"]


@pytest.mark.parametrize("text, reason", [("{", "line 1 column 2: Expecting property name enclosed in double quotes"),
                                          (json.dumps(SCHEMA_ERROR),
                                           "models[1].type: must be one of anthropic, openai, common, google"),
                                          (None, "cannot read: No such file or directory")],
                         ids=["bad JSON", "schema error", "file gone"])
def test_a_reload_refuses_an_invalid_config_and_keeps_the_previous_one(config_file, text, reason):
    lines = []
    config = served(lines)
    environ = {"DROID2API_CONFIG": str(config_file.path)}
    config_file(CONFIG)
    previous = config.take(environ)
    if text is None:
        config_file.path.unlink()
    else:
        config_file(text)

    assert config.take(environ) is previous
    assert config.settings is previous and config.refused
    assert lines == [f"droid2api: reload refused, still serving the previous config: {config_file.path}: {reason}"]

    lines.clear()
    config_file(CONFIG)
    assert config.take(environ) is not previous and not config.refused  # a valid one is taken again
    assert lines == [f"droid2api: config reloaded: 2 models ({config_file.path})"]


def test_a_reload_refuses_whatever_else_goes_wrong_in_one_line(config_file, monkeypatch):
    lines = []
    config = served(lines)
    config_file(CONFIG)
    previous = config.take({"DROID2API_CONFIG": str(config_file.path)})

    def broken(environ):
        raise ValueError("a bug")

    monkeypatch.setattr(reload_module, "load_settings", broken)

    assert config.take({}) is previous and config.refused
    assert lines == ["droid2api: reload refused, still serving the previous config: unexpected ValueError: a bug"]


def test_a_reload_keeps_the_address_of_the_start_and_takes_the_workers(config_file, capsys):
    config = ServedConfig()
    config_file({**CONFIG, "port": 3100, "workers": 2})
    environ = {"DROID2API_CONFIG": str(config_file.path)}
    assert gunicorn_settings(environ, config)["bind"] == ["127.0.0.1:3100"]
    capsys.readouterr()
    config_file({**CONFIG, "port": 3200, "workers": 4, "access_keys": ["k1"]})  # would listen on 0.0.0.0:3200

    reloaded = gunicorn_settings(environ, config)

    assert (reloaded["bind"], reloaded["workers"]) == (["127.0.0.1:3100"], 4)
    assert capsys.readouterr().err.splitlines() == [
        "droid2api: still listening on 127.0.0.1:3100: the new address 0.0.0.0:3200 takes effect at the next restart",
        f"droid2api: config reloaded: 2 models ({config_file.path})"]


def test_a_refused_reload_keeps_the_generation_and_a_taken_one_starts_a_new_one(config_file, monkeypatch):
    config = ServedConfig(say=lambda line: None)
    environ = {"DROID2API_CONFIG": str(config_file.path)}
    config_file(CONFIG)
    gunicorn_settings(environ, config)
    monkeypatch.setenv("DROID2API_GENERATION", "first")

    config_file("{")
    on_reload = gunicorn_settings(environ, config)["on_reload"]
    on_reload(None)
    assert os.environ["DROID2API_GENERATION"] == "first"

    config_file(CONFIG)
    on_reload = gunicorn_settings(environ, config)["on_reload"]
    on_reload(None)
    assert os.environ["DROID2API_GENERATION"] != "first"


def test_an_ipv6_host_is_bracketed_for_gunicorn():
    assert address(("::1", 3000)) == "[::1]:3000"
    assert address(("0.0.0.0", 3000)) == "0.0.0.0:3000"


def test_workers_serve_what_the_master_took(config_file, monkeypatch):
    master = ServedConfig()
    monkeypatch.setattr(reload_module, "MASTER", master)
    assert served_settings() is None  # no master here: create_app reads the file itself
    config_file(CONFIG)

    settings = master.take({"DROID2API_CONFIG": str(config_file.path)})

    assert served_settings() is settings
