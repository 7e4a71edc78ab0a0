"""Replacements (补抽, draw.md §6): who comes in for a leaving member, and where they sit.

The state of draw ``D`` is derived, never stored: its ``draw.completed`` body, the earlier
``draw.replaced`` bodies in ledger order, and the members brought in by its completed
supplementary draws ``D-R<k>`` (each ``{"stratum", "expert", "venue", "room", "workstation",
"group"}``, group from that draw's snapshot, as brought in). Current members are everyone who
came in (by the draw, a replacement or a supplementary draw) and has not gone out.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from expertdraw.domain.draw_errors import DrawError
from expertdraw.domain.draw_seats import Occupied, Seat, choose_seat
from expertdraw.domain.draw_seed import parse_seed
from expertdraw.domain.draw_snapshot import (
    RFC3797,
    SCORE,
    Snapshot,
    check_algorithm,
    check_id,
    parse_snapshot,
)

Body = dict[str, Any]
_SEAT_KEYS = ("venue", "room", "workstation")


@dataclass(frozen=True, slots=True)
class Member:
    """A current member of the committee: stratum, expert, group and seat."""

    stratum: str
    expert: str
    group: str
    seat: Seat


@dataclass(frozen=True, slots=True)
class History:
    """Draw ``D`` as it stands: its current members, in order of coming in, and who came in by
    a replacement (alternates already used)."""

    snap: Snapshot
    seed: bytes
    algorithm: str
    alternates: dict[str, list[str]]
    members: list[Member]
    came_in: set[str]
    supplementary_numbers: set[int]


def _seat(raw: object, where: str) -> Seat:
    if not isinstance(raw, Mapping) or not all(k in raw for k in _SEAT_KEYS):
        raise DrawError("invalid:replacement", f"{where} has no venue, room and workstation")
    return Seat(*(check_id(raw[k], f"{where}.{k}", "invalid:replacement") for k in _SEAT_KEYS))


def _records(value: object, where: str) -> list[Mapping[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise DrawError("invalid:replacement", f"completed {where} must be a list of objects")
    return value


def supplementary_number(draw_id: str, value: object, where: str) -> int:
    """``n`` of a supplementary draw id ``<draw_id>-R<n>``; ``invalid:supplementary`` if not."""
    match = (
        re.fullmatch(re.escape(draw_id) + r"-R([1-9][0-9]*)", value)
        if isinstance(value, str)
        else None
    )
    if match is None:
        raise DrawError("invalid:supplementary", f"{where} {value!r} is not {draw_id}-R<n>")
    return int(match.group(1))


def history(
    snapshot: dict[str, Any],
    completed: Mapping[str, Any],
    prior_replacements: Sequence[Mapping[str, Any]] = (),
    supplementary_members: Sequence[Mapping[str, Any]] = (),
    supplementary_draws: Iterable[str] = (),
) -> History:
    """Derive the current state of a draw from its bodies (see the module docstring).

    ``supplementary_draws`` are the ids of every ``D-R<k>`` announced so far, failed ones too,
    so that the next one gets a fresh number. Raises :class:`DrawError` ``invalid:replacement``
    (a body that does not fit the state: an ``out`` who is not a current member...),
    ``invalid:supplementary``, ``invalid:seed`` or ``invalid:snapshot``.
    """
    snap = parse_snapshot(snapshot)
    if not isinstance(completed, Mapping) or completed.get("draw") != snap.draw:
        raise DrawError("invalid:replacement", "the completed body is not this snapshot's draw")
    seed = parse_seed(completed.get("seed"))
    names = {s.name for s in snap.strata}
    current: dict[str, Member] = {}
    for index, m in enumerate(_records(completed.get("members"), "members")):
        if m.get("expert") not in snap.group_of or m.get("stratum") not in names:
            raise DrawError("invalid:replacement", f"members[{index}] is not from the snapshot")
        expert = m["expert"]
        seat = _seat(m, f"members[{index}]")
        current[expert] = Member(m["stratum"], expert, snap.group_of[expert], seat)
    alternates: dict[str, list[str]] = {}
    for a in _records(completed.get("alternates"), "alternates"):
        experts = a.get("experts")
        if a.get("stratum") not in names or not isinstance(experts, list):
            raise DrawError("invalid:replacement", "completed alternates do not fit the snapshot")
        if any(e not in snap.group_of for e in experts):
            raise DrawError("invalid:replacement", "an alternate is not in the snapshot")
        alternates[a["stratum"]] = experts
    for index, m in enumerate(supplementary_members):
        where = f"supplementary_members[{index}]"
        if not isinstance(m, Mapping):
            raise DrawError("invalid:supplementary", f"{where} must be an object")
        expert = check_id(m.get("expert"), f"{where}.expert", "invalid:supplementary")
        group = check_id(m.get("group"), f"{where}.group", "invalid:supplementary")
        if m.get("stratum") not in names or expert in current:
            raise DrawError("invalid:supplementary", f"{where} does not fit draw {snap.draw}")
        current[expert] = Member(m["stratum"], expert, group, _seat(m, where))
    came_in: set[str] = set()
    numbers = {
        supplementary_number(snap.draw, d, "supplementary draw") for d in supplementary_draws
    }
    for index, body in enumerate(prior_replacements):
        where = f"prior_replacements[{index}]"
        if not isinstance(body, Mapping) or body.get("draw") != snap.draw:
            raise DrawError("invalid:replacement", f"{where} is not a replacement of {snap.draw}")
        out = body.get("out")
        leaver = current.pop(out, None) if isinstance(out, str) else None
        if leaver is None:
            raise DrawError("invalid:replacement", f"{where}.out is not a current member")
        if body.get("supplementary") is not None:
            numbers.add(
                supplementary_number(snap.draw, body["supplementary"], f"{where}.supplementary")
            )
        newcomer = body.get("in")
        if newcomer is not None:
            if newcomer not in alternates.get(leaver.stratum, ()) or newcomer in came_in:
                raise DrawError("invalid:replacement", f"{where}.in is not an unused alternate")
            group = snap.group_of[newcomer]
            current[newcomer] = Member(
                leaver.stratum, newcomer, group, _seat(body.get("seat"), f"{where}.seat")
            )
            came_in.add(newcomer)
    algorithm = RFC3797 if completed.get("secret") == "" else SCORE
    return History(snap, seed, algorithm, alternates, list(current.values()), came_in, numbers)


def _replace(
    state: History,
    out: str,
    reason: str,
    ineligible: Mapping[str, str],
    unavailable: Iterable[str],
    algorithm: str | None,
    trace: list[dict[str, Any]] | None,
) -> Body:
    snap = state.snap
    algorithm = state.algorithm if algorithm is None else check_algorithm(algorithm)
    if not isinstance(reason, str) or not reason:
        raise DrawError("invalid:replacement", "a replacement has a reason")
    if not isinstance(ineligible, Mapping):
        raise DrawError("invalid:replacement", "ineligible maps experts to reason codes")
    booked = sorted(
        {check_id(w, "unavailable workstation", "invalid:replacement") for w in unavailable}
    )
    leaver = next((m for m in state.members if m.expert == out), None)
    if leaver is None:
        raise DrawError("invalid:replacement", f"{out!r} is not a current member of {snap.draw}")
    staying = [m for m in state.members if m.expert != out]
    per_group = Counter(m.group for m in staying)
    skipped: list[dict[str, str]] = []
    chosen: str | None = None
    for alternate in state.alternates.get(leaver.stratum, ()):
        if alternate in state.came_in:
            continue
        if alternate in ineligible:
            code = check_id(ineligible[alternate], "ineligibility reason", "invalid:replacement")
            skipped.append({"expert": alternate, "reason": code})
        elif algorithm == SCORE and per_group[snap.group_of[alternate]] >= snap.max_per_group:
            skipped.append({"expert": alternate, "reason": "group-limit"})
        else:
            chosen = alternate
            break
    body: Body = {"draw": snap.draw, "out": out, "in": None, "seat": None, "reason": reason}
    body |= {"skipped": skipped, "unavailable": booked}
    if chosen is None:
        body["supplementary"] = f"{snap.draw}-R{max(state.supplementary_numbers, default=0) + 1}"
        return body
    occupied = Occupied.of((m.seat for m in staying), booked)
    seat = choose_seat(state.seed, chosen, snap.venues, snap.separation, occupied, trace)
    if seat is None:
        body["supplementary"] = None
        body["unseated"] = chosen
    else:
        body["in"], body["seat"] = chosen, seat.as_dict()
    return body


def replace(
    snapshot: dict[str, Any],
    completed: Mapping[str, Any],
    prior_replacements: Sequence[Mapping[str, Any]],
    out: str,
    reason: str,
    ineligible: Mapping[str, str],
    unavailable: Iterable[str],
    algorithm: str | None = None,
    *,
    supplementary_members: Sequence[Mapping[str, Any]] = (),
    supplementary_draws: Iterable[str] = (),
) -> Body:
    """The ``draw.replaced`` body for member ``out`` leaving for ``reason`` (draw.md §6).

    ``ineligible`` maps experts no longer eligible to an exclusion reason code (rules.md);
    ``unavailable`` lists workstations booked by others since the snapshot. The body names
    ``in`` and its ``seat``; or, with no alternate left, ``"in": null`` and the supplementary
    draw ``D-R<n>`` to run; or, with an alternate but no seat, ``"unseated"``. Every unused
    alternate passed over is in ``skipped`` with its reason (``group-limit`` in
    expertdraw-score-v1 only, §6.5). ``algorithm`` defaults to the draw's own, told by its
    completed body (rfc3797 draws reveal an empty secret, expertdraw-score-v1 ones 32 bytes).
    Raises :class:`DrawError` ``invalid:*`` (see
    :func:`history`).
    """
    state = history(
        snapshot, completed, prior_replacements, supplementary_members, supplementary_draws
    )
    return _replace(state, out, reason, ineligible, unavailable, algorithm, None)


def explain_replacement(
    snapshot: dict[str, Any],
    completed: Mapping[str, Any],
    prior_replacements: Sequence[Mapping[str, Any]],
    out: str,
    reason: str,
    ineligible: Mapping[str, str],
    unavailable: Iterable[str],
    algorithm: str | None = None,
    *,
    supplementary_members: Sequence[Mapping[str, Any]] = (),
    supplementary_draws: Iterable[str] = (),
) -> dict[str, Any]:
    """:func:`replace` with its intermediates: ``{"body": ..., "seats": [seat trace]}``."""
    state = history(
        snapshot, completed, prior_replacements, supplementary_members, supplementary_draws
    )
    seats: list[dict[str, Any]] = []
    body = _replace(state, out, reason, ineligible, unavailable, algorithm, seats)
    return {"body": body, "seats": seats}
