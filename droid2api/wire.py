"""JSON on the wire: compact encoding (orjson, the json module where orjson will not) and strict parsing.

Parsed JSON may hold lone UTF-16 surrogates: ``"\\ud83d"`` is valid JSON (Claude
Code sends one when it cuts an emoji in half) but has no UTF-8 encoding. The
encoders here write such a string back as the same ``\\uXXXX`` escape instead
of failing, so the text reaches the other side exactly as the client sent it.
"""

from __future__ import annotations

import json
import math

import orjson

from .errors import GatewayError

# Everything orjson will not write goes through these: lone surrogates, integers past 64 bits, keys
# that are not strings. The first keeps other text as it is; the second escapes everything outside
# ASCII, lone surrogates included.
_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_escaping_encoder = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"))


def dumps(obj) -> str:
    """Compact JSON text that is always encodable as UTF-8."""
    try:
        return orjson.dumps(obj).decode()
    except TypeError:  # orjson.JSONEncodeError: see above
        pass
    text = _encoder.encode(obj)
    if text.isascii():  # O(1) in CPython
        return text
    try:
        text.encode()
    except UnicodeEncodeError:
        return _escaping_encoder.encode(obj)
    return text


def dump_bytes(obj) -> bytes:
    """Compact JSON bytes, as UTF-8, for an upstream.

    orjson writes them ten to twenty times faster than the json module (a
    117 KB Claude Code body: about 40 µs instead of 0.4-0.9 ms); what it will
    not write, the json module writes with everything outside ASCII as its
    ``\\uXXXX`` escape, which is the same JSON to any parser, lone surrogates
    included.
    """
    try:
        return orjson.dumps(obj)
    except TypeError:
        return _escaping_encoder.encode(obj).encode("ascii")


def parse_object(raw: bytes, what: str = "request body") -> dict:
    """Parse a JSON object; anything else is a 400 that says what was wrong and where."""
    if not raw:
        raise GatewayError(400, f"the {what} is empty; send a JSON object")
    try:
        if isinstance(raw, (bytes, bytearray)):  # as json.loads reads bytes, with the decoder made once
            data = _strict_decoder.decode(raw.decode(json.detect_encoding(raw), "surrogatepass"))
        else:
            data = json.loads(raw, parse_float=_finite_float, parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise GatewayError(400, f"the {what} is not UTF-8 text") from None
    except json.JSONDecodeError as e:
        raise GatewayError(400, f"the {what} is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    except RecursionError:
        raise too_deep(what) from None
    except ValueError as e:  # a number Python will not hold: see the two hooks below, and int's digit limit
        raise GatewayError(400, f"the {what} holds a number that cannot be used: {e}") from None
    if not isinstance(data, dict):
        raise GatewayError(400, f"the {what} must be a JSON object, not {type(data).__name__}")
    return data


def _finite_float(text: str) -> float:
    # 1e400 parses as infinity, which would go back out as the non-JSON word Infinity.
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"{text[:40]} is out of range")
    return value


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")  # NaN, Infinity: Python's extension, not JSON


_strict_decoder = json.JSONDecoder(parse_float=_finite_float, parse_constant=_no_constant)


def relayable_as_sent(raw: bytes, parsed: dict, policied: dict) -> bool:
    """Whether a relayed body may go upstream as the client's own bytes ``raw``: the policies left every
    top-level field as parsed, and the bytes are UTF-8, as every upstream reads them.

    The policies never change a nested value in place (the client's body stays as sent for the next route
    to try), so a field they changed is a new object: identity says enough, and costs nothing on a large
    body. The model is the exception, written back as the route's string: compared by value. ``json.loads``
    also reads UTF-16 and UTF-32 and skips a byte-order mark; such bytes are written out again instead.
    """
    if len(parsed) != len(policied) or raw[:1] in (b"\x00", b"\xef", b"\xfe", b"\xff") or raw[1:2] == b"\x00":
        return False
    for name, value in policied.items():
        sent = parsed.get(name, _ABSENT)
        if sent is not value and not (type(value) is str and sent == value):
            return False
    return True


_ABSENT = object()


def loads_or_none(raw):
    """Parse JSON if possible (error bodies, stream payloads); None when it is not JSON."""
    try:
        if type(raw) is str:
            # The decoder's scanner straight away: json.loads' checks and whitespace handling around
            # it cost as much again on a typical stream event. Anything it does not take whole (leading
            # or trailing blanks, bad JSON) goes through json.loads as before.
            try:
                value, end = _scan_once(raw, 0)
                if end == len(raw):
                    return value
            except StopIteration:
                pass
        return json.loads(raw)
    except (ValueError, TypeError, RecursionError):
        return None


_scan_once = json.JSONDecoder().scan_once


def arguments_object(arguments: str) -> dict | None:
    """Tool call arguments (JSON text) as the object they must be: ``{}`` for no text, None when they are not
    a JSON object (a model that broke off, or ignored the schema)."""
    if not arguments.strip():
        return {}
    try:
        value = json.loads(arguments)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def too_deep(what: str = "request body") -> GatewayError:
    """The error for JSON nested deeper than Python's recursion limit lets the gateway walk."""
    return GatewayError(400, f"the {what} nests arrays and objects too deeply; flatten it")
