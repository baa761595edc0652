"""The HTTP endpoints, one blueprint per endpoint family, and the little they share.

Views stay thin: read the body, route the model, hand over to the Gateway,
which alone decides between passthrough and conversion. Each blueprint names
the dialect its errors are rendered in (``bp.dialect``).
"""

from flask import current_app, request

from ..access import ENV_BODY, ENV_CLIENT, Incoming
from ..disconnect import watch_client
from ..record import current as current_record
from ..wire import parse_object


# Path prefixes under which Anthropic clients whose base URL has a path find the Messages and model routes.
ANTHROPIC_PREFIXES = ("/anthropic", "/claude")


def gateway():
    return current_app.extensions["droid2api"]


def read_body() -> dict:
    raw = request.environ[ENV_BODY] = request.get_data(cache=False)
    watch_client(request.environ)  # from here on, the client's socket only says whether it is still there
    return parse_object(raw)


def incoming() -> Incoming:
    return Incoming.from_request(request, gateway().guard)


def note_route(route):
    """Record the upstream an attempt went to (the access log, metrics); the model that answered comes from the
    response's x-gateway-model."""
    record = current_record(request.environ)
    if record is not None:
        record.upstream = route.upstream


def serve(front, *, count_tokens: bool = False, model: str | None = None, **url_params):
    """The whole view of a generate (or count) endpoint whose clients speak ``front``.

    The model is the body's, unless the URL names it (Gemini: ``models/{model}:generateContent``);
    ``url_params`` are what else the URL says (Gemini: whether to stream, and how).
    """
    body = read_body()
    requested = body.get("model") if model is None else model
    note_request(front, requested, url_params.get("stream", body.get("stream") is True), count_tokens=count_tokens)
    return gateway().serve(front, requested, body, incoming(), note=note_route, count_tokens=count_tokens,
                           **url_params)


def note_request(front, requested, stream: bool, count_tokens: bool = False):
    """Record what the client asked for (the access log, metrics, usage), then hold it to the client key's
    model list and limits (limits.py: 403, 429)."""
    record = current_record(request.environ)
    if record is not None:
        record.front = front.NAME
        record.requested = requested if isinstance(requested, str) else None
        record.stream = stream
    gateway().limits.admit(request.environ.get(ENV_CLIENT), requested, count_tokens=count_tokens)
