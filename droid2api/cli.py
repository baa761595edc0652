"""The ``droid2api`` command: check the config, or run the server under gunicorn with gevent workers."""

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
    args = parser.parse_args(argv)
    if args.config:
        os.environ["DROID2API_CONFIG"] = args.config
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

    from .server import gunicorn_settings

    class Server(BaseApplication):
        def load_config(self):
            for key, value in gunicorn_settings().items():
                if key in self.cfg.settings:  # as gunicorn.conf.py does: older gunicorns lack newer settings
                    self.cfg.set(key, value)

        def load(self):
            from .app import create_app
            return create_app()

    Server().run()


if __name__ == "__main__":
    sys.exit(main())
