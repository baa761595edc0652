"""OpenAI's error shape, shared by Chat Completions and Responses: rendering and reading."""

from __future__ import annotations

from ...errors import GatewayError, from_upstream, openai_type
from ...sse import encode_event
from ...wire import dumps, loads_or_none


def error_body(error: GatewayError) -> dict:
    return {"error": {"message": error.message, "type": openai_type(error.status),
                      "param": error.param, "code": error.code}}


def is_error_body(body) -> bool:
    """Whether ``body`` already is an OpenAI error, as the openai SDKs read one."""
    return isinstance(body, dict) and isinstance(body.get("error"), dict)


def stream_error(error: GatewayError, last_data: str = "") -> bytes:
    # The openai SDKs raise APIError on a data payload holding "error".
    return encode_event(dumps(error_body(error)))


def parse_error(status: int, raw: bytes, headers, upstream: str) -> GatewayError:
    body = loads_or_none(raw)
    message = param = code = None
    if isinstance(body, list) and body and isinstance(body[0], dict):
        body = body[0]  # some OpenAI-compatible servers wrap the error in a list
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            message, param, code = error.get("message"), error.get("param"), error.get("code")
        elif isinstance(error, str):
            message = error
        message = message or body.get("message") or body.get("detail")
    result = from_upstream(status, message if isinstance(message, str) else None, headers, upstream, raw)
    result.param = param if isinstance(param, str) else None
    result.code = str(code) if code is not None else None
    return result
