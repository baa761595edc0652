"""Who may use the gateway, and which of a client's credentials are its own upstream keys.

When access keys are configured, every endpoint but /health requires one, in
any of the places the four dialects' SDKs put a key. A key the client sends
that is *not* one of the gateway's access keys is the client's own upstream
credential; an access key is never treated as one, so it never travels on.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from urllib.parse import urlencode

from .errors import GatewayError

KEY_HEADERS = ("x-api-key", "x-goog-api-key")


def presented_keys(headers, args) -> list:
    """Every key-like value the request carries, in order of precedence."""
    keys = []
    authorization = headers.get("authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        keys.append(value.strip())
    for name in KEY_HEADERS:
        value = headers.get(name, "").strip()
        if value:
            keys.append(value)
    value = args.get("key", "").strip()
    if value:
        keys.append(value)
    return keys


class AccessGuard:
    def __init__(self, access_keys: list):
        self._keys = [k.encode() for k in access_keys]

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def is_access_key(self, value: str) -> bool:
        candidate = value.encode()
        # Compare against every key, without stopping early, so timing reveals nothing.
        matches = [hmac.compare_digest(candidate, key) for key in self._keys]
        return any(matches)

    def check(self, keys: list):
        if not self._keys:
            return
        if not any([self.is_access_key(k) for k in keys]):
            raise GatewayError(401, "missing or invalid access key: send one of the gateway's access keys as "
                                    "Authorization: Bearer, x-api-key, x-goog-api-key or ?key=")


@dataclass(slots=True)
class Incoming:
    """What the upstream side needs to know about the client's request, detached from Flask."""

    headers: dict  # lower-case names
    client_key: str | None  # the client's own upstream credential, if it sent one
    query: str  # the query string without ``key``

    @classmethod
    def from_request(cls, request, guard: AccessGuard) -> "Incoming":
        headers = {name.lower(): value for name, value in request.headers.items()}
        endpoint_auth = headers.get("x-endpoint-authorization", "").strip()  # the Node droid2api's client-auth header
        if endpoint_auth:
            candidates = [endpoint_auth.partition(" ")[2].strip() or endpoint_auth]
        else:
            candidates = presented_keys(headers, request.args)
        # An access key belongs to the gateway, wherever the client put it: it never goes upstream.
        client_key = next((key for key in candidates if not guard.is_access_key(key)), None)
        query = urlencode([(k, v) for k, v in request.args.items(multi=True) if k != "key"])
        return cls(headers, client_key, query)
