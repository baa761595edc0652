"""The WSGI entry point: ``gunicorn -c gunicorn.conf.py wsgi:app``.

A worker serves the config its master validated last (droid2api/reload.py),
not whatever the file holds when the worker starts.
"""

from droid2api.app import create_app
from droid2api.reload import served_settings

app = create_app(served_settings())
