"""The headers each upstream call carries.

Factory upstreams get the headers the droid CLI (and the Node droid2api)
sends: client identity, session ids, the Stainless SDK fingerprint and a
managed ``anthropic-beta`` for Anthropic. Any other upstream gets clean
standard headers: its own auth header, content type, Anthropic's version and
betas, and the extra headers its config lists. Nothing from the client is
copied blindly, so the gateway's own access key can never leak upstream.
"""

from __future__ import annotations

import re
import uuid

from . import __version__
from .credentials import jwt_claims
from .ir import Dialect
from .policy import Route
from .reasoning import FORCED_LEVELS

INTERLEAVED_THINKING = "interleaved-thinking-2025-05-14"
FINE_GRAINED_TOOL_STREAMING = "fine-grained-tool-streaming-2025-05-14"
FAST_MODE = "fast-mode-2026-02-01"
ANTHROPIC_VERSION = "2023-06-01"

STAINLESS_DEFAULTS = {
    "x-stainless-arch": "x64",
    "x-stainless-lang": "js",
    "x-stainless-os": "MacOS",
    "x-stainless-runtime": "node",
    "x-stainless-retry-count": "0",
    "x-stainless-package-version": "0.70.1",
    "x-stainless-runtime-version": "v24.3.0",
    "x-stainless-timeout": "600",
}

FACTORY_CREDENTIAL_HEADERS = frozenset({"authorization", "x-api-key"})

# Defaults for a non-Factory upstream's auth header, by dialect: (header, prefix).
AUTH_DEFAULTS = {
    Dialect.ANTHROPIC: ("x-api-key", ""),
    Dialect.GEMINI: ("x-goog-api-key", ""),
    Dialect.RESPONSES: ("Authorization", "Bearer "),
    Dialect.CHAT: ("Authorization", "Bearer "),
}


def anthropic_beta(client_value: str | None, level: str, *, factory: bool, fast: bool) -> str | None:
    """The anthropic-beta list: the client's, plus or minus what the reasoning level implies."""
    betas = [FINE_GRAINED_TOOL_STREAMING] if factory else []
    for value in (client_value or "").split(","):
        value = value.strip()
        if value and value not in betas:
            betas.append(value)
    if level in FORCED_LEVELS and INTERLEAVED_THINKING not in betas:
        betas.append(INTERLEAVED_THINKING)
    elif level == "off":
        betas = [b for b in betas if b != INTERLEAVED_THINKING]
    if fast and FAST_MODE not in betas:
        betas.append(FAST_MODE)
    return ", ".join(betas) or None


def client_version(user_agent: str) -> str:
    match = re.search(r"/(\d+\.\d+\.\d+)", user_agent)
    return match.group(1) if match else "0.84.0"


def factory_headers(route: Route, token: str, client_headers, user_agent: str, stream: bool) -> dict:
    headers = {
        "accept": "*/*" if route.dialect == Dialect.GEMINI else "application/json",
        "content-type": "application/json",
        "authorization": f"Bearer {token}",
        "user-agent": user_agent,
        "x-client-version": client_version(user_agent),
        "x-factory-client": "cli",
        "x-api-provider": route.model.provider,
        "x-provider-routing-source": "registry_default",
        "x-session-id": client_headers.get("x-session-id") or str(uuid.uuid4()),
        "x-assistant-message-id": client_headers.get("x-assistant-message-id") or str(uuid.uuid4()),
    }
    org = jwt_claims(token).get("external_org_id")
    if isinstance(org, str) and org:
        headers["x-factory-org-id"] = org
    if route.dialect == Dialect.ANTHROPIC:
        headers["anthropic-version"] = client_headers.get("anthropic-version") or ANTHROPIC_VERSION
        headers["x-api-key"] = "placeholder"
        for name, default in STAINLESS_DEFAULTS.items():
            headers[name] = client_headers.get(name) or default
        if stream:
            headers["x-stainless-helper-method"] = "stream"  # what the SDK's .stream() helper sends
        beta = anthropic_beta(client_headers.get("anthropic-beta"), route.model.reasoning,
                              factory=True, fast=route.model.fast)
        if beta:
            headers["anthropic-beta"] = beta
    return headers


def _auth_header(config, dialect: str) -> tuple:
    """(header name, value prefix) an upstream's key travels in."""
    default_header, default_prefix = AUTH_DEFAULTS[dialect]
    header = config.auth_header or default_header
    prefix = config.auth_prefix if config.auth_prefix is not None else default_prefix
    return header.lower(), prefix


def credential_headers(route: Route) -> frozenset:
    """Names of the headers whose values the logs must never show for this route.

    The upstream's own auth header, whatever its name (``api-key`` for Azure),
    and every header the operator configured: the gateway cannot tell a
    secret there (``X-Portkey-Api-Key``) from a harmless one, so none is shown.
    """
    if route.factory or route.config is None:
        return FACTORY_CREDENTIAL_HEADERS
    header, _ = _auth_header(route.config, route.dialect)
    return frozenset([header, *(name.lower() for name in route.config.headers)])


def standard_headers(route: Route, key: str, client_headers, stream: bool) -> dict:
    config = route.config
    header, prefix = _auth_header(config, route.dialect)
    headers = {
        "accept": "text/event-stream" if stream else "application/json",
        "content-type": "application/json",
        "user-agent": f"droid2api/{__version__}",
        header: prefix + key,
    }
    if route.dialect == Dialect.ANTHROPIC:
        headers["anthropic-version"] = client_headers.get("anthropic-version") or ANTHROPIC_VERSION
        beta = anthropic_beta(client_headers.get("anthropic-beta"), route.model.reasoning,
                              factory=False, fast=route.model.fast)
        if beta:
            headers["anthropic-beta"] = beta
    for name, value in config.headers.items():
        headers[name.lower()] = value
    return headers
