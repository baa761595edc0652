"""This module speaks Gemini's countTokens: the whole generate request is counted, system and tools included."""

from __future__ import annotations

from ...errors import GatewayError


def count_tokens_body(body: dict, route) -> dict:
    """countTokens counts ``contents`` alone unless given the whole request, which must name its model."""
    request = {key: value for key, value in body.items() if key != "model"}
    return {"generateContentRequest": {"model": f"models/{route.upstream_model}", **request}}


def decode_token_count(body: dict, upstream: str) -> int:
    count = body.get("totalTokens")
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise GatewayError(502, f"upstream {upstream} answered countTokens without a whole totalTokens")
    return count


def encode_token_count(count: int) -> dict:
    return {"totalTokens": count}
