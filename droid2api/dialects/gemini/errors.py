"""Gemini's error shape (google.rpc.Status): rendering gateway errors and reading upstream ones."""

from __future__ import annotations

from ...errors import GatewayError, from_upstream
from ...sse import encode_event
from ...wire import dumps, loads_or_none

RPC_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def error_body(error: GatewayError) -> dict:
    status = RPC_STATUS.get(error.status, "INVALID_ARGUMENT" if error.status < 500 else "INTERNAL")
    return {"error": {"code": error.status, "message": error.message, "status": status}}


def is_error_body(body) -> bool:
    """Whether ``body`` already is a google.rpc error (alone, or in the array streamGenerateContent uses)."""
    if isinstance(body, list) and len(body) == 1:
        body = body[0]
    return isinstance(body, dict) and isinstance(body.get("error"), dict)


def stream_error(error: GatewayError, last_data: str = "") -> bytes:
    return encode_event(dumps(error_body(error)))


def parse_error(status: int, raw: bytes, headers, upstream: str) -> GatewayError:
    body = loads_or_none(raw)
    if isinstance(body, list) and body and isinstance(body[0], dict):
        body = body[0]  # streamGenerateContent without alt=sse answers errors in a JSON array
    message = None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            message = error.get("message")
        message = message or body.get("message") or body.get("detail")
    return from_upstream(status, message if isinstance(message, str) else None, headers, upstream, raw)
