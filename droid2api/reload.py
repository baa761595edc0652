"""This module keeps the config the gunicorn master last found valid, and decides what a reload does with a new one.

gunicorn's reload (SIGHUP; ``systemctl reload``) re-executes gunicorn.conf.py
in the master, then forks new workers and stops the old ones. Without this
module an invalid config stopped the master on the spot (the config's
SystemExit), and workers read the file themselves, so a file broken after the
master's check (or broken and then a worker respawned after a crash or a
timeout, with no reload at all) made a worker fail to boot, and gunicorn then
halts the whole server ("Worker failed to boot").

So the master validates the file, at start and at every reload, and keeps
the last valid Settings in memory (``MASTER``); workers take those Settings
instead of reading the file (wsgi.py, cli.py). They reach the workers through
the fork itself: a worker is a copy of the master's memory, so it gets what
the master validated, as it was when that worker was forked. Nothing is
written to disk (no secrets in the data directory, nothing stale after a
crash), nothing goes through the environment (readable in /proc, inherited by
child processes, bounded on exec), and no worker can read a file that changed
since the master checked it.

* At start an invalid config stops the server with its one-line reason
  (exit status 2), as before.
* At a reload an invalid config is refused: one line says why, and the
  previous Settings stay; gunicorn still replaces the workers, and the new
  ones serve the previous config, so the service answers throughout.
* The listening address (``host``, ``port``) is the one of the start: gunicorn
  would close its socket and bind the new address on a reload, and an address
  in use (or a port below 1024, which the unprivileged service cannot bind)
  would then stop the master. A changed address is reported and waits for
  the next restart. ``workers`` takes effect at the reload.
"""

from __future__ import annotations

import os
import sys

from .config import ConfigError, Settings, load_settings


def _say(line: str):
    print(line, file=sys.stderr, flush=True)


class ServedConfig:
    """The master's config: the Settings it last found valid, and the address it listens on since its start."""

    def __init__(self, say=_say):
        self.settings: Settings | None = None
        self.bind: tuple | None = None  # (host, port), chosen at start
        self.refused = False  # whether the last reload kept the previous config
        self.say = say

    def take(self, environ=os.environ) -> Settings:
        """Load the config: at start, or at a reload once a config was taken."""
        if self.settings is None:
            return self._start(environ)
        return self._reload(environ)

    def _start(self, environ) -> Settings:
        try:
            settings = load_settings(environ)
        except ConfigError as e:
            self.say(f"droid2api: {e}")
            raise SystemExit(2) from None
        self.settings, self.bind, self.refused = settings, (settings.bind_host, settings.port), False
        return settings

    def _reload(self, environ) -> Settings:
        try:
            settings = load_settings(environ)
        except Exception as e:  # noqa: BLE001 (whatever goes wrong, the master must not stop)
            reason = str(e) if isinstance(e, ConfigError) else f"unexpected {type(e).__name__}: {e}"
            self.refused = True
            self.say(f"droid2api: reload refused, still serving the previous config: {reason}")
            return self.settings
        self.refused = False
        wanted = (settings.bind_host, settings.port)
        if wanted != self.bind:
            self.say(f"droid2api: still listening on {address(self.bind)}: the new address {address(wanted)} "
                     f"takes effect at the next restart")
        self.settings = settings
        self.say(f"droid2api: config reloaded: {len(settings.models)} models ({settings.path})")
        return settings


def address(bind: tuple) -> str:
    """``host:port`` as gunicorn's ``bind`` takes it (an IPv6 host in brackets)."""
    host, port = bind
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# The gunicorn master's config: one per process, like the master itself. Set by gunicorn.conf.py (or the
# droid2api command) in the master; read by the workers forked from it.
MASTER = ServedConfig()


def served_settings() -> Settings | None:
    """In a worker: the Settings its master validated last. None when no droid2api master loaded a config in
    this process (``gunicorn wsgi:app`` without gunicorn.conf.py, another WSGI server): create_app then reads
    the file itself."""
    return MASTER.settings
