"""Seats (draw.md §5): a venue, then a workstation, by least ``(HMAC, id)``.

Used for the members of a draw and for an alternate who replaces one (§6.2). ``Occupied``
holds what is already given: rooms, venues and workstations of seated members, plus
workstations booked by others since the snapshot (``unavailable``).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from expertdraw.domain.draw_seed import keyed_hmac
from expertdraw.domain.draw_snapshot import Room, Venue

VENUE_TAG = b"expertdraw/venue/v1\x00"
SEAT_TAG = b"expertdraw/seat/v1\x00"


@dataclass(frozen=True, slots=True)
class Seat:
    """Venue + room + workstation given to one member."""

    venue: str
    room: str
    workstation: str

    def as_dict(self) -> dict[str, str]:
        """``{"venue", "room", "workstation"}`` as the ledger bodies write it."""
        return {"venue": self.venue, "room": self.room, "workstation": self.workstation}


@dataclass(slots=True)
class Occupied:
    """Places no longer eligible (§5.1); :meth:`take` adds a seat."""

    rooms: set[str] = field(default_factory=set)
    venues: set[str] = field(default_factory=set)
    workstations: set[str] = field(default_factory=set)

    def take(self, seat: Seat) -> None:
        """Mark ``seat``'s room, venue and workstation as used."""
        self.rooms.add(seat.room)
        self.venues.add(seat.venue)
        self.workstations.add(seat.workstation)

    @classmethod
    def of(cls, seats: Iterable[Seat], booked: Iterable[str] = ()) -> Occupied:
        """What ``seats`` use, plus the workstations ``booked`` by others."""
        occupied = cls(workstations=set(booked))
        for seat in seats:
            occupied.take(seat)
        return occupied


def _eligible_rooms(venue: Venue, separation: str, occupied: Occupied) -> list[Room]:
    """Rooms not used yet with a free workstation (``not superset``: some workstation is not
    taken, at C speed; an empty room is never eligible)."""
    if separation == "venue" and venue.id in occupied.venues:
        return []
    taken = occupied.workstations.issuperset
    return [
        room
        for room in venue.rooms
        if room.id not in occupied.rooms and not taken(room.workstations)
    ]


def choose_seat(
    seed: bytes,
    expert: str,
    venues: Iterable[Venue],
    separation: str,
    occupied: Occupied,
    trace: list[dict[str, Any]] | None = None,
) -> Seat | None:
    """The seat of ``expert`` by draw.md §5, or None when no eligible venue is left.

    Does not change ``occupied``. With ``trace``, appends the intermediate values of the vector
    files: every eligible venue's HMAC and every candidate workstation's HMAC, by id.
    """
    member = expert.encode()
    venue_hmac = keyed_hmac(seed, VENUE_TAG + member + b"\x00")
    if trace is None:
        # The least (HMAC, id) among eligible venues is the first eligible one in (HMAC, id)
        # order: judge venues in that order and stop at the first, instead of judging all.
        ranked = [(venue_hmac(v.id.encode()), v.id, v) for v in venues]
        heapq.heapify(ranked)
        while ranked:
            _, venue, place = heapq.heappop(ranked)
            if rooms := _eligible_rooms(place, separation, occupied):
                eligible = {venue: rooms}
                break
        else:
            return None
    else:
        eligible = {
            v.id: rooms for v in venues if (rooms := _eligible_rooms(v, separation, occupied))
        }
        if not eligible:
            return None
        venue_scores = [(venue_hmac(vid.encode()), vid) for vid in eligible]
        venue = min(venue_scores)[1]
    seat_hmac = keyed_hmac(seed, SEAT_TAG + member + b"\x00")
    candidates = [
        (seat_hmac(w.encode()), w, room.id)
        for room in eligible[venue]
        for w in room.workstations
        if w not in occupied.workstations
    ]
    _, workstation, room_id = min(candidates)
    seat = Seat(venue, room_id, workstation)
    if trace is not None:
        trace.append(
            {
                "expert": expert,
                "venues": [
                    {"venue": v, "hmac": h.hex()} for h, v in sorted(venue_scores, key=_by_id)
                ],
                "workstations": [
                    {"workstation": w, "hmac": h.hex()}
                    for h, w, _ in sorted(candidates, key=_by_id)
                ],
                "seat": seat.as_dict(),
            }
        )
    return seat


def _by_id(item: tuple[Any, ...]) -> str:
    return item[1]  # type: ignore[no-any-return]
