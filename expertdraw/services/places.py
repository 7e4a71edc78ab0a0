"""Venues, rooms, workstations and organisations as the administrator keeps them one by one.

Bulk changes go through imports; these functions add or correct a single record, and take a
venue, room or workstation out of service (or back). A place out of service is never offered
to a new draw (``pool`` seats only active venues, rooms and workstations); seats already given
stay as they are, and the caller is told how many current bookings the place still has.

Each function checks everything first and raises ``ServiceError`` naming the bad field, so a
refused change writes nothing; a successful one commits.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from .. import clock
from ..domain.codes import CodeError, validate_id, validate_uscc
from ..extensions import db
from ..input_text import has_unseen
from ..models import Booking, Organisation, Region, Room, Venue, Workstation
from ..models.parties import ORGANISATION_KINDS
from . import ledger, pool_changes
from .errors import Conflict, NotFound, ServiceError

PLACE_KINDS = ("venue", "room", "workstation")
_ID_LENGTH = {"venue": 32, "room": 48, "workstation": 64}


@dataclass(frozen=True)
class ServiceChange:
    """The outcome of taking a place out of service (or back): what, and bookings left."""

    kind: str
    id: str
    active: bool
    bookings: int


def _text(value: str | None, field: str, max_len: int, required: bool = True) -> str | None:
    text = (value or "").strip()
    if not text:
        if required:
            raise ServiceError(f"invalid:{field}", f"{field} is required", field)
        return None
    if len(text) > max_len:
        raise ServiceError(f"invalid:{field}", f"{field} is longer than {max_len}", field)
    if has_unseen(text):  # as the imports refuse it: names and addresses go into notices
        raise ServiceError(
            f"invalid:{field}",
            f"{field} contains invisible or direction-changing characters",
            field,
        )
    return text


def _place_id(value: str, kind: str) -> str:
    field = f"{kind}_id"
    text = (value or "").strip()
    try:
        validate_id(text, field)
    except CodeError as exc:
        raise ServiceError("invalid:place-id", str(exc), field) from None
    if len(text) > _ID_LENGTH[kind]:
        raise ServiceError("invalid:place-id", f"{field} is too long", field)
    return text


def _region(code: str | None, field: str, required: bool = True) -> str | None:
    text = (code or "").strip()
    if not text and not required:
        return None
    if db.session.get(Region, text) is None:
        raise ServiceError("invalid:region", f"region {text!r} is not in the region table", field)
    return text


def save_venue(venue_id: str, name: str, region_code: str, address: str, *, new: bool) -> Venue:
    """Add a venue (``new``) or correct an existing one's name, region and address (commits).

    Raises:
        ServiceError: ``invalid:place-id``, ``invalid:name``, ``invalid:region``,
            ``invalid:address``; Conflict ``conflict:place`` (id taken); NotFound.
    """
    ident = _place_id(venue_id, "venue")
    values = {
        "name": _text(name, "name", 200),
        "region_code": _region(region_code, "region_code"),
        "address": _text(address, "address", 300),
    }
    venue = db.session.get(Venue, ident)
    if new:
        if venue is not None:
            raise Conflict("conflict:place", f"venue {ident} exists already", "venue_id")
        venue = Venue(id=ident, active=True, **values)
        db.session.add(venue)
    else:
        if venue is None:
            raise NotFound("venue", ident)
        for key, value in values.items():
            setattr(venue, key, value)
    db.session.commit()
    return venue


def add_room(venue_id: str, room_id: str, name: str) -> Room:
    """Add an evaluation room to a venue (commits).

    Raises:
        NotFound: no such venue; ServiceError ``invalid:place-id``, ``invalid:name``;
        Conflict ``conflict:place`` (id taken).
    """
    if db.session.get(Venue, venue_id) is None:
        raise NotFound("venue", venue_id)
    ident = _place_id(room_id, "room")
    room_name = _text(name, "room_name", 100)
    if db.session.get(Room, ident) is not None:
        raise Conflict("conflict:place", f"room {ident} exists already", "room_id")
    room = Room(id=ident, venue_id=venue_id, name=room_name, active=True)
    db.session.add(room)
    db.session.commit()
    return room


def rename_room(room_id: str, name: str) -> Room:
    """Correct a room's name (commits). Raises NotFound, ServiceError ``invalid:room_name``."""
    room = db.session.get(Room, room_id)
    if room is None:
        raise NotFound("room", room_id)
    room.name = _text(name, "room_name", 100) or room.name
    db.session.commit()
    return room


def add_workstation(room_id: str, workstation_id: str) -> Workstation:
    """Add a workstation to a room (commits).

    Raises:
        NotFound: no such room; ServiceError ``invalid:place-id``; Conflict ``conflict:place``.
    """
    if db.session.get(Room, room_id) is None:
        raise NotFound("room", room_id)
    ident = _place_id(workstation_id, "workstation")
    if db.session.get(Workstation, ident) is not None:
        raise Conflict("conflict:place", f"workstation {ident} exists already", "workstation_id")
    workstation = Workstation(id=ident, room_id=room_id, active=True)
    db.session.add(workstation)
    db.session.commit()
    return workstation


def _workstations_of(kind: str, ident: str) -> sa.Select[tuple[str]]:
    if kind == "workstation":
        return sa.select(Workstation.id).where(Workstation.id == ident)
    if kind == "room":
        return sa.select(Workstation.id).where(Workstation.room_id == ident)
    return (
        sa.select(Workstation.id)
        .join(Room, Room.id == Workstation.room_id)
        .where(Room.venue_id == ident)
    )


def current_bookings(kind: str, ident: str) -> int:
    """Bookings not released and not over yet on the place's workstations."""
    return (
        db.session.scalar(
            sa.select(sa.func.count(Booking.id)).where(
                Booking.workstation_id.in_(_workstations_of(kind, ident)),
                Booking.released_at.is_(None),
                Booking.end > clock.now(),
            )
        )
        or 0
    )


def set_in_service(kind: str, ident: str, active: bool) -> ServiceChange:
    """Take a venue, room or workstation out of service, or put it back (commits).

    New draws seat nobody on a place out of service; bookings already made are kept and
    counted in the result, so the page can say how many seats need another arrangement.

    Raises:
        ServiceError ``invalid:kind``; NotFound; Conflict ``conflict:service`` when the place
        already is in the wanted state.
    """
    model = {"venue": Venue, "room": Room, "workstation": Workstation}.get(kind)
    if model is None:
        raise ServiceError("invalid:kind", f"kind is one of {', '.join(PLACE_KINDS)}", "kind")
    # Under the ledger lock, as every transaction that books a workstation: a completion
    # either sees the place closed (and fails) or has booked it before the count below.
    ledger.lock()
    place = db.session.get(model, ident)
    if place is None:
        raise NotFound(kind, ident)
    db.session.refresh(place)
    if place.active == active:
        raise Conflict("conflict:service", f"{kind} {ident} is already in that state", "active")
    place.active = active
    db.session.commit()
    return ServiceChange(kind, ident, active, current_bookings(kind, ident))


def organisation(uscc: str) -> Organisation:
    """An organisation by unified social credit code. Raises NotFound."""
    found = db.session.scalar(
        sa.select(Organisation).where(Organisation.uscc == (uscc or "").strip().upper())
    )
    if found is None:
        raise NotFound("organisation", uscc)
    return found


def save_organisation(
    uscc: str,
    name: str,
    kind: str,
    region_code: str | None = None,
    parent_uscc: str | None = None,
    *,
    new: bool,
    actor: dict[str, str] | None = None,
) -> Organisation:
    """Add an organisation by its unified social credit code (``new``), or correct one's name,
    type, region and controlling organisation (commits). The code itself never changes: it
    is how parties and employers refer to the organisation. A new controlling organisation
    re-checks the committees it may concern (``actor`` names who made the change).

    Raises:
        ServiceError: ``invalid:uscc`` (length, alphabet or check character), ``invalid:name``,
            ``invalid:organisation-kind``, ``invalid:region``, ``invalid:parent``;
        Conflict ``conflict:organisation`` (code registered); NotFound.
    """
    try:
        code = validate_uscc(uscc or "")
    except CodeError as exc:
        raise ServiceError("invalid:uscc", str(exc), "uscc") from None
    org_name = _text(name, "name", 200)
    if kind not in ORGANISATION_KINDS:
        raise ServiceError(
            "invalid:organisation-kind", f"kind is one of {', '.join(ORGANISATION_KINDS)}", "kind"
        )
    region = _region(region_code, "region_code", required=False)
    existing = db.session.scalar(sa.select(Organisation).where(Organisation.uscc == code))
    parent_id = None
    parent_code = (parent_uscc or "").strip().upper()
    if parent_code:
        parent = db.session.scalar(sa.select(Organisation).where(Organisation.uscc == parent_code))
        if parent is None or parent_code == code or _controls(existing, parent):
            raise ServiceError(
                "invalid:parent", f"{parent_code} cannot control {code}", "parent_uscc"
            )
        parent_id = parent.id
    if new:
        if existing is not None:
            raise Conflict("conflict:organisation", f"{code} is registered already", "uscc")
        existing = Organisation(uscc=code)
        db.session.add(existing)
    elif existing is None:
        raise NotFound("organisation", code)
    moved = not new and existing.parent_id != parent_id
    existing.name = org_name or existing.name
    existing.kind = kind
    existing.region_code = region
    existing.parent_id = parent_id
    db.session.commit()
    if moved:  # who controls whom decides party-employer: seated members may be in conflict
        pool_changes.recheck_organisations([existing.id], actor or ledger.SYSTEM)
    return existing


def _controls(org: Organisation | None, candidate: Organisation) -> bool:
    """Whether ``org`` controls ``candidate`` (directly or further down): a cycle otherwise."""
    if org is None:
        return False
    seen: set[int] = set()
    current: Organisation | None = candidate
    while current is not None and current.parent_id is not None and current.id not in seen:
        if current.parent_id == org.id:
            return True
        seen.add(current.id)
        current = db.session.get(Organisation, current.parent_id)
    return False
