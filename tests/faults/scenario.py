"""Shared steps of the fault scenarios (the tests and ``bench/soak.py``).

- ``RELAXED_RULES``: eligibility rules under which every one of thousands of one-day projects
  of the same tenderer stays feasible (no same-tenderer or frequency exclusions, no stale data
  however far the windows run), so the load exercises draws rather than refusals;
- ``seed_centre``: the small trading centre and a project manager's bearer token, committed
  before any server process starts;
- ``migrate`` / ``make_app``: a migrated database and an app on it, for scenarios that bring
  their own database server;
- ``wait_for_announced``: the moment to strike: an announced draw, not yet completed, whose
  client will give up (odd ``n``), so that recovery has something to recover.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask

from expertdraw import clock, create_app
from expertdraw.extensions import db
from expertdraw.models import Draw, Project
from expertdraw.services import auth as auth_service

from ..integration import centre as c

RELAXED_RULES = {
    "same_tenderer_days": 0,
    "frequency_limit": 1_000_000,
    "stale_days": 36_500,  # a century of windows; more overflows the date arithmetic
}
SERVER_CONFIG = {"ELIGIBILITY_RULES": RELAXED_RULES}


def make_app(database_url: str, instance: Path) -> Flask:
    """The test process's own app on ``database_url`` (cheap password hashing)."""
    instance.mkdir(parents=True, exist_ok=True)
    config: dict[str, Any] = {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "INSTANCE_PATH": str(instance),
        "SCHEDULER_ENABLED": False,
        "PASSWORD_HASHING": "test",
    }
    return create_app(config)


def migrate(app: Flask) -> None:
    """Run the Alembic migrations on the app's database."""
    from flask_migrate import upgrade

    with app.app_context():
        upgrade()


@dataclass(frozen=True)
class Seeded:
    """What the clients need: the tenderer's code and a project manager's token."""

    tenderer: str
    token: str


def seed_centre(technical: int = 60, economic: int = 30, venues: int = 12) -> Seeded:
    """Build the centre (at ``centre.NOW``) and issue the token the clients use: an admin's,
    since the projects allow draws without outside entropy, which only an admin grants."""
    with clock.frozen(c.NOW):
        centre = c.build(technical=technical, economic=economic, venues=venues)
    _, token = auth_service.issue_token(centre.users["admin"], label="faults")
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
    """Wait until a draw is announced that will be abandoned if interrupted; False on timeout.

    Only a draw announced after the call counts, so that it has just begun its wait for
    completion (draws announced before may be about to complete).
    """
    before = set(announced_abandoned())
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if set(announced_abandoned()) - before:
            return True
        time.sleep(0.02)
    return False
