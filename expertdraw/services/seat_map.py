"""The seats free for a window: each province's active seats kept in memory, less the booked.

A province has some ten thousand workstations, and reading them with their rooms and venues
for every draw cost more than anything else in building its pool (13 ms of 45 at provincial
scale). They change seldom, so each process keeps the active seats of the last few provinces
it read, under the ``place_versions`` generation that database triggers move on in every
transaction that changes a venue, a room or a workstation (migration 0009). A draw reads the
generation and the workstations booked in its window in one statement, and reads the seats
again only when the generation has moved on. The generation and the seats kept under it are
read in one statement too, so the seats kept under a generation are exactly that
generation's.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from operator import itemgetter
from typing import Any

import sqlalchemy as sa

from ..domain.draw import Room, Venue
from ..extensions import db
from ..models import Booking, PlaceVersion, PoolVersion, Workstation
from ..models import Room as RoomRow
from ..models import Venue as VenueRow
from ..models.periods import overlapping
from .sql_lists import as_list, list_of

#: Provinces whose seats a process keeps (a few hundred KB each at provincial scale).
KEPT = 8


@dataclass(frozen=True)
class Seats:
    """A province's active seats under one generation: the venues (each level in id order),
    and the room and venue of each workstation, so that a window's bookings touch only theirs.
    Shared by the draws of every thread: never changed once built."""

    generation: int
    venues: tuple[Venue, ...]
    place_of: dict[str, tuple[str, str]]  # workstation id -> (venue id, room id)


_KEPT: OrderedDict[tuple[str, str, str], Seats] = OrderedDict()
_LOCK = threading.Lock()

_LINEAGE = sa.select(PoolVersion.lineage).where(PoolVersion.id == 1).scalar_subquery()
_GENERATION = sa.select(PlaceVersion.generation).where(PlaceVersion.id == 1).scalar_subquery()

# The database's lineage and places generation, and the workstations booked in the window.
_BOOKED = sa.select(_LINEAGE, _GENERATION, list_of(Booking.workstation_id)).where(
    Booking.released_at.is_(None),
    overlapping(Booking.start, Booking.end, sa.bindparam("start"), sa.bindparam("end")),
)

# The same lineage and generation, and the active seats of the province (two digits).
_ACTIVE = (
    sa.select(
        _LINEAGE, _GENERATION, list_of(VenueRow.id), list_of(RoomRow.id), list_of(Workstation.id)
    )
    .select_from(VenueRow)
    .join(RoomRow, RoomRow.venue_id == VenueRow.id)
    .join(Workstation, Workstation.room_id == RoomRow.id)
    .where(
        VenueRow.active.is_(True),
        RoomRow.active.is_(True),
        Workstation.active.is_(True),
        VenueRow.region_code.startswith(sa.bindparam("province")),
    )
)


def free_seats(
    start: datetime,
    end: datetime,
    province: str,
    exclude_rooms: Iterable[str] = (),
    exclude_venues: Iterable[str] = (),
    *,
    other_committees: bool = True,
) -> tuple[Venue, ...]:
    """Active venues of the province with the rooms and workstations free for the window,
    outside the rooms and venues excluded: the snapshot's ``venues`` (draw.md §2) as the
    domain's view, every level in id order, no room or venue without a free workstation.
    The rooms and venues that no booking touches are the ones kept, shared. Without
    ``other_committees`` the seats booked for the window are counted free (a project
    manager's dry run: its figures must not tell when and where other committees sit)."""
    lineage, generation, booked = db.session.execute(_BOOKED, {"start": start, "end": end}).one()
    seats = _seats(province[:2], lineage, generation)
    rooms_out, venues_out = set(exclude_rooms), set(exclude_venues)
    taken = set(as_list(booked)) if other_committees else set()
    places = [seats.place_of[w] for w in taken if w in seats.place_of]
    touched = {venue for venue, _ in places} | venues_out
    booked_rooms = {room for _, room in places}
    if rooms_out:
        touched.update(venue for venue, room in seats.place_of.values() if room in rooms_out)
    if not touched:
        return seats.venues
    venues = []
    for venue in seats.venues:
        if venue.id not in touched:
            venues.append(venue)
        elif venue.id not in venues_out:
            rooms = []
            for room in venue.rooms:
                if room.id in rooms_out:
                    continue
                if room.id not in booked_rooms:  # most rooms of a touched venue: kept whole
                    rooms.append(room)
                    continue
                free = tuple(w for w in room.workstations if w not in taken)
                if free:
                    rooms.append(
                        room if len(free) == len(room.workstations) else Room(room.id, free)
                    )
            if rooms:
                venues.append(Venue(venue.id, tuple(rooms)))
    return tuple(venues)


def free_venues(
    start: datetime,
    end: datetime,
    province: str,
    exclude_rooms: Iterable[str] = (),
    exclude_venues: Iterable[str] = (),
) -> list[dict[str, Any]]:
    """:func:`free_seats` as the snapshot's JSON data (fresh lists: the caller's own)."""
    return [
        {
            "id": venue.id,
            "rooms": [
                {"id": room.id, "workstations": list(room.workstations)} for room in venue.rooms
            ],
        }
        for venue in free_seats(start, end, province, exclude_rooms, exclude_venues)
    ]


def _seats(province: str, lineage: str | None, generation: int | None) -> Seats:
    """The province's active seats: kept, or read (and kept) when the generation moved on.
    Nothing is kept where a version row is missing."""
    address = db.session.get_bind().url.render_as_string(hide_password=True)
    if lineage is not None and generation is not None:
        with _LOCK:
            kept = _KEPT.get((address, lineage, province))
            if kept is not None and kept.generation == generation:
                _KEPT.move_to_end((address, lineage, province))
                return kept
    lineage, generation, venues, rooms, workstations = db.session.execute(
        _ACTIVE, {"province": province}
    ).one()
    seats = _nested(generation or 0, as_list(venues), as_list(rooms), as_list(workstations))
    if lineage is not None and generation is not None:
        key = (address, lineage, province)
        with _LOCK:
            kept = _KEPT.get(key)
            if kept is None or kept.generation <= generation:
                _KEPT[key] = seats
                _KEPT.move_to_end(key)
            while len(_KEPT) > KEPT:
                _KEPT.popitem(last=False)
    return seats


def _nested(generation: int, venues: list[str], rooms: list[str], workstations: list[str]) -> Seats:
    """Venues, their rooms and the rooms' workstations, each in id order (code point order,
    as draw.md §1 compares ids, whatever the database's collation)."""
    seats = sorted(zip(venues, rooms, workstations, strict=True))
    return Seats(
        generation=generation,
        venues=tuple(
            Venue(
                venue,
                tuple(
                    Room(room, tuple(seat[2] for seat in in_room))
                    for room, in_room in groupby(in_venue, itemgetter(1))
                ),
            )
            for venue, in_venue in groupby(seats, itemgetter(0))
        ),
        place_of={seat[2]: (seat[0], seat[1]) for seat in seats},
    )


def forget() -> None:
    """Drop every kept province (for benchmarks that time the reading itself)."""
    with _LOCK:
        _KEPT.clear()
