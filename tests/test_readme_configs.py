"""Every config example in the README loads, and the routing example does what the README says it does."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from droid2api.key_pool import Credentials
from droid2api.policy import Policy
from droid2api.routing import Router
from droid2api.store import MemoryStore

from .helpers import settings_for

README = Path(__file__).resolve().parents[1] / "README.md"


def config_examples() -> list:
    blocks = re.findall(r"```json\n(.*?)```", README.read_text(), re.S)
    return [json.loads(block) for block in blocks if '"models"' in block or '"upstreams"' in block]


@pytest.mark.parametrize("example", config_examples(), ids=lambda e: ",".join(m["id"] for m in e["models"])[:40])
def test_every_readme_config_example_is_valid(example):
    settings_for(example, {"ANTHROPIC_API_KEYS": "a", "OPENAI_API_KEY": "o", "GEMINI_API_KEY": "g"})


def test_the_fallback_example_routes_as_the_readme_says():
    example = next(e for e in config_examples() if "fallbacks" in e)
    environ = {"ANTHROPIC_API_KEYS": "sk-ant-1,sk-ant-2", "GEMINI_API_KEY": "g"}
    settings = settings_for(example, environ)
    router = Router(settings, Policy(settings), Credentials(None, environ), MemoryStore(), environ={})
    assert [r.model.id for r in router.candidates("claude-sonnet-4-5")] == \
        ["claude-sonnet-4-5", "gpt-5", "gemini-2.5-pro"]
    assert [r.model.id for r in router.candidates("gpt-5")] == ["gpt-5", "claude-sonnet-4-5"]
    sonnet = router.candidates("claude-sonnet-4-5")[0]
    assert [k.secret for k in router.credentials.keys(sonnet, None)] == ["sk-ant-1", "sk-ant-2"]
    assert sonnet.timeouts.first_byte == 60 and sonnet.timeouts.idle == settings.idle_timeout
    firsts = {router.candidates("auto")[0].model.id for _ in range(6)}
    assert firsts == {"claude-sonnet-4-5", "gpt-5", "gemini-2.5-pro"}  # never Haiku
