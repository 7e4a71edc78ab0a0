"""A seat or expert booked between the snapshot and the result fails the draw, on both databases.

The selection is known once the entropy is: the test computes it with the draw engine, books
the drawn workstation (or the drawn expert elsewhere) overlapping the window, then enters the
last witness value. The draw must fail with its secret revealed and book nothing.
"""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from expertdraw import clock
from expertdraw.domain import draw as engine
from expertdraw.extensions import db
from expertdraw.models import Booking, Draw, Expert, LedgerEntry, Member, Workstation
from expertdraw.services import draws, ledger, projects

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


@pytest.mark.parametrize(
    ("booked", "reason"),
    [("workstation", "conflict:workstation-booked"), ("expert", "conflict:expert-booked")],
)
def test_a_seat_taken_since_the_snapshot_fails_the_draw(trading_centre, booked, reason):
    draw = _announced(trading_centre)
    first = _predicted_members(draw)[0]
    expert = db.session.scalar(sa.select(Expert.id).where(Expert.code == first["expert"]))
    other_expert = db.session.scalar(
        sa.select(Expert.id).where(Expert.code != first["expert"]).limit(1)
    )
    other_workstation = db.session.scalar(
        sa.select(Workstation.id).where(Workstation.id != first["workstation"]).limit(1)
    )
    start = c.WINDOW.replace(hour=c.WINDOW.hour + 2)
    db.session.add(
        Booking(
            workstation_id=first["workstation"] if booked == "workstation" else other_workstation,
            expert_id=other_expert if booked == "workstation" else expert,
            draw_id=draw.id,
            start=start,
            end=start.replace(hour=start.hour + 1),
        )
    )
    db.session.commit()

    with clock.frozen(c.NOW):
        draws.add_witness(draw, trading_centre.users["sup2"], WITNESS_VALUES[1])

    assert draw.state == "failed" and draw.reason == reason
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Member)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Booking)) == 1
    failed = ledger.entry_body("draw.failed", draw.id)
    assert failed["reason"] == reason and failed["secret"] == draw.secret


def test_a_booking_outside_the_window_does_not_fail_the_draw(trading_centre):
    draw = _announced(trading_centre)
    first = _predicted_members(draw)[0]
    expert = db.session.scalar(sa.select(Expert.id).where(Expert.code == first["expert"]))
    after = c.WINDOW.replace(hour=c.WINDOW.hour + 9)  # the window lasts eight hours
    db.session.add(
        Booking(
            workstation_id=first["workstation"],
            expert_id=expert,
            draw_id=draw.id,
            start=after,
            end=after.replace(hour=after.hour + 1),
        )
    )
    db.session.commit()

    with clock.frozen(c.NOW):
        draws.add_witness(draw, trading_centre.users["sup2"], WITNESS_VALUES[1])

    assert draw.state == "completed"
    kinds = db.session.scalars(sa.select(LedgerEntry.type).where(LedgerEntry.draw_id == draw.id))
    assert "draw.completed" in set(kinds)
