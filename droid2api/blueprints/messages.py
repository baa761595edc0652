"""POST /v1/messages and /v1/messages/count_tokens: Anthropic Messages."""

from flask import Blueprint

from ..dialects import anthropic
from . import serve

bp = Blueprint("messages", __name__)
bp.dialect = anthropic


@bp.post("/v1/messages")
def create_message():
    return serve(anthropic)


@bp.post("/v1/messages/count_tokens")
def count_tokens():
    return serve(anthropic, count_tokens=True)
