"""POST /v1/responses: the OpenAI Responses API."""

from flask import Blueprint

from ..dialects import openai_responses
from . import serve

bp = Blueprint("responses", __name__)
bp.dialect = openai_responses


@bp.post("/v1/responses")
def create_response():
    return serve(openai_responses)
