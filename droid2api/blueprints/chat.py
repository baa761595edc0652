"""POST /v1/chat/completions: OpenAI Chat Completions over a model of any type.

Chat-type (``common``) models are relayed as they are; every other type is
converted through the IR and answered exactly as a Chat Completions endpoint
would answer.
"""

from flask import Blueprint

from ..dialects import openai_chat
from . import serve

bp = Blueprint("chat", __name__)
bp.dialect = openai_chat


@bp.post("/v1/chat/completions")
def chat_completions():
    return serve(openai_chat)
