"""This module keeps the ids an encoder sends (tool call ids, end-user ids) valid for its upstream.

Tool names have the same problem: a client that groups tools under a
namespace (Codex's MCP tools) calls them by two names, which every upstream
takes only joined into one (``namespaced_tool_name``).

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


# A tool name every dialect takes: OpenAI and Anthropic allow [a-zA-Z0-9_-] up to 64 characters, and Gemini
# wants the first to be a letter or an underscore.
_TOOL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_-]{0,63}")
_NOT_IN_TOOL_NAMES = re.compile(r"[^a-zA-Z0-9_-]")
_HASH_LENGTH = 8


def namespaced_tool_name(namespace: str, name: str) -> str:
    """The one name for the tool ``name`` of the client's ``namespace`` that every upstream takes.

    ``namespace__name`` when that is a valid name; otherwise the same with every other character made
    ``_``, cut to fit, and 8 hex digits of the hash of the original, so that two names can never meet. A
    pure function of the two names: a call, its result and a forced tool choice all map alike, every turn.
    """
    joined = f"{namespace}__{name}"
    if _TOOL_NAME.fullmatch(joined):
        return joined
    safe = _NOT_IN_TOOL_NAMES.sub("_", joined)
    if not _TOOL_NAME.match(safe):
        safe = "_" + safe  # begins with a digit or a dash
    return f"{safe[:64 - _HASH_LENGTH - 1]}_{hashed(joined, '')[:_HASH_LENGTH]}"
