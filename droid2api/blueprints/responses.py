"""POST /v1/responses: the OpenAI Responses API."""

from flask import Blueprint, request

from ..dialects import openai_responses
from ..errors import GatewayError
from . import serve

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
