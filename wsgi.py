"""WSGI entry point: ``gunicorn wsgi:app``."""

import gc

from expertdraw import create_app
from expertdraw.ops import warm_in_background

app = create_app()
# What exists now (the app, its routes, models and catalogs) lives as long as the process:
# moving it out of the collector's generations spares every request the cost of scanning it.
gc.freeze()
warm_in_background(app)  # the experts and seats likeliest drawn next, read once per process
