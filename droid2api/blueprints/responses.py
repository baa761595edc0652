"""POST /v1/responses: the OpenAI Responses API, relayed to Responses-type (``openai``) models."""

from flask import Blueprint

from ..dialects import openai_responses
from ..errors import GatewayError
from . import gateway, incoming, note_route, read_body

bp = Blueprint("responses", __name__)
bp.dialect = openai_responses


@bp.post("/v1/responses")
def create_response():
    body = read_body()
    route = gateway().policy.route(body.get("model"))
    note_route(route)
    if route.dialect != "openai":
        raise GatewayError(400, f"model {route.requested!r} is a {route.dialect!r}-type model; /v1/responses serves "
                                f"openai-type models (use /v1/chat/completions for this one)", param="model")
    return gateway().passthrough(openai_responses, route, body, incoming())
