"""The one exception type the gateway raises for anything a client should see as an error.

A GatewayError carries an HTTP status and a message; each dialect module
renders it in its own wire shape (OpenAI, Anthropic or Gemini), so the code
that detects a problem never needs to know which dialect the client speaks.
"""

from __future__ import annotations


class GatewayError(Exception):
    """An error with the status a client should see.

    ``param`` names the offending request field (``messages[2].content``);
    ``headers`` are response headers worth keeping, such as Retry-After.
    ``upstream_body`` keeps an upstream's own error object so a client of the
    same dialect can be shown it unchanged.
    """

    def __init__(self, status: int, message: str, *, param: str | None = None,
                 code: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.headers = headers or {}

    def __repr__(self):
        return f"GatewayError({self.status}, {self.message!r})"


def bad_request(message: str, param: str | None = None) -> GatewayError:
    return GatewayError(400, message, param=param)


def require_one_choice(n: int | None, upstream: str):
    """Refuse ``n`` > 1 for an upstream dialect that answers with one choice per request."""
    if n is not None and n > 1:
        raise GatewayError(400, f"n={n} asks for several choices, but this model's upstream ({upstream}) answers "
                                f"with one per request; send n=1 or several requests", param="n")


# Error kinds by status, in the OpenAI and Anthropic vocabularies. Gemini uses
# google.rpc status names, kept in the gemini dialect.
OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    409: "conflict_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    502: "upstream_error",
    503: "service_unavailable",
    504: "timeout_error",
}

ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def openai_type(status: int) -> str:
    return OPENAI_TYPES.get(status, "invalid_request_error" if status < 500 else "api_error")


def anthropic_type(status: int) -> str:
    return ANTHROPIC_TYPES.get(status, "invalid_request_error" if status < 500 else "api_error")


def from_upstream(status: int, message: str | None, headers, upstream: str, raw: bytes = b"") -> GatewayError:
    """An upstream's error status as a GatewayError that means the same to any client.

    Anthropic's 529 (overloaded) becomes 503, which every dialect knows;
    Retry-After is kept so clients back off as the upstream asked.
    """
    if not message:
        snippet = raw[:200].decode("utf-8", "replace").strip()
        message = f"upstream {upstream} answered {status}" + (f": {snippet}" if snippet else "")
    kept = {}
    retry_after = headers.get("retry-after") if headers is not None else None
    if retry_after:
        kept["Retry-After"] = retry_after
    return GatewayError(503 if status == 529 else status, message, headers=kept)
