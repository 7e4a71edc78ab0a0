"""One beacon draw request sent twice at once across a minute boundary gets one draw.

Left out, the pulse time defaults to the minute after each copy's own clock: the copy that lost
the race compares the request as asked with the draw made, not its own default."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from expertdraw import clock
from expertdraw.extensions import db
from expertdraw.models import Draw, User
from expertdraw.services import draws, pool, projects
from expertdraw.services.errors import Conflict
from tests.integration import centre as c


def test_both_copies_of_a_beacon_request_get_the_same_draw(app, monkeypatch):
    """Both copies (one Idempotency-Key, entropy beacon, no not_before) pass the first look
    before either announces; on PostgreSQL the second waits for the project's row."""
    t1 = c.NOW + timedelta(seconds=50)  # not_before 02:02:00
    t2 = c.NOW + timedelta(seconds=75)  # not_before 02:03:00
    with clock.frozen(c.NOW):
        centre = c.build()
        spec = c.project_spec(centre, "P-BEACON")
        projects.create_project(spec, centre.users["admin"])
        pm_id = centre.users["pm"].id
        db.session.commit()
    paused, go = threading.Event(), threading.Event()
    real = pool.build_pool

    def held(*args: Any, **kwargs: Any) -> Any:
        if threading.current_thread().name == "first":
            db.session.commit()
            paused.set()
            go.wait(3)  # (PostgreSQL: the retry waits for this request's project row)
        return real(*args, **kwargs)

    monkeypatch.setattr(draws.pool, "build_pool", held)
    outcome: dict[str, Any] = {}
    request = {"kind": "beacon"}

    def first() -> None:
        with app.app_context():
            try:
                user = db.session.get(User, pm_id)
                project = projects.get_project("P-BEACON")
                outcome["first"] = draws.announce(
                    project, user, dict(request), idempotency_key="K-1"
                ).id
            except Conflict as exc:
                outcome["first"] = exc.code
            finally:
                db.session.remove()

    with clock.frozen(t1):
        thread = threading.Thread(target=first, name="first")
        thread.start()
        assert paused.wait(30)
    with clock.frozen(t2):
        pm = db.session.get(User, pm_id)
        project = projects.get_project("P-BEACON")
        outcome["retry"] = draws.announce(project, pm, dict(request), idempotency_key="K-1").id
        db.session.rollback()
        go.set()
        thread.join(60)
    assert not thread.is_alive()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Draw)) == 1
    assert outcome["first"] == outcome["retry"], outcome
