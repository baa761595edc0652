"""This module holds what the fronts' request decoders share: markers for what the IR cannot hold, and web search.

A front's schemas build IR parts as they load a client's body. What the IR
has no slot for comes out as ``Dropped`` (with what of it the IR does keep),
which the front turns into an ir.Loss at the field's path; a reasoning block
that carries a Gemini function call's thought signature (see carried.py)
comes out as ``CallSignature``, which ``attach_call_signatures`` moves onto
its call. A web search's user location reads the same in the Anthropic and
Responses dialects.
"""

from __future__ import annotations

from dataclasses import dataclass

from marshmallow import fields

from .. import ir
from ..validation import Lenient


@dataclass(slots=True)
class Dropped:
    """A block, item or setting the IR has no slot for; ``kept`` is what of it the IR does hold, if anything."""

    reason: str
    kept: object = None


@dataclass(slots=True)
class CallSignature:
    """A Gemini thought signature for the tool call ``call_id`` of the same message."""

    call_id: str
    signature: str


def kept(value, where: str, losses: list):
    """``value`` itself, or, if it is ``Dropped``, what the IR keeps of it (the loss recorded at ``where``)."""
    if not isinstance(value, Dropped):
        return value
    losses.append(ir.Loss(where, value.reason + ("" if value.kept is not None else "; dropped")))
    return value.kept


def attach_call_signatures(parts: list, signatures: list, losses: list):
    """Put each carried signature (``(where, CallSignature)`` pairs) onto the tool call among ``parts`` it
    names; a signature whose call is not there is recorded in ``losses`` at its ``where``."""
    calls = {part.id: part for part in parts if isinstance(part, ir.ToolCall)}
    for where, carried_signature in signatures:
        call = calls.get(carried_signature.call_id)
        if call is None:
            losses.append(ir.Loss(where, f"a Gemini signature for tool call {carried_signature.call_id!r}, which "
                                         "this message does not hold; dropped"))
        else:
            call.signature = carried_signature.signature


class UserLocation(Lenient):
    """A web search's approximate user location (``type`` is always "approximate")."""

    type = fields.String(allow_none=True)
    city = fields.String(allow_none=True)
    region = fields.String(allow_none=True)
    country = fields.String(allow_none=True)
    timezone = fields.String(allow_none=True)


def location_option(user_location: dict | None) -> dict:
    """A loaded UserLocation as the ir.Tool ``user_location`` option: the places given, without the type."""
    return {key: value for key, value in (user_location or {}).items() if key != "type" and value is not None}
