"""The OpenAI Responses API: POST /v1/responses over a model of any type, and the stored responses.

Responses-type (``openai``) models are relayed; every other type is
converted, and the gateway itself keeps what the API stores (see
stored_responses.py): GET and DELETE /v1/responses/{id} and its input_items.
"""

from flask import Blueprint, jsonify, request

from ..dialects import openai_responses
from ..errors import GatewayError
from . import gateway, incoming, note_request, note_route, read_body, serve

bp = Blueprint("responses", __name__)
bp.dialect = openai_responses


@bp.post("/v1/responses")
def create_response():
    return serve(openai_responses)


@bp.get("/v1/responses")
def responses_websocket():
    """Codex tries a WebSocket first; an immediate 426 sends it to plain HTTP instead of into retries."""
    if request.headers.get("upgrade", "").lower() == "websocket":
        raise GatewayError(426, "this gateway serves the Responses API over HTTP only; send POST /v1/responses",
                           headers={"Upgrade": "HTTP/1.1"})
    raise GatewayError(405, "use POST /v1/responses to create a response")


# Werkzeug routes a request that asks to upgrade (Connection: Upgrade) only to rules marked websocket.
bp.add_url_rule("/v1/responses", "responses_websocket_upgrade", responses_websocket, websocket=True)


@bp.post("/v1/responses/compact")
def compact():
    """Codex's compaction: relayed to a Responses upstream, else a summary the model itself writes."""
    body = read_body()
    note_request(openai_responses, body.get("model"), False)
    return gateway().serve(openai_responses, body.get("model"), body, incoming(), note=note_route, compact=True)


@bp.get("/v1/responses/<response_id>")
def get_response(response_id):
    return jsonify(gateway().responses.get(response_id))


@bp.delete("/v1/responses/<response_id>")
def delete_response(response_id):
    if not gateway().responses.delete(response_id):
        raise GatewayError(404, f"no stored response with id {response_id!r}", code="response_not_found")
    return jsonify(id=response_id, object="response.deleted", deleted=True)


@bp.get("/v1/responses/<response_id>/input_items")
def input_items(response_id):
    items = [_with_id(item, f"{response_id}_in{i}") for i, item in enumerate(gateway().responses.input_items(response_id))]
    if request.args.get("order", "desc") == "desc":  # the API's default: newest first
        items.reverse()
    return jsonify(object="list", data=items, first_id=items[0]["id"] if items else None,
                   last_id=items[-1]["id"] if items else None, has_more=False)


def _with_id(item: dict, fallback: str) -> dict:
    """An input item as the API lists it: with an id (clients send most items without one)."""
    if not isinstance(item, dict):
        return item
    item = {**item, "id": item.get("id") or fallback}
    if item.get("type", "message") == "message":
        item.setdefault("type", "message")
        item.setdefault("status", "completed")
    return item
