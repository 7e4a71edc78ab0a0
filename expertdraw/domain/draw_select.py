"""Members, alternates and seats of one draw (draw.md §4, §5, §7).

Hot path: a stratum of ``n`` candidates costs ``n`` HMACs (see ``keyed_hmac``), a heapify and
one heap pop per candidate walked. The walk pops lazily, so it is exact however far the group
limit makes it go, and costs ``O(n + w log n)`` for a walk of ``w`` candidates instead of a
full sort. Heap order is ``(digest, id)``: 32-byte digests compare as bytes exactly as they
compare as big-endian integers, and ties (which do not happen) break by id; while no two ids
share a digest the heap holds the digests alone (``_ByDigest``), which is cheaper.
"""

from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass
from typing import Any

from expertdraw.domain import rfc3797
from expertdraw.domain.draw_errors import DrawError
from expertdraw.domain.draw_seats import Occupied, Seat, choose_seat
from expertdraw.domain.draw_seed import keyed_hmac
from expertdraw.domain.draw_snapshot import (
    RFC3797,
    SCORE,
    Snapshot,
    check_algorithm,
    parse_snapshot,
)

SCORE_TAG = b"expertdraw/score/v1\x00"

Trace = list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Picked:
    """Members ``(stratum, expert)`` in order, and each stratum's alternates, before seats."""

    members: list[tuple[str, str]]
    alternates: list[tuple[str, list[str]]]


def check_seed(seed: object) -> bytes:
    """Return ``seed`` if it is 32 bytes; raise :class:`DrawError` ``invalid:seed`` if not."""
    if not isinstance(seed, bytes) or len(seed) != 32:
        raise DrawError("invalid:seed", "the seed is 32 bytes")
    return seed


def scores(seed: bytes, ids: tuple[str, ...] | list[str]) -> list[tuple[bytes, str]]:
    """``(HMAC(seed, "expertdraw/score/v1" || 0x00 || utf8(id)), id)`` for every id (§4)."""
    score = keyed_hmac(seed, SCORE_TAG)
    return [(score(cid.encode()), cid) for cid in ids]


class _ByDigest:
    """A heap of digests standing for ``(digest, id)`` pairs (fewer objects, and bytes
    compare faster than tuples); usable only when no two ids share a digest."""

    __slots__ = ("digests", "id_of")

    def __init__(self, digests: list[bytes], id_of: dict[bytes, str]) -> None:
        self.digests, self.id_of = digests, id_of

    def __bool__(self) -> bool:
        return bool(self.digests)

    def pop(self) -> tuple[bytes, str]:
        digest = heapq.heappop(self.digests)
        return digest, self.id_of[digest]


class _ByPair:
    """A heap of ``(digest, id)`` pairs: ties of digests break by id (§4)."""

    __slots__ = ("pairs",)

    def __init__(self, pairs: list[tuple[bytes, str]]) -> None:
        self.pairs = pairs

    def __bool__(self) -> bool:
        return bool(self.pairs)

    def pop(self) -> tuple[bytes, str]:
        return heapq.heappop(self.pairs)


def _score_heap(seed: bytes, ids: tuple[str, ...] | list[str]) -> _ByDigest | _ByPair:
    """The stratum's candidates as a heap in ``(score, id)`` order, popped lazily."""
    score = keyed_hmac(seed, SCORE_TAG)
    digests = list(map(score, map(str.encode, ids)))
    id_of = dict(zip(digests, ids, strict=True))
    if len(id_of) == len(digests):
        heapq.heapify(digests)
        return _ByDigest(digests, id_of)
    pairs = list(zip(digests, ids, strict=True))  # ids sharing a digest: order the pairs
    heapq.heapify(pairs)
    return _ByPair(pairs)


def _walk_score(snap: Snapshot, seed: bytes, trace: Trace | None) -> Picked:
    """Section 4: members within ``max_per_group``, then alternates, stratum by stratum."""
    taken: set[str] = set()
    per_group: Counter[str] = Counter()
    members: list[tuple[str, str]] = []
    alternates: list[tuple[str, list[str]]] = []
    group_of, limit = snap.group_of, snap.max_per_group
    for stratum in snap.strata:
        heap = _score_heap(seed, stratum.ids)
        steps: Trace | None = None
        if trace is not None:
            steps = []
            trace.append({"stratum": stratum.name, "walk": steps})
        chosen: list[str] = []
        while heap and len(chosen) < stratum.count:
            score, cid = heap.pop()
            group = group_of[cid]
            if cid in taken:
                outcome = "skip:taken"
            elif per_group[group] >= limit:
                outcome = "skip:group"
            else:
                outcome = "member"
                chosen.append(cid)
                per_group[group] += 1
            if steps is not None:
                steps.append({"id": cid, "group": group, "score": score.hex(), "outcome": outcome})
        if len(chosen) < stratum.count:
            raise DrawError(
                f"insufficient:{stratum.name}",
                f"{len(chosen)} of {stratum.count} members within the group limit",
            )
        backups: list[str] = []
        while heap and len(backups) < stratum.alternates:
            score, cid = heap.pop()
            outcome = "skip:taken" if cid in taken else "alternate"
            if outcome == "alternate":
                backups.append(cid)
            if steps is not None:
                steps.append(
                    {"id": cid, "group": group_of[cid], "score": score.hex(), "outcome": outcome}
                )
        while steps is not None and heap:
            score, cid = heap.pop()
            steps.append(
                {"id": cid, "group": group_of[cid], "score": score.hex(), "outcome": "not reached"}
            )
        taken.update(chosen)
        taken.update(backups)
        members.extend((stratum.name, cid) for cid in chosen)
        alternates.append((stratum.name, backups))
    return Picked(members, alternates)


def _walk_rfc3797(snap: Snapshot, key: str | None, trace: Trace | None) -> Picked:
    """Section 7: one stratum, candidates numbered 1..N in id order, no group limit."""
    if len(snap.strata) != 1:
        raise DrawError("infeasible:rfc3797:strata", "rfc3797 mode draws exactly one stratum")
    if key is None:
        raise DrawError("invalid:lottery", "rfc3797 mode needs the key string")
    stratum = snap.strata[0]
    numbered = sorted(stratum.ids)
    picks = rfc3797.picks(key, len(numbered), stratum.count + stratum.alternates)
    if trace is not None:
        trace.extend(p.as_dict() for p in picks)
    if len(picks) < stratum.count:
        raise DrawError(
            f"insufficient:{stratum.name}", f"{len(picks)} candidates for {stratum.count} members"
        )
    order = [numbered[p.picked - 1] for p in picks]
    members = [(stratum.name, cid) for cid in order[: stratum.count]]
    return Picked(members, [(stratum.name, order[stratum.count :])])


def pick(
    snap: Snapshot,
    seed: bytes,
    algorithm: str = SCORE,
    key_string: str | None = None,
    trace: Trace | None = None,
) -> Picked:
    """Members and alternates without seats; raises ``insufficient:<stratum>``."""
    if check_algorithm(algorithm) == RFC3797:
        return _walk_rfc3797(snap, key_string, trace)
    return _walk_score(snap, check_seed(seed), trace)


def seat_members(
    snap: Snapshot, seed: bytes, experts: list[str], trace: Trace | None = None
) -> list[Seat]:
    """Section 5 for ``experts`` in order; raises :class:`DrawError` ``insufficient:seats``."""
    occupied = Occupied()
    seats: list[Seat] = []
    for expert in experts:
        seat = choose_seat(seed, expert, snap.venues, snap.separation, occupied, trace)
        if seat is None:
            raise DrawError(
                "insufficient:seats", f"no eligible venue left for member {len(seats) + 1}"
            )
        occupied.take(seat)
        seats.append(seat)
    return seats


def _selection(picked: Picked, seats: list[Seat]) -> dict[str, Any]:
    return {
        "members": [
            {"stratum": stratum, "expert": expert, **seat.as_dict()}
            for (stratum, expert), seat in zip(picked.members, seats, strict=True)
        ],
        "alternates": [{"stratum": s, "experts": list(e)} for s, e in picked.alternates],
    }


def select(
    snapshot: dict[str, Any] | Snapshot,
    seed: bytes,
    algorithm: str = SCORE,
    key_string: str | None = None,
) -> dict[str, Any]:
    """The draw's ``{"members": [...], "alternates": [...]}`` as in ``draw.completed`` (§4-§7).

    ``snapshot`` is the snapshot or its parsed view (:func:`parse_snapshot`), so that a caller
    that has parsed it already does not parse it again. ``key_string`` is the RFC 3797 key
    (``rfc3797`` mode only). The result depends on the candidates, rooms and workstations as
    sets, not on list order (see draw_snapshot).
    Raises :class:`DrawError` ``insufficient:<stratum>`` or ``insufficient:seats`` when this
    draw falls short, ``invalid:*`` for malformed input.
    """
    snap = snapshot if isinstance(snapshot, Snapshot) else parse_snapshot(snapshot)
    seed = check_seed(seed)
    picked = pick(snap, seed, algorithm, key_string)
    seats = seat_members(snap, seed, [expert for _, expert in picked.members])
    return _selection(picked, seats)


def explain(
    snapshot: dict[str, Any],
    seed: bytes,
    algorithm: str = SCORE,
    key_string: str | None = None,
) -> dict[str, Any]:
    """Every intermediate of a draw, for supervisors and the vector tests.

    Returns ``{"walks" | "rfc3797_picks": [...], "seats": [...], "failure": code or None,
    "selection": select()'s result or None}``: each walk lists the whole stratum in
    ``(score, id)`` order with its outcome (``member``, ``alternate``, ``skip:taken``,
    ``skip:group``, ``not reached``); each seat lists the HMAC of every eligible venue and of
    every free workstation of the chosen venue. Raises :class:`DrawError` ``invalid:*`` only.
    """
    snap = parse_snapshot(snapshot)
    seed = check_seed(seed)
    steps: Trace = []
    seats: Trace = []
    result: dict[str, Any] = {
        "rfc3797_picks" if algorithm == RFC3797 else "walks": steps,
        "seats": seats,
        "failure": None,
        "selection": None,
    }
    try:
        picked = pick(snap, seed, algorithm, key_string, steps)
        placed = seat_members(snap, seed, [expert for _, expert in picked.members], seats)
    except DrawError as exc:
        if not exc.code.startswith("insufficient:"):
            raise
        result["failure"] = exc.code
    else:
        result["selection"] = _selection(picked, placed)
    return result
