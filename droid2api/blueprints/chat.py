"""POST /v1/chat/completions: OpenAI Chat Completions over a model of any type.

Chat-type (``common``) models are relayed as they are; every other type is
converted through the IR and answered exactly as a Chat Completions endpoint
would answer.
"""

from flask import Blueprint

from ..dialects import openai_chat
from . import gateway, incoming, note_route, read_body

bp = Blueprint("chat", __name__)
bp.dialect = openai_chat


@bp.post("/v1/chat/completions")
def chat_completions():
    body = read_body()
    gw = gateway()
    route = gw.policy.route(body.get("model"))
    note_route(route)
    if route.dialect == "common":
        return gw.passthrough(openai_chat, route, body, incoming())
    request = openai_chat.decode_request(body)
    return gw.convert(openai_chat, route, request, incoming())
