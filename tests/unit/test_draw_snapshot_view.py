"""A snapshot view built by the caller (pool building) is checked as the snapshot it stands for.

- ``check_view`` accepts a view exactly when ``parse_snapshot(..., strict=True)`` accepts its
  JSON form (``snapshot_of``) and its ``group_of`` names exactly its candidates, and names the
  problem as the parser does;
- an accepted view encodes to the canonical JSON of that form, and ``announce`` gives the same
  announcement from the view as from the JSON.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from expertdraw.domain import draw
from expertdraw.domain.canonical import canonical

from .test_draw_snapshot_fast import IDS, _announce, _error

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
WINDOW = ("2026-12-03T01:00:00.000Z", "2026-12-03T09:00:00.000Z")


@st.composite
def good_views(data: st.DrawFn) -> draw.Snapshot:
    """Well-formed views: ids sorted and unique where the spec says, every candidate's group."""
    strata = []
    group_of: dict[str, str] = {}
    for k in range(data(st.integers(1, 3))):
        ids = sorted(data(st.lists(IDS, max_size=8, unique=True)))
        for cid in ids:
            group_of.setdefault(cid, data(IDS))
        strata.append(
            draw.Stratum(
                name=f"s{k}",
                specialty=data(IDS),
                count=data(st.integers(1, 3)),
                alternates=data(st.integers(0, 2)),
                ids=tuple(ids),
            )
        )
    rooms_seen: set[str] = set()
    seats_seen: set[str] = set()
    venues = []
    for v in sorted(data(st.lists(IDS, max_size=4, unique=True))):
        rooms = []
        for r in sorted(set(data(st.lists(IDS, max_size=3))) - rooms_seen):
            rooms_seen.add(r)
            ws = sorted(set(data(st.lists(IDS, max_size=4))) - seats_seen)
            seats_seen.update(ws)
            rooms.append(draw.Room(r, tuple(ws)))
        venues.append(draw.Venue(v, tuple(rooms)))
    return draw.Snapshot(
        draw=data(IDS),
        strata=tuple(strata),
        max_per_group=data(st.integers(1, 3)),
        separation=data(st.sampled_from(["venue", "room"])),
        venues=tuple(venues),
        group_of=group_of,
        window=WINDOW,
    )


def _stratum(view: draw.Snapshot, **change: Any) -> draw.Snapshot:
    first = dataclasses.replace(view.strata[0], **change)
    return dataclasses.replace(view, strata=(first, *view.strata[1:]))


def _first_room(view: draw.Snapshot, room: draw.Room) -> draw.Snapshot:
    venue = view.venues[0]
    return dataclasses.replace(
        view, venues=(dataclasses.replace(venue, rooms=(room, *venue.rooms[1:])), *view.venues[1:])
    )


def _faults(view: draw.Snapshot) -> dict[str, Any]:
    """One fault each, as a function of the well-formed view (None: not possible here)."""
    ids = view.strata[0].ids
    venues = view.venues
    room = venues[0].rooms[0] if venues and venues[0].rooms else None
    return {
        "bad draw id": lambda: dataclasses.replace(view, draw="a b"),
        "window reversed": lambda: dataclasses.replace(view, window=WINDOW[::-1]),
        "window not a time": lambda: dataclasses.replace(view, window=("2026-12-03", WINDOW[1])),
        "separation": lambda: dataclasses.replace(view, separation="seat"),
        "max_per_group 0": lambda: dataclasses.replace(view, max_per_group=0),
        "count 0": lambda: _stratum(view, count=0),
        "count a bool": lambda: _stratum(view, count=True),
        "alternates < 0": lambda: _stratum(view, alternates=-1),
        "bad name": lambda: _stratum(view, name=""),
        "names twice": (lambda: _stratum(view, name=view.strata[1].name))
        if len(view.strata) > 1
        else None,
        "bad specialty": lambda: _stratum(view, specialty="é"),
        "bad candidate": lambda: _stratum(view, ids=(*ids, "zz z")),
        "candidate twice": (lambda: _stratum(view, ids=(ids[0], *ids))) if ids else None,
        "candidates unsorted": (lambda: _stratum(view, ids=ids[::-1])) if len(ids) > 1 else None,
        "no group": (
            lambda: dataclasses.replace(view, group_of=dict(list(view.group_of.items())[1:]))
        )
        if view.group_of
        else None,
        "bad group": (lambda: dataclasses.replace(view, group_of={**view.group_of, ids[0]: "g g"}))
        if ids
        else None,
        "stray group": lambda: dataclasses.replace(view, group_of={**view.group_of, "~": "G"}),
        "venues unsorted": (lambda: dataclasses.replace(view, venues=venues[::-1]))
        if len(venues) > 1
        else None,
        "venue twice": (lambda: dataclasses.replace(view, venues=(venues[0], *venues)))
        if venues
        else None,
        "bad venue id": (
            lambda: dataclasses.replace(
                view, venues=(draw.Venue("a b", venues[0].rooms), *venues[1:])
            )
        )
        if venues
        else None,
        "seats unsorted": (lambda: _first_room(view, draw.Room(room.id, room.workstations[::-1])))
        if room and len(room.workstations) > 1
        else None,
        "seat twice": (
            lambda: _first_room(
                view, draw.Room(room.id, (room.workstations[0], *room.workstations))
            )
        )
        if room and room.workstations
        else None,
        "room twice": (
            lambda: _first_room(view, draw.Room(venues[-1].rooms[-1].id, room.workstations))
        )
        if room and (len(venues) > 1 or len(venues[0].rooms) > 1) and venues[-1].rooms
        else None,
    }


@st.composite
def views(data: st.DrawFn) -> draw.Snapshot:
    """Well-formed views, and half the time the same with one fault."""
    view = data(good_views())
    if data(st.booleans()):
        possible = [f for f in _faults(view).values() if f is not None]
        view = data(st.sampled_from(possible))()
    return view


def _json_verdict(view: draw.Snapshot) -> tuple[str, str] | None:
    """What checking the view should say, from its JSON form and ``group_of``."""
    try:
        snapshot = draw.snapshot_of(view)
    except draw.DrawError as exc:
        return exc.code, exc.message
    parsed = _error(lambda: draw.parse_snapshot(snapshot, strict=True))
    if parsed is None and set(view.group_of) != {c for s in view.strata for c in s.ids}:
        return "invalid:snapshot", "extra"
    return parsed


@SETTINGS
@given(views())
def test_a_view_is_accepted_exactly_when_its_snapshot_is(view: draw.Snapshot) -> None:
    expected = _json_verdict(view)
    found = _error(lambda: draw.check_view(view))
    if expected is None:
        assert found is None
        assert draw.encode_snapshot(view) == canonical(draw.snapshot_of(view))
    else:
        assert found is not None and found[0] == "invalid:snapshot"
        if expected[1] != "extra":  # the parser names the problem
            assert found == expected


@SETTINGS
@given(views())
def test_announcing_a_view_is_announcing_its_snapshot(view: draw.Snapshot) -> None:
    if _json_verdict(view) is not None:
        return
    from_view = _error(lambda: _announce(view))
    snapshot = draw.snapshot_of(view)
    assert from_view == _error(lambda: _announce(snapshot))  # the same infeasibility, if any
    if from_view is None:
        a, b = _announce(view), _announce(snapshot)
        assert (a.body, a.encoded, a.snapshot) == (b.body, b.encoded, b.snapshot)


def _good() -> draw.Snapshot:
    return draw.Snapshot(
        draw="D-1",
        strata=(draw.Stratum("technical", "A0101", 1, 1, ("E1", "E2")),),
        max_per_group=1,
        separation="venue",
        venues=(draw.Venue("V1", (draw.Room("R1", ("W1", "W2")),)),),
        group_of={"E1": "G1", "E2": "G2"},
        window=WINDOW,
    )


@pytest.mark.parametrize(
    "change",
    [
        {"strata": [draw.Stratum("technical", "A0101", 1, 1, ("E1", "E2"))]},  # a list
        {"strata": (draw.Stratum("technical", "A0101", 1, 1, ["E1", "E2"]),)},
        {"venues": (draw.Venue("V1", [draw.Room("R1", ("W1",))]),)},
        {"venues": ({"id": "V1", "rooms": []},)},
        {"group_of": {"E1": "G1"}},  # E2 without a group
        {"group_of": {"E1": "G1", "E2": "G2", "E3": "G3"}},  # E3 is no candidate
        {"group_of": {"E1": "G1", "E2": 2}},
        {"strata": (draw.Stratum("technical", "A0101", 1, 1, ("E2", "E1")),)},
        {"max_per_group": 1.0},
        {"window": list(WINDOW)},
    ],
)
def test_a_view_with_a_part_of_another_type_or_content_is_refused(change: dict) -> None:
    assert draw.check_view(_good()) is not None
    with pytest.raises(draw.DrawError) as caught:
        draw.check_view(dataclasses.replace(_good(), **change))
    assert caught.value.code == "invalid:snapshot"


def test_only_a_view_is_a_view() -> None:
    with pytest.raises(draw.DrawError, match="must be a Snapshot"):
        draw.check_view(draw.snapshot_of(_good()))


def _rich() -> draw.Snapshot:
    return draw.Snapshot(
        draw="D-1",
        strata=(
            draw.Stratum("technical", "A0101", 2, 1, ("E1", "E2", "E3")),
            draw.Stratum("economic", "C0301", 1, 0, ("E3", "E4")),
        ),
        max_per_group=1,
        separation="room",
        venues=(
            draw.Venue("V1", (draw.Room("R1", ("W1", "W2")), draw.Room("R2", ("W3",)))),
            draw.Venue("V2", (draw.Room("R3", ("W4", "W5")),)),
        ),
        group_of={"E1": "G1", "E2": "G2", "E3": "G3", "E4": "G1"},
        window=WINDOW,
    )


@pytest.mark.parametrize("fault", sorted(_faults(_rich())))
def test_each_fault_is_refused_as_the_parser_refuses_it(fault: str) -> None:
    assert draw.check_view(_rich()) is not None
    broken = _faults(_rich())[fault]()
    expected = _json_verdict(broken)
    assert expected is not None
    found = _error(lambda: draw.check_view(broken))
    assert found is not None and found[0] == "invalid:snapshot"
    if expected[1] != "extra":
        assert found == expected
