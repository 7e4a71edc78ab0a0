"""Shared steps of the fault scenarios (the tests and ``bench/soak.py``).

- ``RELAXED_RULES``: eligibility rules under which every one of thousands of one-day projects
  of the same tenderer stays feasible (no same-tenderer or frequency exclusions, no stale data
  however far the windows run), so the load exercises draws rather than refusals;
- ``seed_centre``: the small trading centre and a project manager's bearer token, committed
  before any server process starts;
- ``wait_for_announced``: the moment to strike: an announced draw, not yet completed, whose
  client will give up (odd ``n``), so that recovery has something to recover.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import sqlalchemy as sa

from expertdraw import clock
from expertdraw.extensions import db
from expertdraw.models import Draw, Project
from expertdraw.services import auth as auth_service

from ..integration import centre as c

RELAXED_RULES = {
    "same_tenderer_days": 0,
    "frequency_limit": 1_000_000,
    "stale_days": 1_000_000,
}
SERVER_CONFIG = {"ELIGIBILITY_RULES": RELAXED_RULES}


@dataclass(frozen=True)
class Seeded:
    """What the clients need: the tenderer's code and a project manager's token."""

    tenderer: str
    token: str


def seed_centre(technical: int = 60, economic: int = 30, venues: int = 12) -> Seeded:
    """Build the centre (at ``centre.NOW``) and issue the project manager's token."""
    with clock.frozen(c.NOW):
        centre = c.build(technical=technical, economic=economic, venues=venues)
    _, token = auth_service.issue_token(centre.users["pm"], label="faults")
    seeded = Seeded(centre.tenderer, token)
    db.session.remove()
    return seeded


def announced_abandoned() -> list[str]:
    """Announced draws whose clients give up on an interrupted request (odd project numbers)."""
    rows = db.session.execute(
        sa.select(Draw.id, Project.code)
        .join(Project, Project.id == Draw.project_id)
        .where(Draw.state == "announced")
    ).all()
    db.session.remove()
    return [draw_id for draw_id, code in rows if int(code.rsplit("-", 1)[1]) % 2 == 1]


def wait_for_announced(timeout: float = 10.0) -> bool:
    """Wait until some announced draw will be abandoned if interrupted now; False on timeout."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if announced_abandoned():
            return True
        time.sleep(0.03)
    return False
