"""This module carries one dialect's opaque reasoning data through a client of another dialect, and back.

A Responses upstream's ``encrypted_content``, a Gemini upstream's thought
signatures and Anthropic's signed thinking must come back to the upstream
that made them, exactly, on the next turn, or the model loses its reasoning
(Gemini 3 refuses a function call without its signature; Anthropic a tool
loop without its signed thinking). Clients keep one opaque field of their
own dialect and send it back with the history: an Anthropic thinking block's
``signature``, a Responses reasoning item's ``encrypted_content``. The
gateway puts the other dialect's data there: ``d2a.`` and the URL-safe base64
of a small JSON object naming the dialect it came from. Anthropic signatures
are plain base64 and Responses' encrypted content is Fernet text, neither of
which has a ``.`` after four letters like this, so the two can never be
confused; and since the dialect is named, the data only ever goes back to
the dialect that made it (the encoders check ``Thinking.source``).

A Gemini signature that belongs to a function call, not to a thought, rides
in a reasoning part of its own (an empty thinking block) just before the
call; it names the call's id, and decoding puts it back on that call.

A Gemini client's field is a part's ``thoughtSignature``, which Gemini's SDKs
hold as bytes: google-genai rejects a response whose signature is not base64,
and sends the bytes back in URL-safe base64. So for a Gemini client the
token travels as the base64 of its text (``ZDJhL``… is ``d2a.`` in base64),
and ``unwrap`` reads it in either base64 alphabet.
"""

from __future__ import annotations

import base64
import json

from .. import ir

PREFIX = "d2a."
GEMINI_PREFIX = "ZDJhL"  # the base64 of PREFIX, as far as it does not depend on what follows it
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


def wrap_thinking(part: ir.Thinking, client: str = ir.Dialect.ANTHROPIC) -> str | None:
    """The opaque value for a thinking part shown to a ``client`` of another dialect: the part's own data
    when it comes from the client's dialect, else the wrapped data; None when it carries nothing opaque."""
    if part.source == client or part.source is None:
        return part.signature if client in (ir.Dialect.ANTHROPIC, ir.Dialect.GEMINI) else part.encrypted
    if part.signature is None and part.encrypted is None and part.id is None:
        return None  # an item id alone is worth carrying: it regroups a Responses item's summaries
    token = wrap(part.source, signature=part.signature, encrypted=part.encrypted, item_id=part.id)
    return for_gemini(token) if client == ir.Dialect.GEMINI else token


def for_gemini(token: str) -> str:
    """A carried token as a Gemini ``thoughtSignature``: the base64 of its text."""
    return base64.b64encode(token.encode()).decode()


def unwrap(signature) -> dict | None:
    """The payload of a carried signature (keys: s, and any of g, e, i, c), or None if it is not one of ours.
    A Gemini client's form of it (``for_gemini``) is read too."""
    if isinstance(signature, str) and signature.startswith(GEMINI_PREFIX):
        signature = _from_gemini(signature)
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


def _from_gemini(signature: str) -> str | None:
    """The token inside a Gemini client's signature, in standard or URL-safe base64, padded or not."""
    text = signature.replace("+", "-").replace("/", "_")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None


def thinking_from(text: str, signature, client: str = ir.Dialect.ANTHROPIC, item_id: str | None = None) -> ir.Thinking:
    """A client's thinking (an Anthropic block's ``signature``, a Responses item's ``encrypted_content``, a
    Gemini thought part's ``thoughtSignature``) as an IR part: carried data goes back to its own dialect's
    fields, the client's own stays its own."""
    payload = unwrap(signature)
    if payload is None:
        if client == ir.Dialect.RESPONSES:
            return ir.Thinking(text=text, encrypted=signature or None, id=item_id, source=client)
        return ir.Thinking(text=text, signature=signature or None, source=client)
    return ir.Thinking(text=text, signature=payload.get("g"), encrypted=payload.get("e"), id=payload.get("i"),
                       source=payload["s"])


def call_signature(signature) -> tuple | None:
    """(call id, Gemini signature) if ``signature`` carries a function call's thought signature, else None."""
    payload = unwrap(signature)
    if payload is None or payload.get("c") is None or payload.get("g") is None:
        return None
    return payload["c"], payload["g"]


def call_thinking(signature) -> tuple:
    """A Gemini client's ``thoughtSignature`` on a ``functionCall`` as (the call's own Gemini signature, the
    ir.Thinking of another dialect whose reasoning led to the call); either may be None."""
    call = call_signature(signature)
    if call is not None:
        return call[1], None
    if unwrap(signature) is not None:
        return None, thinking_from("", signature, client=ir.Dialect.GEMINI)
    return signature or None, None
