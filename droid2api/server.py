"""How the server runs under gunicorn: settings shared by gunicorn.conf.py and the ``droid2api`` command.

gunicorn.conf.py runs in the master at start and again at every reload
(SIGHUP); reload.py decides what a new config does there: an invalid one
stops the start, and is refused at a reload while the previous one serves.

This module must not import requests or ssl: gunicorn loads it in the master
process, and gevent has to patch those modules in each worker before anyone
imports them.
"""

from __future__ import annotations

import os
import sys

from .reload import ServedConfig, address


def gunicorn_settings(environ=os.environ, served: ServedConfig | None = None) -> dict:
    """gunicorn's settings from the droid2api config; an invalid config exits with its one-line reason.

    ``served`` is the master's config across reloads (reload.MASTER in gunicorn.conf.py and the droid2api
    command); without it each call is a start.
    """
    served = served if served is not None else ServedConfig()
    starting = served.settings is None
    settings = served.take(environ)
    host = served.bind[0]
    if not settings.access_keys and starting:
        if host in ("127.0.0.1", "localhost", "::1"):
            print(f"droid2api: no access key is configured, so the server listens on {host} only; "
                  f"set access_keys in the config or DROID2API_ACCESS_KEYS to serve other hosts", file=sys.stderr)
        else:
            print(f"droid2api: WARNING: listening on {host} without access keys: anyone who can "
                  f"reach this port can use the configured credentials", file=sys.stderr)
    return {
        "bind": [address(served.bind)],
        "worker_class": "gevent",
        "workers": settings.workers,
        "worker_connections": settings.worker_connections,
        "timeout": 60,  # heartbeat only: gevent workers keep answering it during long streams
        "graceful_timeout": 30,
        "keepalive": 75,  # longer than nginx's upstream keepalive_timeout (60s)
        "accesslog": None,  # droid2api writes its own one-line-per-request log
        "errorlog": "-",
        "loglevel": "info",
        # gunicorn >= 25.1 opens a management socket at one fixed path in $HOME by default; droid2api
        # does not use it, and a second instance on the host would unlink the first one's.
        "control_socket_disable": True,
        "on_starting": starting_hook(settings.data_dir),
        "child_exit": worker_exited,
        "on_reload": reload_hook(served),
    }


def new_generation(server=None):
    """Start a new configuration generation (gunicorn's start and reload hooks, in the master).

    The workers forked after it inherit the variable: keys parked by the old
    generation are tried again (routing/keys.py), as a reload promises.
    """
    import uuid

    os.environ["DROID2API_GENERATION"] = uuid.uuid4().hex[:12]


def reload_hook(served: ServedConfig):
    """gunicorn's on_reload hook: a new generation, unless the reload was refused (the previous config, and
    its parked keys, stay)."""

    def on_reload(server):
        if not served.refused:
            new_generation(server)

    return on_reload


def starting_hook(data_dir: str):
    """gunicorn's on_starting hook, in the master before any worker forks: a new generation, and the directory
    the workers' metrics go to."""

    def on_starting(server):
        new_generation(server)
        try:
            metrics_directory(data_dir)
        except OSError as e:  # the gateway still serves; /metrics then shows the one worker that answers
            print(f"droid2api: WARNING: no directory for the workers' metrics ({e}): each worker counts "
                  f"alone", file=sys.stderr)

    return on_starting


def metrics_directory(data_dir: str, environ=os.environ) -> str:
    """Empty the directory where prometheus_client keeps each worker's metrics (multi-process mode), and name
    it to the workers: $PROMETHEUS_MULTIPROC_DIR if set, else ``<data_dir>/prometheus``. prometheus_client
    reads the variable when first imported: in each worker, after the fork."""
    path = os.path.abspath(environ.get("PROMETHEUS_MULTIPROC_DIR") or os.path.join(data_dir, "prometheus"))
    os.makedirs(path, mode=0o700, exist_ok=True)
    for name in os.listdir(path):
        if name.endswith(".db"):  # prometheus_client's files only: a directory set by hand may hold others
            os.remove(os.path.join(path, name))
    environ["PROMETHEUS_MULTIPROC_DIR"] = path
    return path


def worker_exited(server, worker):
    """gunicorn's child_exit hook: a worker's live gauges (open streams) leave the sum; its counters stay."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
