"""The draw snapshot (draw.md §1, §2): ids, structure, hash and request.

A snapshot is plain JSON data. :func:`parse_snapshot` checks it and returns a read-only view
that the selection uses. Ordering policy: draw.md says every list of the snapshot is sorted by
id. The announcement path (``draw_feasibility.check_feasible``) refuses a snapshot whose lists
are not sorted, so what is published is always in normal form; the selection itself does not
depend on list order (scores, venues and workstations are compared by ``(HMAC, id)``, and
``rfc3797`` numbers candidates in id order), so :func:`parse_snapshot` without ``strict``
accepts any order and gives the same result. :func:`snapshot_hash` is over the snapshot
exactly as given.

Speed (a provincial snapshot holds ~19k candidates and ~10k workstations, ~1.2 MB): the long
lists are checked at C speed (``set(map(type, ...))``, one join and translate for the ids,
``map(operator.gt, ...)`` for the order), and only when a fast check fails does the slow walk
run, to name the first problem. :func:`encode_snapshot` gives ``C(snapshot)`` from a parsed view
by plain joins: every string of a snapshot that parses is an id or a window time (ASCII with
nothing to escape) and every key is known, so canonical's generic walk is not needed.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate, chain, compress, count, islice, repeat
from operator import gt
from typing import Any

from expertdraw.domain.canonical import MAX_SAFE_INTEGER, CanonicalError, canonical
from expertdraw.domain.draw_errors import DrawError

SCORE = "expertdraw-score-v1"
RFC3797 = "rfc3797"
ALGORITHMS = (SCORE, RFC3797)
SEPARATIONS = ("venue", "room")

_ID = re.compile(r"[A-Za-z0-9._-]+")
_ID_BYTES = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"
TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z")
_SNAPSHOT_KEYS = {"draw", "window", "strata", "max_per_group", "separation", "venues"}
_STRATUM_KEYS = {"name", "specialty", "count", "alternates", "candidates"}


def is_id(value: object) -> bool:
    """True when ``value`` is an id of draw.md §1: a non-empty string of ``[A-Za-z0-9._-]``."""
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def check_id(value: object, where: str, code: str = "invalid:snapshot") -> str:
    """Return ``value`` if it is an id (draw.md §1); raise :class:`DrawError` ``code`` if not."""
    if not is_id(value):
        raise DrawError(code, f"{where} must be an id of [A-Za-z0-9._-]+, not {value!r}")
    return value  # type: ignore[return-value]


def check_count(value: object, where: str, minimum: int, code: str = "invalid:snapshot") -> int:
    """Return ``value`` if it is an integer (not a bool) >= ``minimum``, else raise ``code``."""
    if type(value) is not int or value < minimum:
        raise DrawError(code, f"{where} must be an integer >= {minimum}, not {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class Stratum:
    """One stratum of a parsed snapshot; ``ids`` are the candidates in the order given."""

    name: str
    specialty: str
    count: int
    alternates: int
    ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Room:
    """A room and the workstations free for the whole window."""

    id: str
    workstations: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Venue:
    """A venue the draw may use, with its rooms."""

    id: str
    rooms: tuple[Room, ...]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A checked snapshot (draw.md §2). ``group_of`` maps every candidate to its group (read
    only: views may be shared); ``window`` is ``(start, end)``."""

    draw: str
    strata: tuple[Stratum, ...]
    max_per_group: int
    separation: str
    venues: tuple[Venue, ...]
    group_of: dict[str, str]
    window: tuple[str, str]


def _object(value: object, keys: set[str], where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise DrawError("invalid:snapshot", f"{where} must be an object")
    if set(value) != keys:
        missing, extra = sorted(keys - set(value)), sorted(set(value) - keys)
        raise DrawError("invalid:snapshot", f"{where}: missing {missing}, unexpected {extra}")
    return value


def _list(value: object, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise DrawError("invalid:snapshot", f"{where} must be a list")
    return value


def _all_ids(values: list[Any]) -> bool:
    """True when every value is an id; C-speed for long lists (one join and one translate)."""
    if not all(values):
        return False
    try:
        joined = "\n".join(values).encode()
    except (TypeError, UnicodeEncodeError):
        return False
    return joined.translate(None, _ID_BYTES) == b"\n" * (len(values) - 1)


def _require_ids(values: list[Any], where: str) -> None:
    if not _all_ids(values):
        for index, value in enumerate(values):
            check_id(value, f"{where}[{index}]")


def _check_unique(values: list[str], distinct: int, where: str) -> None:
    if distinct != len(values):
        seen: set[str] = set()
        for value in values:
            if value in seen:
                raise DrawError("invalid:snapshot", f"{where}: id {value!r} appears twice")
            seen.add(value)


def _descents(values: list[str]) -> list[int]:
    """Every index ``i`` with ``values[i - 1] > values[i]``, at C speed."""
    return list(compress(count(1), map(gt, values, islice(values, 1, None))))


def _sorted_within(values: list[str], lengths: Iterable[int]) -> bool:
    """True when each run of ``values`` (runs of ``lengths``, in order) is ascending."""
    descents = _descents(values)
    return not descents or set(accumulate(lengths)).issuperset(descents)


def _check_sorted(values: list[str], where: str) -> None:
    if not _descents(values):
        return
    for index in range(1, len(values)):
        if values[index - 1] > values[index]:
            raise DrawError("invalid:snapshot", f"{where} is not sorted by id at {values[index]!r}")


def _check_ids(ids: list[Any], where: str, strict: bool) -> None:
    """Check that ``ids`` are ids, unique, and (``strict``) ascending."""
    _require_ids(ids, where)
    _check_unique(ids, len(set(ids)), where)
    if strict:
        _check_sorted(ids, where)


def _candidates(raw: object, where: str) -> tuple[list[Any], list[Any]]:
    """Ids and groups of a candidate list; every item must be exactly ``{"id", "group"}``."""
    candidates = _list(raw, where)
    try:
        # C-speed path for long lists: all dicts, both keys present, and (each has >= 2 keys)
        # 2 keys in total per item, so exactly these two.
        if set(map(type, candidates)) <= {dict} and sum(map(len, candidates)) == 2 * len(
            candidates
        ):
            return [c["id"] for c in candidates], [c["group"] for c in candidates]
    except KeyError:
        pass
    for index, cand in enumerate(candidates):
        _object(cand, {"id", "group"}, f"{where}[{index}]")
    return [c["id"] for c in candidates], [c["group"] for c in candidates]


def _parse_stratum(raw: object, where: str, strict: bool, group_of: dict[str, str]) -> Stratum:
    item = _object(raw, _STRATUM_KEYS, where)
    ids, groups = _candidates(item["candidates"], f"{where}.candidates")
    _require_ids(ids, f"{where}.candidates ids")
    _require_ids(groups, f"{where}.candidates groups")
    mine = dict(zip(ids, groups, strict=True))
    _check_unique(ids, len(mine), f"{where}.candidates")
    if strict:
        _check_sorted(ids, f"{where}.candidates")
    for cid in mine.keys() & group_of.keys():
        if group_of[cid] != mine[cid]:
            raise DrawError(
                "invalid:snapshot", f"{cid} has group {group_of[cid]!r} and {mine[cid]!r}"
            )
    group_of.update(mine)
    return Stratum(
        name=check_id(item["name"], f"{where}.name"),
        specialty=check_id(item["specialty"], f"{where}.specialty"),
        count=check_count(item["count"], f"{where}.count", 1),
        alternates=check_count(item["alternates"], f"{where}.alternates", 0),
        ids=tuple(ids),
    )


def _pairs(items: list[Any], first: str, second: str) -> tuple[list[Any], list[Any]] | None:
    """``([i[first]], [i[second]])`` when every item is a dict of exactly these two keys."""
    if not set(map(type, items)) <= {dict} or sum(map(len, items)) != 2 * len(items):
        return None
    try:  # each item has 2 keys and both are there: exactly these two
        return [i[first] for i in items], [i[second] for i in items]
    except KeyError:
        return None


def _venues_fast(raw: object, strict: bool) -> tuple[Venue, ...] | None:
    """The venues when every check of :func:`_parse_venues` passes at C speed, else None.

    Global uniqueness of room and workstation ids implies uniqueness within a venue and a room;
    the order checks are per list (runs of the flattened lists).
    """
    if type(raw) is not list:
        return None
    venue_pairs = _pairs(raw, "id", "rooms")
    if venue_pairs is None:
        return None
    venue_ids, room_lists = venue_pairs
    if not set(map(type, room_lists)) <= {list}:
        return None
    room_pairs = _pairs(list(chain.from_iterable(room_lists)), "id", "workstations")
    if room_pairs is None:
        return None
    room_ids, ws_lists = room_pairs
    if not set(map(type, ws_lists)) <= {list}:
        return None
    if not _places_pass(venue_ids, room_lists, room_ids, ws_lists, strict):
        return None
    rooms = iter(list(map(Room, room_ids, map(tuple, ws_lists))))
    return tuple(
        Venue(vid, tuple(islice(rooms, n)))
        for vid, n in zip(venue_ids, map(len, room_lists), strict=True)
    )


def _places_pass(
    venue_ids: list[Any],
    room_lists: Sequence[Sequence[Any]],
    room_ids: list[Any],
    ws_lists: Sequence[Sequence[Any]],
    strict: bool,
) -> bool:
    """The id checks of venues, rooms (``room_lists`` per venue) and workstations
    (``ws_lists`` per room) at C speed: every one an id, unique across the snapshot, and
    (``strict``) each list sorted."""
    workstations = list(chain.from_iterable(ws_lists))
    for ids in (venue_ids, room_ids, workstations):
        if not _all_ids(ids) or len(set(ids)) != len(ids):
            return False
    return not strict or (
        not _descents(venue_ids)
        and _sorted_within(room_ids, map(len, room_lists))
        and _sorted_within(workstations, map(len, ws_lists))
    )


def _parse_venues(raw: object, strict: bool) -> tuple[Venue, ...]:
    fast = _venues_fast(raw, strict)
    return fast if fast is not None else _walk_venues(raw, strict)


def _walk_venues(raw: object, strict: bool) -> tuple[Venue, ...]:
    """The venues checked item by item; raises naming the first problem."""
    venues: list[Venue] = []
    room_ids: list[str] = []
    workstation_ids: list[str] = []
    for vi, v in enumerate(_list(raw, "venues")):
        item = _object(v, {"id", "rooms"}, f"venues[{vi}]")
        rooms: list[Room] = []
        for ri, r in enumerate(_list(item["rooms"], f"venues[{vi}].rooms")):
            room = _object(r, {"id", "workstations"}, f"venues[{vi}].rooms[{ri}]")
            where = f"venues[{vi}].rooms[{ri}].workstations"
            ws = _list(room["workstations"], where)
            _check_ids(ws, where, strict)
            rooms.append(Room(check_id(room["id"], f"venues[{vi}].rooms[{ri}].id"), tuple(ws)))
            workstation_ids.extend(ws)
        _check_ids([r.id for r in rooms], f"venues[{vi}].rooms ids", strict)
        room_ids.extend(r.id for r in rooms)
        venues.append(Venue(check_id(item["id"], f"venues[{vi}].id"), tuple(rooms)))
    _check_ids([v.id for v in venues], "venues ids", strict)
    _check_ids(room_ids, "room ids (all venues)", False)
    _check_ids(workstation_ids, "workstation ids (all rooms)", False)
    return tuple(venues)


def parse_snapshot(snapshot: object, *, strict: bool = False) -> Snapshot:
    """Check ``snapshot`` against draw.md §1-§2 and return a read-only view of it.

    Checks: exactly the members of §2; ids of §1; ``count`` >= 1, ``alternates`` >= 0,
    ``max_per_group`` >= 1; ``separation`` of ``venue``/``room``; window times in the ledger's
    format with start before end; stratum names and candidates unique; one group per expert;
    venue, room and workstation ids unique. With ``strict`` every list must also be sorted by id.
    Raises :class:`DrawError` ``invalid:snapshot`` naming the first problem.
    """
    snap = _object(snapshot, _SNAPSHOT_KEYS, "snapshot")
    window = _object(snap["window"], {"start", "end"}, "window")
    for key in ("start", "end"):
        if not isinstance(window[key], str) or not TIME.fullmatch(window[key]):
            raise DrawError(
                "invalid:snapshot", f"window.{key} must be like 2026-12-03T01:00:00.000Z"
            )
    if window["start"] >= window["end"]:
        raise DrawError("invalid:snapshot", "window.start must be before window.end")
    if snap["separation"] not in SEPARATIONS:
        raise DrawError(
            "invalid:snapshot", f"separation must be 'venue' or 'room', not {snap['separation']!r}"
        )
    raw_strata = _list(snap["strata"], "strata")
    if not raw_strata:
        raise DrawError("invalid:snapshot", "strata must not be empty")
    group_of: dict[str, str] = {}
    strata = tuple(
        _parse_stratum(raw, f"strata[{i}]", strict, group_of) for i, raw in enumerate(raw_strata)
    )
    names = [s.name for s in strata]
    if len(set(names)) != len(names):
        raise DrawError("invalid:snapshot", f"stratum names must be unique: {names}")
    return Snapshot(
        draw=check_id(snap["draw"], "draw"),
        strata=strata,
        max_per_group=check_count(snap["max_per_group"], "max_per_group", 1),
        separation=snap["separation"],
        venues=_parse_venues(snap["venues"], strict),
        group_of=group_of,
        window=(window["start"], window["end"]),
    )


def snapshot_of(view: Snapshot) -> dict[str, Any]:
    """The snapshot (JSON data) a view stands for: each stratum's candidates are its ids with
    their groups in ``group_of``. Raises :class:`DrawError` ``invalid:snapshot`` for an id
    without a group."""
    strata = []
    for s in view.strata:
        missing = [cid for cid in s.ids if cid not in view.group_of]
        if missing:
            raise DrawError("invalid:snapshot", f"{s.name}: candidate {missing[0]!r} has no group")
        strata.append(
            {
                "name": s.name,
                "specialty": s.specialty,
                "count": s.count,
                "alternates": s.alternates,
                "candidates": [{"id": cid, "group": view.group_of[cid]} for cid in s.ids],
            }
        )
    start, end = view.window
    return {
        "draw": view.draw,
        "window": {"start": start, "end": end},
        "strata": strata,
        "max_per_group": view.max_per_group,
        "separation": view.separation,
        "venues": [
            {
                "id": v.id,
                "rooms": [{"id": r.id, "workstations": list(r.workstations)} for r in v.rooms],
            }
            for v in view.venues
        ],
    }


def check_view(view: object) -> Snapshot:
    """Return ``view`` if it is a :class:`Snapshot` whose snapshot (:func:`snapshot_of`)
    ``parse_snapshot(..., strict=True)`` accepts, and whose ``group_of`` names exactly its
    candidates; raise :class:`DrawError` ``invalid:snapshot`` if not.

    For a caller that builds the view from its own data (pool building: ~20k candidates and
    ~10k workstations) rather than building the JSON form only to have it taken apart again.
    The checks run at C speed over the view's tuples; when one fails, the JSON form is parsed
    to name the first problem as :func:`parse_snapshot` would.
    """
    if not isinstance(view, Snapshot):
        raise DrawError("invalid:snapshot", "a snapshot view must be a Snapshot")
    if not _view_passes(view):
        parse_snapshot(_json_of(view), strict=True)
        raise DrawError("invalid:snapshot", "the view's parts must be tuples of its types")
    return view


def _json_of(view: Snapshot) -> Any:
    try:
        return snapshot_of(view)
    except (AttributeError, TypeError):
        raise DrawError("invalid:snapshot", "the view's parts must be of its types") from None


def _view_passes(view: Snapshot) -> bool:
    """True when every check of :func:`check_view` passes (no message: see ``check_view``)."""
    window, strata, group_of, venues = view.window, view.strata, view.group_of, view.venues
    if not (
        type(window) is tuple
        and len(window) == 2
        and all(type(t) is str and TIME.fullmatch(t) for t in window)
        and window[0] < window[1]
        and type(view.separation) is str
        and view.separation in SEPARATIONS
        and type(view.max_per_group) is int
        and view.max_per_group >= 1
        and is_id(view.draw)
        and type(strata) is tuple
        and strata
        and type(group_of) is dict
        and type(venues) is tuple
        and set(map(type, strata)) == {Stratum}
    ):
        return False
    candidates: set[str] = set()
    for s in strata:
        ids = s.ids
        if not (
            is_id(s.name)
            and is_id(s.specialty)
            and type(s.count) is int
            and s.count >= 1
            and type(s.alternates) is int
            and s.alternates >= 0
            and type(ids) is tuple
            and (not ids or _all_ids(ids))
            and not _descents(ids)
        ):
            return False
        before = len(candidates)
        candidates.update(ids)
        if len(candidates) - before != len(ids) and len(set(ids)) != len(ids):
            return False
    # Every candidate has a group, and group_of names no one else.
    if group_of.keys() != candidates or not _all_ids(list(group_of.values()) or ["g"]):
        return False
    if len({s.name for s in strata}) != len(strata):
        return False
    return _venues_pass(venues)


def _venues_pass(venues: tuple[Venue, ...]) -> bool:
    if not set(map(type, venues)) <= {Venue}:
        return False
    room_lists = [v.rooms for v in venues]
    if not set(map(type, room_lists)) <= {tuple}:
        return False
    rooms = list(chain.from_iterable(room_lists))
    if not set(map(type, rooms)) <= {Room}:
        return False
    ws_lists = [r.workstations for r in rooms]
    if not set(map(type, ws_lists)) <= {tuple}:
        return False
    venue_ids, room_ids = [v.id for v in venues], [r.id for r in rooms]
    return _places_pass(venue_ids, room_lists, room_ids, ws_lists, strict=True)


def _ids_json(ids: tuple[str, ...]) -> str:
    """``["a","b"]`` for ids (nothing to escape); ``join`` reads the strings' own text."""
    return "".join(('["', '","'.join(ids), '"]')) if ids else "[]"


def _rooms_json(rooms: list[Room]) -> Iterator[str]:
    """Each room's ``{"id":"...","workstations":[...]}``; at C speed when no room is empty."""
    lists = [r.workstations for r in rooms]
    if not all(lists):
        return (
            "".join(('{"id":"', r.id, '","workstations":', _ids_json(r.workstations), "}"))
            for r in rooms
        )
    parts = zip(
        repeat('{"id":"'),
        [r.id for r in rooms],
        repeat('","workstations":["'),
        map('","'.join, lists),
        repeat('"]}'),
    )
    return map("".join, parts)


def _candidates_json(ids: tuple[str, ...], group_of: dict[str, str]) -> str:
    """``[{"group":"g1","id":"e1"},...]`` with one join over ``4n + 1`` parts (no string per
    candidate): ``[{"group":"``, g1, ``","id":"``, e1, ``"},{"group":"``, g2, ... , ``"}]``."""
    n = len(ids)
    if not n:
        return "[]"
    parts = ['","id":"'] * (4 * n + 1)
    parts[0] = '[{"group":"'
    parts[1::4] = list(map(group_of.__getitem__, ids))
    parts[3::4] = ids
    parts[4::4] = ['"},{"group":"'] * n
    parts[-1] = '"}]'
    return "".join(parts)


def _int_json(value: int, where: str) -> str:
    """An integer of a parsed snapshot (exactly ``int``, not bool), refused beyond 2^53-1."""
    if value > MAX_SAFE_INTEGER:
        raise DrawError("invalid:snapshot", f"{where}: integer {value} is outside ±(2^53-1)")
    return str(value)


def encode_snapshot(snap: Snapshot) -> bytes:
    """``C(snapshot)`` (ledger.md §1) of the snapshot ``snap`` was parsed from, byte for byte
    what :func:`~expertdraw.domain.canonical.canonical` gives, lists in the order given.

    A snapshot that parses holds only ids and window times (ASCII, nothing to escape; ``join``
    reads the strings' own text), integers of type ``int`` and known keys, written here in
    sorted order; so the bytes are joins, without canonical's walk over ~60k values. Raises
    :class:`DrawError` ``invalid:snapshot`` where canonical would refuse: an integer beyond
    2^53-1, or a ``separation`` that only compares equal to a string.
    """
    separation = snap.separation
    if type(separation) is not str or separation not in SEPARATIONS:
        raise DrawError("invalid:snapshot", f"separation must be a string, not {separation!r}")
    strata = ",".join(
        "".join(
            (
                '{"alternates":',
                _int_json(s.alternates, f"{s.name}.alternates"),
                ',"candidates":',
                _candidates_json(s.ids, snap.group_of),
                ',"count":',
                _int_json(s.count, f"{s.name}.count"),
                ',"name":"',
                s.name,
                '","specialty":"',
                s.specialty,
                '"}',
            )
        )
        for s in snap.strata
    )
    rooms = _rooms_json([r for v in snap.venues for r in v.rooms])
    venues = ",".join(
        "".join(('{"id":"', v.id, '","rooms":[', ",".join(islice(rooms, len(v.rooms))), "]}"))
        for v in snap.venues
    )
    start, end = snap.window
    text = "".join(
        (
            '{"draw":"',
            snap.draw,
            '","max_per_group":',
            _int_json(snap.max_per_group, "max_per_group"),
            ',"separation":"',
            separation,
            '","strata":[',
            strata,
            '],"venues":[',
            venues,
            '],"window":{"end":"',
            end,
            '","start":"',
            start,
            '"}}',
        )
    )
    return text.encode("utf-8")


def snapshot_hash(snapshot: dict[str, Any] | Snapshot, encoded: bytes | None = None) -> str:
    """``hex(H(C(snapshot)))`` (draw.md §2), over the snapshot exactly as given, or over
    ``encoded`` when the caller already holds ``C(snapshot)``. ``snapshot`` may be a parsed view
    (then encoded with :func:`encode_snapshot`).

    Raises :class:`DrawError` ``invalid:snapshot`` when it has no canonical form (a float...).
    """
    if encoded is not None:
        return hashlib.sha256(encoded).hexdigest()
    if isinstance(snapshot, Snapshot):
        return hashlib.sha256(encode_snapshot(snapshot)).hexdigest()
    try:
        return hashlib.sha256(canonical(snapshot)).hexdigest()
    except CanonicalError as exc:
        raise DrawError("invalid:snapshot", str(exc)) from None


def request_of(snapshot: dict[str, Any] | Snapshot) -> dict[str, Any]:
    """The announcement's ``request`` (draw.md §3.1): the snapshot's own values without
    candidates and venues, from the snapshot or its parsed view.
    Raises :class:`DrawError` ``invalid:snapshot``."""
    snap = snapshot if isinstance(snapshot, Snapshot) else parse_snapshot(snapshot)
    start, end = snap.window
    return {
        "strata": [
            {"name": s.name, "specialty": s.specialty, "count": s.count, "alternates": s.alternates}
            for s in snap.strata
        ],
        "max_per_group": snap.max_per_group,
        "separation": snap.separation,
        "window": {"start": start, "end": end},
    }


def check_algorithm(algorithm: object) -> str:
    """Return ``algorithm`` if draw.md knows it, else raise ``invalid:algorithm``."""
    if algorithm not in ALGORITHMS:
        raise DrawError("invalid:algorithm", f"algorithm must be one of {ALGORITHMS}")
    return algorithm  # type: ignore[return-value]
