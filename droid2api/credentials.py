"""Where upstream credentials come from, and keeping Factory's WorkOS tokens fresh.

Factory upstreams take, in droid2api's order: ``FACTORY_API_KEY``; a WorkOS
refresh token from ``DROID_REFRESH_KEY`` or ``~/.factory/auth.json``; else the
client's own key. Refresh tokens rotate on every use, so each new one is
written back atomically (temp file + rename, mode 0600) and gunicorn workers
take turns under a file lock: one refreshes, the others re-read the file.
With ``redis_url`` the hosts share them through Redis instead, taking turns
under a Redis lock (token_storage.py holds both kinds of storage).

Other upstreams use the key their config names (inline or from an
environment variable), else the client's own. A configured source may hold
several keys (``api_keys``, ``api_keys_env``, a comma-separated
``FACTORY_API_KEY``); key_pool.py turns all this into the keys a route may
be called with, one of which each attempt sends. Secrets never
reach a log line; ``fingerprint`` gives the short, safe stand-in.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import threading
import time
from datetime import datetime, timezone

from filelock import Timeout

from .disconnect import shielded
from .errors import GatewayError
from .store import StoreError
from .token_storage import FileTokens, RedisTokens, timestamp

log = logging.getLogger(__name__)

WORKOS_URL = "https://api.workos.com/user_management/authenticate"
WORKOS_CLIENT_ID = "client_01HNM792M5G5G1A2THWPXKFMXB"
MAX_TOKEN_AGE = 6 * 3600
EXPIRY_MARGIN = 30 * 60
RETRY_AFTER_FAILURE = 60
STARTUP_GRACE = 60  # a token this young counts as "refreshed at start" for a sibling worker
SHARE_RETRY = 5  # seconds between tries to put a token Redis missed into it

NO_CREDENTIAL = ("no Factory credential: set FACTORY_API_KEY or DROID_REFRESH_KEY on the server, log in with "
                 "the droid CLI (~/.factory/auth.json), or send your own Factory key as Authorization: Bearer")


def fingerprint(secret: str | None) -> str:
    """A short, non-reversible stand-in for a secret, fit for logs."""
    if not secret:
        return "-"
    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()[:8]


def jwt_claims(token: str) -> dict:
    """The unverified claims of a JWT (the upstream verifies it); {} for anything else."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


def split_keys(text: str) -> list:
    """The keys of a comma-separated list, blanks dropped."""
    return [key.strip() for key in text.split(",") if key.strip()]


class StaticKey:
    """Fixed keys, such as FACTORY_API_KEY (comma-separated for a pool)."""

    def __init__(self, keys, source: str):
        self.keys = [keys] if isinstance(keys, str) else list(keys)
        self.source = source

    def token(self) -> str:
        return self.keys[0]

    def state(self) -> dict:
        return {"source": self.source, "ready": True, "fingerprints": [fingerprint(k) for k in self.keys]}


class RefreshingToken:
    """A WorkOS access token kept fresh with a rotating refresh token stored in ``path``.

    ``seed`` is the refresh token from the environment, if that is where it
    came from: the file then continues the rotation that seed started, and a
    new seed (the operator set a different DROID_REFRESH_KEY) starts over.
    ``post_form(url, data)`` sends the refresh request and returns
    ``(status, json_or_None)``; it is the upstream client's, so refreshes use
    the configured proxies too.

    With ``shared`` (token_storage.RedisTokens) the hosts take turns under a
    Redis lock: re-read (the newest of Redis and ``path``), refresh if still
    stale, write to Redis. ``path`` is written too: it keeps this host's droid
    CLI in step, and holds a rotated token Redis failed to take, which is
    also kept in memory and put into Redis once it answers (``share``).
    """

    def __init__(self, path: str, post_form, *, seed: str | None = None, source: str, clock=time.time,
                 workos_url: str = WORKOS_URL, shared=None):
        self.path = os.path.abspath(os.path.expanduser(path))
        self.source = source
        self._post_form = post_form
        self._clock = clock
        self._workos_url = workos_url
        self._seed = hashlib.sha256(seed.encode()).hexdigest() if seed else None
        self._lock = threading.Lock()  # gevent patches this into a greenlet lock
        self._file = FileTokens(self.path)
        self._shared = shared
        self._access = None
        self._refresh = seed
        self._obtained_at = 0.0
        self._retry_at = 0.0
        self._last_error = None
        self._share_at = None  # set while holding tokens Redis missed: when to try putting them there again
        try:
            self._catch_up(push=False)
        except StoreError as e:
            log.warning("credentials: %s; using %s until Redis answers", e, self.path)
            self._adopt_newest([self._file.read()])
            if self._access:  # Redis may lack it: look once Redis answers (share)
                self._share_at = self._clock()

    # -- public -------------------------------------------------------------

    def token(self) -> str:
        now = self._clock()
        if self._share_at is not None and now >= self._share_at:
            self.share()
        if self._stale(now) and now >= self._retry_at:
            self.refresh()
        if not self._access or self._expired(self._clock()):
            reason = f" (refresh failed: {self._last_error})" if self._last_error else ""
            raise GatewayError(401, f"the Factory access token from {self.source} is not usable{reason}; "
                                    f"set a fresh DROID_REFRESH_KEY or log in again with the droid CLI")
        return self._access

    def refresh(self, force: bool = False) -> bool:
        """Refresh unless another worker (or host) already did; True when a usable token is held after."""
        with self._lock:
            if not force and not self._stale(self._clock()):
                return True
            try:
                with self._turn():
                    self._catch_up()
                    now = self._clock()
                    if self._stale(now) or (force and now - self._obtained_at >= STARTUP_GRACE):
                        # WorkOS rotates the refresh token: a client leaving mid-call must not stop the
                        # new one being saved, or every worker is logged out.
                        with shielded():
                            self._call_workos()
            except (Timeout, OSError) as e:
                self._fail(f"cannot lock {self.path}.lock: {e}")
            except StoreError as e:
                self._fail(str(e))
            return bool(self._access) and not self._expired(self._clock())

    def share(self) -> bool:
        """Put tokens that Redis missed into it now (under the lock, unless a newer one is there); False while
        Redis still fails."""
        with self._lock:
            if self._share_at is None:
                return True
            try:
                with self._turn():
                    self._catch_up()
            except StoreError as e:
                self._share_at = self._clock() + SHARE_RETRY
                log.warning("credentials: the rotated Factory token is still not in Redis: %s", e)
                return False
            return True

    def state(self) -> dict:
        now = self._clock()
        claims = jwt_claims(self._access or "")
        state = {
            "source": self.source,
            "ready": bool(self._access) and not self._expired(now),
            "fingerprint": fingerprint(self._access),
            "expires_at": claims.get("exp"),
            "refreshed_at": int(self._obtained_at) or None,
            "last_error": self._last_error,
        }
        if self._shared is not None:
            state.update(shared_in=self._shared.where, shared=self._share_at is None)
        return state

    # -- internals ----------------------------------------------------------

    def _stale(self, now: float) -> bool:
        if not self._access:
            return True
        if now - self._obtained_at > MAX_TOKEN_AGE:
            return True
        exp = jwt_claims(self._access).get("exp")
        return isinstance(exp, (int, float)) and exp - now < EXPIRY_MARGIN

    def _expired(self, now: float) -> bool:
        exp = jwt_claims(self._access or "").get("exp")
        return isinstance(exp, (int, float)) and exp <= now

    def _turn(self):
        """The lock every process sharing the tokens takes before re-reading, refreshing and writing them."""
        return self._file.lock if self._shared is None else self._shared.locked()

    def _catch_up(self, push: bool = True):
        """Take the stored tokens if they are newer; with Redis, put ours there if they are the newer (``push``)."""
        if self._shared is None:
            self._adopt(self._file.read())
            return
        shared = self._shared.read()
        self._adopt_newest([shared, self._file.read()])
        if not push:
            return
        if self._access and self._newer_than(shared):
            self._shared.write(self._record())
            log.info("credentials: put Factory token %s into %s", fingerprint(self._access), self._shared.where)
        self._share_at = None  # Redis now holds ours, or a newer one we took

    def _continues(self, stored) -> bool:
        """Whether ``stored`` continues our rotation (not one left over from an older DROID_REFRESH_KEY)."""
        return bool(stored and stored.get("refresh_token")) and not (self._seed and stored.get("seed") != self._seed)

    def _newer_than(self, stored) -> bool:
        if not self._continues(stored):
            return True
        return stored["refresh_token"] != self._refresh and _stored_at(stored) < self._obtained_at

    def _adopt_newest(self, records: list):
        """Adopt the newest of ``records`` that continues our rotation, unless we hold a newer one."""
        usable = [r for r in records if self._continues(r)]
        if not usable:
            return
        newest = max(usable, key=_stored_at)
        if not self._access or _stored_at(newest) >= self._obtained_at:
            self._adopt(newest)

    def _adopt(self, stored: dict | None):
        """Take the stored tokens if they continue our rotation (another worker, or the droid CLI)."""
        if not self._continues(stored):
            return
        if stored["refresh_token"] == self._refresh and self._access:
            return
        self._refresh = stored["refresh_token"]
        self._access = stored.get("access_token")
        self._obtained_at = _stored_at(stored)

    def _call_workos(self):
        if not self._refresh:
            self._fail("no refresh token")
            return
        try:
            status, body = self._post_form(self._workos_url, {
                "grant_type": "refresh_token",
                "refresh_token": self._refresh,
                "client_id": WORKOS_CLIENT_ID,
            })
        except GatewayError as e:
            self._fail(e.message)
            return
        if status != 200 or not isinstance(body, dict) or not body.get("access_token"):
            detail = body.get("error") if isinstance(body, dict) else None
            self._fail(f"WorkOS answered {status}" + (f" ({detail})" if detail else ""))
            return
        self._access = body["access_token"]
        self._refresh = body.get("refresh_token") or self._refresh
        self._obtained_at = self._clock()
        self._retry_at = 0.0
        self._last_error = None
        self._save()
        log.info("credentials: refreshed Factory token from %s, now %s", self.source, fingerprint(self._access))

    def _save(self):
        """Write the rotated tokens: to Redis (if shared) and to ``path``; a failure is logged, never raised."""
        record = self._record()
        shared = False
        if self._shared is not None:
            try:
                self._shared.write(record)
                shared, self._share_at = True, None
            except StoreError as e:
                self._share_at = self._clock() + SHARE_RETRY
                log.error("credentials: cannot save the rotated refresh token to Redis: %s; it is kept in memory "
                          "and in %s, and goes to Redis as soon as Redis answers", e, self.path)
        try:
            self._file.write(record)
        except OSError as e:
            if shared:
                log.warning("credentials: cannot write this host's copy of the rotated token to %s: %s "
                            "(Redis holds it)", self.path, e)
            else:
                # The new tokens work in this process, but the file still holds the spent refresh token.
                log.error("credentials: cannot save the rotated refresh token to %s: %s; other workers and the "
                          "next start will need a fresh refresh token", self.path, e)

    def _record(self) -> dict:
        record = {"access_token": self._access, "refresh_token": self._refresh,
                  "last_updated": datetime.fromtimestamp(self._obtained_at, timezone.utc).isoformat()}
        if self._seed:
            record["seed"] = self._seed
        return record

    def _fail(self, reason: str):
        self._last_error = reason
        self._retry_at = self._clock() + RETRY_AFTER_FAILURE
        usable = "keeping the current token" if self._access and not self._expired(self._clock()) else "no usable token"
        log.warning("credentials: Factory token refresh failed: %s; %s", reason, usable)


def _stored_at(stored: dict) -> float:
    """When a stored record's tokens were obtained: its ``last_updated``, else its access token's ``iat``."""
    at = timestamp(stored.get("last_updated"))
    if not at and stored.get("access_token"):
        at = float(jwt_claims(stored["access_token"]).get("iat") or 0)
    return at


def factory_credential(environ, auth_file: str, post_form, redis_url: str | None = None):
    """The server's own Factory credential in droid2api's order, or None (clients bring their own).

    With ``redis_url`` (else DROID2API_REDIS_URL) a refreshing token is shared
    through Redis. DROID2API_WORKOS_URL replaces WorkOS's URL: for tests, and
    for an egress proxy that reaches WorkOS under another address.
    """
    if split_keys(environ.get("FACTORY_API_KEY", "")):
        return StaticKey(split_keys(environ["FACTORY_API_KEY"]), "FACTORY_API_KEY")
    options = {"workos_url": environ.get("DROID2API_WORKOS_URL", "").strip() or WORKOS_URL}
    redis_url = redis_url or environ.get("DROID2API_REDIS_URL", "").strip()
    if redis_url:
        options["shared"] = RedisTokens(redis_url)  # connects on first use
    if environ.get("DROID_REFRESH_KEY", "").strip():
        return RefreshingToken(auth_file, post_form, seed=environ["DROID_REFRESH_KEY"].strip(),
                               source="DROID_REFRESH_KEY", **options)
    home = environ.get("HOME") or os.path.expanduser("~")
    home_file = os.path.join(home, ".factory", "auth.json")
    if os.path.exists(home_file):
        return RefreshingToken(home_file, post_form, source="~/.factory/auth.json", **options)
    return None
