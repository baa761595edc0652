"""How the server runs under gunicorn: settings shared by gunicorn.conf.py and the ``droid2api`` command.

This module must not import requests or ssl: gunicorn loads it in the master
process, and gevent has to patch those modules in each worker before anyone
imports them.
"""

from __future__ import annotations

import os
import sys

from .config import ConfigError, load_settings


def gunicorn_settings(environ=os.environ) -> dict:
    """gunicorn's settings from the droid2api config; an invalid config exits with its one-line reason."""
    try:
        settings = load_settings(environ)
    except ConfigError as e:
        print(f"droid2api: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    if not settings.access_keys:
        if settings.bind_host in ("127.0.0.1", "localhost", "::1"):
            print(f"droid2api: no access key is configured, so the server listens on {settings.bind_host} only; "
                  f"set access_keys in the config or DROID2API_ACCESS_KEYS to serve other hosts", file=sys.stderr)
        else:
            print(f"droid2api: WARNING: listening on {settings.bind_host} without access keys: anyone who can "
                  f"reach this port can use the configured credentials", file=sys.stderr)
    return {
        "bind": [f"{settings.bind_host}:{settings.port}"],
        "worker_class": "gevent",
        "workers": settings.workers,
        "worker_connections": 1000,
        "timeout": 60,  # heartbeat only: gevent workers keep answering it during long streams
        "graceful_timeout": 30,
        "keepalive": 75,  # longer than nginx's upstream keepalive_timeout (60s)
        "accesslog": None,  # droid2api writes its own one-line-per-request log
        "errorlog": "-",
        "loglevel": "info",
        # gunicorn >= 25.1 opens a management socket at one fixed path in $HOME by default; droid2api
        # does not use it, and a second instance on the host would unlink the first one's.
        "control_socket_disable": True,
        "on_starting": new_generation,
        "on_reload": new_generation,
    }


def new_generation(server=None):
    """Start a new configuration generation (gunicorn's start and reload hooks, in the master).

    The workers forked after it inherit the variable: keys parked by the old
    generation are tried again (routing/keys.py), as a reload promises.
    """
    import uuid

    os.environ["DROID2API_GENERATION"] = uuid.uuid4().hex[:12]
