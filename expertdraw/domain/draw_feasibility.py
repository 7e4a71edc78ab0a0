"""Feasibility (draw.md §2): refuse, before announcing, a request that cannot be met.

The checks are necessary conditions only: a request that passes them can still fall short in
a rare draw (two strata competing for the same few groups), which then fails replayably with
``insufficient:<stratum>`` (draw.md §4).
"""

from __future__ import annotations

import math
from typing import Any

from expertdraw.domain.draw_errors import DrawError
from expertdraw.domain.draw_snapshot import (
    RFC3797,
    SCORE,
    Snapshot,
    check_algorithm,
    parse_snapshot,
)


def check_feasible(snapshot: dict[str, Any], algorithm: str = SCORE) -> None:
    """Refuse, before anything is announced, a request that cannot be met (draw.md §2).

    The snapshot must be in normal form (``parse_snapshot(strict=True)``). Raises
    :class:`DrawError` with, in this order of checks: ``infeasible:rfc3797:strata`` (rfc3797
    handles exactly one stratum), ``infeasible:candidates:<stratum>`` (fewer than ``count``),
    ``infeasible:groups:<stratum>`` (fewer than ``ceil(count / max_per_group)`` groups; not in
    rfc3797 mode, which has no group limit), ``infeasible:members`` (fewer distinct candidates
    than members requested), ``infeasible:venues`` or ``infeasible:rooms`` (fewer separated
    places with a free workstation than members); or ``invalid:*`` for a malformed input.
    """
    check_algorithm(algorithm)
    check_feasible_view(parse_snapshot(snapshot, strict=True), algorithm)


def _groups(ids: tuple[str, ...], group_of: dict[str, str], enough: int) -> int:
    """How many distinct groups ``ids`` have, counting only until ``enough`` (a stratum of
    thousands of candidates has ``enough`` in its first few)."""
    seen: set[str] = set()
    for cid in ids:
        seen.add(group_of[cid])
        if len(seen) >= enough:
            break
    return len(seen)


def check_feasible_view(snap: Snapshot, algorithm: str = SCORE) -> None:
    """:func:`check_feasible` for a snapshot already parsed with ``strict=True`` (the caller
    parses once and reuses the view); same checks, same order, same codes."""
    check_algorithm(algorithm)
    if algorithm == RFC3797 and len(snap.strata) != 1:
        raise DrawError("infeasible:rfc3797:strata", "rfc3797 mode draws exactly one stratum")
    for s in snap.strata:
        if len(s.ids) < s.count:
            raise DrawError(
                f"infeasible:candidates:{s.name}",
                f"{s.name}: {len(s.ids)} candidates for {s.count} members",
            )
        needed = math.ceil(s.count / snap.max_per_group)
        if algorithm == SCORE and (groups := _groups(s.ids, snap.group_of, needed)) < needed:
            raise DrawError(
                f"infeasible:groups:{s.name}",
                f"{s.name}: {groups} groups, {needed} needed at {snap.max_per_group} per group",
            )
    members = sum(s.count for s in snap.strata)
    if len(snap.group_of) < members:
        raise DrawError(
            "infeasible:members", f"{len(snap.group_of)} distinct candidates for {members} members"
        )
    if snap.separation == "venue":
        places = sum(1 for v in snap.venues if any(r.workstations for r in v.rooms))
    else:
        places = sum(1 for v in snap.venues for r in v.rooms if r.workstations)
    if places < members:
        raise DrawError(
            f"infeasible:{snap.separation}s",
            f"{places} {snap.separation}s with a free workstation for {members} members",
        )
