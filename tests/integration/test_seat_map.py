"""The seats kept in memory between draws: every change to a venue, a room or a workstation,
whoever writes it, moves the places generation on, and the free seats a draw gets from memory
are those the database holds."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from expertdraw.extensions import db
from expertdraw.models import Booking, Expert, PlaceVersion, Project, Room, Venue, Workstation
from expertdraw.services import seat_map

from .test_pool import _Facts, seeded_project  # noqa: F401 (the fixture)
from .test_pool_edges import _naive_venues
from .test_pool_universe import _seat_reads, statements  # noqa: F401 (the fixture)

# ruff: noqa: F811 (the tests take the imported fixture by name)


def _generation() -> int:
    db.session.commit()
    return db.session.scalar(sa.select(PlaceVersion.generation).where(PlaceVersion.id == 1))


def _free(project: Project) -> list[dict]:
    return seat_map.free_venues(project.window_start, project.window_end, project.region_code)


def _naive(project: Project) -> list[dict]:
    return _naive_venues(project.window_start, project.window_end, project.region_code)


def test_seats_are_read_once_while_the_places_are_unchanged(seeded_project, statements):
    project = seeded_project
    first = _free(project)
    assert _seat_reads(statements) == 1
    assert first == _naive(project)
    first[0]["rooms"][0]["workstations"].clear()  # what a caller does to its copy stays there
    statements.clear()
    again = _free(project)
    assert _seat_reads(statements) == 0
    assert again == _naive(project)


def test_bookings_are_read_by_every_draw(seeded_project):
    project = seeded_project
    before = _free(project)
    seat = before[0]["rooms"][0]["workstations"][0]
    draw = _Facts(project).draw(project, state="announced")
    expert = db.session.scalars(sa.select(Expert.id).limit(1)).one()
    db.session.add(
        Booking(
            workstation_id=seat,
            expert_id=expert,
            draw_id=draw.id,
            start=project.window_start - timedelta(hours=1),
            end=project.window_start + timedelta(hours=1),
        )
    )
    db.session.commit()
    after = _free(project)
    assert seat not in {w for v in after for r in v["rooms"] for w in r["workstations"]}
    assert after == _naive(project)


# Each event on each place table, written in SQL as an administrator or an import would.
SQL_CHANGES = {
    "venue inserted": (
        "INSERT INTO venues (id, name, region_code, address, active) "
        "SELECT 'VNEW', 'new', region_code, 'addr', true FROM venues LIMIT 1"
    ),
    "venue updated": "UPDATE venues SET active = false WHERE id = (SELECT min(id) FROM venues)",
    "venue deleted": "DELETE FROM venues WHERE id NOT IN (SELECT venue_id FROM rooms)",
    "room inserted": (
        "INSERT INTO rooms (id, venue_id, name, active) "
        "SELECT 'RNEW', min(id), 'new', true FROM venues"
    ),
    "room updated": "UPDATE rooms SET active = false WHERE id = (SELECT min(id) FROM rooms)",
    "room deleted": "DELETE FROM rooms WHERE id NOT IN (SELECT room_id FROM workstations)",
    "workstation inserted": (
        "INSERT INTO workstations (id, room_id, active) SELECT 'WNEW', min(id), true FROM rooms"
    ),
    "workstation updated": (
        "UPDATE workstations SET active = false WHERE id = (SELECT min(id) FROM workstations)"
    ),
    "workstation deleted": (
        "DELETE FROM workstations WHERE id = (SELECT max(id) FROM workstations)"
    ),
}


@pytest.mark.parametrize("change", SQL_CHANGES)
def test_every_change_to_the_places_moves_the_generation(seeded_project, statements, change):
    project = seeded_project
    if change == "venue deleted":  # a venue without rooms, to be deleted
        db.session.execute(sa.text(SQL_CHANGES["venue inserted"]))
    if change == "room deleted":  # a room without workstations, to be deleted
        db.session.execute(sa.text(SQL_CHANGES["room inserted"]))
    _free(project)
    generation = _generation()
    statements.clear()
    db.session.execute(sa.text(SQL_CHANGES[change]))
    db.session.commit()
    assert _generation() == generation + 1
    assert _free(project) == _naive(project)
    assert _seat_reads(statements) == 1


def test_a_change_through_the_orm_is_seen_by_the_next_draw(seeded_project):
    project = seeded_project
    before = _free(project)
    room_id = before[0]["rooms"][0]["id"]
    db.session.get(Room, room_id).active = False
    db.session.commit()
    after = _free(project)
    assert room_id not in {r["id"] for v in after for r in v["rooms"]}
    assert after == _naive(project)


def test_one_generation_per_transaction(seeded_project):
    generation = _generation()
    for workstation in db.session.scalars(sa.select(Workstation).limit(20)):
        workstation.active = False
    db.session.get(Venue, db.session.scalar(sa.select(sa.func.max(Venue.id)))).active = False
    db.session.commit()
    moved = _generation() - generation
    # PostgreSQL: once per transaction; SQLite: once per row changed.
    assert moved == (1 if db.engine.dialect.name == "postgresql" else 21)


def test_a_rolled_back_change_leaves_the_generation(seeded_project):
    generation = _generation()
    db.session.execute(sa.text(SQL_CHANGES["workstation updated"]))
    db.session.rollback()
    assert _generation() == generation


def test_another_database_at_the_same_address_is_read_afresh(seeded_project, statements):
    """A database recreated where another was (same address, same generation) has another
    lineage, so what was kept for the first is not used."""
    project = seeded_project
    _free(project)
    db.session.execute(sa.text("UPDATE pool_versions SET lineage = 'another'"))
    db.session.commit()
    statements.clear()
    _free(project)
    assert _seat_reads(statements) == 1


def test_without_a_version_row_nothing_is_kept(seeded_project, statements):
    project = seeded_project
    db.session.execute(sa.delete(PlaceVersion))
    db.session.commit()
    assert _free(project) == _naive(project)
    statements.clear()
    assert _free(project) == _naive(project)
    assert _seat_reads(statements) == 1


def test_kept_provinces_are_bounded(seeded_project):
    project = seeded_project
    seat_map.forget()
    for n in range(seat_map.KEPT + 3):
        seat_map.free_venues(project.window_start, project.window_end, f"{n:02d}0000")
    assert len(seat_map._KEPT) == seat_map.KEPT
