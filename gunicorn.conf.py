"""gunicorn configuration: ``gunicorn -c gunicorn.conf.py wsgi:app``.

Bind address, port and worker count come from the droid2api config (see
droid2api/server.py); gevent workers serve many streams per process.
gunicorn runs this file in the master at start and at every reload (SIGHUP):
the master checks the config each time and keeps the last valid one, which
its workers serve (droid2api/reload.py).
"""

from droid2api.reload import MASTER
from droid2api.server import gunicorn_settings

globals().update(gunicorn_settings(served=MASTER))
