"""Who may use the gateway, and which of a client's credentials are its own upstream keys.

When access keys are configured, every endpoint but /health requires one, in
any of the places the four dialects' SDKs put a key. A key the client sends
that is *not* one of the gateway's access keys is the client's own upstream
credential; an access key is never treated as one, so it never travels on.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from urllib.parse import urlencode

from .errors import GatewayError
from .record import ENV_RECORD

KEY_HEADERS = ("x-api-key", "x-goog-api-key")
ENV_CLIENT = "droid2api.client"  # the config.ClientKey a request authenticated with (None: no access keys)
ENV_BODY = "droid2api.body"  # the request body's bytes as the client sent them (blueprints.read_body)


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
    """The configured client keys (config.ClientKey: a name and the key's SHA-256, never the key itself)."""

    def __init__(self, access_keys: list):
        self._keys = list(access_keys)

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def match(self, value: str):
        """The ClientKey ``value`` is, or None."""
        if not self._keys:
            return None
        digest = hashlib.sha256(value.encode()).hexdigest().encode()
        found = None
        for key in self._keys:  # every key compared, none skipped, so timing reveals nothing
            if hmac.compare_digest(digest, key.sha256.encode()):
                found = key
        return found

    def is_access_key(self, value: str) -> bool:
        return self.match(value) is not None

    def check(self, keys: list):
        """The ClientKey among ``keys`` (None when no access keys are configured); 401 when there is none."""
        if not self._keys:
            return None
        matched = [self.match(k) for k in keys]
        found = next((key for key in matched if key is not None), None)
        if found is None:
            raise GatewayError(401, "missing or invalid access key: send one of the gateway's access keys as "
                                    "Authorization: Bearer, x-api-key, x-goog-api-key or ?key=")
        return found


def lowercase_headers(environ) -> dict:
    """The request's headers by lower-case name, read straight from the WSGI environ (as werkzeug's
    EnvironHeaders reads them, at a fraction of the cost of iterating one)."""
    headers = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            if key not in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                headers[key[5:].replace("_", "-").lower()] = value
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            headers[key.replace("_", "-").lower()] = value
    return headers


@dataclass(slots=True)
class Incoming:
    """What the upstream side needs to know about the client's request, detached from Flask."""

    headers: dict  # lower-case names
    client_key: str | None  # the client's own upstream credential, if it sent one
    query: str  # the query string without ``key``
    record: object = None  # the request's record.RequestRecord, told the tokens the upstream reports
    body: bytes | None = None  # the body as sent: relayed as it is when no policy changes it

    def add_usage(self, usage):
        if self.record is not None:
            self.record.add_usage(usage)

    @classmethod
    def from_request(cls, request, guard: AccessGuard) -> "Incoming":
        headers = lowercase_headers(request.environ)
        args = request.args if request.environ.get("QUERY_STRING") else {}  # parsing even "" costs ~20 µs
        endpoint_auth = headers.get("x-endpoint-authorization", "").strip()  # the Node droid2api's client-auth header
        if endpoint_auth:
            candidates = [endpoint_auth.partition(" ")[2].strip() or endpoint_auth]
        else:
            candidates = presented_keys(headers, args)
        # An access key belongs to the gateway, wherever the client put it: it never goes upstream.
        client_key = next((key for key in candidates if not guard.is_access_key(key)), None)
        query = urlencode([(k, v) for k, v in args.items(multi=True) if k != "key"]) if args else ""
        return cls(headers, client_key, query, request.environ.get(ENV_RECORD), request.environ.get(ENV_BODY))
