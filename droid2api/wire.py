"""JSON on the wire: compact encoding and strict parsing of request bodies."""

from __future__ import annotations

import json

from .errors import GatewayError

_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def dumps(obj) -> str:
    return _encoder.encode(obj)


def dump_bytes(obj) -> bytes:
    return _encoder.encode(obj).encode()


def parse_object(raw: bytes, what: str = "request body") -> dict:
    """Parse a JSON object; anything else is a 400 that says what was wrong and where."""
    if not raw:
        raise GatewayError(400, f"the {what} is empty; send a JSON object")
    try:
        data = json.loads(raw)
    except UnicodeDecodeError:
        raise GatewayError(400, f"the {what} is not UTF-8 text") from None
    except json.JSONDecodeError as e:
        raise GatewayError(400, f"the {what} is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    if not isinstance(data, dict):
        raise GatewayError(400, f"the {what} must be a JSON object, not {type(data).__name__}")
    return data


def loads_or_none(raw):
    """Parse JSON if possible (error bodies, stream payloads); None when it is not JSON."""
    try:
        return json.loads(raw)
    except (ValueError, TypeError):
        return None
