"""GET /v1/gateway/usage: requests and tokens per access key, model and UTC day (droid2api/usage.py).

Only admin keys may read it; without access keys configured, only clients on
the loopback interface may (the server then listens there alone, unless a
``host`` says otherwise).
"""

from flask import Blueprint, jsonify, request

from ..access import ENV_CLIENT
from ..errors import GatewayError
from ..store import StoreError
from ..usage import parse_day, totals
from . import gateway

bp = Blueprint("usage", __name__)
bp.dialect = None  # errors in OpenAI's shape, as for every gateway endpoint

LOOPBACK = ("127.0.0.1", "::1")


@bp.get("/v1/gateway/usage")
def usage():
    """``?since=YYYY-MM-DD`` (default: the last 30 days) and ``?key=NAME`` narrow the rows."""
    _require_admin()
    since = request.args.get("since")
    try:
        start = parse_day(since) if since is not None else None
    except ValueError as e:
        raise GatewayError(400, f"since: {e}", param="since") from None
    try:
        rows = gateway().usage.rows(start, request.args.get("key"))
    except StoreError as e:
        raise GatewayError(503, f"the usage counters are unavailable: {e}") from None
    return jsonify(object="list", data=rows, totals=totals(rows))


def _require_admin():
    if not gateway().guard.enabled:
        if request.remote_addr not in LOOPBACK:
            raise GatewayError(403, "GET /v1/gateway/usage without access keys configured is answered on the "
                                    "loopback interface only")
        return
    client = request.environ.get(ENV_CLIENT)
    if client is None or not client.admin:
        name = client.name if client is not None else "?"
        raise GatewayError(403, f"key {name!r} is not an admin key: GET /v1/gateway/usage needs one "
                                f"(\"admin\": true in access_keys)")
