"""The snapshot of a supplementary draw ``D-R<n>`` (draw.md §6.4).

It is drawn by the whole of draw.md, for ``D``'s open places only. Its candidates leave out
every expert ever taken or sent a notice for ``D`` (reason ``taken``) and, in
expertdraw-score-v1, every candidate whose group already has ``max_per_group`` of ``D``'s
current members (reason ``group-full``); its venues leave out the rooms (and, with
``separation: "venue"``, the venues) of ``D``'s current members.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from expertdraw.domain.draw_errors import DrawError
from expertdraw.domain.draw_replace import history, supplementary_number
from expertdraw.domain.draw_snapshot import (
    SCORE,
    check_algorithm,
    check_count,
    check_id,
    parse_snapshot,
)


class Supplementary(NamedTuple):
    """A supplementary draw's snapshot, the counts to add to its announcement's ``excluded``
    (non-zero ones only), and what was left out: experts (``taken``), groups (``group-full``),
    ``[venue, room]`` pairs and venues, each sorted."""

    snapshot: dict[str, Any]
    excluded: dict[str, int]
    taken: list[str]
    full_groups: list[str]
    rooms: list[list[str]]
    venues: list[str]


#: A supplementary draw takes no alternates unless asked: draw.md §6.1 replaces a member from
#: ``D``'s own alternates only, so an alternate of ``D-R<n>`` would never be asked, yet as
#: ``taken`` it would be left out of every later ``D-R<k>``, and places would stay open while
#: eligible experts were never asked.
SUPPLEMENTARY_ALTERNATES = 0


def supplementary_snapshot(
    snapshot: dict[str, Any],
    completed: Mapping[str, Any],
    prior_replacements: Sequence[Mapping[str, Any]],
    *,
    draw_id: str,
    noticed: Iterable[str] = (),
    candidates: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    venues: Sequence[Mapping[str, Any]] | None = None,
    alternates: Mapping[str, int] | None = None,
    supplementary_members: Sequence[Mapping[str, Any]] = (),
    supplementary_taken: Iterable[str] = (),
    algorithm: str | None = None,
    whole_groups_only: bool = False,
) -> Supplementary:
    """Build the snapshot of ``draw_id`` (``D-R<n>``) for the places of ``D`` open now.

    ``snapshot``, ``completed`` and ``prior_replacements`` are ``D``'s. ``noticed``: experts sent
    a notice for ``D``. ``candidates``: per stratum, the experts eligible now (``{"id",
    "group"}``; default ``D``'s candidates). ``venues``: the venues free now (default ``D``'s).
    ``alternates``: per stratum (default ``SUPPLEMENTARY_ALTERNATES``, none).
    ``supplementary_members`` and ``supplementary_taken``: members (with group) and every
    expert taken by earlier ``D-R<k>``. Window, ``max_per_group`` and ``separation`` are
    ``D``'s; ``algorithm`` defaults to ``D``'s (see
    :func:`~expertdraw.domain.draw_replace.replace`).

    ``whole_groups_only`` also leaves out, as ``group-full``, each group of ``D``'s current
    members with room for fewer than the draw could take of it (its candidates here, up to
    the open places): the supplementary draw's own walk counts only its own members against
    ``max_per_group``, so with ``max_per_group`` of 2 or more it could take as many again of
    a group that already has a member, past the limit rules.md sets for the whole
    committee; a group with no more candidates than room is kept whole. The service draws
    so; draw.md §6.4 names only the groups already full, and a verifier rebuilding the
    snapshot by it (the default) finds the service's candidates among its own.
    Raises :class:`DrawError` ``invalid:supplementary`` (no open place, bad id or input) or
    any error of :func:`~expertdraw.domain.draw_replace.history`.
    """
    state = history(snapshot, completed, prior_replacements, supplementary_members)
    snap = state.snap
    algorithm = state.algorithm if algorithm is None else check_algorithm(algorithm)
    supplementary_number(snap.draw, draw_id, "draw_id")
    taken = {m["expert"] for m in completed["members"]}
    taken.update(e for experts in state.alternates.values() for e in experts)
    taken.update(m.expert for m in state.members)
    for expert in (*noticed, *supplementary_taken):
        taken.add(check_id(expert, "taken expert", "invalid:supplementary"))
    groups = Counter(m.group for m in state.members)
    seated = Counter(m.stratum for m in state.members)
    open_pools: list[tuple[int, Mapping[str, Any], int, list[tuple[str, str]]]] = []
    for index, stratum in enumerate(snapshot["strata"]):
        places = stratum["count"] - seated[stratum["name"]]
        if places <= 0:
            continue
        pool = stratum["candidates"] if candidates is None else candidates.get(stratum["name"], ())
        read = []
        for cand in pool:
            if not isinstance(cand, Mapping):
                raise DrawError(
                    "invalid:supplementary", f"a candidate of {stratum['name']} is not an object"
                )
            cid = check_id(cand.get("id"), "candidate id", "invalid:supplementary")
            group = check_id(cand.get("group"), "candidate group", "invalid:supplementary")
            read.append((cid, group))
        open_pools.append((index, stratum, places, read))
    room = {g: snap.max_per_group - n for g, n in groups.items()}
    full = {g for g, left in room.items() if left <= 0}
    if whole_groups_only:
        # A group may give the draw as many as it has candidates, up to the open places:
        # left out when that could be more than its room.
        offered: dict[str, set[str]] = {}
        for _, _, _, read in open_pools:
            for cid, group in read:
                if cid not in taken:
                    offered.setdefault(group, set()).add(cid)
        places_open = sum(places for _, _, places, _ in open_pools)
        full |= {g for g, left in room.items() if left < min(places_open, len(offered.get(g, ())))}
    if algorithm != SCORE:
        full = set()
    strata: list[dict[str, Any]] = []
    left_out: dict[str, set[str]] = {"taken": set(), "group-full": set()}
    for index, stratum, places, read in open_pools:
        kept = []
        for cid, group in read:
            reason = "taken" if cid in taken else "group-full" if group in full else None
            if reason:
                left_out[reason].add(cid)
            else:
                kept.append({"id": cid, "group": group})
        wanted = (alternates or {}).get(stratum["name"], SUPPLEMENTARY_ALTERNATES)
        strata.append(
            {
                "name": stratum["name"],
                "specialty": stratum["specialty"],
                "count": places,
                "alternates": check_count(
                    wanted, f"alternates[{index}]", 0, "invalid:supplementary"
                ),
                "candidates": sorted(kept, key=lambda c: c["id"]),
            }
        )
    if not strata:
        raise DrawError("invalid:supplementary", f"{snap.draw} has no open place")
    rooms = {(m.seat.venue, m.seat.room) for m in state.members}
    busy_venues = {m.seat.venue for m in state.members} if snap.separation == "venue" else set()
    busy_rooms = {room for _, room in rooms}
    kept_venues = []
    for venue in snapshot["venues"] if venues is None else venues:
        if venue["id"] in busy_venues:
            continue
        free = [
            {"id": r["id"], "workstations": sorted(r["workstations"])}
            for r in venue["rooms"]
            if r["id"] not in busy_rooms
        ]
        if free:
            kept_venues.append({"id": venue["id"], "rooms": sorted(free, key=lambda r: r["id"])})
    new = {
        "draw": draw_id,
        "window": dict(snapshot["window"]),
        "strata": strata,
        "max_per_group": snap.max_per_group,
        "separation": snap.separation,
        "venues": sorted(kept_venues, key=lambda v: v["id"]),
    }
    parse_snapshot(new, strict=True)
    return Supplementary(
        snapshot=new,
        excluded={reason: len(ids) for reason, ids in left_out.items() if ids},
        taken=sorted(taken),
        full_groups=sorted(full),
        rooms=[list(pair) for pair in sorted(rooms)],
        venues=sorted(busy_venues),
    )
