"""This module remembers the Gemini thought signature of every function call the gateway hands out.

Gemini 3 refuses a tool loop whose ``functionCall`` comes back without its
``thoughtSignature``. Each front gives the signature to the client in a field
of its own dialect, but many clients rebuild the assistant turn from the
call's id, name and arguments alone and drop it. So the gateway keeps each
signature in the state store under the call's id (a short id the gateway
itself issued for Gemini's calls, ``call_`` and 24 hex digits) and puts it
back on a call that returns without one. Only when nothing is remembered
does the Gemini encoder fall back to Google's placeholder. The store is
shared by the workers of a host, so the next turn may land on any of them.
"""

from __future__ import annotations

import logging

from . import ir
from .store import StoreError

log = logging.getLogger(__name__)

NAMESPACE = "gemini-signatures"


class SignatureMemory:
    def __init__(self, store):
        self.store = store

    def remember(self, events):
        """``events`` unchanged, the signature of each tool call among them kept as it passes."""
        calls = {}  # IR index -> the tool call it started
        for event in events:
            if isinstance(event, ir.PartStart) and isinstance(event.part, ir.ToolCall):
                calls[event.index] = event.part
                if event.part.signature:
                    self._keep(event.part.id, event.part.signature)
            elif isinstance(event, ir.Delta) and event.kind == "signature" and event.index in calls:
                self._keep(calls[event.index].id, event.value)
            yield event

    def remember_response(self, response: ir.Response):
        for part in response.parts:
            if isinstance(part, ir.ToolCall) and part.signature:
                self._keep(part.id, part.signature)

    def restore(self, request: ir.Request):
        """Put each remembered signature back on the calls of ``request`` that came back without one."""
        for message in request.messages:
            for part in message.parts:
                if isinstance(part, ir.ToolCall) and not part.signature:
                    signature = self._recall(part.id)
                    if signature:
                        part.signature = signature

    def _keep(self, call_id: str, signature: str):
        try:
            self.store.put(NAMESPACE, call_id, signature.encode())
        except StoreError as e:  # the answer still goes out; the next turn falls back to the placeholder
            log.warning("cannot remember the thought signature of call %s: %s", call_id, e)

    def _recall(self, call_id: str) -> str | None:
        try:
            value = self.store.get(NAMESPACE, call_id)
        except StoreError as e:
            log.warning("cannot look up the thought signature of call %s: %s", call_id, e)
            return None
        return value.decode() if value else None
