"""Replacements (补抽, draw.md §6): a leaving member's place goes to an alternate, or to a
supplementary draw ``D-R<n>`` when no alternate is left.

The committee's state is derived by the draw engine from the ledger's own bodies (the
completed draw, earlier replacements, completed supplementary draws), never from mutable rows,
so that what is decided here is exactly what a replay recomputes.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from .. import clock
from ..domain import draw as engine
from ..domain import eligibility as el
from ..domain.draw_replace import supplementary_number
from ..extensions import db
from ..logfmt import event
from ..models import (
    Alternate,
    Booking,
    Draw,
    Expert,
    Member,
    Notice,
    Project,
    Room,
    Snapshot,
    User,
    Venue,
    Workstation,
)
from ..models.periods import overlapping
from . import delivery, draws, ledger, pool, rules_record, seat_map, seating
from .errors import Conflict, ServiceError

log = logging.getLogger(__name__)


def _supplementary(root: Draw) -> tuple[list[str], list[dict[str, Any]], list[str]]:
    """Ids of ``root``'s supplementary draws, their members (with group), and everyone taken."""
    ids, members, taken = [], [], []
    for sub in db.session.scalars(
        sa.select(Draw).where(Draw.root_id == root.id).order_by(Draw.announced_at, Draw.id)
    ):
        ids.append(sub.id)
        if sub.state != "completed":
            continue
        body = ledger.entry_body("draw.completed", sub.id)
        snapshot = json.loads(db.session.get(Snapshot, sub.id).canonical)
        group_of = {c["id"]: c["group"] for s in snapshot["strata"] for c in s["candidates"]}
        for m in body["members"]:
            members.append({**m, "group": group_of[m["expert"]]})
        taken += [m["expert"] for m in body["members"]]
        taken += [e for a in body["alternates"] for e in a["experts"]]
    return ids, members, taken


def state_of(root: Draw) -> dict[str, Any]:
    """Everything the engine needs to derive the committee of ``root`` now."""
    sub_ids, sub_members, sub_taken = _supplementary(root)
    return {
        "snapshot": draws.snapshot_of(root.id),
        "completed": ledger.entry_body("draw.completed", root.id),
        "prior": ledger.entry_bodies("draw.replaced", root.id),
        "supplementary_draws": sub_ids,
        "supplementary_members": sub_members,
        "supplementary_taken": sub_taken,
    }


def _ineligible(project: Project, codes: list[str]) -> dict[str, str]:
    """Current exclusion reason of each listed expert (only those excluded)."""
    if not codes:
        return {}
    ids = seating.expert_ids(codes)
    rules = pool.rules_for(project, draws.rules())
    facts = pool.project_facts(project)
    loaded = pool.load_facts(list(ids.values()), project, facts, rules)
    reasons = {}
    for fact in loaded.values():
        reason = el.first_exclusion(fact, facts, rules)
        if reason:
            reasons[fact.code] = reason
    return reasons


def _unavailable(root: Draw, snapshot: dict[str, Any], project: Project) -> list[str]:
    """Snapshot workstations booked by others since the snapshot, or out of service now (the
    workstation, its room or its venue: no new seat goes there), sorted."""
    listed = [w for v in snapshot["venues"] for r in v["rooms"] for w in r["workstations"]]
    booked = db.session.scalars(
        sa.select(Booking.workstation_id).where(
            Booking.workstation_id.in_(listed),
            Booking.released_at.is_(None),
            Booking.draw_id != root.id,
            overlapping(Booking.start, Booking.end, project.window_start, project.window_end),
        )
    )
    out_of_service = db.session.scalars(
        sa.select(Workstation.id)
        .join(Room, Room.id == Workstation.room_id)
        .join(Venue, Venue.id == Room.venue_id)
        .where(
            Workstation.id.in_(listed),
            sa.or_(Workstation.active.is_(False), Room.active.is_(False), Venue.active.is_(False)),
        )
    )
    return sorted({*booked, *out_of_service})


def _release(member: Member, reason: str, now: datetime) -> None:
    member.state = "replaced"
    member.left_at = now
    member.left_reason = reason
    db.session.execute(
        sa.update(Booking)
        .where(Booking.member_id == member.id, Booking.released_at.is_(None))
        .values(released_at=now)
    )
    # An accepted seat is withdrawn too (a conflict found later, a suspension): the expert's
    # inbox and schedule must not keep showing a seat the venue no longer holds for them, and
    # the channels that told them of it tell them it is withdrawn.
    open_notices = list(
        db.session.scalars(
            sa.select(Notice.id).where(
                Notice.member_id == member.id, Notice.status.in_(("pending", "accepted"))
            )
        )
    )
    db.session.execute(
        sa.update(Notice).where(Notice.id.in_(open_notices)).values(status="withdrawn")
    )
    delivery.queue_withdrawals(open_notices, now)
    db.session.flush()


def leave_after_evaluation(member: Member, reason: str, now: datetime) -> None:
    """Take off a member who declined or never answered once the evaluation had ended: no
    place is filled any more (the ``notice.answered`` entry records why), but they never sat,
    so the look-backs (``frequency``, ``same-tenderer``) must not count this evaluation."""
    _release(member, reason, now)


def _evaluation_over() -> Conflict:
    return Conflict(
        "conflict:evaluation-over", "the evaluation has ended: no place is filled any more"
    )


def _over(project: Project, now: datetime) -> bool:
    """Whether ``project``'s evaluation has ended: no place of it is filled any more."""
    return project.window_end <= now


def evaluation_over(member: Member, now: datetime) -> bool:
    """Whether the evaluation ``member`` was drawn for has ended (:func:`_over`)."""
    root = db.session.get(Draw, member.draw_id)
    return _over(db.session.get(Project, root.project_id), now)


def replace_member(
    member: Member, reason: str, actor: dict[str, str], now: datetime | None = None
) -> dict[str, Any]:
    """Replace a member who declined, timed out or is conflicted (commits).

    Returns the ``draw.replaced`` body. A supplementary draw it calls for is announced in the
    same transaction (and completed at once when its entropy is ``none``). A supplementary
    draw of the committee still awaiting its entropy fails as ``superseded``, and the next
    ``D-R<n>`` is announced for every place open now, so that two never fill the same places.
    When the supplementary draw cannot be met (``infeasible:*``: too few candidates, rooms or
    venues left), the replacement is recorded all the same and the place stays open: a leaver
    is never held in the committee because no one can take the place.

    Raises:
        Conflict: the member has already left (``conflict:member``), or the evaluation has
        ended (``conflict:evaluation-over``).
    """
    now = now or clock.now()
    ledger.lock()
    db.session.refresh(member)
    root = db.session.get(Draw, member.draw_id)
    project = db.session.get(Project, root.project_id)
    if _over(project, now):
        raise _evaluation_over()
    if member.state != "active":
        raise Conflict("conflict:member", "the member has already left the committee")
    state = state_of(root)
    code = db.session.scalar(sa.select(Expert.code).where(Expert.id == member.expert_id))
    alternates = [
        e
        for a in state["completed"]["alternates"]
        if a["stratum"] == member.stratum
        for e in a["experts"]
    ]
    ineligible = _ineligible(project, alternates)
    unavailable = _unavailable(root, state["snapshot"], project)
    _release(member, reason, now)
    try:
        body = engine.replace(
            state["snapshot"],
            state["completed"],
            state["prior"],
            code,
            reason,
            ineligible,
            unavailable,
            root.algorithm,
            supplementary_members=state["supplementary_members"],
            supplementary_draws=state["supplementary_draws"],
        )
    except engine.DrawError as exc:
        db.session.rollback()
        raise ServiceError(exc.code, str(exc)) from None
    ledger.append("draw.replaced", body, actor, draw_id=root.id, now=now)
    if body["in"] is not None:
        newcomer = seating.expert_ids([body["in"]])[body["in"]]
        seat = {"stratum": member.stratum, "expert": body["in"], **body["seat"]}
        seating.seat_member(root, seat, newcomer, now, actor)
        db.session.execute(
            sa.update(Alternate)
            .where(Alternate.draw_id == root.id, Alternate.expert_id == newcomer)
            .values(used=True)
        )
    elif body.get("unseated"):
        log.error(event("replacement.unseated", draw=root.id, alternate=body["unseated"]))
    # A supplementary draw still awaiting its entropy was fixed for the places open then, with
    # the rooms taken then: it gives way to one for every place open now (draw.md §6.4: a
    # failed supplementary draw is retried as the next D-R<n>).
    superseded = _supersede_pending(root, now)
    ledger.issue_checkpoint(now)
    sub_id = body.get("supplementary") or (_next_supplementary(root) if superseded else None)
    if sub_id is None:
        db.session.commit()
        return body
    _announce_for_open_places(root, sub_id, now, state)
    return body


def retry_failed_supplementary(failed: Draw, now: datetime) -> Draw | None:
    """After supplementary draw ``failed`` failed, announce the next ``D-R<n>`` for the places
    open now (draw.md §6.4: "a failed supplementary draw is retried as the next D-R<n+1>"),
    and complete it at once when its entropy is ``none`` (commits). Nothing when another
    supplementary draw of the committee is waiting, when no place is open, or after
    ``SUPPLEMENTARY_RETRIES`` failures in a row (3 unless the settings file says otherwise: a
    walk that keeps falling short, entropy that never comes; logged, and the places stay open
    for the supervisors). Returns the new draw."""
    ledger.lock()
    db.session.refresh(failed)
    if not failed.retry_pending:
        db.session.commit()
        return None  # retried already, by another process or run
    # Settled with whatever this transaction commits: the next D-R<n>, or the open place.
    failed.retry_pending = False
    root = db.session.get(Draw, failed.root_id)
    subs = list(
        db.session.scalars(
            sa.select(Draw)
            .where(Draw.root_id == root.id)
            .order_by(Draw.announced_at, Draw.id)
            .execution_options(populate_existing=True)
        )
    )
    if any(sub.state == "announced" for sub in subs):
        db.session.commit()
        return None
    in_a_row = 0
    for sub in reversed(subs):
        if sub.state != "failed":
            break
        in_a_row += sub.reason != "superseded"
    sub_id = _next_supplementary(root)
    if in_a_row > rules_record.supplementary_retries():
        _open_place(root, sub_id, "retries", f"{in_a_row} supplementary draws failed in a row")
        db.session.commit()
        return None
    return _announce_for_open_places(root, sub_id, now, state_of(root))


def fill_open_places(root: Draw, user: User, now: datetime | None = None) -> Draw:
    """A supervisor's request to announce a supplementary draw for the open places of
    ``root``'s committee (commits): after the service left them open (the pool could not fill
    them, or its retries failed) and the pool has changed since. It takes the id a
    ``draw.replaced`` named and no draw took, if any, else the next ``D-R<n>``; completed at
    once when its entropy is ``none``.

    Raises:
        Conflict: ``conflict:draw-state`` (not a completed root draw),
            ``conflict:supplementary`` (one is waiting for its entropy) or
            ``conflict:evaluation-over`` (the evaluation has ended).
        ServiceError: ``invalid:supplementary`` (no place is open) or ``infeasible:*``.
    """
    now = now or clock.now()
    ledger.lock()
    db.session.refresh(root)
    waiting = waiting_supplementary(root.id)
    if root.root_id is not None or root.state != "completed" or waiting is not None:
        db.session.rollback()
        if waiting is not None:
            raise Conflict("conflict:supplementary", f"{waiting} is waiting for its entropy")
        raise Conflict("conflict:draw-state", f"{root.id} is not a completed root draw")
    project = db.session.get(Project, root.project_id)
    if _over(project, now):
        db.session.rollback()
        raise _evaluation_over()
    sub_id = _named_unannounced(root) or _next_supplementary(root)
    try:
        prepared = _prepare(root, project, sub_id, state_of(root))
    except engine.DrawError as exc:
        db.session.rollback()
        raise ServiceError(exc.code, str(exc)) from None
    return _announce_prepared(root, project, prepared, user, now)


def waiting_supplementary(root_id: str) -> str | None:
    """The supplementary draw of ``root_id`` announced and awaiting its entropy, if any (one
    at most: a replacement supersedes a waiting one)."""
    return db.session.scalar(
        sa.select(Draw.id).where(Draw.root_id == root_id, Draw.state == "announced").limit(1)
    )


def _named_unannounced(root: Draw) -> str | None:
    """The last supplementary draw a ``draw.replaced`` of ``root`` named and none took."""
    announced = set(db.session.scalars(sa.select(Draw.id).where(Draw.root_id == root.id)))
    named = [
        body["supplementary"]
        for body in ledger.entry_bodies("draw.replaced", root.id)
        if body.get("supplementary") and body["supplementary"] not in announced
    ]
    return named[-1] if named else None


def _open_place(root: Draw, sub_id: str, code: str, detail: str) -> None:
    """Log that ``root``'s committee keeps an open place (for the supervisors and operators)."""
    log.error(
        event(
            "replacement.open_place", draw=root.id, supplementary=sub_id, error=code, detail=detail
        )
    )


def _announce_for_open_places(
    root: Draw, sub_id: str, now: datetime, state: dict[str, Any]
) -> Draw | None:
    """Announce supplementary draw ``sub_id`` for the places of ``root`` open now, in the
    current transaction (the caller holds the ledger lock), and commit; complete it at once
    when its entropy is ``none``. When it cannot be met, log the open place, commit what the
    transaction holds, and return None; when no place is open, likewise without a log.
    ``state`` is :func:`state_of` ``root`` (its replacements may be older: the snapshot reads
    them itself)."""
    project = db.session.get(Project, root.project_id)
    if _over(project, now):
        _open_place(root, sub_id, "evaluation-over", "the evaluation has ended")
        db.session.commit()
        return None
    try:
        prepared = _prepare(root, project, sub_id, state)
    except engine.DrawError as exc:
        if not _no_open_place(exc):
            # The leaver leaves all the same; the place stays open, for the supervisors.
            _open_place(root, sub_id, exc.code, str(exc))
        db.session.commit()
        return None
    return _announce_prepared(root, project, prepared, None, now)


def _prepare(
    root: Draw, project: Project, sub_id: str, state: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, int], dict[str, Any], int]:
    """The snapshot, ``excluded`` and stale shares of supplementary draw ``sub_id`` for the
    places open now, checked feasible, and the ledger's size before its pool was read.
    Raises :class:`DrawError` (``invalid:supplementary``: no place is open; ``infeasible:*``).
    """
    seen = ledger.size()  # entries from this seq on, the pool below may not have seen
    snapshot, excluded, stale = _supplementary_snapshot(root, project, state, sub_id)
    engine.check_feasible(snapshot, root.algorithm)
    return snapshot, excluded, stale, seen


def _announce_prepared(
    root: Draw,
    project: Project,
    prepared: tuple[dict[str, Any], dict[str, int], dict[str, Any], int],
    user: User | None,
    now: datetime,
) -> Draw:
    """Announce the prepared supplementary draw (commits); complete it at once when its
    entropy is ``none``."""
    snapshot, excluded, stale, seen = prepared
    entropy = supplementary_entropy(root, now)
    sub = draws._announce(
        project,
        user,
        snapshot,
        excluded,
        entropy,
        root.algorithm,
        now,
        root_id=root.id,
        stale=stale,
        pool_seen=seen,
    )
    if sub.entropy.get("kind") == "none":
        # In the replacement that built its pool a moment before: its committee is judged
        # again only if a change was recorded since (draws.needs_recheck, under the lock).
        draws.complete(sub, "", None, now=now, recheck=False)
    return sub


def _no_open_place(exc: engine.DrawError) -> bool:
    return exc.code == "invalid:supplementary" and "no open place" in str(exc)


def _supersede_pending(root: Draw, now: datetime) -> list[str]:
    """Fail (``superseded``) the supplementary draws of ``root`` still awaiting entropy; the
    caller holds the ledger lock. Returns their ids."""
    pending = list(
        db.session.scalars(
            sa.select(Draw)
            .where(Draw.root_id == root.id, Draw.state == "announced")
            .order_by(Draw.id)
            .execution_options(populate_existing=True)
        )
    )
    for sub in pending:
        draws.fail_announced(sub, "superseded", dict(ledger.SYSTEM), now)
    return [sub.id for sub in pending]


def _next_supplementary(root: Draw) -> str:
    """``D-R<n>`` after every supplementary draw of ``root`` announced or named so far."""
    numbers = [
        supplementary_number(root.id, sub, "supplementary draw")
        for sub in db.session.scalars(sa.select(Draw.id).where(Draw.root_id == root.id))
    ]
    numbers += [
        supplementary_number(root.id, body["supplementary"], "draw.replaced")
        for body in ledger.entry_bodies("draw.replaced", root.id)
        if body.get("supplementary")
    ]
    return f"{root.id}-R{max(numbers, default=0) + 1}"


def _supplementary_snapshot(
    root: Draw, project: Project, state: dict[str, Any], sub_id: str
) -> tuple[dict[str, Any], dict[str, int], dict[str, Any]]:
    """The snapshot of supplementary draw ``sub_id`` for the places open now, the
    announcement's ``excluded`` counts and its drawn strata's stale shares. Raises
    :class:`DrawError` (``invalid:supplementary`` when no place is open;
    ``stale-data:share:<stratum>`` when a stratum with an open place has too many experts
    whose data is stale, as the main draw would be refused)."""
    from .projects import strata_request

    built = pool.build_pool(project, strata_request(project), draws.rules(), family=project.code)
    noticed = list(
        db.session.scalars(
            sa.select(Expert.code)
            .join(Notice, Notice.expert_id == Expert.id)
            .where(Notice.draw_id == root.id)
        )
    )
    sub = engine.supplementary_snapshot(
        state["snapshot"],
        state["completed"],
        ledger.entry_bodies("draw.replaced", root.id),
        draw_id=sub_id,
        noticed=noticed,
        candidates={s.name: s.candidates for s in built.strata},
        venues=seat_map.free_venues(project.window_start, project.window_end, project.region_code),
        supplementary_members=state["supplementary_members"],
        supplementary_taken=state["supplementary_taken"],
        algorithm=root.algorithm,
        whole_groups_only=True,
    )
    open_strata = {stratum["name"] for stratum in sub.snapshot["strata"]}
    stale = [name for name in built.stale_blocked if name in open_strata]
    if stale:  # as the main draw: rules.md stale-data, the share must stay below the limit
        raise engine.DrawError(
            f"stale-data:share:{stale[0]}",
            f"the request cannot be met: stale-data:share:{stale[0]}",
        )
    excluded = dict(built.excluded)
    for reason, count in sub.excluded.items():
        excluded[reason] = excluded.get(reason, 0) + count
    return sub.snapshot, excluded, built.stale_record(open_strata)


def supplementary_entropy(root: Draw, now: datetime) -> dict[str, Any]:
    """The entropy a supplementary draw announces: fresh outside randomness, never values that
    were public before its commitment (they would let the service predict the result).

    A beacon draw waits for the next pulse after now; a public-lottery draw in ``score`` mode
    takes two witness values instead, since new lottery draws must be chosen by people; an
    ``rfc3797`` draw can only use lottery numbers, so it announces, for each of the root's
    sources, the first draw of that lottery held after now (:func:`later_sources`): the root's
    own numbers are public by then, and ``draws.supply_entropy`` refuses them again.
    """
    from ..domain import entropy as outside

    kind = root.entropy.get("kind")
    if kind == "beacon":
        return outside.announce_beacon(outside.next_beacon_time(now), announced_at=now)
    if kind == "public-lottery" and root.algorithm != engine.RFC3797:
        return outside.announce_witness(2)
    if kind == "public-lottery":
        return outside.announce_public_lottery(later_sources(root.entropy["sources"], now))
    return dict(root.entropy)


def later_sources(sources: list[str], now: datetime) -> list[str]:
    """Each source as the first draw of that lottery after ``now``: a description and a date
    (draw.md §3.1) of results not yet public, within the 200 characters a source may have.

    Written in Chinese with the centre's local time (``reports.timezone``), for the
    supervisors who look the results up and type them; the ledger keeps it as written.
    """
    from .reports_periods import zone

    local = now.astimezone(zone())
    offset = local.strftime("%z")
    when = f"{local:%Y-%m-%d %H:%M:%S}（UTC{offset[:3]}:{offset[3:]}）"
    suffix = f" 同一彩票在 {when} 之后的首次开奖"
    return [source[: draws.SOURCE_LENGTH - len(suffix)] + suffix for source in sources]


#: Exclusions found after the draw that take a member off the committee (rules.md: "a
#: later-found conflict triggers a replacement"): conflicts with the parties, and a member no
#: longer in good standing. Not those the draw itself causes (``busy`` by its own seat,
#: ``frequency``, ``same-tenderer``) nor ``stale-data`` or ``unavailable`` (the expert answers
#: the notice for those).
LATER_FOUND = frozenset(
    {
        "party-employer",
        "party-former",
        "party-relative",
        "party-declared",
        "authority",
        "drafting",
        "region",
        "inactive",
        "penalty",
    }
)
#: The replacement's reason for the exclusions that are no conflict.
INELIGIBLE = frozenset({"inactive", "penalty"})


def recheck_members(
    root: Draw, actor: dict[str, str], now: datetime | None = None
) -> list[dict[str, Any]]:
    """Re-check the current members (after a bidder was added, an expert suspended, edited or
    declaring a conflict); replace each one a :data:`LATER_FOUND` rule now excludes, as
    ``conflict`` or, for standing alone (``inactive``, ``penalty``), ``ineligible``."""
    project = db.session.get(Project, root.project_id)
    members = list(
        db.session.scalars(
            sa.select(Member).where(Member.draw_id == root.id, Member.state == "active")
        )
    )
    codes = dict(
        db.session.execute(
            sa.select(Expert.id, Expert.code).where(Expert.id.in_([m.expert_id for m in members]))
        ).all()
    )
    facts = pool.project_facts(project)
    rules = pool.rules_for(project, draws.rules())
    loaded = pool.load_facts(list(codes), project, facts, rules)
    bodies = []
    for member in members:
        fact = loaded[member.expert_id]
        reasons = set(el.exclusions(fact, facts, rules)) & LATER_FOUND
        if reasons:
            reason = "ineligible" if reasons <= INELIGIBLE else "conflict"
            try:
                bodies.append(replace_member(member, reason, actor, now))
            except Conflict:
                continue  # replaced meanwhile by another request: already off the committee
    return bodies


def recheck_expert(expert_id: int, actor: dict[str, str], now: datetime | None = None) -> int:
    """After a change to one expert, re-check every committee they sit on whose evaluation
    has not ended (each replacement commits); returns how many seats they left."""
    now = now or clock.now()
    roots = list(
        db.session.scalars(
            sa.select(Draw)
            .join(Member, Member.draw_id == Draw.id)
            .join(Project, Project.id == Draw.project_id)
            .where(
                Member.expert_id == expert_id,
                Member.state == "active",
                Draw.state == "completed",
                Project.window_end > now,
            )
            .order_by(Draw.id)
        )
    )
    return sum(len(recheck_members(root, actor, now)) for root in roots)
