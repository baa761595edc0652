"""gunicorn settings for the floors (benchmarks/floors.py): the gateway's own, from droid2api/server.py.

Run ``gunicorn -c benchmarks/floors_gunicorn.py benchmarks.floors:bare_wsgi`` in the gateway's
environment (DROID2API_CONFIG, PORT, ...): bind address, worker class, worker count, connections and
keep-alive are then those ``make run`` uses; only the gateway's own hooks (config reloads, metrics) are left out.
"""

from droid2api.server import gunicorn_settings

GATEWAY_HOOKS = ("on_starting", "child_exit", "on_reload")

globals().update({name: value for name, value in gunicorn_settings().items() if name not in GATEWAY_HOOKS})
