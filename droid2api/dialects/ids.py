"""This module keeps the ids an encoder sends (tool call ids, end-user ids) valid for its upstream.

A conversation carries its tool call ids from turn to turn, and may move to an
upstream of another dialect than the one that made them. Each dialect refuses
some: Anthropic takes only ``[a-zA-Z0-9_-]`` (a Chat provider's
``functions.get_weather:0`` is refused), OpenAI Chat refuses a tool call id
over 40 characters, the Responses API a ``call_id`` over 64. An id the upstream
takes is sent as it is; any other is sent as a prefix and a hash of it. The
mapping is a pure function of the id, so a call and the result that answers it
still pair, every turn sends the same id (the upstream's prompt cache still
matches), and the client never sees it: answers carry the upstream's own ids.
"""

from __future__ import annotations

import hashlib
import re

from .. import ir


class IdRule:
    """What one upstream accepts as an id: a character pattern and/or a length limit."""

    def __init__(self, upstream: str, *, pattern: str | None = None, max_length: int | None = None,
                 prefix: str = "call_"):
        self.upstream = upstream
        self.pattern = re.compile(pattern) if pattern else None
        self.max_length = max_length
        self.prefix = prefix

    def accepts(self, value: str) -> bool:
        if self.max_length is not None and len(value) > self.max_length:
            return False
        return self.pattern is None or self.pattern.fullmatch(value) is not None

    def fit(self, value: str, losses: list, where: str) -> str:
        """``value`` if the upstream accepts it, else its stand-in (recorded in ``losses`` at ``where``)."""
        if self.accepts(value):
            return value
        fitted = hashed(value, self.prefix)
        losses.append(ir.Loss(where, f"{self.upstream} refuses the id {value[:80]!r}; sent as {fitted}"))
        return fitted


def hashed(value: str, prefix: str = "call_") -> str:
    """``prefix`` and 32 hex digits of the SHA-256 of ``value``: 37 characters for ``call_``, which every
    dialect accepts. A lone surrogate (valid JSON) hashes as its code unit instead of failing."""
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
    return prefix + digest[:32]


ANTHROPIC_CALL_ID = IdRule("Anthropic", pattern=r"[a-zA-Z0-9_-]+")
CHAT_CALL_ID = IdRule("Chat Completions", max_length=40)
RESPONSES_CALL_ID = IdRule("the Responses API", max_length=64)
# OpenAI refuses a ``user`` over 64 characters; Claude Code's metadata.user_id is a JSON object of ~130.
# The hash still names one end user consistently, which is all the field is for.
OPENAI_USER = IdRule("OpenAI's user field", max_length=64, prefix="user_")
