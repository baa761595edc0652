"""Circuit breakers, key states and conversation affinity over a store: the state routing keeps between requests."""

from __future__ import annotations

from email.utils import format_datetime
from datetime import datetime, timezone

import pytest

from droid2api.credentials import fingerprint
from droid2api.key_pool import Key
from droid2api.routing.affinity import Affinity, conversation_key
from droid2api.routing.breaker import Breakers
from droid2api.routing.keys import KeyStates, retry_after
from droid2api.store import MemoryStore, StoreError

from .test_store import Clock


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def store(clock):
    return MemoryStore(clock=clock)


def key(secret: str, pooled: bool = True) -> Key:
    return Key(secret, fingerprint(secret), pooled)


# -- circuit breakers --------------------------------------------------------------------------------------------


def test_breaker_opens_after_consecutive_failures_and_a_success_resets_the_count(store, clock):
    breakers = Breakers(store, failures=3, cooldown=30, max_cooldown=600, clock=clock)
    for _ in range(2):
        breakers.failed("up/m", breakers.admit("up/m"), "500")
    breakers.succeeded("up/m", breakers.admit("up/m"))  # consecutive: a success in between starts over
    for _ in range(2):
        breakers.failed("up/m", breakers.admit("up/m"), "500")
    assert breakers.admit("up/m").allowed
    breakers.failed("up/m", breakers.admit("up/m"), "answered 503")
    closed_for = breakers.admit("up/m")
    assert not closed_for.allowed and closed_for.until == clock.now + 30 and "503" in closed_for.reason
    assert breakers.state("up/m")["state"] == "open"
    assert breakers.admit("up/other").allowed  # per route


def test_one_probe_after_the_cooldown_closes_or_reopens_for_longer(store, clock):
    breakers = Breakers(store, failures=1, cooldown=10, max_cooldown=25, clock=clock)
    breakers.failed("r", breakers.admit("r"), "down")
    clock.now += 10
    assert breakers.state("r")["state"] == "half_open"
    probe = breakers.admit("r")
    assert probe.allowed and probe.probe
    assert not breakers.admit("r").allowed  # only one probe at a time, whichever worker asks
    breakers.failed("r", probe, "still down")
    assert breakers.admit("r").until == clock.now + 20  # the second trip in a row: twice as long
    clock.now += 20
    probe = breakers.admit("r")
    breakers.failed("r", probe, "still down")
    assert breakers.admit("r").until == clock.now + 25  # capped at max_cooldown
    clock.now += 25
    probe = breakers.admit("r")
    breakers.succeeded("r", probe)
    assert breakers.state("r") == {"state": "closed", "consecutive_failures": 0}
    assert breakers.admit("r").allowed and not breakers.admit("r").probe


def test_a_probe_that_never_reports_lets_another_request_probe(store, clock):
    breakers = Breakers(store, failures=1, cooldown=10, max_cooldown=600, clock=clock)
    breakers.failed("r", breakers.admit("r"), "down")
    clock.now += 10
    assert breakers.admit("r").probe
    clock.now += 61  # past the probe window
    assert breakers.admit("r").probe


class BrokenStore(MemoryStore):
    def get_many(self, namespace, keys):
        raise StoreError("disk on fire")

    def increment(self, *args, **kwargs):
        raise StoreError("disk on fire")

    def put(self, *args, **kwargs):
        raise StoreError("disk on fire")


def test_a_failing_store_degrades_to_trying_every_route_and_key():
    breakers = Breakers(BrokenStore(), failures=1, cooldown=10, max_cooldown=600)
    breakers.failed("r", breakers.admit("r"), "down")  # logged, not raised
    assert breakers.admit("r").allowed
    keys = KeyStates(BrokenStore(), "g1", 30)
    pool = [key("a"), key("b")]
    assert keys.usable("up", "m", pool)[0] == pool


# -- key pools ---------------------------------------------------------------------------------------------------


def test_keys_are_used_in_turn_and_the_conversations_key_first(store, clock):
    states = KeyStates(store, "g1", 30, clock=clock)
    pool = [key("a"), key("b"), key("c")]
    firsts = [states.usable("up", "m", pool)[0][0].secret for _ in range(6)]
    assert firsts == ["b", "c", "a", "b", "c", "a"]
    ordered, _, _ = states.usable("up", "m", pool, first=fingerprint("c"))
    assert ordered[0].secret == "c" and sorted(k.secret for k in ordered) == ["a", "b", "c"]


def test_a_401_parks_the_key_for_every_model_until_the_next_generation(store, clock):
    states = KeyStates(store, "g1", 30, clock=clock)
    pool = [key("sk-live-a"), key("sk-live-b")]
    states.park("up", "m", pool[0], 401, "invalid x-api-key")
    for model in ("m", "other"):
        usable, skipped, _ = states.usable("up", model, pool)
        assert [k.secret for k in usable] == ["sk-live-b"]
        assert "parked after a 401: invalid x-api-key" in skipped[0][1] and "sk-live-a" not in skipped[0][1]
    assert [k.secret for k in states.usable("other-upstream", "m", pool)[0]] != ["sk-live-b"]  # per upstream
    assert states.states("up", pool)[0]["parked"] == {"status": 401, "reason": "invalid x-api-key"}
    other_host = KeyStates(store, "g1", 30, clock=clock)  # a process of the same generation (another worker)
    assert [k.secret for k in other_host.usable("up", "m", pool)[0]] == ["sk-live-b"]
    reloaded = KeyStates(store, "g2", 30, clock=clock)  # a reload, on this host or any sharing the store
    assert len(reloaded.usable("up", "m", pool)[0]) == 2
    assert len(states.usable("up", "m", pool)[0]) == 2 and states.states("up", pool)[0]["parked"] is None
    late = KeyStates(store, "g1", 30, clock=clock)  # a worker of the old generation respawned after it
    late.park("up", "m", pool[1], 401, "invalid")
    assert [k.secret for k in reloaded.usable("up", "m", pool)[0]] == ["sk-live-a"]  # parked in the newest


def test_a_403_parks_the_key_for_that_model_only(store, clock):
    states = KeyStates(store, "g1", 30, clock=clock)
    pool = [key("a")]
    states.park("up", "opus", pool[0], 403, "not allowed")
    assert states.usable("up", "opus", pool)[0] == []
    assert states.usable("up", "sonnet", pool)[0] == pool
    assert states.states("up", pool)[0]["parked_for_models"] == {"opus": "not allowed"}


def test_a_429_rests_the_key_for_that_model_as_long_as_asked(store, clock):
    states = KeyStates(store, "g1", 30, clock=clock)
    pool = [key("a"), key("b")]
    assert states.rest("up", "m", pool[0], {"retry-after": "7"}, "slow down") == 7
    usable, skipped, back_at = states.usable("up", "m", pool)
    assert [k.secret for k in usable] == ["b"] and back_at == clock.now + 7 and "resting 7s" in skipped[0][1] and skipped[0][0] == 429
    assert len(states.usable("up", "other-model", pool)[0]) == 2
    assert states.rest("up", "m", pool[1], {}, "slow down") == 30  # no Retry-After: rate_limit_rest
    clock.now += 7
    assert [k.secret for k in states.usable("up", "m", pool)[0]] == ["a"]


def test_a_clients_own_key_is_never_parked_or_rested(store, clock):
    states = KeyStates(store, "g1", 30, clock=clock)
    own = [key("client", pooled=False)]
    assert states.usable("up", "m", own) == (own, [], None)


@pytest.mark.parametrize("headers, seconds", [
    ({"retry-after": "12"}, 12),
    ({"retry-after-ms": "1500"}, 1.5),
    ({"retry-after": "0"}, None),
    ({"retry-after": "soon"}, None),
    ({"retry-after": "99999"}, 3600),
    ({}, None),
])
def test_retry_after_reads_seconds_milliseconds_and_bounds_them(headers, seconds):
    assert retry_after(headers) == seconds


def test_retry_after_reads_an_http_date():
    later = datetime.fromtimestamp(datetime.now(timezone.utc).timestamp() + 60, timezone.utc)
    assert 55 <= retry_after({"retry-after": format_datetime(later, usegmt=True)}) <= 60


# -- affinity ----------------------------------------------------------------------------------------------------


def test_a_conversation_is_recognised_by_its_markers_and_else_by_its_opening():
    claude = conversation_key({"x-claude-code-session-id": "s1"}, {"messages": [{"role": "user", "content": "x"}]})
    assert claude == conversation_key({"x-claude-code-session-id": "s1"}, {"messages": []})
    assert conversation_key({}, {"prompt_cache_key": "p"}) != conversation_key({}, {"prompt_cache_key": "q"})
    assert conversation_key({}, {"metadata": {"user_id": "u_session_1"}}) is not None
    first = {"role": "user", "content": "hello"}
    turn1 = {"system": "be brief", "messages": [first]}
    turn2 = {"system": "be brief", "messages": [first, {"role": "assistant", "content": "hi"},
                                                {"role": "user", "content": "more"}]}
    assert conversation_key({}, turn1) == conversation_key({}, turn2)
    assert conversation_key({}, turn1) != conversation_key({}, {"system": "be brief", "messages": [
        {"role": "user", "content": "another"}]})
    assert conversation_key({}, {"input": "hi"}) == conversation_key({}, {"input": "hi", "model": "x"})
    assert conversation_key({}, {"contents": [{"role": "user", "parts": [{"text": "a"}]}]}) is not None
    assert conversation_key({}, {"model": "x"}) is None
    assert "s1" not in claude  # a hash, not the session id itself


def test_affinity_remembers_the_route_and_key_and_writes_only_on_change(store, clock):
    affinity = Affinity(store, clock=clock)
    assert affinity.recall(None) == {} and affinity.recall("c1") == {}
    affinity.remember("c1", {}, "m1", "sha256:k")
    recalled = affinity.recall("c1")
    assert (recalled["model"], recalled["key"]) == ("m1", "sha256:k")
    store.put = None  # unchanged and fresh: no write at all
    affinity.remember("c1", recalled, "m1", "sha256:k")
