"""The Responses API's errors: the OpenAI error body, and its own streamed error event."""

from __future__ import annotations

import re

from ...errors import GatewayError, openai_type
from ...sse import encode_event
from ...wire import dumps
from ..openai_chat.errors import error_body, is_error_body, parse_error  # the same {"error": {...}} shape

__all__ = ["error_body", "is_error_body", "parse_error", "stream_error"]

_SEQUENCE = re.compile(rb'"sequence_number":\s*(\d+)')


def stream_error(error: GatewayError, tail: bytes = b"") -> bytes:
    """The error event, numbered after the last event seen in the relayed bytes ``tail``."""
    numbers = _SEQUENCE.findall(tail)
    event = {"type": "error", "code": error.code or openai_type(error.status), "message": error.message,
             "param": error.param, "sequence_number": int(numbers[-1]) + 1 if numbers else 0}
    return encode_event(dumps(event), "error")
