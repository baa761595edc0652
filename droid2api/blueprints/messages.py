"""POST /v1/messages and /v1/messages/count_tokens: Anthropic Messages over a model of any type.

Anthropic-type models are relayed byte for byte; every other type is
converted through the IR. The app registers this blueprint again under each
of ANTHROPIC_PREFIXES, for clients whose base URL has a path.
"""

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
