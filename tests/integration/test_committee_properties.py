"""Any sequence of answers, timeouts, witnesses and cancellations keeps a committee whole
(draw.md §5-§6): never more members than places, one supplementary draw at a time, separated
seats, no workstation booked twice, bookings only for members; and the ledger replays. On both
databases, each example a new project of the same centre."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from expertdraw import clock
from expertdraw.domain.bundle import audit_bundle
from expertdraw.extensions import db
from expertdraw.models import Booking, Draw, Expert, Member, Notice
from expertdraw.services import draws, export, notices, projects, sealed

from ..faults.scenario import RELAXED_RULES
from . import centre as c

ACTIONS = st.lists(st.sampled_from(["decline", "timeout", "witness", "cancel"]), max_size=8)
SHAPES = st.sampled_from(
    [
        [("technical", "A0101", "technical", 5, 0)],
        [("technical", "A0101", "technical", 5, 1)],
        [("technical", "A0101", "technical", 4, 2), ("economic", "C0301", "economic", 1, 0)],
        [("technical", "A0101", "technical", 4, 0), ("economic", "C0301", "economic", 1, 1)],
    ]
)


@pytest.fixture
def relaxed_centre(app):
    """The test centre, with rules that keep one expert eligible for many projects."""
    app.config["ELIGIBILITY_RULES"] = RELAXED_RULES
    with clock.frozen(c.NOW):
        centre = c.build()
    return centre, itertools.count(1)


def _waiting(root: str) -> Draw | None:
    return db.session.scalar(
        sa.select(Draw).where(Draw.root_id == root, Draw.state == "announced").limit(1)
    )


def _act(action: str, root: str, centre: c.Centre, now: datetime) -> datetime:
    """Do ``action`` at ``now`` (a timeout: when the last pending notice is due); return the
    time the clock reached."""
    pending = db.session.execute(
        sa.select(Notice.id, Expert.code, Notice.due_at)
        .join(Expert, Expert.id == Notice.expert_id)
        .where(Notice.draw_id == root, Notice.status == "pending")
        .order_by(Notice.member_id)
    ).all()
    waiting = _waiting(root)
    if action == "timeout" and pending:
        now = max(now, *(p.due_at for p in pending))
    with clock.frozen(now):
        if action == "decline" and pending:
            notice = pending[0]
            notices.answer(c.expert_user(notice.code), notice.id, accept=False, reason="ill")
        elif action == "timeout" and pending:
            notices.expire_overdue(now)
        elif action == "witness" and waiting is not None:
            draws.add_witness(waiting, centre.users["sup1"], "w")
        elif action == "cancel" and waiting is not None:
            draws.fail(waiting, "cancelled", centre.users["sup1"])
    return now


def _check_committee(root: str, strata: list[tuple]) -> None:
    active = list(
        db.session.scalars(
            sa.select(Member).where(Member.draw_id == root, Member.state == "active")
        )
    )
    per_stratum = Counter(m.stratum for m in active)
    assert all(per_stratum[name] <= count for name, _, _, count, _ in strata), per_stratum
    assert len({m.expert_id for m in active}) == len(active)
    assert len({m.venue_id for m in active}) == len(active)  # separation: venue
    waiting = db.session.scalars(
        sa.select(Draw.id).where(Draw.root_id == root, Draw.state == "announced")
    ).all()
    assert len(waiting) <= 1, waiting
    held = list(db.session.scalars(sa.select(Booking).where(Booking.released_at.is_(None))))
    assert len({b.workstation_id for b in held if b.draw_id == root}) == len(
        [b for b in held if b.draw_id == root]
    )
    assert {b.member_id for b in held if b.draw_id == root} == {m.id for m in active}
    progress = sealed.progress(draws.get_draw(root))
    assert progress["open_places"] == sum(s[3] for s in strata) - len(active)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(shape=SHAPES, actions=ACTIONS)
def test_any_sequence_of_answers_keeps_the_committee_whole(relaxed_centre, shape, actions):
    centre, numbers = relaxed_centre
    n = next(numbers)
    start = c.WINDOW + timedelta(days=2 * n)
    spec = c.project_spec(
        centre,
        f"P-PROP-{n}",
        window_start=start,
        window_end=start + timedelta(hours=8),
        strata=[projects.StratumSpec(*s) for s in shape],
    )
    with clock.frozen(c.NOW):
        project = projects.create_project(spec, centre.users["pm"])
        root = draws.announce(project, centre.users["pm"], {"kind": "witness", "witnesses": 1})
        root = draws.add_witness(root, centre.users["sup1"], "a").id
    now = c.NOW
    for action in actions:
        now += timedelta(minutes=1)
        now = _act(action, root, centre, now)
        _check_committee(root, shape)


def test_the_ledger_of_many_such_committees_replays(relaxed_centre, tmp_path):
    """One committee through every kind of step, then the whole ledger audited with replay."""
    centre, _ = relaxed_centre
    spec = c.project_spec(
        centre, "P-PROP-ALL", strata=[projects.StratumSpec("technical", "A0101", "technical", 5, 1)]
    )
    with clock.frozen(c.NOW):
        project = projects.create_project(spec, centre.users["pm"])
        root = draws.announce(project, centre.users["pm"], {"kind": "witness", "witnesses": 1})
        root = draws.add_witness(root, centre.users["sup1"], "a").id
    now = c.NOW
    steps = ["decline", "decline", "decline", "cancel", "timeout", "witness", "decline"]
    for action in steps:
        now = _act(action, root, centre, now + timedelta(minutes=1))
        _check_committee(root, [("technical", "A0101", "technical", 5, 1)])
    export.write_bundle(tmp_path / "bundle")
    report = audit_bundle(tmp_path / "bundle", replay=True, entry_signatures=True)
    assert report.ok, [str(p) for p in report.problems]
    assert report.summary["draws_failed"] >= 2  # superseded and cancelled
