"""gunicorn configuration: ``gunicorn -c gunicorn.conf.py wsgi:app``.

Bind address, port and worker count come from the droid2api config (see
droid2api/server.py); gevent workers serve many streams per process.
"""

from droid2api.server import gunicorn_settings

globals().update(gunicorn_settings())
