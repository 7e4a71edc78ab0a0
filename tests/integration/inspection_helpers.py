"""Helpers for the inspection tests: real draws through the services, and the smallest rows
behind a completed committee when a test only needs a project, its tenderer and a draw."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from expertdraw import clock
from expertdraw.extensions import db
from expertdraw.models import Draw, Organisation, Project
from expertdraw.services import draws, ledger, projects

from . import centre as c

spec = c.project_spec


#: When the samples of ``c.NOW``'s day are drawn: the next day, once that period is over.
SAMPLED = c.NOW + timedelta(days=1)


def one_day_plan(day: date) -> dict[str, Any]:
    """A sample plan (the API's body) of one day: half the low-risk projects, two witnesses."""
    return {
        "start": day.isoformat(),
        "end": day.isoformat(),
        "ratios": {"low": "1/2"},
        "witnesses": 2,
    }


def run_draw(
    centre: c.Centre, code: str, at: datetime, values: tuple[str, str] = ("a", "b")
) -> Draw:
    """Register project ``code`` and run a witnessed draw, all at instant ``at``."""
    pm, sup1, sup2 = (centre.users[u] for u in ("pm", "sup1", "sup2"))
    with clock.frozen(at):
        project = projects.create_project(spec(centre, code), pm)
        draw = draws.announce(project, pm, {"kind": "witness", "witnesses": 2})
        draws.add_witness(draw, sup1, values[0])
        draws.add_witness(draw, sup2, values[1])
    return draw


def completed_project(code: str, finished_at: datetime, tenderer: str) -> Draw:
    """A project and a completed root draw as bare rows (no snapshot, no committee)."""
    org_id = db.session.scalar(sa.select(Organisation.id).where(Organisation.uscc == tenderer))
    project = Project(
        code=code,
        name=f"项目{code}",
        tenderer_id=org_id,
        region_code="530602",
        window_start=c.WINDOW,
        window_end=c.WINDOW + timedelta(hours=8),
        created_at=finished_at,
    )
    db.session.add(project)
    db.session.flush()
    draw = Draw(
        id=f"D{code}",
        project_id=project.id,
        state="completed",
        algorithm="expertdraw-score-v1",
        snapshot_hash="0" * 64,
        commitment="0" * 64,
        secret="",
        entropy={"kind": "none"},
        announced_at=finished_at,
        deadline_at=finished_at + timedelta(hours=1),
        finished_at=finished_at,
    )
    db.session.add(draw)
    db.session.commit()
    return draw


def append(kind: str, body: dict[str, Any], at: datetime) -> dict[str, Any]:
    """Append one entry at ``at`` as the scheduler and commit."""
    entry = ledger.append(kind, body, dict(ledger.SYSTEM), draw_id=body.get("draw"), now=at)
    db.session.commit()
    return entry
