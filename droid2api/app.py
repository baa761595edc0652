"""The Flask application factory: settings, the Gateway, blueprints, access control, error rendering."""

from __future__ import annotations

import logging
import os

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from . import disconnect, logs
from .access import ENV_CLIENT, presented_keys
from .access_log import AccessLog
from .blueprints import ANTHROPIC_PREFIXES, chat, messages, meta, responses
from .blueprints import gemini as gemini_routes
from .blueprints import metrics as metrics_routes
from .blueprints import usage as usage_routes
from .blueprints.meta import wants_anthropic_shape, wants_gemini_shape
from .config import Settings, load_settings
from .dialects import FRONTS, anthropic, gemini, openai_chat
from .errors import GatewayError
from .gateway import Gateway
from .metrics import Metrics
from .record import current as current_record
from .wire import dumps, too_deep

log = logging.getLogger(__name__)

OPEN_PATHS = ("/health",)  # answered without an access key
# and /metrics (metrics_routes.PATH) from loopback, or from anywhere with metrics_public


def create_app(settings: Settings | None = None, environ=os.environ) -> Flask:
    if settings is None:
        settings = load_settings(environ)
    logs.configure(settings.dev_mode, settings.log_format)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = int(settings.max_body_mb * 1024 * 1024)
    gateway = Gateway(settings, environ)
    app.extensions["droid2api"] = gateway
    metrics = app.extensions[metrics_routes.EXTENSION] = Metrics(settings, gateway.router)
    gateway.sinks.append(metrics.observe)
    app.register_blueprint(metrics_routes.bp)
    for module in (meta, chat, messages, responses, gemini_routes, usage_routes):
        if module.bp.dialect is not None and module.bp.dialect not in FRONTS:
            raise RuntimeError(f"{module.__name__} serves {module.bp.dialect.NAME} clients, which is not in FRONTS")
        app.register_blueprint(module.bp)
    for prefix in ANTHROPIC_PREFIXES:  # Anthropic clients configured with a base URL that has a path
        app.register_blueprint(messages.bp, url_prefix=prefix, name="messages" + prefix.replace("/", "_"))

    @app.before_request
    def require_access_key():
        if request.path in OPEN_PATHS or metrics_routes.admits_without_key(request, settings, gateway.guard):
            return
        if not gateway.guard.enabled:  # every request is let in, and none has a client key name
            return
        client = gateway.guard.check(presented_keys(request.headers, request.args))
        request.environ[ENV_CLIENT] = client
        record = current_record(request.environ)
        if record is not None and client is not None:
            record.client = client.name

    app.register_error_handler(GatewayError, render_error)
    app.register_error_handler(HTTPException, lambda e: render_error(GatewayError(e.code or 500, e.description)))
    app.register_error_handler(RequestEntityTooLarge, lambda e: render_error(GatewayError(
        413, f"the request body is larger than this gateway's limit of {settings.max_body_mb:g} MB (max_body_mb)")))
    # JSON nested past the recursion limit fails wherever it is first walked; it is the client's input.
    app.register_error_handler(RecursionError, lambda e: render_error(too_deep()))
    app.register_error_handler(Exception, render_unexpected)

    gateway.credentials.startup()
    # The access log stays outermost: it times the whole request and sees the 499 of a client that left.
    app.wsgi_app = AccessLog(disconnect.ClientWatch(metrics.count_streams(app.wsgi_app)), settings.log_format,
                             gateway.sinks)
    return app


def client_dialect():
    """The dialect a request's errors are rendered in: its blueprint's, else guessed from the path."""
    blueprint = current_app.blueprints.get(request.blueprint) if request.blueprint else None
    if blueprint is not None and getattr(blueprint, "dialect", None) is not None:
        return blueprint.dialect
    path = request.path
    if path.startswith(("/v1/messages", *ANTHROPIC_PREFIXES)) or \
            (path.startswith("/v1/models") and wants_anthropic_shape(request)):
        return anthropic
    if path.startswith(("/v1beta/", "/gemini/")) or ":generateContent" in path or ":streamGenerateContent" in path \
            or ":countTokens" in path or (path.startswith("/v1/models") and wants_gemini_shape(request)):
        return gemini
    return openai_chat


def render_error(error: GatewayError) -> Response:
    dialect = client_dialect()
    response = Response(dumps(dialect.error_body(error)), status=error.status, content_type="application/json")
    response.headers.update(error.headers)
    return response


def render_unexpected(error: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.path)
    return render_error(GatewayError(500, "the gateway hit an internal error; the server log has the details"))
