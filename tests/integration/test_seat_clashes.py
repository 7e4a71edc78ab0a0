"""A seat or expert booked between the snapshot and the result fails the draw, on both databases.

The selection is known once the entropy is: the test computes it with the draw engine, books
the drawn workstation (or the drawn expert elsewhere) overlapping the window, then enters the
last witness value. The draw must fail with its secret revealed and book nothing.
"""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from expertdraw import clock
from expertdraw.domain import draw as engine
from expertdraw.extensions import db
from expertdraw.models import (
    Alternate,
    Booking,
    Delivery,
    Draw,
    Expert,
    LedgerEntry,
    Member,
    Notice,
    Workstation,
)
from expertdraw.services import draws, ledger, projects
from expertdraw.services.errors import Conflict

from . import centre as c

WITNESS_VALUES = ["31415", "zt-2027-03-01"]


@pytest.fixture
def trading_centre(app):
    with clock.frozen(c.NOW):
        built = c.build()
    return built


def _announced(centre: c.Centre) -> Draw:
    with clock.frozen(c.NOW):
        project = projects.create_project(c.project_spec(centre, "P2027-0101"), centre.users["pm"])
        draw = draws.announce(project, centre.users["pm"], {"kind": "witness", "witnesses": 2})
        draws.add_witness(draw, centre.users["sup1"], WITNESS_VALUES[0])
    return draw


def _predicted_members(draw: Draw) -> list[dict]:
    snapshot = json.loads(draws.snapshot_text(draw.id))
    announced = ledger.entry_body("draw.announced", draw.id)
    kind, body = engine.complete(snapshot, announced, bytes.fromhex(draw.secret), WITNESS_VALUES)
    assert kind == "draw.completed"
    return body["members"]


def _book(draw: Draw, workstation: str, expert_code: str, hours_after_window_start: int) -> None:
    """A one-hour booking of ``workstation`` for the expert, committed."""
    expert = db.session.scalar(sa.select(Expert.id).where(Expert.code == expert_code))
    start = c.WINDOW + timedelta(hours=hours_after_window_start)
    db.session.add(
        Booking(
            workstation_id=workstation,
            expert_id=expert,
            draw_id=draw.id,
            start=start,
            end=start + timedelta(hours=1),
        )
    )
    db.session.commit()


def _last_witness(centre: c.Centre, draw: Draw) -> None:
    with clock.frozen(c.NOW):
        draws.add_witness(draw, centre.users["sup2"], WITNESS_VALUES[1])


@pytest.mark.parametrize(
    ("booked", "reason"),
    [("workstation", "conflict:workstation-booked"), ("expert", "conflict:expert-booked")],
)
def test_a_seat_taken_since_the_snapshot_fails_the_draw(trading_centre, booked, reason):
    draw = _announced(trading_centre)
    members = _predicted_members(draw)
    first = members[0]
    if booked == "workstation":  # by an expert who is not drawn
        other = db.session.scalar(
            sa.select(Expert.code).where(Expert.code.not_in([m["expert"] for m in members]))
        )
        _book(draw, first["workstation"], other, 2)
    else:  # the drawn expert, at a workstation no member is drawn to
        elsewhere = db.session.scalar(
            sa.select(Workstation.id)
            .where(Workstation.id.not_in([m["workstation"] for m in members]))
            .limit(1)
        )
        _book(draw, elsewhere, first["expert"], 2)

    _last_witness(trading_centre, draw)

    assert draw.state == "failed" and draw.reason == reason
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Member)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Booking)) == 1
    failed = ledger.entry_body("draw.failed", draw.id)
    assert failed["reason"] == reason and failed["secret"] == draw.secret


@pytest.mark.parametrize("place", ["workstation", "room", "venue"])
def test_a_place_taken_out_of_service_while_the_draw_waits_fails_it(trading_centre, place):
    """README: out of service, a place takes no new seat; a draw waiting for its entropy
    would otherwise seat a member there. It fails as for a clash, its secret revealed (the
    admin who closed the place could not know the result: the entropy was not yet taken)."""
    from expertdraw.models import Room

    draw = _announced(trading_centre)
    first = _predicted_members(draw)[0]
    workstation = db.session.get(Workstation, first["workstation"])
    room = db.session.get(Room, workstation.room_id)
    target = {"workstation": workstation, "room": room}.get(place)
    if target is None:
        from expertdraw.models import Venue

        target = db.session.get(Venue, room.venue_id)
    target.active = False
    db.session.commit()

    _last_witness(trading_centre, draw)

    assert draw.state == "failed" and draw.reason == "conflict:workstation-closed"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Booking)) == 0
    failed = ledger.entry_body("draw.failed", draw.id)
    assert failed["secret"] == draw.secret
    snapshot = json.loads(draws.snapshot_text(draw.id))
    announced = ledger.entry_body("draw.announced", draw.id)
    assert engine.replay(snapshot, announced, failed) is None  # the audit accepts it


def test_a_booking_outside_the_window_does_not_fail_the_draw(trading_centre):
    """The window lasts eight hours: a workstation booked an hour after it is free for it,
    and an expert booked past the travel buffer (two hours) is free too; an expert booked
    inside the buffer is not (tests/integration/test_lifecycle_edges.py)."""
    draw = _announced(trading_centre)
    members = _predicted_members(draw)
    drawn = {m["expert"] for m in members}
    other = db.session.scalar(sa.select(Expert.code).where(Expert.code.not_in(drawn)).limit(1))
    _book(draw, members[0]["workstation"], other, 9)
    _book(draw, members[1]["workstation"], members[0]["expert"], 11)

    _last_witness(trading_centre, draw)

    assert (draw.state, draw.reason) == ("completed", None)
    kinds = db.session.scalars(sa.select(LedgerEntry.type).where(LedgerEntry.draw_id == draw.id))
    assert "draw.completed" in set(kinds)


def test_a_second_completion_of_a_completed_draw_is_a_conflict(app, trading_centre):
    """A request still holding the draw as announced (loaded before another request
    completed it) writes its committee's rows before the ledger lock; their unique keys stop
    it, and it answers ``conflict:draw-state`` with the first committee left whole."""
    with clock.frozen(c.NOW):
        spec = c.project_spec(trading_centre, "P2027-0102", allow_no_entropy=True)
        project = projects.create_project(spec, trading_centre.users["admin"])
        draw_id = draws.announce(project, trading_centre.users["pm"], {"kind": "none"}).id
    db.session.rollback()  # SQLite: no write transaction left open while the other loads
    loaded, completed = threading.Event(), threading.Event()
    outcome: dict[str, str] = {}

    def late() -> None:
        with app.app_context():
            stale = draws.get_draw(draw_id)
            db.session.expunge(stale)  # keeps the state it was loaded with
            db.session.rollback()
            loaded.set()
            completed.wait(30)
            db.session.add(stale)
            try:
                with clock.frozen(c.NOW):
                    draws.complete(stale, "", None)
                outcome["late"] = "completed"
            except Conflict as exc:
                outcome["late"] = exc.code
            finally:
                db.session.remove()

    thread = threading.Thread(target=late)
    thread.start()
    assert loaded.wait(30)
    with clock.frozen(c.NOW):
        first = draws.complete(draws.get_draw(draw_id), "", None)
    completed.set()
    thread.join(60)

    assert first.state == "completed"
    assert outcome == {"late": "conflict:draw-state"}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Member)) == 5
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Booking)) == 5
    kinds = list(
        db.session.scalars(sa.select(LedgerEntry.type).where(LedgerEntry.draw_id == draw_id))
    )
    assert kinds.count("draw.completed") == 1 and kinds.count("notice.sent") == 5


def test_a_draw_failed_meanwhile_is_not_completed(trading_centre):
    """A draw failed (its deadline passed) while a request still held it as announced: that
    request's committee rows, written before the lock, are not committed, and it answers
    ``conflict:draw-state``."""
    with clock.frozen(c.NOW):
        spec = c.project_spec(trading_centre, "P2027-0103", allow_no_entropy=True)
        project = projects.create_project(spec, trading_centre.users["admin"])
        draw_id = draws.announce(project, trading_centre.users["pm"], {"kind": "none"}).id
        stale = draws.get_draw(draw_id)
        db.session.expunge(stale)  # keeps the state it was loaded with
        draws.fail(draws.get_draw(draw_id), "timeout:entropy", None)
        db.session.expunge_all()
        db.session.add(stale)
        with pytest.raises(Conflict) as caught:
            draws.complete(stale, "", None)
    db.session.rollback()

    assert caught.value.code == "conflict:draw-state"
    assert db.session.get(Draw, draw_id).state == "failed"
    for table in (Member, Booking, Notice, Delivery, Alternate):
        assert db.session.scalar(sa.select(sa.func.count()).select_from(table)) == 0
