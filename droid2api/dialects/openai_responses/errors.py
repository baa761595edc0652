"""The Responses API's errors: the OpenAI error body, and its own streamed error event."""

from __future__ import annotations

from ...errors import GatewayError, openai_type
from ...sse import encode_event
from ...wire import dumps, loads_or_none
from ..openai_chat.errors import error_body, is_error_body, parse_error  # the same {"error": {...}} shape

__all__ = ["error_body", "error_event", "is_error_body", "parse_error", "stream_error"]


def stream_error(error: GatewayError, last_data: str = "") -> bytes:
    """The error event, numbered after the last complete event relayed (its data is ``last_data``)."""
    last = loads_or_none(last_data) if last_data else None
    number = last.get("sequence_number") if isinstance(last, dict) else None
    return error_event(error, number + 1 if type(number) is int else 0)


def error_event(error: GatewayError, sequence_number: int) -> bytes:
    """The ``error`` stream event (the SDKs' ResponseErrorEvent) with the given sequence number."""
    event = {"type": "error", "code": error.code or openai_type(error.status), "message": error.message,
             "param": error.param, "sequence_number": sequence_number}
    return encode_event(dumps(event), "error")
