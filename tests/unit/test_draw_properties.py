"""Properties of the draw engine over generated snapshots (hypothesis).

The reference below is draw.md §4-§5 written as literally as possible (full sort, plain
``hmac.new``); the engine (lazy heap walk, precomputed HMAC pads) must agree with it on every
generated snapshot, including those where the group limit makes the walk go far.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from expertdraw.domain import draw, draw_seed, draw_select
from expertdraw.domain.draw_seed import keyed_hmac, short_sha256

POOL = [f"E{i:03d}" for i in range(40)]
GROUP = {expert: f"G{(i * 7) % 9}" for i, expert in enumerate(POOL)}
WINDOW = {"start": "2026-12-03T01:00:00.000Z", "end": "2026-12-03T09:00:00.000Z"}
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def snapshots(data: st.DrawFn) -> dict[str, Any]:
    strata = []
    for k in range(data(st.integers(1, 3))):
        ids = data(st.lists(st.sampled_from(POOL), min_size=1, max_size=15, unique=True))
        strata.append(
            {
                "name": f"s{k}",
                "specialty": "A0101",
                "count": data(st.integers(1, 3)),
                "alternates": data(st.integers(0, 3)),
                "candidates": [{"id": i, "group": GROUP[i]} for i in sorted(ids)],
            }
        )
    venues = []
    for v in range(data(st.integers(1, 5))):
        rooms = []
        for r in range(data(st.integers(1, 3))):
            size = data(st.integers(1, 3))
            rooms.append(
                {"id": f"V{v}-R{r}", "workstations": [f"V{v}-R{r}-W{w}" for w in range(size)]}
            )
        venues.append({"id": f"V{v}", "rooms": rooms})
    return {
        "draw": "D-P1",
        "window": dict(WINDOW),
        "strata": strata,
        "max_per_group": data(st.integers(1, 2)),
        "separation": data(st.sampled_from(["venue", "room"])),
        "venues": venues,
    }


seeds = st.binary(min_size=32, max_size=32)


def _hmac(seed: bytes, tag: str, *parts: str) -> bytes:
    message = tag.encode() + b"\x00" + b"\x00".join(p.encode() for p in parts)
    return hmac.new(seed, message, "sha256").digest()


def reference_select(snapshot: dict[str, Any], seed: bytes) -> dict[str, Any] | str:
    """draw.md §4 and §5 word for word; returns the selection or the failure code."""
    group = {c["id"]: c["group"] for s in snapshot["strata"] for c in s["candidates"]}
    taken: set[str] = set()
    per_group: Counter[str] = Counter()
    members: list[tuple[str, str]] = []
    alternates = []
    for stratum in snapshot["strata"]:
        ids = [c["id"] for c in stratum["candidates"]]
        order = sorted(ids, key=lambda x: (_hmac(seed, "expertdraw/score/v1", x), x))
        chosen: list[str] = []
        position = 0
        while len(chosen) < stratum["count"] and position < len(order):
            expert = order[position]
            position += 1
            if expert not in taken and per_group[group[expert]] < snapshot["max_per_group"]:
                chosen.append(expert)
                per_group[group[expert]] += 1
        if len(chosen) < stratum["count"]:
            return f"insufficient:{stratum['name']}"
        backups = [x for x in order[position:] if x not in taken][: stratum["alternates"]]
        taken.update(chosen, backups)
        members += [(stratum["name"], x) for x in chosen]
        alternates.append({"stratum": stratum["name"], "experts": backups})
    seated: list[dict[str, str]] = []
    for stratum_name, expert in members:
        used_ws = {m["workstation"] for m in seated}
        eligible = {
            v["id"]: [
                r
                for r in v["rooms"]
                if r["id"] not in {m["room"] for m in seated}
                and any(w not in used_ws for w in r["workstations"])
            ]
            for v in snapshot["venues"]
            if snapshot["separation"] == "room" or v["id"] not in {m["venue"] for m in seated}
        }
        eligible = {k: rooms for k, rooms in eligible.items() if rooms}
        if not eligible:
            return "insufficient:seats"
        venue = min(eligible, key=lambda v: (_hmac(seed, "expertdraw/venue/v1", expert, v), v))
        free = [
            (w, r["id"]) for r in eligible[venue] for w in r["workstations"] if w not in used_ws
        ]
        ws, room = min(free, key=lambda f: (_hmac(seed, "expertdraw/seat/v1", expert, f[0]), f[0]))
        seated.append(
            {
                "stratum": stratum_name,
                "expert": expert,
                "venue": venue,
                "room": room,
                "workstation": ws,
            }
        )
    return {"members": seated, "alternates": alternates}


def _select_or_code(snapshot: dict[str, Any], seed: bytes) -> dict[str, Any] | str:
    try:
        return draw.select(snapshot, seed)
    except draw.DrawError as exc:
        assert exc.code.startswith("insufficient:")
        return exc.code


@SETTINGS
@given(snapshots(), seeds)
def test_the_engine_agrees_with_the_literal_reading_of_the_spec(
    snapshot: dict[str, Any], seed: bytes
) -> None:
    assert _select_or_code(snapshot, seed) == reference_select(snapshot, seed)


@SETTINGS
@given(snapshots(), seeds)
def test_members_are_unique_candidates_within_group_limit_and_separated(
    snapshot: dict[str, Any], seed: bytes
) -> None:
    result = _select_or_code(snapshot, seed)
    if isinstance(result, str):
        return
    candidates = {s["name"]: {c["id"] for c in s["candidates"]} for s in snapshot["strata"]}
    members = result["members"]
    experts = [m["expert"] for m in members]
    assert len(set(experts)) == len(experts)
    for s in snapshot["strata"]:
        assert sum(m["stratum"] == s["name"] for m in members) == s["count"]
    assert all(m["expert"] in candidates[m["stratum"]] for m in members)
    assert max(Counter(GROUP[x] for x in experts).values()) <= snapshot["max_per_group"]
    places = {
        (v["id"], r["id"], w)
        for v in snapshot["venues"]
        for r in v["rooms"]
        for w in r["workstations"]
    }
    assert all((m["venue"], m["room"], m["workstation"]) in places for m in members)
    assert len({m["room"] for m in members}) == len(members)
    if snapshot["separation"] == "venue":
        assert len({m["venue"] for m in members}) == len(members)
    backups = [x for a in result["alternates"] for x in a["experts"]]
    assert len(set(backups)) == len(backups) and not set(backups) & set(experts)
    for item, s in zip(result["alternates"], snapshot["strata"], strict=True):
        assert item["stratum"] == s["name"] and len(item["experts"]) <= s["alternates"]
        assert set(item["experts"]) <= candidates[s["name"]]


@SETTINGS
@given(snapshots(), st.data())
def test_list_order_in_the_snapshot_does_not_change_the_result(
    snapshot: dict[str, Any], data: st.DataObject
) -> None:
    seed = data.draw(seeds)
    shuffled = copy.deepcopy(snapshot)
    for s in shuffled["strata"]:
        s["candidates"] = data.draw(st.permutations(s["candidates"]))
    shuffled["venues"] = data.draw(st.permutations(shuffled["venues"]))
    for v in shuffled["venues"]:
        v["rooms"] = data.draw(st.permutations(v["rooms"]))
        for r in v["rooms"]:
            r["workstations"] = data.draw(st.permutations(r["workstations"]))
    assert _select_or_code(shuffled, seed) == _select_or_code(snapshot, seed)


@SETTINGS
@given(snapshots(), seeds, st.binary(max_size=40))
def test_replay_of_any_draw_equals_the_draw(
    snapshot: dict[str, Any], secret: bytes, entropy_seed: bytes
) -> None:
    try:
        draw.check_feasible(snapshot)
    except draw.DrawError as exc:
        assert exc.code.startswith("infeasible:")
        return
    values = [entropy_seed.hex(), "witness-2"]
    announced = draw.announced_body(
        snapshot,
        project="P1",
        algorithm=draw.SCORE,
        excluded={},
        secret=secret,
        entropy={"kind": "witness", "witnesses": 2},
    )
    kind, body = draw.complete(snapshot, announced, secret, values)
    assert draw.replay(snapshot, announced, body) is None
    if kind == "draw.completed":
        assert {"members": body["members"], "alternates": body["alternates"]} == draw.select(
            snapshot, bytes.fromhex(body["seed"])
        )


@SETTINGS
@given(seeds, st.binary(max_size=64), st.data())
def test_changing_one_byte_of_the_secret_or_the_entropy_changes_the_seed(
    secret: bytes, entropy: bytes, data: st.DataObject
) -> None:
    digest = "ab" * 32
    seed = draw.derive_seed("D-1", digest, secret, entropy)
    i = data.draw(st.integers(0, len(secret) - 1))
    flip = data.draw(st.integers(1, 255))
    other = secret[:i] + bytes([secret[i] ^ flip]) + secret[i + 1 :]
    assert draw.derive_seed("D-1", digest, other, entropy) != seed
    if entropy:
        j = data.draw(st.integers(0, len(entropy) - 1))
        changed = entropy[:j] + bytes([entropy[j] ^ flip]) + entropy[j + 1 :]
        assert draw.derive_seed("D-1", digest, secret, changed) != seed
    # moving a byte from the secret to the entropy changes it too (length prefixes)
    assert draw.derive_seed("D-1", digest, secret[:-1], secret[-1:] + entropy) != seed


@SETTINGS
@given(st.binary(max_size=200), st.binary(max_size=100), st.binary(max_size=100))
def test_precomputed_hmac_equals_the_standard_library(
    key: bytes, prefix: bytes, message: bytes
) -> None:
    expected = hmac.digest(key, prefix + message, "sha256")
    assert keyed_hmac(key, prefix)(message) == expected


@SETTINGS
@given(st.binary(max_size=300), st.binary(max_size=300))
def test_short_sha256_equals_hashlib(first: bytes, second: bytes) -> None:
    state = short_sha256(first)
    copy = state.copy()
    copy.update(second)
    assert state.digest() == hashlib.sha256(first).digest()
    assert copy.digest() == hashlib.sha256(first + second).digest()
    assert copy.hexdigest() == hashlib.sha256(first + second).hexdigest()


def test_short_sha256_is_cpython_s_own_where_it_has_one(monkeypatch: pytest.MonkeyPatch) -> None:
    builtin = draw_seed._short_sha256()
    assert builtin is not hashlib.sha256  # this interpreter has _sha2 or _sha256
    assert builtin(b"abc").digest() == hashlib.sha256(b"abc").digest()

    def missing(name: str) -> None:
        raise ImportError(name)

    monkeypatch.setattr(draw_seed.importlib, "import_module", missing)
    assert draw_seed._short_sha256() is hashlib.sha256


def _committee(
    completed: dict[str, Any], bodies: list[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    current = {m["expert"]: dict(m) for m in completed["members"]}
    for body in bodies:
        leaver = current.pop(body["out"])
        if body["in"] is not None:
            current[body["in"]] = {
                "stratum": leaver["stratum"],
                "expert": body["in"],
                **body["seat"],
            }
    return current


@SETTINGS
@given(snapshots(), seeds, st.data())
def test_replacements_keep_the_group_limit_and_separation(
    snapshot: dict[str, Any], seed: bytes, data: st.DataObject
) -> None:
    result = _select_or_code(snapshot, seed)
    if isinstance(result, str):
        return
    completed = {"draw": snapshot["draw"], "seed": seed.hex(), **result}
    workstations = sorted(
        w for v in snapshot["venues"] for r in v["rooms"] for w in r["workstations"]
    )
    bodies: list[dict[str, Any]] = []
    for _ in range(data.draw(st.integers(1, 4))):
        current = _committee(completed, bodies)
        if not current:
            break
        out = data.draw(st.sampled_from(sorted(current)))
        backups = [x for a in result["alternates"] for x in a["experts"]]
        ineligible = {x: "busy" for x in data.draw(st.lists(st.sampled_from(backups or ["-"])))}
        unavailable = data.draw(st.lists(st.sampled_from(workstations), max_size=4))
        args = (snapshot, completed, bodies, out, "declined", ineligible, unavailable)
        body = draw.replace(*args)
        assert draw.replay_replacement(snapshot, completed, bodies, body) is None
        bodies.append(body)
        after = _committee(completed, bodies)
        groups = Counter(GROUP[x] for x in after)
        assert not groups or max(groups.values()) <= snapshot["max_per_group"]
        assert len({m["room"] for m in after.values()}) == len(after)
        if snapshot["separation"] == "venue":
            assert len({m["venue"] for m in after.values()}) == len(after)
        if body["in"] is not None:
            assert body["in"] in backups and body["in"] not in ineligible
            assert body["seat"]["workstation"] not in unavailable
        assert [s["expert"] for s in body["skipped"]] == [
            x for x in backups if x in {s["expert"] for s in body["skipped"]}
        ]


@pytest.mark.parametrize("algorithm", [draw.SCORE, draw.RFC3797])
def test_an_unsorted_snapshot_hashes_as_given_but_is_not_announced(algorithm: str) -> None:
    snapshot = {
        "draw": "D-1",
        "window": dict(WINDOW),
        "strata": [
            {
                "name": "s0",
                "specialty": "A0101",
                "count": 1,
                "alternates": 1,
                "candidates": [{"id": "E2", "group": "G2"}, {"id": "E1", "group": "G1"}],
            }
        ],
        "max_per_group": 1,
        "separation": "venue",
        "venues": [{"id": "V1", "rooms": [{"id": "V1-R1", "workstations": ["V1-R1-W1"]}]}],
    }
    tidy = copy.deepcopy(snapshot)
    tidy["strata"][0]["candidates"].reverse()
    assert draw.snapshot_hash(snapshot) != draw.snapshot_hash(tidy)
    seed = hashlib.sha256(b"seed").digest()
    key = "1./" if algorithm == draw.RFC3797 else None
    assert draw.select(snapshot, seed, algorithm, key) == draw.select(tidy, seed, algorithm, key)
    with pytest.raises(draw.DrawError) as caught:
        draw.check_feasible(snapshot, algorithm)
    assert caught.value.code == "invalid:snapshot"
    draw.check_feasible(tidy, algorithm)


@SETTINGS
@given(st.lists(st.sampled_from(POOL), max_size=30), seeds)
def test_the_score_heap_pops_in_score_then_id_order(ids: list[str], seed: bytes) -> None:
    """Distinct ids go by digest alone; ids sharing a digest (here: repeated ids, since
    HMAC-SHA256 collisions are not to be found) fall back to ``(digest, id)`` pairs."""
    heap = draw_select._score_heap(seed, ids)
    popped = []
    while heap:
        popped.append(heap.pop())
    assert popped == sorted(draw.scores(seed, ids))
    repeated = len(set(ids)) < len(ids)
    assert isinstance(heap, draw_select._ByPair if repeated else draw_select._ByDigest)
