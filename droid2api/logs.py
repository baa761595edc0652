"""Logging: the format (plain lines, or one JSON object per line), and dev-mode dumps with every credential
redacted. The per-request line itself is written by access_log.py."""

from __future__ import annotations

import json
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



def configure(dev_mode: bool, log_format: str = "plain"):
    root = logging.getLogger()
    ours = [handler for handler in root.handlers if getattr(handler, "droid2api", False)]
    if not root.handlers:  # a host that set up logging itself (a test runner, an embedding app) keeps its own
        handler = logging.StreamHandler(sys.stderr)
        handler.droid2api = True
        root.addHandler(handler)
        ours = [handler]
    for handler in ours:
        handler.setFormatter(JsonFormatter() if log_format == "json" else
                             logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
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


class JsonFormatter(logging.Formatter):
    """One JSON object per line: a request's record as it is (``extra={"request": ...}``), any other line as
    time, level, logger and message."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
                 "level": record.levelname.lower(), "logger": record.name}
        request = getattr(record, "request", None)
        if isinstance(request, dict):
            entry.update(request)
        else:
            entry["message"] = record.getMessage()
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, separators=(",", ":"), default=str)

    def formatTime(self, record, datefmt=None):  # UTC, whatever the host's zone
        return time.strftime(datefmt, time.gmtime(record.created))
