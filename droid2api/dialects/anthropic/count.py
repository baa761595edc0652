"""This module speaks Anthropic's token counting: the count_tokens call to an upstream and the answer to a client."""

from __future__ import annotations

from ...errors import GatewayError

# The fields of a Messages body that count_tokens takes; the rest (max_tokens, sampling, stream) it refuses.
_COUNTED = ("model", "messages", "system", "tools", "tool_choice", "thinking")


def count_tokens_body(body: dict, route) -> dict:
    """The count_tokens body for an encoded Messages request."""
    return {key: body[key] for key in _COUNTED if key in body}


def decode_token_count(body: dict, upstream: str) -> int:
    count = body.get("input_tokens")
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise GatewayError(502, f"upstream {upstream} answered count_tokens without a whole input_tokens")
    return count


def encode_token_count(count: int) -> dict:
    return {"input_tokens": count}
