"""POST /v1/messages and /v1/messages/count_tokens: Anthropic Messages, relayed to Anthropic-type models."""

from flask import Blueprint

from ..dialects import anthropic
from ..errors import GatewayError
from . import gateway, incoming, note_route, read_body

bp = Blueprint("messages", __name__)
bp.dialect = anthropic


def _route(body):
    route = gateway().policy.route(body.get("model"))
    note_route(route)
    if route.dialect != "anthropic":
        raise GatewayError(400, f"model {route.requested!r} is a {route.dialect!r}-type model; /v1/messages serves "
                                f"anthropic-type models (use /v1/chat/completions for this one)", param="model")
    return route


@bp.post("/v1/messages")
def create_message():
    body = read_body()
    return gateway().passthrough(anthropic, _route(body), body, incoming())


@bp.post("/v1/messages/count_tokens")
def count_tokens():
    body = read_body()
    return gateway().passthrough(anthropic, _route(body), body, incoming(), count_tokens=True)
