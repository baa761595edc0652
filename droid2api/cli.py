"""The ``droid2api`` command: check the config, print usage per client key (``droid2api usage``), or run
the server under gunicorn with gevent workers.

The server reloads as ``gunicorn -c gunicorn.conf.py`` does: SIGHUP makes the
master check the config again, and its workers serve the last valid one
(droid2api/reload.py).
"""

from __future__ import annotations

import argparse
import os
import sys

from . import __version__


def main(argv=None):
    parser = argparse.ArgumentParser(prog="droid2api", description="LLM API gateway")
    parser.add_argument("--config", help="config file (default: $DROID2API_CONFIG, ./config.json, packaged default)")
    parser.add_argument("--check", action="store_true", help="validate the config and exit")
    parser.add_argument("--version", action="version", version=f"droid2api {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="{usage}")
    usage = commands.add_parser("usage", help="print requests and tokens per access key, model and UTC day")
    usage.add_argument("--since", metavar="YYYY-MM-DD", help="first day to show (default: the last 30 days)")
    usage.add_argument("--key", metavar="NAME", help="only this access key's usage")
    usage.add_argument("--config", default=argparse.SUPPRESS, help="config file, as above")
    args = parser.parse_args(argv)
    if args.config:
        os.environ["DROID2API_CONFIG"] = args.config
    if args.command == "usage":
        from .usage import command
        return command(args.since, args.key)
    if args.check:
        from .config import ConfigError, load_settings
        try:
            settings = load_settings()
        except ConfigError as e:
            print(f"droid2api: {e}", file=sys.stderr)
            return 2
        print(f"{settings.path}: ok, {len(settings.models)} models")
        return 0
    _serve()
    return 0


def _serve():
    from gunicorn.app.base import BaseApplication

    from .reload import MASTER, served_settings
    from .server import gunicorn_settings

    class Server(BaseApplication):
        def load_config(self):  # in the master, at start and at every reload
            for key, value in gunicorn_settings(served=MASTER).items():
                if key in self.cfg.settings:  # as gunicorn.conf.py does: older gunicorns lack newer settings
                    self.cfg.set(key, value)

        def load(self):  # in each worker
            from .app import create_app
            return create_app(served_settings())

    Server().run()


if __name__ == "__main__":
    sys.exit(main())
