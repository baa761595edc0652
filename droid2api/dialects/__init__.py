"""The four wire dialects, one package each, and the check that each offers every name it must.

Every dialect package exposes the same names, so the request path never
branches on which one it holds. The upstream half (what the gateway needs to
call a model that speaks the dialect):

* ``NAME`` — its ``ir.Dialect``;
* ``encode_request(request, losses, route)``, ``decode_response(body)``, ``StreamDecoder()``;
* ``apply_policies(body, route, system_prompt)``, ``is_final_event(name, data)`` — passthrough;
* ``error_body(err)``, ``is_error_body(body)``, ``stream_error(err, last_data)``,
  ``parse_error(status, raw, headers, upstream)``.

The front half (what the gateway needs to serve a client that speaks it):

* ``decode_request(body)`` — a client body as an ir.Request (a 400 naming the field if it is bad);
* ``encode_response(response, model, request)`` — an ir.Response as the client's answer body (the
  request says what the client asked for: its tools' kinds and names, what to ``include``);
* ``StreamEncoder(model, request)`` — ``.encode(ir event) -> bytes``, for one streamed answer;
* ``error_body(err)``, ``stream_error(err, last_data)`` — its error shapes;
* ``model_list(models)`` — the configured models in its list shape.

Every dialect has the upstream half; those in ``FRONTS`` have the front half too. A missing name fails
here, at import, never as an AttributeError in the middle of a request.

Token counting is where dialects differ: a front with a count endpoint offers
``encode_token_count(count)``; an upstream that counts (``Route.count_tokens_url``
says which) offers ``count_tokens_body(body, route)`` and ``decode_token_count(body,
upstream)``. A front's StreamEncoder may offer ``ping()``, sent while the
upstream is silent. Gemini's front reads the model and the stream framing from
the URL (``MODEL_IN_URL``): ``decode_request(body, model, stream)``,
``count_tokens_request(body, model)``, ``StreamEncoder(model, request, sse=...)``.
"""

from ..ir import Dialect
from . import anthropic, gemini, openai_chat, openai_responses

BY_NAME = {module.NAME: module for module in (anthropic, openai_responses, openai_chat, gemini)}
FRONTS = (openai_chat, anthropic, openai_responses, gemini)

UPSTREAM_HALF = ("NAME", "encode_request", "decode_response", "StreamDecoder", "apply_policies", "is_final_event", "usage_of",
                 "error_body", "is_error_body", "stream_error", "parse_error")
FRONT_HALF = ("decode_request", "encode_response", "StreamEncoder", "error_body", "stream_error", "model_list")


def missing_names() -> list:
    """``dialect.name`` for every name a registered dialect lacks."""
    missing = [f"{module.__name__}.{name}" for module in BY_NAME.values()
               for name in UPSTREAM_HALF if not hasattr(module, name)]
    missing += [f"{module.__name__}.{name}" for module in FRONTS for name in FRONT_HALF if not hasattr(module, name)]
    if set(BY_NAME) != set(Dialect.ALL):
        missing.append(f"a package for each of {', '.join(Dialect.ALL)}")
    return missing


if missing_names():
    raise ImportError("dialect packages are incomplete: " + ", ".join(missing_names()))
