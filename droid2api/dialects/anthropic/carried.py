"""This module carries other dialects' opaque reasoning data through Anthropic clients, inside thinking blocks.

A Responses upstream's ``encrypted_content`` and a Gemini upstream's thought
signatures must come back to that upstream exactly, on the next turn, or the
model loses its reasoning (Gemini 3 refuses a function call without its
signature). An Anthropic client such as Claude Code keeps every thinking
block's ``signature`` as it was sent and returns it with the history, so the
gateway puts that data there: ``d2a.`` and the URL-safe base64 of a small
JSON object naming the dialect it came from. Anthropic's own signatures are
plain base64, which has no ``.``, so the two can never be confused; and since
the dialect is named, the data only ever goes back to the dialect that made
it (the encoders check ``Thinking.source``).

A Gemini signature that belongs to a function call, not to a thought, rides
in a thinking block of its own with empty text just before the tool_use
block; it names the call's id, and decoding puts it back on that call.
"""

from __future__ import annotations

import base64
import json

from ... import ir

PREFIX = "d2a."
_FIELDS = (("signature", "g"), ("encrypted", "e"), ("id", "i"))  # ir.Thinking attribute -> key


def wrap(source: str, *, signature: str | None = None, encrypted: str | None = None, item_id: str | None = None,
         call_id: str | None = None) -> str:
    """The Anthropic ``signature`` value that carries another dialect's opaque data."""
    payload = {"s": source}
    for key, value in (("g", signature), ("e", encrypted), ("i", item_id), ("c", call_id)):
        if value is not None:
            payload[key] = value
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def wrap_thinking(part: ir.Thinking) -> str | None:
    """The signature for a thinking part of another dialect, or None when it carries nothing opaque."""
    if part.source == ir.Dialect.ANTHROPIC or part.source is None:
        return part.signature
    if part.signature is None and part.encrypted is None and part.id is None:
        return None  # an item id alone is worth carrying: it regroups a Responses item's summaries
    return wrap(part.source, signature=part.signature, encrypted=part.encrypted, item_id=part.id)


def unwrap(signature) -> dict | None:
    """The payload of a carried signature (keys: s, and any of g, e, i, c), or None if it is not one of ours."""
    if not isinstance(signature, str) or not signature.startswith(PREFIX):
        return None
    text = signature[len(PREFIX):]
    try:
        payload = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (ValueError, TypeError):
        return None
    if not isinstance(payload, dict) or payload.get("s") not in ir.Dialect.ALL:
        return None
    if any(not isinstance(payload.get(key), (str, type(None))) for key in ("g", "e", "i", "c")):
        return None
    return payload


def thinking_from(text: str, signature) -> ir.Thinking:
    """A client's thinking block as an IR part: carried data goes back to its own dialect's fields."""
    payload = unwrap(signature)
    if payload is None:
        return ir.Thinking(text=text, signature=signature or None, source=ir.Dialect.ANTHROPIC)
    return ir.Thinking(text=text, signature=payload.get("g"), encrypted=payload.get("e"), id=payload.get("i"),
                       source=payload["s"])


def call_signature(signature) -> tuple | None:
    """(call id, Gemini signature) if ``signature`` carries a function call's thought signature, else None."""
    payload = unwrap(signature)
    if payload is None or payload.get("c") is None or payload.get("g") is None:
        return None
    return payload["c"], payload["g"]
