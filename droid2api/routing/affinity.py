"""This module recognises a conversation across requests, and remembers where it was last served.

Upstream prompt caches hit only when a conversation's turns go to the same
upstream (and, for some, the same key). A conversation is recognised, in
order, by Claude Code's ``x-claude-code-session-id`` header, a
``prompt_cache_key`` (OpenAI), Anthropic's ``metadata.user_id`` (Claude Code
puts its session there too), else a hash of its opening: the system prompt
and first messages every later turn repeats. Only a hash of any of these is
used as a store key.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time

from ..store import StoreError

log = logging.getLogger(__name__)

NAMESPACE = "routing.affinity"
MEMORY = 3600.0  # an idle conversation is forgotten after an hour (prompt caches last minutes)
REFRESH = 600.0  # a remembered choice is rewritten at most this often while unchanged
# Where each dialect's request keeps its instructions and its turns.
_OPENINGS = (("system", "messages"), ("instructions", "input"), ("systemInstruction", "contents"))
SKETCH = 2048  # characters kept from each end of a long string in an opening's sketch


def conversation_key(headers: dict, body: dict) -> str | None:
    """A stable hash naming the conversation ``body`` belongs to, or None if nothing identifies one."""
    marker = headers.get("x-claude-code-session-id")
    if not marker and isinstance(body.get("prompt_cache_key"), str):
        marker = "pck:" + body["prompt_cache_key"]
    if not marker and isinstance(body.get("metadata"), dict) and isinstance(body["metadata"].get("user_id"), str):
        marker = "user:" + body["metadata"]["user_id"]
    if not marker:
        marker = _opening(body)
    if not marker:
        return None
    return hashlib.sha256(marker.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _opening(body: dict) -> str | None:
    for system_field, turns_field in _OPENINGS:
        turns = body.get(turns_field)
        if isinstance(turns, list) and turns:
            first = turns[0]
            if isinstance(first, dict) and first.get("role") in ("system", "developer") and len(turns) > 1:
                first = [first, turns[1]]  # Chat's system message is not yet the conversation
            return _sketch([body.get(system_field), first])
        if isinstance(turns, str) and turns:
            return _sketch([body.get(system_field), turns])
    return None


def _sketch(value, pieces=None, depth=0) -> str:
    """A cheap stand-in for ``value``'s JSON: each string by its length, head and tail. Serialising a
    Claude Code opening (tens of KB) on every request would cost more than the rest of routing."""
    pieces = [] if pieces is None else pieces
    if isinstance(value, str):
        pieces.append(f"{len(value)}:{value[:SKETCH]}:{value[-SKETCH:]}" if len(value) > 2 * SKETCH else value)
    elif isinstance(value, dict) and depth < 8:
        for name, item in value.items():
            pieces.append(str(name))
            _sketch(item, pieces, depth + 1)
    elif isinstance(value, list) and depth < 8:
        for item in value[:64]:
            _sketch(item, pieces, depth + 1)
    else:
        pieces.append(repr(value))
    return "\x1f".join(pieces) if depth == 0 else ""


class Affinity:
    def __init__(self, store, clock=time.time):
        self.store = store
        self.clock = clock

    def recall(self, conversation: str | None) -> dict:
        """{"model": id, "key": fingerprint, "at": time} of the conversation's last answer, or {}."""
        if conversation is None:
            return {}
        try:
            raw = self.store.get(NAMESPACE, conversation)
            return json.loads(raw) if raw else {}
        except (StoreError, ValueError) as e:
            log.debug("routing: affinity unavailable: %s", e)
            return {}

    def remember(self, conversation: str | None, recalled: dict, model: str, key: str):
        if conversation is None:
            return
        if recalled.get("model") == model and recalled.get("key") == key and \
                self.clock() - recalled.get("at", 0) < REFRESH:
            return
        try:
            self.store.put(NAMESPACE, conversation,
                           json.dumps({"model": model, "key": key, "at": self.clock()}).encode(), ttl=MEMORY)
        except StoreError as e:
            log.warning("routing: cannot remember a conversation's route: %s", e)
