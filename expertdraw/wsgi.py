"""WSGI entry point of an installed service: ``gunicorn expertdraw.wsgi:app``.

The app is created from the environment (``config.from_environment``); behind a reverse proxy,
``EXPERTDRAW_PROXY_HOPS`` says how many proxies set ``X-Forwarded-*`` (``create_app`` applies it).
"""

import gc

from expertdraw import create_app
from expertdraw.ops import warm_in_background

app = create_app()
# What exists now (the app, its routes, models and catalogs) lives as long as the process:
# moving it out of the collector's generations spares every request the cost of scanning it.
gc.freeze()
warm_in_background(app)  # the experts and seats likeliest drawn next, read once per process
