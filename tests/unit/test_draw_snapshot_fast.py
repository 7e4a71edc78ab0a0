"""The fast paths of the draw snapshot give exactly what the slow ones give.

- ``encode_snapshot(parse_snapshot(s))`` is ``canonical(s)`` byte for byte, in any list order,
  with empty rooms, venues and workstation lists;
- the C-speed venue checks accept exactly what the item-by-item walk accepts, with the same
  view, and leave the walk to name the problem otherwise;
- ``announce`` parses once and gives the same body as ``announced_body``; ``complete`` gives
  the same result from the parsed view as from the snapshot;
- ``canonical``'s type-set checks of long lists refuse and name what the walk refuses.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from expertdraw.domain import canonical as canonical_module
from expertdraw.domain import draw
from expertdraw.domain import draw_snapshot as ds
from expertdraw.domain.canonical import MAX_SAFE_INTEGER, CanonicalError, canonical

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
IDS = st.text("ABCXYZabcxyz0189._-", min_size=1, max_size=6)
WINDOW = {"start": "2026-12-03T01:00:00.000Z", "end": "2026-12-03T09:00:00.000Z"}
SECRET = bytes(range(32))


@st.composite
def snapshots(data: st.DrawFn) -> dict[str, Any]:
    """Snapshots that parse (not strict): lists in any order, some of them empty."""
    groups: dict[str, str] = {}
    strata = []
    for k in range(data(st.integers(1, 3))):
        ids = data(st.lists(IDS, max_size=12, unique=True))
        candidates = [{"id": i, "group": groups.setdefault(i, data(IDS))} for i in ids]
        if data(st.booleans()):  # insertion order of the members does not matter
            candidates = [{"group": c["group"], "id": c["id"]} for c in candidates]
        strata.append(
            {
                "name": f"s{k}",
                "specialty": data(IDS),
                "count": data(st.integers(1, MAX_SAFE_INTEGER)),
                "alternates": data(st.integers(0, 3)),
                "candidates": candidates,
            }
        )
    venue_ids = data(st.lists(IDS, max_size=5, unique=True))
    rooms = _split(data, data(st.lists(IDS, max_size=10, unique=True)), len(venue_ids))
    workstations = _split(data, data(st.lists(IDS, max_size=20, unique=True)), sum(map(len, rooms)))
    if data(st.booleans()):  # normal form, for strict parsing
        venue_ids.sort()
        rooms = [sorted(r) for r in rooms]
        workstations = [sorted(w) for w in workstations]
    ws = iter(workstations)
    venues = [
        {"rooms": [{"id": r, "workstations": next(ws)} for r in room_ids], "id": v}
        for v, room_ids in zip(venue_ids, rooms, strict=True)
    ]
    return {
        "window": dict(WINDOW),
        "draw": data(IDS),
        "strata": strata,
        "max_per_group": data(st.integers(1, 4)),
        "separation": data(st.sampled_from(["venue", "room"])),
        "venues": venues,
    }


def _split(data: st.DrawFn, items: list[str], parts: int) -> list[list[str]]:
    """``items`` cut into ``parts`` consecutive runs of drawn lengths (some empty)."""
    runs = []
    for index in range(parts):
        n = len(items) if index == parts - 1 else data(st.integers(0, len(items)))
        runs.append(items[:n])
        items = items[n:]
    return runs


def _error(call: Any) -> tuple[str, str] | None:
    try:
        call()
    except draw.DrawError as exc:
        return exc.code, exc.message
    return None


@SETTINGS
@given(snapshots())
def test_encoding_a_parsed_view_is_canonical_json(snapshot: dict[str, Any]) -> None:
    view = draw.parse_snapshot(snapshot)
    assert draw.encode_snapshot(view) == canonical(snapshot)
    assert draw.snapshot_hash(view) == draw.snapshot_hash(snapshot)


@SETTINGS
@given(snapshots(), st.booleans())
def test_fast_venue_checks_agree_with_the_walk(snapshot: dict[str, Any], strict: bool) -> None:
    venues = snapshot["venues"]
    fast = _error(lambda: ds._parse_venues(venues, strict))
    assert fast == _error(lambda: ds._walk_venues(venues, strict))
    if fast is None:
        assert ds._parse_venues(venues, strict) == ds._walk_venues(venues, strict)


def _example() -> dict[str, Any]:
    return {
        "draw": "D-1",
        "window": dict(WINDOW),
        "strata": [
            {
                "name": "technical",
                "specialty": "A0101",
                "count": 1,
                "alternates": 1,
                "candidates": [{"id": "E1", "group": "G1"}, {"id": "E2", "group": "G2"}],
            }
        ],
        "max_per_group": 1,
        "separation": "venue",
        "venues": [
            {
                "id": "V1",
                "rooms": [
                    {"id": "V1-R1", "workstations": ["V1-R1-W1", "V1-R1-W2"]},
                    {"id": "V1-R2", "workstations": ["V1-R2-W1"]},
                ],
            },
            {"id": "V2", "rooms": [{"id": "V2-R1", "workstations": []}]},
        ],
    }


def _set(snapshot: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(snapshot)
    *parents, last = path.split(".")
    target: Any = changed
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    target[int(last) if last.isdigit() else last] = value
    return changed


BROKEN_VENUES = {
    "workstations unsorted": ("venues.0.rooms.0.workstations", ["V1-R1-W2", "V1-R1-W1"]),
    "rooms unsorted": ("venues.0.rooms.1.id", "V1-R0"),
    "venues unsorted": ("venues.1.id", "V0"),
    "workstation twice in a room": ("venues.0.rooms.0.workstations", ["V1-R1-W1", "V1-R1-W1"]),
    "workstation in two rooms": ("venues.0.rooms.1.workstations", ["V1-R1-W1"]),
    "room in two venues": ("venues.1.rooms.0.id", "V1-R1"),
    "venue twice": ("venues.1.id", "V1"),
    "bad workstation id": ("venues.0.rooms.0.workstations.0", "W 1"),
    "workstation not a string": ("venues.0.rooms.0.workstations.0", 7),
    "workstations not a list": ("venues.0.rooms.0.workstations", "V1-R1-W1"),
    "room not an object": ("venues.0.rooms.0", ["V1-R1"]),
    "room with an extra member": ("venues.0.rooms.0.name", "x"),
    "rooms not a list": ("venues.0.rooms", {"id": "V1-R1"}),
    "venue id not a string": ("venues.0.id", None),
    "venues not a list": ("venues", {}),
}


@pytest.mark.parametrize("case", sorted(BROKEN_VENUES))
@pytest.mark.parametrize("strict", [True, False])
def test_broken_venues_get_the_walks_message(case: str, strict: bool) -> None:
    snapshot = _set(_example(), *BROKEN_VENUES[case])
    assert ds._venues_fast(snapshot["venues"], strict) is None or not strict
    fast = _error(lambda: ds.parse_snapshot(snapshot, strict=strict))
    assert fast == _error(lambda: ds._walk_venues(snapshot["venues"], strict))
    if case.endswith("unsorted") and not strict:
        assert fast is None
    else:
        assert fast is not None and fast[0] == "invalid:snapshot"


def test_unsafe_integers_are_refused_as_canonical_refuses_them() -> None:
    for path in ("strata.0.count", "strata.0.alternates", "max_per_group"):
        snapshot = _set(_example(), path, MAX_SAFE_INTEGER + 1)
        view = draw.parse_snapshot(snapshot)
        with pytest.raises(CanonicalError):
            canonical(snapshot)
        with pytest.raises(draw.DrawError) as caught:
            draw.encode_snapshot(view)
        assert caught.value.code == "invalid:snapshot"
        assert "2^53-1" in caught.value.message
    assert draw.encode_snapshot(draw.parse_snapshot(_set(_example(), "max_per_group", 2**53 - 1)))


def test_a_separation_that_is_not_a_string_is_refused() -> None:
    class Venue:
        def __eq__(self, other: object) -> bool:
            return other == "venue"

        __hash__ = object.__hash__

    view = draw.parse_snapshot(_set(_example(), "separation", Venue()))
    with pytest.raises(draw.DrawError) as caught:
        draw.encode_snapshot(view)
    assert caught.value.code == "invalid:snapshot"


def _announce(snapshot: dict[str, Any] | draw.Snapshot, **extra: Any) -> Any:
    return draw.announce(
        snapshot,
        project="P1",
        algorithm=draw.SCORE,
        excluded={"region": 2},
        secret=SECRET,
        entropy={"kind": "none"},
        **extra,
    )


def test_announce_parses_once_and_agrees_with_announced_body(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    snapshot = _example()
    expected = draw.announced_body(
        snapshot,
        project="P1",
        algorithm=draw.SCORE,
        excluded={"region": 2},
        secret=SECRET,
        entropy={"kind": "none"},
        encoded=canonical(snapshot),
    )
    calls: list[bool] = []
    real = ds.parse_snapshot

    def counting(value: Any, *, strict: bool = False) -> Any:
        calls.append(strict)
        return real(value, strict=strict)

    from expertdraw.domain import draw_bodies

    monkeypatch.setattr(draw_bodies, "parse_snapshot", counting)
    monkeypatch.setattr(ds, "parse_snapshot", counting)
    result = _announce(snapshot)
    assert calls == [True]
    assert result.body == expected
    assert result.encoded == canonical(snapshot)
    assert result.snapshot == real(snapshot)
    assert json.loads(canonical(result.body)) == expected


def test_complete_from_the_view_equals_complete_from_the_snapshot() -> None:
    snapshot = _example()
    result = _announce(snapshot)
    stored = result.encoded
    from_view = draw.complete(result.snapshot, result.body, SECRET, "", encoded=stored)
    from_dict = draw.complete(json.loads(stored), result.body, SECRET, "", encoded=stored)
    assert from_view == from_dict
    assert from_view[0] == "draw.completed"
    assert draw.replay(snapshot, result.body, from_view[1]) is None
    with pytest.raises(draw.DrawError) as caught:
        draw.complete(result.snapshot, result.body, SECRET, "")
    assert caught.value.code == "invalid:snapshot"
    with pytest.raises(draw.DrawError, match="does not hash"):
        draw.complete(result.snapshot, result.body, SECRET, "", encoded=stored + b" ")


# canonical: long lists take the type-set path; what it refuses, and the path it names, must
# be what the item-by-item walk gives.

LONG = 12


def _rows(value: Any) -> list[dict[str, Any]]:
    return [{"id": f"E{i}", "group": "G", "value": value if i == 7 else "x"} for i in range(LONG)]


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ({"rows": _rows(1.5)}, "$.rows[7].value"),
        ({"rows": _rows(2**53)}, "$.rows[7].value"),
        ({"rows": _rows([1, 2.0])}, "$.rows[7].value[1]"),
        ({"rows": _rows({"deep": [float("inf")]})}, "$.rows[7].value.deep[0]"),
        ({"rows": _rows(b"x")}, "$.rows[7].value"),
        ({"rows": [*_rows("x"), {1: "x"}]}, f"$.rows[{LONG}]"),
        ({"ids": ["a"] * LONG + [1.0]}, f"$.ids[{LONG}]"),
        ({"ids": ["a"] * LONG + [(1,)]}, f"$.ids[{LONG}]"),
        ({"ids": [1] * LONG + [-(2**53)]}, f"$.ids[{LONG}]"),
    ],
)
def test_long_lists_are_refused_like_the_walk_refuses_them(value: Any, path: str) -> None:
    with pytest.raises(CanonicalError) as caught:
        canonical(value)
    assert str(caught.value).startswith(path + ":")


def test_long_lists_keep_astral_keys_shared_values_and_cycles_right() -> None:
    rows = [{"\U0001f600": i, "\ufb33": i} for i in range(LONG)]
    data = canonical({"rows": rows})
    assert json.loads(data) == {"rows": rows}
    assert data.startswith('{"rows":[{"\U0001f600":0,"\ufb33":0}'.encode())
    shared = {"a": "b"}
    assert canonical([shared] * LONG) == b"[" + b",".join([b'{"a":"b"}'] * LONG) + b"]"
    loop: dict[str, Any] = {}
    loop["self"] = [loop] * LONG
    with pytest.raises(CanonicalError):
        canonical([loop] * LONG)
    with pytest.raises(CanonicalError):
        canonical([{"a": "\ud800"}] * LONG)


long_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**54), 2**54)
    | st.floats(allow_nan=False)
    | st.text(st.characters(exclude_categories=["Cs"]), max_size=3),
    lambda children: (
        st.lists(children, min_size=LONG - 4, max_size=LONG + 2)
        | st.lists(
            st.dictionaries(
                st.text(st.characters(exclude_categories=["Cs"]), max_size=2) | st.integers(0, 2),
                children,
                max_size=3,
            ),
            min_size=LONG - 4,
            max_size=LONG + 2,
        )
    ),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(long_values)
def test_long_lists_accept_exactly_what_the_walk_accepts(value: Any) -> None:
    problem = canonical_module._problem(value, "$")
    try:
        data = canonical(value)
    except CanonicalError as exc:
        assert problem is not None
        assert str(exc) == problem
    else:
        assert problem is None
        assert json.loads(data) == value
