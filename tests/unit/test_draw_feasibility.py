"""Requests that cannot be met, and malformed input, are refused with a stable code
before anything is announced (draw.md §1, §2)."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable
from typing import Any

import pytest

from expertdraw.domain import draw

SECRET = bytes(range(32))
WITNESS = {"kind": "witness", "witnesses": 1}


def _snapshot(**changes: Any) -> dict[str, Any]:
    snap: dict[str, Any] = {
        "draw": "D-1",
        "window": {"start": "2026-12-03T01:00:00.000Z", "end": "2026-12-03T09:00:00.000Z"},
        "strata": [
            {
                "name": "technical",
                "specialty": "A0101",
                "count": 2,
                "alternates": 1,
                "candidates": [
                    {"id": "E1", "group": "G1"},
                    {"id": "E2", "group": "G2"},
                    {"id": "E3", "group": "G2"},
                ],
            }
        ],
        "max_per_group": 1,
        "separation": "venue",
        "venues": [
            {"id": "V1", "rooms": [{"id": "V1-R1", "workstations": ["V1-R1-W1"]}]},
            {"id": "V2", "rooms": [{"id": "V2-R1", "workstations": ["V2-R1-W1"]}]},
        ],
    }
    snap.update(changes)
    return snap


def _announce(snapshot: dict[str, Any], algorithm: str = draw.SCORE) -> dict[str, Any]:
    return draw.announced_body(
        snapshot,
        project="P1",
        algorithm=algorithm,
        excluded={"region": 3},
        secret=b"" if algorithm == draw.RFC3797 else SECRET,
        entropy={"kind": "public-lottery", "sources": ["x"]}
        if algorithm == draw.RFC3797
        else WITNESS,
    )


def _strata(*strata: tuple[str, int, list[tuple[str, str]]]) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "specialty": "A0101",
            "count": count,
            "alternates": 0,
            "candidates": [{"id": i, "group": g} for i, g in cands],
        }
        for name, count, cands in strata
    ]


INFEASIBLE: dict[str, tuple[dict[str, Any], str]] = {
    "too few candidates": (
        _snapshot(strata=_strata(("technical", 2, [("E1", "G1")]))),
        "infeasible:candidates:technical",
    ),
    "too few groups": (
        _snapshot(strata=_strata(("technical", 2, [("E1", "G1"), ("E2", "G1")]))),
        "infeasible:groups:technical",
    ),
    "too few candidates counted once": (
        _snapshot(
            strata=_strata(
                ("technical", 2, [("E1", "G1"), ("E2", "G2")]),
                ("economic", 1, [("E1", "G1"), ("E2", "G2")]),
            ),
            venues=[
                {"id": f"V{i}", "rooms": [{"id": f"V{i}-R", "workstations": ["W" + str(i)]}]}
                for i in range(3)
            ],
        ),
        "infeasible:members",
    ),
    "too few venues": (
        _snapshot(
            venues=[
                {
                    "id": "V1",
                    "rooms": [
                        {"id": "R1", "workstations": ["W1"]},
                        {"id": "R2", "workstations": ["W2"]},
                    ],
                }
            ]
        ),
        "infeasible:venues",
    ),
    "too few rooms with a free workstation": (
        _snapshot(
            separation="room",
            venues=[
                {
                    "id": "V1",
                    "rooms": [
                        {"id": "R1", "workstations": ["W1"]},
                        {"id": "R2", "workstations": []},
                    ],
                }
            ],
        ),
        "infeasible:rooms",
    ),
}


@pytest.mark.parametrize("case", sorted(INFEASIBLE))
def test_infeasible_requests_are_refused_before_announcing(case: str) -> None:
    snapshot, code = INFEASIBLE[case]
    with pytest.raises(draw.DrawError) as caught:
        draw.check_feasible(snapshot)
    assert caught.value.code == code
    with pytest.raises(draw.DrawError) as caught:
        _announce(snapshot)
    assert caught.value.code == code


def test_a_feasible_request_is_announced() -> None:
    body = _announce(_snapshot())
    assert body["request"]["strata"] == [
        {"name": "technical", "specialty": "A0101", "count": 2, "alternates": 1}
    ]
    assert body["snapshot_hash"] == draw.snapshot_hash(_snapshot())


def test_group_limit_feasibility_counts_ceil_of_count_over_limit() -> None:
    two_groups = _strata(("technical", 3, [("E1", "G1"), ("E2", "G1"), ("E3", "G2")]))
    venues = [
        {"id": f"V{i}", "rooms": [{"id": f"R{i}", "workstations": [f"W{i}"]}]} for i in range(3)
    ]
    draw.check_feasible(_snapshot(strata=two_groups, max_per_group=2, venues=venues))
    with pytest.raises(draw.DrawError) as caught:
        draw.check_feasible(_snapshot(strata=two_groups, venues=venues))
    assert caught.value.code == "infeasible:groups:technical"


def test_rfc3797_has_no_group_check_but_one_stratum_only() -> None:
    one_group = _strata(("technical", 2, [("E1", "G1"), ("E2", "G1")]))
    draw.check_feasible(_snapshot(strata=one_group), draw.RFC3797)
    two = _strata(("a", 1, [("E1", "G1")]), ("b", 1, [("E2", "G2")]))
    with pytest.raises(draw.DrawError) as caught:
        _announce(_snapshot(strata=two), draw.RFC3797)
    assert caught.value.code == "infeasible:rfc3797:strata"


def _mutate(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def apply(snap: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = snap
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        if value is KeyError:
            del target[last]
        else:
            target[int(last) if last.isdigit() else last] = value

    return apply


MALFORMED = {
    "id with a space": _mutate("strata.0.candidates.0.id", "E 1"),
    "empty id": _mutate("strata.0.candidates.0.id", ""),
    "non-ascii id": _mutate("strata.0.candidates.0.id", "E１"),
    "id not a string": _mutate("strata.0.candidates.0.id", 1),
    "id a list": _mutate("strata.0.candidates.0.id", ["E1"]),
    "workstation a list": _mutate("venues.0.rooms.0.workstations", [["W"]]),
    "duplicate candidate": _mutate("strata.0.candidates.1.id", "E1"),
    "group with a slash": _mutate("strata.0.candidates.0.group", "G/1"),
    "candidate with an extra member": _mutate("strata.0.candidates.0.name", "x"),
    "candidate without a group": _mutate("strata.0.candidates.0.group", KeyError),
    "unsorted candidates": _mutate("strata.0.candidates.0.id", "E9"),
    "count zero": _mutate("strata.0.count", 0),
    "count a bool": _mutate("strata.0.count", True),
    "negative alternates": _mutate("strata.0.alternates", -1),
    "max_per_group zero": _mutate("max_per_group", 0),
    "unknown separation": _mutate("separation", "floor"),
    "window backwards": _mutate("window.start", "2026-12-03T10:00:00.000Z"),
    "window in another format": _mutate("window.end", "2026-12-03 09:00"),
    "extra snapshot member": _mutate("project", "P1"),
    "no strata": _mutate("strata", []),
    "venue without rooms member": _mutate("venues.0.rooms", KeyError),
    "unsorted venues": _mutate("venues.0.id", "V9"),
    "workstation in two rooms": _mutate("venues.1.rooms.0.workstations", ["V1-R1-W1"]),
    "room in two venues": _mutate("venues.1.rooms.0.id", "V1-R1"),
    "a float": _mutate("max_per_group", 1.0),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_snapshots_are_refused_with_a_clear_error(case: str) -> None:
    snapshot = copy.deepcopy(_snapshot())
    MALFORMED[case](snapshot)
    with pytest.raises(draw.DrawError) as caught:
        draw.check_feasible(snapshot)
    assert caught.value.code == "invalid:snapshot"
    assert caught.value.message


def test_an_expert_has_one_group_across_strata() -> None:
    strata = _strata(("a", 1, [("E1", "G1")]), ("b", 1, [("E1", "G2"), ("E2", "G2")]))
    with pytest.raises(draw.DrawError, match="E1 has group"):
        draw.parse_snapshot(_snapshot(strata=strata))


def test_the_seats_can_fall_short_in_a_draw_that_skipped_the_checks() -> None:
    snapshot = INFEASIBLE["too few venues"][0]
    with pytest.raises(draw.DrawError) as caught:
        draw.select(snapshot, hashlib.sha256(b"s").digest())
    assert caught.value.code == "insufficient:seats"


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"seed": b"short"}, "invalid:seed"),
        ({"algorithm": "shuffle"}, "invalid:algorithm"),
        ({"algorithm": draw.RFC3797}, "invalid:lottery"),
        ({"algorithm": draw.RFC3797, "key_string": "1.2"}, "invalid:lottery"),
    ],
)
def test_select_refuses_bad_arguments(kwargs: dict[str, Any], code: str) -> None:
    args = {"seed": bytes(32)} | kwargs
    with pytest.raises(draw.DrawError) as caught:
        draw.select(_snapshot(), **args)
    assert caught.value.code == code


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"secret": b"short"}, "invalid:secret"),
        ({"entropy": {"kind": "witness", "witnesses": 0}}, "invalid:entropy"),
        ({"entropy": {"kind": "coin"}}, "invalid:entropy"),
        (
            {
                "entropy": {
                    "kind": "beacon",
                    "source": "x",
                    "not_before": "2026-12-03T00:00:00.000Z",
                }
            },
            "invalid:entropy",
        ),
        ({"algorithm": draw.RFC3797, "secret": b""}, "invalid:entropy"),
        ({"project": "P 1"}, "invalid:project"),
        ({"excluded": {"region": -1}}, "invalid:excluded"),
    ],
)
def test_announcement_refuses_bad_arguments(kwargs: dict[str, Any], code: str) -> None:
    args = {
        "project": "P1",
        "algorithm": draw.SCORE,
        "excluded": {},
        "secret": SECRET,
        "entropy": WITNESS,
    } | kwargs
    with pytest.raises(draw.DrawError) as caught:
        draw.announced_body(_snapshot(), **args)
    assert caught.value.code == code


def test_entropy_values_must_fit_the_announced_kind() -> None:
    with pytest.raises(draw.DrawError, match="2 witness values"):
        draw.entropy_bytes({"kind": "witness", "witnesses": 2}, ["only one"])
    with pytest.raises(draw.DrawError):
        draw.entropy_bytes({"kind": "none"}, "something")
    with pytest.raises(draw.DrawError):
        draw.entropy_bytes(
            {
                "kind": "beacon",
                "source": "nist-beacon-2.0",
                "not_before": "2026-12-03T00:00:00.000Z",
            },
            "AB" * 64,
        )
    with pytest.raises(draw.DrawError, match="2 lottery sources"):
        draw.entropy_bytes({"kind": "public-lottery", "sources": ["a", "b"]}, "1.2./")
    assert draw.entropy_bytes({"kind": "none"}, "") == b""
    assert draw.beacon_entropy("ab" * 64) == b"\xab" * 64
