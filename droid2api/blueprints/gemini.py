"""The Gemini API: generateContent, streamGenerateContent, countTokens and the model list, for any model.

Google-type models are relayed; every other type is converted. Both API
versions the SDKs use (``/v1beta`` and ``/v1``) are served, and the same
under ``/gemini`` for clients whose base URL has a path. The model is in the
URL (``models/{model}:generateContent``), and so is the streaming framing:
``?alt=sse`` streams server-sent events, without it Google's JSON array.
"""

from flask import Blueprint, jsonify, request

from ..dialects import gemini
from ..errors import GatewayError
from . import gateway, serve
from .meta import STARTED

bp = Blueprint("gemini", __name__)
bp.dialect = gemini

VERSIONS = ("/v1beta", "/v1")
GEMINI_PREFIXES = ("", "/gemini")
ACTIONS = ("generateContent", "streamGenerateContent", "countTokens")


def model_action(target: str):
    """Act on ``models/{model}:{action}``."""
    model, colon, action = target.rpartition(":")
    if not colon or not model or action not in ACTIONS:
        raise GatewayError(404, f"unknown method {target!r}: the gateway serves models/{{model}}:"
                                f"{', :'.join(ACTIONS)}")
    model = model.removeprefix("models/")
    if action == "countTokens":
        return serve(gemini, count_tokens=True, model=model)
    stream = action == "streamGenerateContent"
    return serve(gemini, model=model, stream=stream, sse=stream and request.args.get("alt") == "sse")


def list_models():
    return jsonify(gemini.model_list(gateway().settings.models, STARTED))


def get_model(model_id):
    model = gateway().settings.model(model_id.removeprefix("models/"))
    if model is None:
        raise GatewayError(404, f"model {model_id!r} is not configured")
    return jsonify(gemini.model_entry(model, STARTED))


for _prefix in GEMINI_PREFIXES:
    for _version in VERSIONS:
        _base = f"{_prefix}{_version}/models"
        _name = f"{_prefix.strip('/') or 'root'}_{_version.strip('/')}"
        bp.add_url_rule(f"{_base}/<path:target>", f"model_action_{_name}", model_action, methods=["POST"])
        if (_prefix, _version) != ("", "/v1"):  # GET /v1/models is OpenAI's list: meta.py serves both shapes
            bp.add_url_rule(_base, f"list_models_{_name}", list_models)
            bp.add_url_rule(f"{_base}/<path:model_id>", f"get_model_{_name}", get_model)
