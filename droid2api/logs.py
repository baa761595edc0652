"""Logging: one access line per request, and dev-mode dumps with every credential redacted."""

from __future__ import annotations

import logging
import re
import sys
import time

from .credentials import fingerprint

log = logging.getLogger("droid2api.access")
dev_log = logging.getLogger("droid2api.dev")

SECRET_HEADERS = {"authorization", "x-api-key", "x-goog-api-key", "x-endpoint-authorization",
                  "proxy-authorization", "cookie", "set-cookie"}
# JSON string values under these keys are secrets wherever they appear in a body.
_SECRET_FIELDS = re.compile(r'("(?:access_token|refresh_token|api_key|apiKey|id_token|client_secret|password)"'
                            r'\s*:\s*")((?:[^"\\]|\\.)*)(")')  # escaped quotes stay inside the value
_KEY_PARAM = re.compile(r"([?&]key=)[^&\s]*")
DEV_BODY_LIMIT = 64 * 1024

# Set by views on the WSGI environ, read by AccessLog once the response is done.
ENV_MODEL = "droid2api.model"
ENV_UPSTREAM = "droid2api.upstream"
ENV_STATUS = "droid2api.status"  # set when a response ended otherwise than it began ("499": the client left)


def configure(dev_mode: bool):
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.getLogger("droid2api").setLevel(logging.DEBUG if dev_mode else logging.INFO)
    logging.getLogger("urllib3").setLevel(logging.WARNING)


def redact_value(name: str, value: str, secret_headers=frozenset()) -> str:
    lowered = name.lower()
    if lowered not in SECRET_HEADERS and lowered not in secret_headers:
        return value
    scheme, space, secret = value.partition(" ")
    if space and scheme.lower() in ("bearer", "basic"):
        return f"{scheme} <{fingerprint(secret)}>"
    return f"<{fingerprint(value)}>"


def redact_headers(headers, secret_headers=frozenset()) -> dict:
    """``headers`` with every credential fingerprinted: the well-known auth headers plus ``secret_headers``."""
    return {name: redact_value(name, value, secret_headers) for name, value in headers.items()}


def redact_text(text: str) -> str:
    text = _SECRET_FIELDS.sub(lambda m: m.group(1) + f"<{fingerprint(m.group(2))}>" + m.group(3), text)
    return _KEY_PARAM.sub(lambda m: m.group(1) + "<redacted>", text)


def dev_dump(title: str, headers=None, body: bytes | None = None, *, secret_headers=frozenset()):
    """Log headers and body in dev mode; secrets, and the values of ``secret_headers``, become fingerprints."""
    if not dev_log.isEnabledFor(logging.DEBUG):
        return
    lines = [redact_text(title)]
    if headers is not None:
        lines += [f"  {name}: {value}" for name, value in redact_headers(headers, secret_headers).items()]
    if body:
        text = body[:DEV_BODY_LIMIT].decode("utf-8", "replace")
        more = f" ... ({len(body) - DEV_BODY_LIMIT} more bytes)" if len(body) > DEV_BODY_LIMIT else ""
        lines.append("  " + redact_text(text) + more)
    dev_log.debug("\n".join(lines))


class AccessLog:
    """WSGI middleware: one line per request, written when the last byte has been sent."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        status = []

        def capture(status_line, headers, exc_info=None):
            status.append(status_line.split(" ", 1)[0])
            return start_response(status_line, headers, exc_info)

        body = self.app(environ, capture)
        return _CountingBody(body, environ, status, started)


class _CountingBody:
    __slots__ = ("_body", "_environ", "_status", "_started", "_bytes")

    def __init__(self, body, environ, status, started):
        self._body = body
        self._environ = environ
        self._status = status
        self._started = started
        self._bytes = 0

    def __iter__(self):
        for chunk in self._body:
            self._bytes += len(chunk)
            yield chunk

    def close(self):
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            environ = self._environ
            log.info("%s %s model=%s upstream=%s status=%s %.1fms %dB",
                     environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"),
                     environ.get(ENV_MODEL, "-"), environ.get(ENV_UPSTREAM, "-"),
                     environ.get(ENV_STATUS) or (self._status[0] if self._status else "-"),
                     (time.perf_counter() - self._started) * 1000, self._bytes)
