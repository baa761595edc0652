"""Anthropic's error shape: rendering gateway errors and reading upstream ones."""

from __future__ import annotations

from ...errors import GatewayError, anthropic_type, from_upstream
from ...sse import encode_event
from ...wire import dumps, loads_or_none


def error_body(error: GatewayError) -> dict:
    return {"type": "error", "error": {"type": anthropic_type(error.status), "message": error.message}}


def is_error_body(body) -> bool:
    """Whether ``body`` already is an Anthropic error, as Anthropic's SDKs read one."""
    return isinstance(body, dict) and body.get("type") == "error" and isinstance(body.get("error"), dict)


def stream_error(error: GatewayError, last_data: str = "") -> bytes:
    return encode_event(dumps(error_body(error)), "error")


def parse_error(status: int, raw: bytes, headers, upstream: str) -> GatewayError:
    body = loads_or_none(raw)
    message = None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            message = error.get("message")
        elif isinstance(error, str):
            message = error
        message = message or body.get("message") or body.get("detail")
    return from_upstream(status, message if isinstance(message, str) else None, headers, upstream, raw)
