"""The HTTP endpoints, one blueprint per endpoint family, and the little they share.

Views stay thin: read the body, route the model, hand over to the Gateway.
Each blueprint names the dialect its errors are rendered in (``bp.dialect``).
"""

from flask import current_app, request

from ..access import Incoming
from ..logs import ENV_MODEL, ENV_UPSTREAM
from ..wire import parse_object


def gateway():
    return current_app.extensions["droid2api"]


def read_body() -> dict:
    return parse_object(request.get_data(cache=False))


def incoming() -> Incoming:
    return Incoming.from_request(request, gateway().guard)


def note_route(route):
    """Record model and upstream for the access log line."""
    request.environ[ENV_MODEL] = route.model.id
    request.environ[ENV_UPSTREAM] = route.upstream
