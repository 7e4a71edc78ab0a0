"""A supplementary draw announced a little before ``window_start - NOTICE_LEAD``: a beacon
draw gets a deadline its pulse comes before (it was announced doomed), and one that waits on
witnesses gets its whole wait, not seconds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from expertdraw import clock
from expertdraw.domain import entropy as outside
from expertdraw.extensions import db
from expertdraw.models import Draw, Member, Project
from expertdraw.services import draws, ledger, projects, replacements
from tests.integration import centre as c

ANNOUNCED = datetime(2026, 8, 31, 19, 2, 10, tzinfo=UTC)
NOT_BEFORE = datetime(2026, 8, 31, 19, 3, 30, tzinfo=UTC)
LOG_CREATED = datetime(2026, 8, 30, tzinfo=UTC)


def test_supplementary_beacon_draw_has_a_pulse_its_deadline_allows(app, shared_dir):
    app.config["BEACON_CERTIFICATE"] = str(
        shared_dir / "vectors/nist-beacon/certificate-528943a5.pem"
    )
    with clock.frozen(c.NOW):
        centre = c.build(log_created=LOG_CREATED)
    spec = c.project_spec(centre, "P-SUPDL", name="beacon", agency=None, bidders=())
    with clock.frozen(ANNOUNCED):
        project = projects.create_project(spec, centre.users["pm"])
        draw = draws.announce(
            project, centre.users["pm"], {"kind": "beacon", "not_before": NOT_BEFORE}
        )
        pulse = (shared_dir / "vectors/nist-beacon/pulse-2-1921300.json").read_text()
        draw = draws.supply_entropy(draw, centre.users["sup1"], pulse=pulse)
    assert draw.state == "completed"
    draw_id = draw.id
    # 40 s before window_start - NOTICE_LEAD, the economic member (one alternate) leaves
    # twice: the second time a supplementary draw D-R1 is announced.
    when = c.WINDOW - draws.NOTICE_LEAD - timedelta(seconds=40)
    with clock.frozen(when):
        for _ in range(2):
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
    not_before = outside.parse_time(sub.entropy["not_before"])
    # The main draw refuses such an announcement (entropy:beacon-deadline): the pulse must
    # come, and the beacon job run, BEACON_MARGIN before the deadline.
    assert not_before <= sub.deadline_at - draws.BEACON_MARGIN, (
        f"pulse {not_before.isoformat()} but deadline {sub.deadline_at.isoformat()}"
    )


def test_a_supplementary_draw_just_before_the_notice_lead_keeps_its_full_wait(app):
    """Seconds before ``window_start - NOTICE_LEAD`` a main draw's deadline is that point (a
    request can be refused and made again); a supplementary draw, announced by a replacement,
    gets its whole wait instead of seconds for the supervisors to enter their values."""
    project = Project(window_start=c.WINDOW, window_end=c.WINDOW + timedelta(hours=8))
    now = c.WINDOW - draws.NOTICE_LEAD - timedelta(seconds=40)
    wait = timedelta(minutes=app.config["ANNOUNCE_TIMEOUT_MINUTES"])
    spec = {"kind": "witness", "witnesses": 2}
    assert draws.entropy_deadline(spec, project, now) == c.WINDOW - draws.NOTICE_LEAD
    assert draws.entropy_deadline(spec, project, now, supplementary=True) == now + wait
    # Well before that point, a supplementary draw's deadline is the point, as a main draw's.
    early = c.WINDOW - timedelta(hours=3)
    assert draws.entropy_deadline(spec, project, early, supplementary=True) == min(
        early + wait, c.WINDOW - draws.NOTICE_LEAD
    )
    # Never past the window's end.
    late = c.WINDOW + timedelta(hours=8) - timedelta(minutes=1)
    assert draws.entropy_deadline(spec, project, late, supplementary=True) == project.window_end
