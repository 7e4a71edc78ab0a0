"""Two announcements of one project at once: only the numbering is under the ledger lock, so
the draws' unique keys decide, and the later request answers as if it had seen the earlier
draw before it began (on both databases).

The second request is held after its first look (before building its pool) until the first
has announced and committed; it holds no transaction meanwhile, so SQLite's single writer
does not serialise the two.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
import sqlalchemy as sa

from expertdraw import clock
from expertdraw.extensions import db
from expertdraw.models import Draw, LedgerEntry, User
from expertdraw.services import draws, pool, projects
from expertdraw.services.errors import Conflict

from . import centre as c


@pytest.fixture
def trading_centre(app):
    with clock.frozen(c.NOW):
        built = c.build()
    return built


def _race(app, monkeypatch, centre: c.Centre, first_key: str, second_key: str) -> dict[str, Any]:
    spec = c.project_spec(centre, "P2027-0201", allow_no_entropy=True)
    pm = centre.users["pm"]
    paused, go = threading.Event(), threading.Event()
    real = pool.build_pool

    def held(*args: Any, **kwargs: Any) -> Any:
        if threading.current_thread().name == "second":
            db.session.commit()  # no transaction held while the first request announces
            paused.set()
            go.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(draws.pool, "build_pool", held)
    outcome: dict[str, Any] = {}

    def second(user_id: int) -> None:
        with app.app_context():
            try:
                user = db.session.get(User, user_id)
                project = projects.get_project("P2027-0201")
                drawn = draws.announce(project, user, {"kind": "none"}, idempotency_key=second_key)
                outcome["second"] = drawn.id
            except Conflict as exc:
                outcome["second"] = exc.code
            finally:
                db.session.remove()

    with clock.frozen(c.NOW):
        project = projects.create_project(spec, centre.users["admin"])
        pm_id = pm.id
        db.session.commit()  # and read nothing until the second request is held
        thread = threading.Thread(target=second, args=(pm_id,), name="second")
        thread.start()
        assert paused.wait(30)
        outcome["first"] = draws.announce(
            project, pm, {"kind": "none"}, idempotency_key=first_key
        ).id
        db.session.rollback()  # the read of its id began a transaction: end it
        go.set()
        thread.join(60)
    assert not thread.is_alive()
    return outcome


def _announced() -> list[str]:
    return list(
        db.session.scalars(
            sa.select(LedgerEntry.draw_id).where(LedgerEntry.type == "draw.announced")
        )
    )


def test_a_retry_that_lost_the_race_returns_the_same_draw(app, monkeypatch, trading_centre):
    outcome = _race(app, monkeypatch, trading_centre, "key-1", "key-1")

    assert outcome["second"] == outcome["first"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Draw)) == 1
    assert _announced() == [outcome["first"]]


def test_another_request_that_lost_the_race_is_a_conflict(app, monkeypatch, trading_centre):
    outcome = _race(app, monkeypatch, trading_centre, "key-1", "key-2")

    assert outcome["second"] == "conflict:draw"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Draw)) == 1
    assert _announced() == [outcome["first"]]


def test_the_database_refuses_a_second_live_root_draw(app, trading_centre):
    with clock.frozen(c.NOW):
        spec = c.project_spec(trading_centre, "P2027-0202", allow_no_entropy=True)
        project = projects.create_project(spec, trading_centre.users["admin"])
        first = draws.announce(project, trading_centre.users["pm"], {"kind": "none"})
    values = {
        column: getattr(first, column)
        for column in ("project_id", "algorithm", "snapshot_hash", "commitment", "secret")
    }
    db.session.add(_another_root("D-SECOND", values))
    with pytest.raises(sa.exc.IntegrityError):
        db.session.flush()
    db.session.rollback()
    first = db.session.get(Draw, first.id)
    first.state = "failed"  # a failed draw is not live: the project may be drawn again
    db.session.add(_another_root("D-AGAIN", values))
    db.session.flush()


def _another_root(draw_id: str, values: dict[str, Any]) -> Draw:
    """An announced root draw of the same project as ``values``, written as SQL would."""
    return Draw(
        id=draw_id, state="announced", entropy={}, announced_at=c.NOW, deadline_at=c.NOW, **values
    )
