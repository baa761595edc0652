"""GET /, /v1/models, /health and /health/ready: what the gateway is and whether it can serve."""

import time

from flask import Blueprint, jsonify

from .. import __version__
from ..dialects import openai_chat
from ..errors import GatewayError
from . import gateway

bp = Blueprint("meta", __name__)
bp.dialect = openai_chat

ENDPOINTS = [
    "GET /v1/models",
    "POST /v1/chat/completions",
    "POST /v1/responses",
    "POST /v1/messages",
    "POST /v1/messages/count_tokens",
    "GET /health",
    "GET /health/ready",
]
STARTED = int(time.time())


@bp.get("/")
def index():
    return jsonify(name="droid2api", version=__version__, endpoints=ENDPOINTS)


@bp.get("/v1/models")
def list_models():
    return jsonify(openai_chat.model_list(gateway().settings.models, STARTED))


@bp.get("/v1/models/<path:model_id>")
def get_model(model_id):
    model = gateway().settings.model(model_id)
    if model is None:
        raise GatewayError(404, f"model {model_id!r} is not configured", code="model_not_found")
    return jsonify(openai_chat.model_entry(model, STARTED))


@bp.get("/health")
def health():
    return jsonify(status="ok")


@bp.get("/health/ready")
def ready():
    gw = gateway()
    credential = gw.credentials.state()
    body = {"status": "ready" if credential["ready"] else "unavailable", "config": gw.settings.path,
            "models": len(gw.settings.models), "credential": credential}
    return jsonify(body), 200 if credential["ready"] else 503
