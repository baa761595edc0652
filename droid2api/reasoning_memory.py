"""This module remembers, by tool call id, the opaque reasoning that came with each call the gateway hands out.

An upstream's reasoning must come back to it with the tool loop: Gemini 3
refuses a ``functionCall`` without its ``thoughtSignature``, Anthropic turns
thinking off for a loop whose assistant turn lost its signed thinking, and a
Responses model loses its reasoning items. Each front hands that data out in
a field of its own dialect, but many clients rebuild the assistant turn from
the call's id, name and arguments alone, or drop thought parts from their
history (Gemini CLI does). So when the gateway converts an answer, it keeps
the call's own signature and the thinking parts before it in the state store
under the call's id, and when a call comes back without them it restores
them. Only when nothing is remembered does the Gemini encoder fall back to
Google's placeholder. The store is shared by the workers of a host, so the
next turn may land on any of them.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace

from . import ir
from .store import StoreError
from .wire import dump_bytes

log = logging.getLogger(__name__)

NAMESPACE = "reasoning"
_THINKING_FIELDS = ("text", "signature", "encrypted", "redacted", "source", "id")


class ReasoningMemory:
    def __init__(self, store):
        self.store = store

    def remember(self, events):
        """``events`` unchanged; once the answer finishes, each tool call's reasoning is kept.

        Only thinking parts and tool calls are followed, and of a tool call only its signature: their
        deltas are collected in lists and joined once at the end. This runs on every event of every
        converted answer. A complete answer (ir.ResponseEvents) is read from its parts, and kept now.
        """
        if isinstance(events, ir.ResponseEvents):
            self._keep_calls([(part, {}) for part in events.response.parts
                              if isinstance(part, (ir.Thinking, ir.ToolCall))])
            return events
        return self._followed(events)

    def _followed(self, events):
        parts, pieces = {}, {}  # IR index -> the part as it started; -> {attribute: [delta values]}
        for event in events:
            if isinstance(event, ir.PartStart) and isinstance(event.part, (ir.Thinking, ir.ToolCall)):
                parts[event.index], pieces[event.index] = event.part, {}
            elif isinstance(event, ir.Delta) and event.index in parts and event.kind != "arguments":
                pieces[event.index].setdefault(_ATTRIBUTES.get(event.kind), []).append(event.value)
            elif isinstance(event, ir.Finish) and parts:
                self._keep_calls([(parts[index], pieces[index]) for index in sorted(parts)])
            yield event

    def restore(self, request: ir.Request):
        """Put remembered reasoning back on the assistant turns whose tool calls came back without it."""
        for message in request.messages:
            if message.role != "assistant":
                continue
            restored = []
            for part in message.parts:
                if not isinstance(part, ir.ToolCall):
                    continue
                memory = self._recall(part.id)
                if memory is None:
                    continue
                if not part.signature and memory.get("signature"):
                    part.signature = memory["signature"]
                thinking = [ir.Thinking(**fields) for fields in memory.get("thinking", [])]
                if thinking and not _has_opaque_thinking(message, thinking[0].source):
                    restored += thinking
            if restored:
                message.parts[:0] = restored  # thinking opens the turn, as Anthropic requires

    def _keep_calls(self, grown: list):
        """Keep each tool call's signature and the signed thinking before it; ``grown`` holds (part as
        started, its collected deltas) pairs in answer order."""
        thinking = []
        for part, pieces in grown:
            if isinstance(part, ir.Thinking):
                part = _joined(part, pieces)
                if part.signature or part.encrypted or part.redacted:
                    thinking.append({name: getattr(part, name) for name in _THINKING_FIELDS
                                     if getattr(part, name) not in (None, "")})
                continue
            signature = (part.signature or "") + "".join(pieces["signature"]) if "signature" in pieces \
                else part.signature
            if signature or thinking:
                self._put(part.id, {"signature": signature, "thinking": thinking})

    def _put(self, call_id: str, memory: dict):
        try:
            self.store.put(NAMESPACE, call_id, dump_bytes(memory))
        except StoreError as e:  # the answer still goes out; the next turn may lack its reasoning
            log.warning("cannot remember the reasoning of call %s: %s", call_id, e)

    def _recall(self, call_id: str) -> dict | None:
        try:
            value = self.store.get(NAMESPACE, call_id)
        except StoreError as e:
            log.warning("cannot look up the reasoning of call %s: %s", call_id, e)
            return None
        return json.loads(value) if value else None


_ATTRIBUTES = {"thinking": "text", "text": "text", "arguments": "arguments", "signature": "signature",
               "encrypted": "encrypted"}  # Delta.kind -> the part attribute it grows


def _joined(part, pieces: dict):
    """A copy of ``part`` with its collected deltas added."""
    grown = {attribute: (getattr(part, attribute) or "") + "".join(values)
             for attribute, values in pieces.items() if attribute and hasattr(part, attribute)}
    return replace(part, **grown)


def _has_opaque_thinking(message: ir.Message, source: str) -> bool:
    return any(isinstance(part, ir.Thinking) and part.source == source
               and (part.signature or part.encrypted or part.redacted) for part in message.parts)
