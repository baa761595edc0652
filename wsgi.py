"""The WSGI entry point: ``gunicorn -c gunicorn.conf.py wsgi:app``."""

from droid2api.app import create_app

app = create_app()
