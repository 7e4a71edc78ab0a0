"""The WSGI app of a fault-test server process: ``gunicorn tests.faults.app_process:app``.

Database and instance folder come from the environment as in production
(``EXPERTDRAW_DATABASE_URL``, ``EXPERTDRAW_INSTANCE_PATH``); extra settings from JSON in
``EXPERTDRAW_FAULTS_CONFIG`` (e.g. relaxed eligibility rules so that thousands of draws stay
feasible). ``EXPERTDRAW_FAULTS_COMPLETE_DELAY`` (seconds) makes every API draw wait between its
announcement (committed) and its completion, holding no transaction: a kill or an outage then
lands inside that window often, which is exactly where a partial draw could be left behind.
Nothing in the application is changed; only this process's view of
``services.draws.complete`` is wrapped.
"""

from __future__ import annotations

import functools
import gc
import json
import os
import time
from typing import Any

from expertdraw import create_app
from expertdraw.extensions import db
from expertdraw.ops import warm_in_background
from expertdraw.services import draws

from .server import CONFIG_ENV, DELAY_ENV


def _slowed(delay: float) -> None:
    original = draws.complete

    @functools.wraps(original)
    def complete(*args: Any, **kwargs: Any) -> Any:
        # End the read transaction that the route's ``draw.state`` began (on SQLite it holds
        # the write lock), so that the wait holds no lock; ``complete`` refreshes the draw.
        db.session.rollback()
        time.sleep(delay)
        return original(*args, **kwargs)

    draws.complete = complete  # type: ignore[assignment]


def make_app() -> Any:
    """The app, configured from the environment plus ``EXPERTDRAW_FAULTS_CONFIG``."""
    delay = float(os.environ.get(DELAY_ENV) or 0)
    if delay > 0:
        _slowed(delay)
    return create_app(json.loads(os.environ.get(CONFIG_ENV) or "{}"))


app = make_app()
gc.freeze()  # as wsgi.py does
warm_in_background(app)  # as wsgi.py does
