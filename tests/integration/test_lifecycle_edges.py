"""A draw's life at its edges: committees completed in either order, a deadline instant, timeouts
recorded after the evaluation (frozen clock, the scheduler's job functions)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from expertdraw import clock
from expertdraw.domain import draw as engine
from expertdraw.extensions import db
from expertdraw.models import Booking, Draw, LedgerEntry, Member, Notice, Organisation
from expertdraw.services import draws, ledger, notices, projects, replacements
from expertdraw.services.errors import Conflict

from . import centre as c

FIVE = [projects.StratumSpec("technical", "A0101", "technical", 5, 0)]


def _announce(centre: c.Centre, code: str, **overrides) -> Draw:
    spec = c.project_spec(centre, code, **{"strata": FIVE, **overrides})
    project = projects.create_project(spec, centre.users["pm"])
    return draws.announce(project, centre.users["pm"], {"kind": "witness", "witnesses": 1})


def test_a_committee_drawn_meanwhile_within_the_travel_buffer_does_not_seat_the_same_expert(app):
    """Two projects on the same day, an hour apart (inside the 2 h travel buffer of rules.md
    ``busy``), both announced before either completes, from a pool of exactly five experts.
    Had B been announced after A completed, every expert would be ``busy`` and B refused.
    Completing B after A must not seat an expert A already seated within the buffer."""
    with clock.frozen(c.NOW):
        centre = c.build(technical=5)
        a = _announce(centre, "P-A")
        b = _announce(
            centre,
            "P-B",
            window_start=c.WINDOW + timedelta(hours=9),  # A ends at +8 h: one hour between
            window_end=c.WINDOW + timedelta(hours=17),
        )
        draws.add_witness(a, centre.users["sup1"], "a")
        b = draws.add_witness(draws.get_draw(b.id), centre.users["sup1"], "b")
    seated_a = set(
        db.session.scalars(
            sa.select(Member.expert_id).where(Member.draw_id == a.id, Member.state == "active")
        )
    )
    seated_b = set(
        db.session.scalars(
            sa.select(Member.expert_id).where(Member.draw_id == b.id, Member.state == "active")
        )
    )
    assert len(seated_a) == 5
    assert (b.state, b.reason) == ("failed", "conflict:expert-booked")
    assert seated_a & seated_b == set(), (
        f"draw B is {b.state}; experts seated on both committees one hour apart: "
        f"{sorted(seated_a & seated_b)}"
    )


@pytest.mark.parametrize(
    ("rules", "b_tenderer", "days_apart"),
    [({}, "same", 30), ({"frequency_limit": 1}, "other", 20)],
    ids=["same-tenderer", "frequency"],
)
def test_two_committees_drawn_at_once_do_not_both_seat_an_expert_the_rules_count(
    app, rules, b_tenderer, days_apart
):
    """Both draws announced before either completes, from a pool of exactly five experts:
    once A completes, its members fall under same-tenderer (the same tenderer, 30 days
    apart), or frequency (a limit of one, 20 days apart) for B, so B fails replayably with
    ``conflict:expert-drawn`` instead of seating them; a third project far from both
    completes with them."""
    app.config["ELIGIBILITY_RULES"] = {**(app.config.get("ELIGIBILITY_RULES") or {}), **rules}
    with clock.frozen(c.NOW):
        centre = c.build(technical=5)
        tenderer = {}
        if b_tenderer == "other":
            org = Organisation(uscc=c.uscc(901), name="另一招标人", kind="tenderer")
            db.session.add(org)
            db.session.commit()
            tenderer = {"tenderer": org.uscc}
        a = _announce(centre, "P-A")
        later = c.WINDOW + timedelta(days=days_apart)
        b = _announce(
            centre, "P-B", window_start=later, window_end=later + timedelta(hours=8), **tenderer
        )
        draws.add_witness(a, centre.users["sup1"], "a")
        b = draws.add_witness(draws.get_draw(b.id), centre.users["sup1"], "b")
        assert (b.state, b.reason) == ("failed", "conflict:expert-drawn")
        snapshot = json.loads(draws.snapshot_text(b.id))
        announced = ledger.entry_body("draw.announced", b.id)
        assert engine.replay(snapshot, announced, ledger.entry_body("draw.failed", b.id)) is None
        far = c.WINDOW + timedelta(days=200)
        c_draw = _announce(centre, "P-C", window_start=far, window_end=far + timedelta(hours=8))
        c_draw = draws.add_witness(c_draw, centre.users["sup1"], "c")
        assert c_draw.state == "completed"


def test_the_stale_announcement_job_and_a_witness_agree_at_the_deadline_instant(app):
    """At the deadline instant (a whole minute, a slot of the every-60-s job) the draw fails
    whichever comes first: the job, or a witness value, refused as late; a second earlier the
    witness completes it and the job leaves it alone."""
    with clock.frozen(c.NOW):
        centre = c.build()
        by_job, by_witness, in_time = (_announce(centre, f"P-EDGE{n}") for n in range(3))
    deadline = by_job.deadline_at
    assert deadline.second == 0 and {by_witness.deadline_at, in_time.deadline_at} == {deadline}
    with clock.frozen(deadline - timedelta(seconds=1)):
        assert draws.fail_stale() == 0
        assert draws.add_witness(in_time, centre.users["sup1"], "w").state == "completed"
    with clock.frozen(deadline), pytest.raises(Conflict, match="deadline"):
        draws.add_witness(by_witness, centre.users["sup1"], "w")
    with clock.frozen(deadline):
        assert draws.fail_stale() == 1
    db.session.expire_all()
    states = {d.id: draws.get_draw(d.id).state for d in (by_job, by_witness, in_time)}
    assert states == {by_job.id: "failed", by_witness.id: "failed", in_time.id: "completed"}


def test_a_late_timeout_run_after_the_evaluation_ended_seats_no_one_for_it(app):
    """The notice-timeouts job catches up after downtime (jobs.py). Run after the evaluation
    window has ended, it records the timeouts, but seats no one, books nothing, sends no
    notice and announces no supplementary draw for an evaluation that is over. The members
    who never answered never sat (check-in takes an accepted notice): they leave the
    committee, so that later draws do not count this evaluation against them."""
    with clock.frozen(c.NOW):
        centre = c.build()
        draw = _announce(centre, "P-OVER")
        draw = draws.add_witness(draw, centre.users["sup1"], "w")
    of_draw = Notice.draw_id == draw.id
    notices_before = set(db.session.scalars(sa.select(Notice.id).where(of_draw)))
    held = sa.select(Booking.id).where(Booking.draw_id == draw.id, Booking.released_at.is_(None))
    bookings_before = set(db.session.scalars(held))
    members = sa.select(Member.expert_id).where(Member.draw_id == draw.id, Member.state == "active")
    members_before = set(db.session.scalars(members))
    entries_before = db.session.scalar(sa.select(sa.func.max(LedgerEntry.seq)))
    late = c.WINDOW + timedelta(hours=9)  # the window ended an hour ago
    with clock.frozen(late):
        assert notices.expire_overdue(late) == len(notices_before)
    db.session.expire_all()
    statuses = set(db.session.scalars(sa.select(Notice.status).where(of_draw)))
    assert statuses == {"timeout"}
    assert set(db.session.scalars(sa.select(Notice.id).where(of_draw))) == notices_before
    assert bookings_before and members_before
    assert set(db.session.scalars(held)) == set()
    assert set(db.session.scalars(members)) == set()
    reasons = sa.select(Member.left_reason).where(Member.draw_id == draw.id)
    assert set(db.session.scalars(reasons)) == {"timeout"}
    assert db.session.scalars(sa.select(Draw.id).where(Draw.root_id == draw.id)).all() == []
    recorded = db.session.scalars(
        sa.select(LedgerEntry.type).where(LedgerEntry.seq > entries_before)
    ).all()
    assert recorded.count("notice.answered") == len(notices_before)
    assert "draw.replaced" not in recorded and "draw.announced" not in recorded
    with clock.frozen(late):  # nor does anything else replace a member now
        member = db.session.scalars(sa.select(Member).where(Member.draw_id == draw.id)).first()
        with pytest.raises(Conflict, match="evaluation has ended"):
            replacements.replace_member(member, "conflict", dict(ledger.SYSTEM), late)
