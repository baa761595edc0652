"""GET /, /v1/models, /health, /health/ready and /v1/gateway/routes: what the gateway is and whether it can serve.

The model list is in Anthropic's shape for Anthropic clients (the request
carries ``anthropic-version``, as every Anthropic SDK sends, or comes under
an Anthropic path prefix) and in OpenAI's for everyone else.
"""

import time

from flask import Blueprint, jsonify, request

from .. import __version__
from ..dialects import anthropic, gemini, openai_chat
from ..errors import GatewayError
from ..store import StoreError
from . import ANTHROPIC_PREFIXES, gateway

bp = Blueprint("meta", __name__)
bp.dialect = None  # errors in the shape app.client_dialect picks: the model routes serve two dialects

ENDPOINTS = [
    "GET /v1/models",
    "POST /v1/chat/completions",
    "POST /v1/responses",
    "POST /v1/messages",
    "POST /v1/messages/count_tokens",
    "GET /health",
    "GET /health/ready",
    "GET /v1/gateway/routes",
    "POST /v1/gateway/routes/reset",
    "GET /v1/gateway/usage",
    "GET /metrics",
]
STARTED = int(time.time())


@bp.get("/")
def index():
    return jsonify(name="droid2api", version=__version__, endpoints=ENDPOINTS,
                   anthropic_path_prefixes=list(ANTHROPIC_PREFIXES))


def wants_anthropic_shape(incoming) -> bool:
    return "anthropic-version" in incoming.headers or incoming.path.startswith(ANTHROPIC_PREFIXES)


def wants_gemini_shape(incoming) -> bool:
    """A Google SDK's request (it names itself in x-goog-api-client) on the /v1 path OpenAI's list shares."""
    return "x-goog-api-client" in incoming.headers or "x-goog-api-key" in incoming.headers


def _models_dialect():
    if wants_anthropic_shape(request):
        return anthropic
    return gemini if wants_gemini_shape(request) else openai_chat


def list_models():
    return jsonify(_models_dialect().model_list(gateway().router.listed_models(), STARTED))


def get_model(model_id):
    model = next((m for m in gateway().router.listed_models() if m.id == model_id), None)
    if model is None:
        raise GatewayError(404, f"model {model_id!r} is not configured", code="model_not_found")
    return jsonify(_models_dialect().model_entry(model, STARTED))


for _prefix in ("", *ANTHROPIC_PREFIXES):
    bp.add_url_rule(f"{_prefix}/v1/models", f"list_models{_prefix}", list_models)
    bp.add_url_rule(f"{_prefix}/v1/models/<path:model_id>", f"get_model{_prefix}", get_model)


@bp.get("/health")
def health():
    return jsonify(status="ok")


@bp.get("/health/ready")
def ready():
    """Ready when the state store answers (where it can be asked: Redis), the server's credential works and at
    least one route can be tried now; else 503, with the store's failure as ``reason``."""
    gw = gateway()
    credential = gw.credentials.state()
    check = getattr(gw.responses.store, "check", None)
    try:
        if check is not None:
            check()
    except StoreError as e:  # e.g. "state store redis://10.0.0.5:6379/0 unreachable: ping failed: ..."
        return jsonify(status="unavailable", reason=str(e), config=gw.settings.path, models=len(gw.settings.models),
                       routes_available=0, credential=credential, routes=[]), 503
    routes = _routes_report(gw)
    available = sum(1 for route in routes if route.get("available"))
    is_ready = credential["ready"] and (available > 0 or not routes)
    body = {"status": "ready" if is_ready else "unavailable", "config": gw.settings.path,
            "models": len(gw.settings.models), "routes_available": available, "credential": credential,
            "routes": routes}
    return jsonify(body), 200 if is_ready else 503


@bp.get("/v1/gateway/routes")
def routes():
    """Every route: its circuit breaker, its keys (parked, resting), its recent latency and error rate."""
    return jsonify(routes=_routes_report(gateway()))


@bp.post("/v1/gateway/routes/reset")
def reset_routes():
    """Close every breaker and wake every parked or resting key now (after fixing an upstream or a key)."""
    gateway().router.forget()
    return jsonify(routes=_routes_report(gateway()))


def _routes_report(gw) -> list:
    try:
        return gw.router.routes_report()
    except StoreError as e:
        raise GatewayError(503, f"the routing state is unavailable: {e}") from None
