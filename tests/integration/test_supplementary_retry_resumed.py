"""A failed supplementary draw is retried as the next D-R<n> (draw.md §6.4) even when the
process that failed it stopped before the retry: the deadline job's next run makes it, once."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from expertdraw import clock
from expertdraw.extensions import db
from expertdraw.models import Draw, Member
from expertdraw.services import draws, ledger, projects, replacements
from tests.integration import centre as c


def _waiting_supplementary():
    with clock.frozen(c.NOW):
        centre = c.build()
        spec = c.project_spec(centre, "P-RETRY", name="retry", agency=None, bidders=())
        project = projects.create_project(spec, centre.users["pm"])
        draw = draws.announce(project, centre.users["pm"], {"kind": "witness", "witnesses": 1})
        draw = draws.add_witness(draw, centre.users["sup1"], "w")
    draw_id = draw.id
    when = c.NOW + timedelta(hours=1)
    with clock.frozen(when):
        for _ in range(2):  # the economic stratum has one alternate: the 2nd leaver needs D-R1
            member = db.session.scalars(
                sa.select(Member).where(
                    Member.draw_id == draw_id,
                    Member.state == "active",
                    Member.stratum == "economic",
                )
            ).first()
            replacements.replace_member(member, "conflict", dict(ledger.SYSTEM), when)
    sub = db.session.get(Draw, f"{draw_id}-R1")
    assert sub is not None and sub.state == "announced"
    return draw_id, sub


def test_a_timed_out_supplementary_draw_is_retried_by_the_next_run_after_an_interrupted_one(
    app, monkeypatch
):
    """The failure commits before the next D-R<n> is announced, in another transaction; a run
    stopped between the two (simulated by one exception) leaves the retry pending, and the
    next run announces D-R2, once."""
    draw_id, sub = _waiting_supplementary()
    deadline = sub.deadline_at
    real = replacements.retry_failed_supplementary
    calls = {"n": 0}

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("connection lost")  # the process died here
        return real(*args, **kwargs)

    monkeypatch.setattr(replacements, "retry_failed_supplementary", interrupted)
    with pytest.raises(RuntimeError):
        draws.fail_stale(deadline)
    db.session.rollback()
    assert db.session.get(Draw, sub.id).state == "failed"
    # The job is retried (scheduling.RetryPolicy) and runs again every minute.
    draws.fail_stale(deadline + timedelta(minutes=1))
    draws.fail_stale(deadline + timedelta(minutes=2))
    db.session.expire_all()
    nxt = db.session.get(Draw, f"{draw_id}-R2")
    assert nxt is not None, "the failed D-R1 was never retried: the open place is forgotten"
    assert db.session.get(Draw, f"{draw_id}-R3") is None  # retried once, not every minute
    assert db.session.get(Draw, sub.id).retry_pending is False
