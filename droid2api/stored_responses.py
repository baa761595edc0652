"""This module keeps the OpenAI Responses API's state for responses the gateway made itself.

Responses is stateful where Chat is not: a response is stored unless the
client says ``store: false`` (Codex does), can be fetched, deleted and listed
by id, and a later request may continue it with ``previous_response_id``.
An ``openai``-type upstream keeps that state itself (passthrough); for every
other upstream the gateway does, in the state store (droid2api/store), so a
conversation continues on any worker of the host.

Each entry holds the Response object as the client got it, this request's
input items (``GET /v1/responses/{id}/input_items``) and the whole
conversation up to and including its output, as Responses input items: a
continuation prepends that to its own input, and no chain of ids is walked.
"""

from __future__ import annotations

import json
import logging

from .errors import GatewayError
from .store import StoreError, ValueTooLarge
from .wire import dump_bytes

log = logging.getLogger(__name__)

NAMESPACE = "responses"
ITEMS = "response-items"  # each stored item by its id, for the item_reference that names it


def as_items(value) -> list:
    """A request's ``input`` as a list of items: a plain string is one user message."""
    if value is None:
        return []
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": value}]}]
    if isinstance(value, list):
        return list(value)
    raise GatewayError(400, "input must be a string or a list of items", param="input")


def replayable(output: list) -> list:
    """A Response's output items as they go back into ``input`` (what a client would send)."""
    items = []
    for item in output:
        if not isinstance(item, dict):
            continue
        item = {key: value for key, value in item.items() if key != "status" or item.get("type") != "message"}
        items.append(item)
    return items


class StoredResponses:
    """Stored responses on top of a Store; every failure is a GatewayError the client can read."""

    def __init__(self, store):
        self.store = store

    def context(self, previous_id: str) -> list:
        """The conversation a ``previous_response_id`` continues, as input items."""
        return self._load(previous_id, "previous_response_id")["context"]

    def save(self, response: dict, input_items: list, context: list):
        """Keep ``response``; ``context`` is the whole conversation before it (its own input included)."""
        entry = {"response": response, "input_items": input_items,
                 "context": context + replayable(response.get("output") or [])}
        try:
            self.store.put(NAMESPACE, response["id"], dump_bytes(entry))
            for item in [*input_items, *(response.get("output") or [])]:
                if isinstance(item, dict) and isinstance(item.get("id"), str) and item.get("type") != "item_reference":
                    self.store.put(ITEMS, item["id"], dump_bytes(item))
        except ValueTooLarge:
            log.warning("response %s is too large to store; previous_response_id will not find it", response["id"])
        except StoreError as e:
            log.error("cannot store response %s: %s", response["id"], e)

    def resolve_references(self, items: list) -> list:
        """``items`` with each ``item_reference`` to a stored item replaced by the item; one the store does
        not hold stays, for the decoder to refuse with a message naming it."""
        resolved = []
        for item in items:
            if isinstance(item, dict) and item.get("type") == "item_reference" and isinstance(item.get("id"), str):
                try:
                    raw = self.store.get(ITEMS, item["id"])
                except StoreError as e:
                    raise _unavailable(e) from None
                if raw is not None:
                    item = json.loads(raw)
            resolved.append(item)
        return resolved

    def get(self, response_id: str) -> dict:
        return self._load(response_id)["response"]

    def input_items(self, response_id: str) -> list:
        return self._load(response_id)["input_items"]

    def delete(self, response_id: str) -> bool:
        try:
            return self.store.delete(NAMESPACE, response_id)
        except StoreError as e:
            raise _unavailable(e) from None

    def _load(self, response_id, param: str | None = None) -> dict:
        if not isinstance(response_id, str) or not response_id:
            raise GatewayError(400, "a response id must be a non-empty string", param=param)
        try:
            raw = self.store.get(NAMESPACE, response_id)
        except StoreError as e:
            raise _unavailable(e) from None
        if raw is None:
            raise GatewayError(404, f"no stored response with id {response_id!r}: it was never stored here "
                                    f"(store: false), has expired, or was deleted", param=param,
                               code="response_not_found")
        return json.loads(raw)


def _unavailable(error: StoreError) -> GatewayError:
    log.error("the state store failed: %s", error)  # the message names a server path: not for clients
    return GatewayError(503, "the gateway's state store is unavailable; stored responses cannot be read right now")
