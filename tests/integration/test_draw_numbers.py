"""Draw numbers: one more than the year's last root draw, supplementary and other years' draws
aside, on both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest

from expertdraw import clock
from expertdraw.extensions import db
from expertdraw.models import Draw
from expertdraw.services import draws, projects
from expertdraw.services.errors import ServiceError

from . import centre as c


@pytest.fixture
def trading_centre(app):
    with clock.frozen(c.NOW):
        built = c.build()
    return built


def _old_draw(project_id: int, draw_id: str, root: str | None = None) -> Draw:
    return Draw(
        id=draw_id,
        project_id=project_id,
        root_id=root,
        state="failed",
        algorithm="expertdraw-v1",
        snapshot_hash="0" * 64,
        commitment="1" * 64,
        secret="2" * 64,
        entropy={"kind": "none"},
        announced_at=c.NOW - timedelta(days=1),
        deadline_at=c.NOW - timedelta(hours=23),
    )


def _project(centre: c.Centre, code: str):
    with clock.frozen(c.NOW):
        return projects.create_project(c.project_spec(centre, code), centre.users["pm"])


def test_the_first_draw_of_a_year_is_number_one(trading_centre):
    project = _project(trading_centre, "P2027-0201")
    db.session.add(_old_draw(project.id, "D2026-000777"))  # last year's numbers do not count
    db.session.commit()
    with clock.frozen(c.NOW):
        draw = draws.announce(project, trading_centre.users["pm"], {"kind": "witness"})
    assert draw.id == "D2027-000001"


def test_numbers_follow_the_last_root_draw_of_the_year(trading_centre):
    old = _project(trading_centre, "P2027-0202")
    db.session.add_all(
        [
            _old_draw(old.id, "D2027-000040"),
            _old_draw(old.id, "D2027-000041"),
            _old_draw(old.id, "D2027-000041-R1", root="D2027-000041"),
            _old_draw(old.id, "D2027-000041-R2", root="D2027-000041"),
            _old_draw(old.id, "D2028-000001"),  # a later year's number does not count either
        ]
    )
    db.session.commit()
    project = _project(trading_centre, "P2027-0203")
    with clock.frozen(c.NOW):
        draw = draws.announce(project, trading_centre.users["pm"], {"kind": "witness"})
    assert draw.id == "D2027-000042"


def test_the_year_ends_with_a_clear_error_when_numbers_run_out(trading_centre):
    old = _project(trading_centre, "P2027-0204")
    db.session.add(_old_draw(old.id, "D2027-999999"))
    db.session.commit()
    project = _project(trading_centre, "P2027-0205")
    with clock.frozen(c.NOW), pytest.raises(ServiceError) as info:
        draws.announce(project, trading_centre.users["pm"], {"kind": "witness"})
    assert info.value.code == "draw-numbers:exhausted"
    db.session.rollback()
    assert db.session.get(Draw, "D2027-1000000") is None
