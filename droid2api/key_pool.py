"""Which credential an upstream call sends: the keys a route may use, in the pool's order.

``Credentials.keys`` lists them as ``Key`` objects for the router, which
picks one per attempt (routing/keys.py): an upstream's own keys (``api_key``,
``api_keys``, ``api_key_env``, ``api_keys_env``), else the server's Factory
credential (credentials.py: a fixed key or a pool of them, or a refreshing
WorkOS token), else the client's own key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .credentials import NO_CREDENTIAL, RefreshingToken, StaticKey, fingerprint, split_keys
from .errors import GatewayError


_MAX_SERVER_KEYS = 4096


@dataclass(frozen=True, slots=True)
class Key:
    """One credential an attempt may send. ``secret`` None: the refreshing Factory token, read when sending.

    ``pooled`` keys are the server's own: the router may park or rest them. A
    client's own key never is; its failures go back to that client.
    """

    secret: str | None
    fingerprint: str
    pooled: bool


class Credentials:
    """Answers "which Authorization goes upstream" for every request."""

    def __init__(self, factory, environ=os.environ):
        self.factory = factory
        self._environ = environ
        self._server_keys = {}  # secret -> its Key: the fingerprint is a hash, and every request lists them

    def keys(self, route, client_key: str | None) -> list:
        """The keys ``route`` may be called with, in the pool's order: the server's own, else the client's."""
        configured = self._configured_keys(route.config) if route.config is not None else []
        if configured:  # an upstream's own keys; a Factory-style upstream may have its own too
            return [self._server_key(k) for k in configured]
        if route.factory:
            if isinstance(self.factory, StaticKey):
                return [self._server_key(k) for k in self.factory.keys]
            if self.factory is not None:
                return [Key(None, self.factory.source, False)]
            if client_key:
                return [Key(client_key, fingerprint(client_key), False)]
            raise GatewayError(401, NO_CREDENTIAL)
        upstream = route.config
        if client_key:
            return [Key(client_key, fingerprint(client_key), False)]
        raise GatewayError(401, f"upstream {upstream.name!r} has no key: set api_key, api_keys, api_key_env or "
                                f"api_keys_env in its config, or send your own key as Authorization: Bearer")

    def _server_key(self, secret: str) -> Key:
        key = self._server_keys.get(secret)
        if key is None:
            if len(self._server_keys) >= _MAX_SERVER_KEYS:  # keys read from the environment may change
                self._server_keys.clear()
            key = self._server_keys[secret] = Key(secret, fingerprint(secret), True)
        return key

    def _configured_keys(self, upstream) -> list:
        if upstream.api_key:
            return [upstream.api_key]
        if upstream.api_keys:
            return list(upstream.api_keys)
        variable = upstream.api_key_env or upstream.api_keys_env
        if variable is None:
            return []
        text = self._environ.get(variable, "")
        keys = split_keys(text) if upstream.api_keys_env else [text.strip()] if text.strip() else []
        if not keys:
            raise GatewayError(401, f"upstream {upstream.name!r} takes its key from ${variable}, "
                                    f"which is not set on the server")
        return keys

    def secret(self, key: Key) -> str:
        """What goes in the Authorization of an attempt made with ``key``."""
        return key.secret if key.secret is not None else self.factory.token()

    def state(self) -> dict:
        if self.factory is None:
            return {"source": "client", "ready": True}
        return self.factory.state()

    def startup(self):
        """Refresh at start, as droid2api does; failures are logged, not fatal."""
        if isinstance(self.factory, RefreshingToken):
            self.factory.refresh(force=True)
