"""The draw lifecycle: dry run → announce → entropy → complete (or fail), one transaction each.

Every step appends to the ledger in the same transaction as the change it records, and the
announcement and every result are covered by a signed checkpoint before the transaction
commits, so nobody sees a result the ledger does not already prove.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from .. import clock
from ..domain import draw as engine
from ..domain import eligibility as el
from ..domain.canonical import CanonicalError
from ..domain.ledger import format_time
from ..extensions import db
from ..input_text import visible_text
from ..logfmt import event
from ..models import Draw, LedgerEntry, Project, Snapshot, User, Witness
from . import ledger, pool, projects, reports_periods, rules_record, seating
from .errors import Conflict, Forbidden, NotFound, ServiceError, TooMany

log = logging.getLogger(__name__)

SCORE = engine.SCORE


# What this process announced, by draw id: the snapshot's canonical bytes, their parsed view
# and the ``draw.announced`` body, so that completing a draw right after announcing it
# (``none`` entropy, supplementary draws, the last witness) neither reads the ~1.2 MB snapshot
# and the entry back nor decodes and checks them again. Kept only once the announcement is
# committed, and used only for a draw whose stored snapshot hash and commitment are those
# announced (a draw number freed by a rollback and announced again elsewhere has another
# commitment); another process, or an evicted entry, loads what is stored. Bounded: a few MB
# each.
@dataclass(frozen=True)
class _Announced:
    snapshot_hash: str
    commitment: str
    encoded: bytes
    view: engine.Snapshot
    body: dict[str, Any]


_ANNOUNCED: OrderedDict[str, _Announced] = OrderedDict()
_ANNOUNCED_LOCK = threading.Lock()
_ANNOUNCED_MAX = 4


def _remember_announced(draw_id: str, announced: _Announced) -> None:
    with _ANNOUNCED_LOCK:
        _ANNOUNCED[draw_id] = announced
        _ANNOUNCED.move_to_end(draw_id)
        while len(_ANNOUNCED) > _ANNOUNCED_MAX:
            _ANNOUNCED.popitem(last=False)


def _announced_here(draw: Draw) -> _Announced | None:
    with _ANNOUNCED_LOCK:
        kept = _ANNOUNCED.get(draw.id)
    if kept is None:
        return None
    if (kept.snapshot_hash, kept.commitment) != (draw.snapshot_hash, draw.commitment):
        return None
    return kept


@dataclass(frozen=True)
class DryRun:
    """Counts before anything is announced: per stratum, per exclusion reason, the verdict."""

    strata: list[dict[str, Any]]
    excluded: dict[str, int]
    feasible: bool
    reason: str | None
    venues: int
    workstations: int
    #: Whether the figures count the experts other committees keep (``busy``, ``frequency``,
    #: ``same-tenderer``); not for a project manager, whom they would tell who sits where.
    other_committees: bool = True


def actor_of(user: User | None) -> dict[str, str]:
    """The ledger's actor for a user (pseudonymous), or the scheduler."""
    if user is None:
        return dict(ledger.SYSTEM)
    return {"role": user.role, "id": user.pseudonym}


def rules() -> el.Rules:
    """The deployment's eligibility rules (rules.md defaults, changed by configuration)."""
    return el.Rules.from_mapping(current_app.config.get("ELIGIBILITY_RULES") or {})


def build_snapshot(
    draw_id: str, project: Project, strata_pool: pool.Pool, max_per_group: int
) -> engine.Snapshot:
    """The snapshot of draw.md §2 from a built pool, as the domain's view (built from the
    pool's own lists: a provincial snapshot has ~20k candidates and ~10k workstations, which
    the JSON form would hold as as many small objects only to have them taken apart again).
    The announcement checks it as the snapshot it stands for (``engine.check_view``)."""
    return engine.Snapshot(
        draw=draw_id,
        strata=tuple(
            engine.Stratum(
                name=s.name,
                specialty=s.specialty,
                count=s.count,
                alternates=s.alternates,
                ids=s.ids,
            )
            for s in strata_pool.strata
        ),
        max_per_group=max_per_group,
        separation=project.separation,
        venues=strata_pool.venues,
        group_of=strata_pool.strata[0].group_of if strata_pool.strata else {},
        window=(format_time(project.window_start), format_time(project.window_end)),
    )


def _feasibility(snapshot: engine.Snapshot, built: pool.Pool, algorithm: str) -> str | None:
    if built.stale_blocked:
        return f"stale-data:share:{built.stale_blocked[0]}"
    try:
        engine.check_feasible_view(engine.check_view(snapshot), algorithm)
    except engine.DrawError as exc:
        return exc.code
    return None


def dry_run(project: Project, algorithm: str = SCORE, user: User | None = None) -> DryRun:
    """Per-stratum and per-reason counts and the feasibility verdict; writes nothing.

    For a project manager the rules that turn on other committees exclude no one: a
    project's parties and window are the manager's to choose, and counts that moved with who
    sits on other committees would let them find out, one trial at a time, who sits where
    (the draw itself applies every rule).
    """
    from .projects import strata_request

    counted = user is None or user.role != "project_manager"
    built = pool.build_pool(
        project, strata_request(project), rules(), family="DRYRUN", other_committees=counted
    )
    snapshot = build_snapshot("DRYRUN", project, built, project.max_per_group)
    reason = _feasibility(snapshot, built, algorithm)
    return DryRun(
        strata=[
            {
                "name": s.name,
                "specialty": s.specialty,
                "count": s.count,
                "alternates": s.alternates,
                "considered": s.considered,
                "eligible": len(s.ids),
                "groups": len({s.group_of[cid] for cid in s.ids}),
                "stale_share": s.stale_share,
            }
            for s in built.strata
        ],
        excluded=built.excluded,
        feasible=reason is None,
        reason=reason,
        venues=len(built.venues),
        workstations=sum(len(r.workstations) for v in built.venues for r in v.rooms),
        other_committees=counted,
    )


def _next_draw_id(now: datetime) -> str:
    """Take the ledger lock and number the draw ``D<year>-<n>``, one more than the year's
    last root draw (on PostgreSQL read in the lock's own round trip).

    Read from the primary key's index (the last id of the year's range), so numbering does
    not slow down as draws accumulate. Every root id of a year has the same prefix and six
    digits, so they sort by number under any collation.

    Raises:
        ServiceError: ``draw-numbers:exhausted`` after the year's 999,999th draw.
    """
    # The centre's year: a draw at 00:30 on 1 January, local time, is the new year's.
    prefix = f"D{now.astimezone(reports_periods.zone()).year}-"
    low, high = f"{prefix}000000", f"{prefix}999999"
    read, last = ledger.lock_with_last_draw(low, high)
    if not read:
        last = db.session.scalar(
            sa.select(Draw.id)
            .where(Draw.id.between(low, high), Draw.root_id.is_(None))
            .order_by(Draw.id.desc())
            .limit(1)
        )
    number = int(last[len(prefix) :]) + 1 if last else 1
    if number > 999_999:
        raise ServiceError("draw-numbers:exhausted", f"no draw numbers left for {now.year}")
    return f"{prefix}{number:06d}"


#: The longest description of a public-lottery source.
SOURCE_LENGTH = 200


#: The request members each entropy kind takes (besides ``kind``).
ENTROPY_MEMBERS = {
    "witness": {"witnesses"},
    "beacon": {"not_before"},
    "public-lottery": {"sources"},
    "none": set(),
}


def entropy_spec(project: Project, request: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The announcement's ``entropy`` member from a request, checked against the project. A
    member that belongs to another kind is refused, not dropped: the requester meant it."""
    kind = request.get("kind", "witness")
    given = {key for key, value in request.items() if key != "kind" and value is not None}
    stray = sorted(given - ENTROPY_MEMBERS.get(kind, given))
    if stray:
        raise ServiceError(
            "invalid:entropy",
            f"{stray[0]} does not belong to entropy {kind}",
            f"entropy.{stray[0]}",
        )
    if kind == "witness":
        k = request.get("witnesses", 2)
        if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= 9:
            raise ServiceError("invalid:entropy", "witnesses is 1 to 9", "entropy.witnesses")
        return {"kind": "witness", "witnesses": k}
    if kind == "none":
        if not project.allow_no_entropy:
            raise ServiceError(
                "invalid:entropy",
                "this project requires outside entropy (witnesses, beacon or lottery)",
                "entropy.kind",
            )
        return {"kind": "none"}
    if kind == "beacon":
        from ..domain import entropy as outside

        if not current_app.config.get("BEACON_CERTIFICATE"):
            # Announcing would fix a snapshot no pulse could ever complete (draw.md §2:
            # refuse, announcing nothing, a request the service can tell cannot be met).
            raise ServiceError(
                "entropy:config",
                "beacon draws need the beacon's certificate (EXPERTDRAW_BEACON_CERTIFICATE): "
                "without it no pulse can be checked",
                "entropy.kind",
            )
        not_before = request.get("not_before") or outside.next_beacon_time(now)
        try:
            spec = outside.announce_beacon(not_before, announced_at=now)
        except outside.EntropyError as exc:
            raise ServiceError(exc.code, str(exc), "entropy.not_before") from None
        # The pulse must come, and the job that takes it run, before the draw's deadline, or
        # the draw is announced only to fail (draw.md §2: refuse, announcing nothing).
        latest = entropy_deadline(spec, project, now) - BEACON_MARGIN
        if outside.parse_time(spec["not_before"]) > latest:
            raise ServiceError(
                "entropy:beacon-deadline",
                f"the pulse time {spec['not_before']} is after this draw's deadline allows: "
                f"choose one at or before {format_time(latest)}",
                "entropy.not_before",
            )
        return spec
    if kind == "public-lottery":
        sources = request.get("sources")
        if (
            not isinstance(sources, list)
            or not sources
            or not all(
                isinstance(s, str) and s.strip() and len(s) <= SOURCE_LENGTH for s in sources
            )
        ):
            raise ServiceError(
                "invalid:entropy", "sources is a list of descriptions", "entropy.sources"
            )
        for i, source in enumerate(sources):
            if not visible_text(source):
                raise ServiceError(
                    "invalid:entropy", "a source is a description one can read", "entropy.sources"
                )
            ledger.refuse_personal_data(source, "entropy.sources")
            if source.strip() in (s.strip() for s in sources[:i]):
                # One source twice is one source's numbers typed twice, not two sources.
                raise ServiceError(
                    "invalid:entropy", "a source is listed twice", f"entropy.sources.{i}"
                )
        return {"kind": "public-lottery", "sources": [s.strip() for s in sources]}
    raise ServiceError("invalid:entropy", f"unknown entropy kind {kind!r}", "entropy.kind")


#: Between a beacon draw's pulse time and its deadline: one pulse period, and the beacon job
#: running 15 s past the minute, with room to spare.
BEACON_MARGIN = timedelta(minutes=2)

#: A draw completes at least this long before its evaluation window starts, so that the
#: members' notices can be answered before it (``seating.response_due``); a draw is
#: requested at least ``MIN_LEAD`` before the window.
NOTICE_LEAD = timedelta(minutes=5)
MIN_LEAD = timedelta(minutes=10)


def entropy_deadline(
    spec: dict[str, Any], project: Project, now: datetime, *, supplementary: bool = False
) -> datetime:
    """When an announced draw fails for want of entropy: ``ANNOUNCE_TIMEOUT_MINUTES`` after
    the announcement, or for a public-lottery draw ``LOTTERY_TIMEOUT_HOURS`` (results come out
    once a day at most); in either case no later than ``NOTICE_LEAD`` before the evaluation
    window starts. A ``supplementary`` draw (announced by a replacement, which nobody can
    refuse) keeps its full wait when that point is less than ``MIN_LEAD`` away, and its
    beacon pulse always comes ``BEACON_MARGIN`` before its deadline; it never waits past the
    window's end: nobody takes a place in an evaluation that is over."""
    wanted = now + timedelta(minutes=current_app.config["ANNOUNCE_TIMEOUT_MINUTES"])
    if spec.get("kind") == "public-lottery":
        hours = int(current_app.config.get("LOTTERY_TIMEOUT_HOURS") or 48)
        wanted = max(wanted, now + timedelta(hours=hours))
    latest = project.window_start - NOTICE_LEAD
    too_soon = latest <= now + MIN_LEAD if supplementary else latest <= now
    deadline = wanted if too_soon else min(wanted, latest)
    if supplementary and spec.get("kind") == "beacon":
        from ..domain import entropy as outside

        pulse = outside.parse_time(spec["not_before"])
        deadline = max(deadline, pulse + BEACON_MARGIN)
    return min(deadline, project.window_end)


#: How many of a project manager's draw requests may be refused as not feasible in a day.
#: Each refusal says whether the pool, other committees' seats counted, can meet a request;
#: trials without end would tell who sits where (the dry run leaves those seats out).
REFUSALS_PER_DAY = 5


def _is_manager(user: User | None) -> bool:
    return user is not None and user.role == "project_manager"


def _refusal_limit() -> tuple[Any, Any, str]:
    from limits import parse

    from ..auth import limiter

    return limiter().limiter, parse(f"{REFUSALS_PER_DAY} per day"), "draw-refused"


def _check_refusals(user: User | None) -> None:
    """Refuse a project manager's request once the day's refusals are spent (429), before
    any pool is read. A failing limit store allows the request (logged)."""
    if not _is_manager(user):
        return
    strategy, item, name = _refusal_limit()
    try:
        allowed = strategy.test(item, name, str(user.id))
        reset = 0.0 if allowed else strategy.get_window_stats(item, name, str(user.id)).reset_time
    except Exception:  # the store (Redis) is down: not limiting beats refusing every draw
        log.exception("draw refusal limit storage failed; not limiting")
        return
    if not allowed:
        raise TooMany(
            "rate-limited:draw-requests",
            f"{REFUSALS_PER_DAY} draw requests of yours were refused as not feasible today: "
            "check the request with the dry run, or ask a supervisor",
            retry_after=max(1, int(reset - time.time()) + 1),
        )


def _count_refusal(user: User | None) -> None:
    """Count a project manager's request refused as not feasible."""
    if not _is_manager(user):
        return
    strategy, item, name = _refusal_limit()
    try:
        strategy.hit(item, name, str(user.id))
    except Exception:
        log.exception("draw refusal limit storage failed; not counting")


def announce(
    project: Project,
    user: User,
    entropy_request: dict[str, Any],
    *,
    algorithm: str = SCORE,
    idempotency_key: str | None = None,
) -> Draw:
    """Fix the snapshot, commit to a secret and announce the draw (commits).

    A retried request with the same idempotency key returns the draw it created. A key is
    the requesting user's own: another user's request with the same key is another request.

    Raises:
        ServiceError: ``infeasible:*`` / ``stale-data:share:*`` (nothing announced),
            ``invalid:entropy``; Conflict: the project already has a live draw.
    """
    from .projects import strata_request

    now = clock.now()
    idempotency_key = _users_key(user, idempotency_key)
    existing = _earlier_draw(project, idempotency_key)
    if existing is not None:
        _same_request(existing, entropy_request, algorithm)
        return existing
    # The project's window is at fault, not a field of the request: no field is named.
    if project.window_start <= now:
        raise ServiceError("invalid:window", "the evaluation window has started")
    if project.window_start < now + MIN_LEAD:
        raise ServiceError(
            "invalid:window-soon",
            f"the evaluation window starts in less than {MIN_LEAD.seconds // 60} minutes: "
            "the members could not answer their notices before it",
        )
    spec = entropy_spec(project, entropy_request, now)
    _check_refusals(user)
    # Held until the announcement commits: a correction or a bidder of this project waits,
    # then finds the draw; one committed first is read here (projects.lock_project).
    projects.lock_project(project)
    seen = ledger.size()  # entries from this seq on, the pool below may not have seen
    # The pool is built before taking the ledger lock, so that announcements of different
    # projects build their pools in parallel; only numbering and recording are serialised.
    built = pool.build_pool(project, strata_request(project), rules(), family=project.code)
    # Under the lock only the number is read: a retry of the same key or another live draw
    # of the project committed meanwhile is refused by the draws' unique keys (_announce).
    draw_id = _next_draw_id(now)
    snapshot = build_snapshot(draw_id, project, built, project.max_per_group)
    if built.stale_blocked:  # the engine checks the rest of feasibility as it announces
        reason = f"stale-data:share:{built.stale_blocked[0]}"
        db.session.rollback()
        _count_refusal(user)
        raise ServiceError(reason, f"the request cannot be met: {reason}")
    return _announce(
        project,
        user,
        snapshot,
        built.excluded,
        spec,
        algorithm,
        now,
        idempotency_key,
        pool_seen=seen,
        stale=built.stale_record(),
        request=entropy_request,
    )


def _insert_announced(draw: Draw, snapshot_hash: str, canonical: str) -> None:
    """Write a new draw and its snapshot, and keep the draw in the session as loaded.

    On PostgreSQL one statement writes both (the draw's row inserted in a CTE): this runs
    under the ledger lock, where every round trip is time no other announcement can use.
    """
    if db.session.get_bind().dialect.name != "postgresql":
        db.session.add(draw)
        db.session.add(Snapshot(draw_id=draw.id, hash=snapshot_hash, canonical=canonical))
        db.session.flush()
        return
    table = Draw.__table__
    drawn = (
        sa.insert(table)
        .values({column.key: getattr(draw, column.key) for column in table.columns})
        .returning(table.c.id)
        .cte("drawn")
    )
    db.session.execute(
        sa.insert(Snapshot.__table__).from_select(
            ["draw_id", "hash", "canonical"],
            sa.select(
                drawn.c.id,
                sa.literal(snapshot_hash, sa.String),
                sa.literal(canonical, sa.Text),
            ),
        )
    )
    sa.orm.make_transient_to_detached(draw)  # _announce sets every column: none is reloaded
    db.session.add(draw)


def _users_key(user: User | None, key: str | None) -> str | None:
    """The stored form of a user's idempotency key: scoped to the user (keys are chosen by
    clients, and two clients may well choose the same), and of bounded length."""
    if key is None:
        return None
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:48]
    return f"u{user.id if user is not None else 0}:{digest}"


def _same_request(draw: Draw, entropy_request: dict[str, Any], algorithm: str) -> None:
    """A retry with an idempotency key must ask for what the first request asked: the key
    stands for one request, and a different one must not be told it was done.

    Raises:
        Conflict: ``conflict:idempotency-key`` naming what differs.
    """
    asked = {"algorithm": algorithm, "kind": entropy_request.get("kind", "witness")}
    made = {"algorithm": draw.algorithm, "kind": draw.entropy.get("kind")}
    if asked["kind"] == "witness":
        asked["witnesses"] = entropy_request.get("witnesses", 2)
        made["witnesses"] = draw.entropy.get("witnesses")
    if asked["kind"] == "public-lottery":
        sources = entropy_request.get("sources")
        asked["sources"] = [s.strip() for s in sources] if isinstance(sources, list) else sources
        made["sources"] = draw.entropy.get("sources")
    wanted = entropy_request.get("not_before")
    if asked["kind"] == "beacon" and wanted is not None:
        # Left out, the pulse time defaults to the next minute of the first request.
        aware = isinstance(wanted, datetime) and wanted.tzinfo is not None
        asked["not_before"] = format_time(wanted) if aware else wanted
        made["not_before"] = draw.entropy.get("not_before")
    differs = [key for key in asked if asked[key] != made[key]]
    if differs:
        raise Conflict(
            "conflict:idempotency-key",
            f"this Idempotency-Key was used for draw {draw.id}, requested with another "
            f"{differs[0]}",
        )


def _earlier_draw(project: Project, idempotency_key: str | None) -> Draw | None:
    """The draw an earlier request with this idempotency key created, if any (one query
    with the project's live draw, checked before the lock, and again when the draws' unique
    keys refuse the announcement).

    Raises:
        Conflict: ``conflict:idempotency-key`` when the key was used for another project,
            ``conflict:draw`` when the project already has an announced or completed draw.
    """
    live = sa.and_(Draw.project_id == project.id, Draw.live_root())
    condition = sa.or_(Draw.idempotency_key == idempotency_key, live) if idempotency_key else live
    found = list(db.session.scalars(sa.select(Draw).where(condition)))
    for draw in found:
        if idempotency_key and draw.idempotency_key == idempotency_key:
            if draw.project_id != project.id:
                raise Conflict("conflict:idempotency-key", "key used for another project")
            return draw
    if found:
        raise Conflict("conflict:draw", f"project already has draw {found[0].id}")
    return None


def _announce(
    project: Project,
    user: User | None,
    snapshot: dict[str, Any] | engine.Snapshot,
    excluded: dict[str, int],
    spec: dict[str, Any],
    algorithm: str,
    now: datetime,
    idempotency_key: str | None = None,
    root_id: str | None = None,
    pool_seen: int | None = None,
    stale: dict[str, Any] | None = None,
    request: dict[str, Any] | None = None,
) -> Draw:
    """Announce ``snapshot`` (commits); ``pool_seen`` is the ledger's size before the pool
    was read, kept on the draw for :func:`needs_recheck`; ``stale``, each drawn stratum's
    share of experts excluded as ``stale-data`` and the limit (``pool.Pool.stale_record``),
    is recorded in the announcement; ``request``, the entropy as asked for (a retry of the
    same key is compared with it, not with this request's own defaults)."""
    secret = b"" if algorithm == engine.RFC3797 else secrets.token_bytes(32)
    try:
        # Parses and checks the snapshot once, and encodes C(snapshot) from that view.
        announcement = engine.announce(
            snapshot,
            project=project.code,
            algorithm=algorithm,
            excluded=excluded,
            secret=secret,
            entropy=spec,
        )
    except CanonicalError as exc:
        db.session.rollback()
        raise ServiceError("invalid:snapshot", str(exc)) from None
    except engine.DrawError as exc:
        db.session.rollback()
        if exc.code.startswith("infeasible:"):
            _count_refusal(user)
            # A project manager is told which rule fails, not the counts: with other
            # committees' seats in them, they would tell who sits where (see dry_run).
            said = exc.code if _is_manager(user) else str(exc)
            raise ServiceError(exc.code, f"the request cannot be met: {said}") from None
        raise ServiceError(exc.code, str(exc)) from None
    body, encoded = announcement.body, announcement.encoded
    # Beyond draw.md's members (ledger.md §6: bodies may carry more): the region rule the
    # candidates were judged by, so that an auditor sees a draw that relaxed the centre's.
    body["region_policy"] = project.region_policy
    if stale is not None:
        # rules.md stale-data: "a draw may proceed only if the stale share of the stratum is
        # below a set limit, and the announcement records it".
        body.update(stale)
    draw = Draw(
        id=announcement.snapshot.draw,
        project_id=project.id,
        root_id=root_id,
        state="announced",
        algorithm=algorithm,
        snapshot_hash=body["snapshot_hash"],
        commitment=body["commitment"],
        secret=secret.hex(),
        entropy=spec,
        requested_by=user.id if user else None,
        idempotency_key=idempotency_key,
        announced_at=now,
        deadline_at=entropy_deadline(spec, project, now, supplementary=root_id is not None),
        seed=None,
        reason=None,
        finished_at=None,
        list_opened_at=None,
        retry_pending=False,
    )
    try:
        _insert_announced(draw, body["snapshot_hash"], encoded.decode())
    except IntegrityError:
        # A request with the same idempotency key, or another live draw of the project,
        # committed after this one's first look (uq_draws_idempotency_key,
        # uq_draws_live_root): answer as if it had been seen then.
        db.session.rollback()
        if root_id is None:
            existing = _earlier_draw(project, idempotency_key)
            if existing is not None:
                _same_request(existing, spec if request is None else request, algorithm)
                return existing
        raise
    try:
        rules_record.record_if_changed(now)
        entry = ledger.append("draw.announced", body, actor_of(user), draw_id=draw.id, now=now)
        _check_beacon_after(spec, entry["time"])
        ledger.issue_checkpoint(now, with_entries=True)
        db.session.commit()
    except BaseException:
        # On PostgreSQL the draw joined the session as already persistent, which a rollback
        # keeps (expired): drop it, so that the session holds no draw the database lacks.
        db.session.rollback()
        if draw in db.session:
            db.session.expunge(draw)
        raise
    # Only on the draw this request announced (see needs_recheck).
    draw.pool_seen = pool_seen  # type: ignore[attr-defined]
    _remember_announced(
        announcement.snapshot.draw,  # not draw.id: the commit expired it
        _Announced(body["snapshot_hash"], body["commitment"], encoded, announcement.snapshot, body),
    )
    return draw


def _check_beacon_after(spec: dict[str, Any], announced: str) -> None:
    """Refuse a beacon announcement whose ledger time is not before its ``not_before``
    (draw.md §3.1). ``entropy_spec`` checked this server's clock; the entry takes the ledger's
    last time when that is later (another server's clock ahead of this one's), and an auditor
    compares ``not_before`` with the entry's time."""
    from ..domain import entropy as outside

    try:
        outside.check_announced(spec, outside.parse_time(announced))
    except outside.EntropyError as exc:
        raise ServiceError(
            exc.code,
            f"{exc}: not_before {spec['not_before']}, the announcement's ledger time "
            f"{announced} (the ledger's last entry is later than this server's clock)",
            "entropy.not_before",
        ) from None


@contextlib.contextmanager
def kept_after_commit() -> Iterator[None]:
    """Within the block, a commit leaves the loaded objects as they are instead of expiring
    them: for a request that announces and completes a draw at once, whose second step
    would otherwise load its draw, project and user again after the first step's commit
    (the draw's state is read afresh under the ledger lock all the same)."""
    session = db.session()
    expiring = session.expire_on_commit
    session.expire_on_commit = False
    try:
        yield
    finally:
        session.expire_on_commit = expiring


def live_root_draw(project: Project) -> Draw | None:
    """The project's announced or completed draw, if any."""
    return db.session.scalar(sa.select(Draw).where(Draw.project_id == project.id, Draw.live_root()))


def get_draw(draw_id: str, user: User | None = None) -> Draw:
    """A draw by id, as ``user`` may see it: a project manager only the draws of their own
    projects (another's is not found). Raises NotFound."""
    draw = db.session.get(Draw, draw_id)
    if draw is None:
        raise NotFound("draw", draw_id)
    if user is not None and user.role == "project_manager":
        project = db.session.get(Project, draw.project_id)
        if project is None or not projects.may_see(project, user):
            raise NotFound("draw", draw_id)
    return draw


def snapshot_of(draw_id: str) -> dict[str, Any]:
    """The stored snapshot of a draw."""
    return json.loads(snapshot_text(draw_id))


def snapshot_text(draw_id: str) -> str:
    """The stored ``C(snapshot)`` of a draw, as text.

    Raises:
        NotFound: the draw has no snapshot.
    """
    text = db.session.scalar(sa.select(Snapshot.canonical).where(Snapshot.draw_id == draw_id))
    if text is None:
        raise NotFound("snapshot", draw_id)
    return text


def add_witness(draw: Draw, supervisor: User, value: str) -> Draw:
    """A supervisor's witness value; the last one completes the draw (commits). The same
    value given again by the same supervisor changes nothing and answers the draw as it is.

    Raises:
        Forbidden: not a supervisor; Conflict: witnessed with another value already, or the
        draw is not waiting;
        ServiceError: empty or over-long value.
    """
    if supervisor.role != "supervisor":
        raise Forbidden("forbidden:witness", "only supervisors witness draws")
    value = value.strip() if isinstance(value, str) else ""
    if not value or len(value) > 200:
        raise ServiceError("invalid:witness", "a witness value is 1 to 200 characters", "value")
    if not visible_text(value):
        raise ServiceError(
            "invalid:witness",
            "a witness value is read out and checked by people: visible characters only",
            "value",
        )
    ledger.refuse_personal_data(value, "value")
    _refuse_late(draw)
    ledger.lock()
    db.session.refresh(draw)
    entered = list(
        db.session.scalars(
            sa.select(Witness).where(Witness.draw_id == draw.id).order_by(Witness.position)
        )
    )
    own = [w for w in entered if w.supervisor_id == supervisor.id]
    if own and own[0].value == value:
        # The same value again (a double click, a request retried), even once it completed
        # the draw: it stands, once.
        db.session.rollback()
        return draw
    if draw.state != "announced" or draw.entropy.get("kind") != "witness":
        raise Conflict("conflict:draw-state", f"draw {draw.id} is not waiting for witnesses")
    if own:
        raise Conflict("conflict:witness", "each supervisor witnesses once")
    now = clock.now()
    db.session.add(
        Witness(
            draw_id=draw.id,
            position=len(entered),
            supervisor_id=supervisor.id,
            value=value,
            entered_at=now,
        )
    )
    db.session.flush()
    if len(entered) + 1 == draw.entropy["witnesses"]:
        values = [w.value for w in entered] + [value]
        return complete(draw, values, supervisor, now=now)
    db.session.commit()
    return draw


def witnesses_of(draw: Draw) -> list[Witness]:
    """The witness rows of a draw, in the order entered."""
    return list(
        db.session.scalars(
            sa.select(Witness).where(Witness.draw_id == draw.id).order_by(Witness.position)
        )
    )


#: The entries of the changes a committee's re-check looks for: an expert's eligibility
#: fields (status, employer, region, conflicts, penalties: ``pool.changed``) and the parties.
RECHECKED_CHANGES = ("pool.changed", "project.bidder_added")


def needs_recheck(draw: Draw) -> bool:
    """Whether a draw about to complete must have its committee re-checked: always, unless
    this very request announced it (only that draw object carries ``pool_seen``) and no
    change was recorded since its pool was read (one indexed look-up, instead of the
    re-check's dozen statements on every immediate draw). Every change a re-check acts on is
    a ledger entry of :data:`RECHECKED_CHANGES`."""
    seen = getattr(draw, "pool_seen", None)
    if seen is None:
        return True
    changed = db.session.scalar(
        sa.select(LedgerEntry.seq)
        .where(LedgerEntry.type.in_(RECHECKED_CHANGES), LedgerEntry.seq >= seen)
        .limit(1)
    )
    return changed is not None


def complete_at_once(draw: Draw, user: User) -> Draw:
    """Complete a draw announced with ``none`` entropy in the request that announced it; any
    other draw is returned as it is.

    A retried request (the same idempotency key) gets the first request's draw, which that
    request may be completing at the same moment: when the completion finds the draw already
    completed or failed, the retry answers with the draw as the first request left it, as
    if it had come a moment later, instead of a conflict about a draw it asked for once.
    """
    if draw.state != "announced" or draw.entropy.get("kind") != "none":
        return draw
    try:
        return complete(draw, "", user, recheck=False)
    except Conflict as exc:
        if exc.code != "conflict:draw-state":
            raise
        db.session.rollback()
        db.session.refresh(draw)
        if draw.state in ("completed", "failed"):
            return draw
        raise


def complete(
    draw: Draw,
    entropy_value: Any,
    user: User | None,
    *,
    now: datetime | None = None,
    recheck: bool = True,
) -> Draw:
    """Take the entropy, draw members, alternates and seats, book and notify (commits).

    An ``insufficient:*`` result, or seats booked by other draws since the snapshot, fails
    the draw with its secret, entropy value and seed revealed. With ``recheck`` the seated
    committee is then judged again (:func:`_recheck_committee`); without it, for a draw
    completed in the same step that built its pool, only when a change was recorded since
    (:func:`needs_recheck`, asked under the ledger lock: a change committed before it found
    no committee to re-check, one committed after it re-checks this one).
    """
    now = now or clock.now()
    if draw.state != "announced":
        raise Conflict("conflict:draw-state", f"draw {draw.id} is {draw.state}")
    actor = actor_of(user)
    # The selection depends only on what was announced, so it is computed before the ledger
    # lock, with every read the seating needs, and the committee's rows that book nothing are
    # written then too; under the lock the draw must still be announced and its seats free,
    # and only the bookings, the entries and the checkpoint are left to write.
    here = _announced_here(draw)
    if here is not None:
        encoded, snapshot, announced = here.encoded, here.view, here.body
    else:
        encoded = snapshot_text(draw.id).encode()
        snapshot = json.loads(encoded)
        announced = ledger.entry_body("draw.announced", draw.id)
    secret = bytes.fromhex(draw.secret)
    try:
        kind, body = engine.complete(snapshot, announced, secret, entropy_value, encoded=encoded)
    except engine.DrawError as exc:
        db.session.rollback()
        raise ServiceError(exc.code, str(exc), "entropy") from None
    seated = seating.prepare(draw, body) if kind == "draw.completed" else None
    written = None
    if seated is not None:
        if draw.root_id is not None:
            # A supplementary draw adds members to a committee that replacements change
            # under the lock: its rows are written under the lock too.
            ledger.lock()
        written = _write_committee(draw, body, now, seated)
    ledger.lock()
    seats = body["members"] if seated is not None else []
    state, clash = seating.state_and_clashes(draw.id, seats, seated)
    if state != "announced":
        raise Conflict("conflict:draw-state", f"draw {draw.id} is {state}")
    recheck = recheck or (seated is not None and needs_recheck(draw))
    if clash and written is not None:
        seating.unwrite(written)
        written = None
        kind = "draw.failed"
        body = engine.failed_body(
            draw.id,
            clash,
            secret,
            entropy_value=body["entropy_value"],
            seed=bytes.fromhex(body["seed"]),
        )
    draw.seed = body.get("seed")
    draw.finished_at = now
    if kind == "draw.failed":
        draw.state = "failed"
        draw.reason = body["reason"]
        draw.retry_pending = draw.root_id is not None
        ledger.append("draw.failed", body, actor, draw_id=draw.id, now=now)
    else:
        draw.state = "completed"
        # The bookings first, so that the entries and the checkpoint go in one statement.
        seating.book(draw, written, seated)
        ledger.append("draw.completed", body, actor, draw_id=draw.id, now=now)
        seating.notices_sent(draw, written, now, ledger.SYSTEM)
    ledger.issue_checkpoint(now, with_entries=True)
    db.session.commit()
    if kind == "draw.completed":
        if recheck:
            _recheck_committee(draw, now)
        seating.after_commit(draw)
    elif draw.root_id is not None:
        _retry_supplementary(draw, now)
    return draw


def _recheck_committee(draw: Draw, now: datetime) -> None:
    """Re-check the committee a completion seated (each leaver replaced, committed).

    The candidates were judged when the draw was announced, which may be hours before its
    entropy came; a change committed since (a bidder added, an expert suspended, a conflict
    declared) found no committee to re-check then. Judged now, it is a later-found exclusion
    (rules.md) and replaces the member in the ledger, as it would a minute later. The draw
    is committed by then: a re-check that cannot finish (a member replaced meanwhile by
    another request) is logged, never turned into a failure of the completion.
    """
    from . import replacements

    root = draw if draw.root_id is None else db.session.get(Draw, draw.root_id)
    try:
        replacements.recheck_members(root, dict(ledger.SYSTEM), now)
    except (ServiceError, SQLAlchemyError) as exc:
        db.session.rollback()
        log.error(event("draw.recheck_failed", draw=draw.id, error=type(exc).__name__))
    db.session.commit()  # ends the reads' transaction (SQLite: it would hold off writers)


def _retry_supplementary(draw: Draw, now: datetime) -> None:
    """A failed supplementary draw is retried as the next ``D-R<n>`` (draw.md §6.4)."""
    from . import replacements

    replacements.retry_failed_supplementary(draw, now)


def _write_committee(
    draw: Draw, body: dict[str, Any], now: datetime, seated: seating.Prepared
) -> seating.Written:
    """The committee's rows that book nothing (see :func:`seating.write_committee`); a
    completion of the same draw that committed first makes this one a conflict."""
    try:
        return seating.write_committee(draw, body, now, seated)
    except IntegrityError:
        db.session.rollback()
        db.session.refresh(draw)
        if draw.state != "announced":
            raise Conflict("conflict:draw-state", f"draw {draw.id} is {draw.state}") from None
        raise


def _refuse_late(draw: Draw) -> None:
    """Entropy that arrives at or after the draw's deadline completes nothing: the draw fails
    now (``timeout:entropy``, as the job would have failed it: :func:`fail_stale` fails a draw
    at its deadline too), so the outcome does not depend on whether the job or the entropy
    came first. As for a notice's due time, the deadline is the first instant too late.

    Raises:
        Conflict: ``conflict:deadline`` (the draw has failed), or ``conflict:draw-state``.
    """
    now = clock.now()
    if draw.state != "announced" or now < draw.deadline_at:
        return
    fail(draw, "timeout:entropy", None, now)
    raise Conflict(
        "conflict:deadline",
        f"the entropy came after the draw's deadline ({draw.deadline_at.isoformat()}): "
        f"draw {draw.id} has failed",
    )


def supply_entropy(
    draw: Draw,
    user: User | None,
    *,
    pulse: str | None = None,
    numbers: list[list[int]] | None = None,
) -> Draw:
    """Complete a draw announced with beacon or public-lottery entropy (commits).

    The pulse is verified with NIST's certificate (``BEACON_CERTIFICATE``, a PEM file) and
    must be the first at or after ``not_before``; it is kept with the draw and exported.
    ``user`` is None when the scheduler supplies a pulse it fetched from the beacon.

    Raises:
        ServiceError: ``entropy:*`` naming what is wrong; Conflict: the draw is not waiting.
    """
    from pathlib import Path

    from ..domain import entropy as outside
    from ..models import BeaconPulse

    _refuse_late(draw)
    kind = draw.entropy.get("kind")
    try:
        if kind == "beacon":
            if not pulse:
                raise ServiceError("invalid:entropy", "a beacon draw needs the pulse", "pulse")
            certificate = current_app.config.get("BEACON_CERTIFICATE")
            if not certificate:
                raise ServiceError("entropy:config", "BEACON_CERTIFICATE is not configured")
            taken = outside.take_beacon(draw.entropy, pulse, Path(certificate).read_bytes())
            db.session.merge(BeaconPulse(draw_id=draw.id, raw=pulse.encode("utf-8")))
        elif kind == "public-lottery":
            if not numbers:
                raise ServiceError("invalid:entropy", "the lottery numbers are needed", "numbers")
            taken = outside.take_public_lottery(draw.entropy, numbers)
            _refuse_earlier_numbers(draw, taken.value)
            if not _confirmed(draw, user, taken.value):
                return draw
        else:
            raise Conflict("conflict:draw-state", f"draw {draw.id} takes {kind} entropy")
    except outside.EntropyError as exc:
        db.session.rollback()
        raise ServiceError(exc.code, str(exc), "pulse" if kind == "beacon" else "numbers") from None
    return complete(draw, taken.value, user)


#: Users who must enter the same lottery numbers before they are taken.
LOTTERY_CONFIRMATIONS = 2


def _confirmed(draw: Draw, user: User | None, key: str) -> bool:
    """Record ``user``'s reading of the lottery numbers (as the key string's SHA-256) and say
    whether another supervisor entered the same (commits what it records).

    In ``rfc3797`` mode there is no server secret: whoever types the numbers decides the
    committee, and could search offline for numbers that give the one they want. The numbers
    are public, so two people read them from the published results and must agree; a second
    reading corrects one's own.

    Raises:
        Forbidden: no user (nothing reads lottery results for the service);
        Conflict ``entropy:lottery-mismatch``: another supervisor entered other numbers (this
        reading is recorded, so either may correct theirs).
    """
    if user is None:
        raise Forbidden("forbidden:lottery", "lottery numbers are entered by supervisors")
    reading = "sha256:" + hashlib.sha256(key.encode("ascii")).hexdigest()
    ledger.lock()
    db.session.refresh(draw)
    if draw.state != "announced":
        raise Conflict("conflict:draw-state", f"draw {draw.id} is not waiting for numbers")
    entered = witnesses_of(draw)
    mine = next((w for w in entered if w.supervisor_id == user.id), None)
    if mine is None:
        position = max((w.position for w in entered), default=-1) + 1
        mine = Witness(draw_id=draw.id, position=position, supervisor_id=user.id)
        db.session.add(mine)
    mine.value, mine.entered_at = reading, clock.now()
    others = [w for w in entered if w.supervisor_id != user.id]
    agreeing = 1 + sum(w.value == reading for w in others)
    if agreeing >= LOTTERY_CONFIRMATIONS:
        return True
    db.session.commit()
    if others:
        raise Conflict(
            "entropy:lottery-mismatch",
            "these numbers differ from those another supervisor entered: both check them "
            "against the published results",
            "numbers",
        )
    return False


def _refuse_earlier_numbers(draw: Draw, key: str) -> None:
    """A supplementary draw's lottery numbers must be new: the key string of an earlier draw
    of its family was public before this draw's commitment, so the service could have known
    the result when it fixed the snapshot (draw.md: nobody can know it in advance)."""
    if draw.root_id is None:
        return
    family = LedgerEntry.draw_id.in_(
        sa.select(Draw.id).where(sa.or_(Draw.id == draw.root_id, Draw.root_id == draw.root_id))
    )
    results = db.session.execute(
        sa.select(LedgerEntry.draw_id, LedgerEntry.record).where(
            LedgerEntry.type.in_(("draw.completed", "draw.failed")), family
        )
    )
    for other, record in results:
        if json.loads(record)["entry"]["body"].get("entropy_value") == key:
            raise ServiceError(
                "entropy:lottery-reused",
                f"these numbers give the key string of draw {other} ({key}), public before "
                f"this draw was announced: enter the results of the draws it names",
                "numbers",
            )


def fail(draw: Draw, reason: str, user: User | None, now: datetime | None = None) -> Draw:
    """Fail an announced draw, revealing its secret (commits); a supplementary draw is then
    retried (``replacements.retry_failed_supplementary``)."""
    now = now or clock.now()
    ledger.lock()
    db.session.refresh(draw)
    if draw.state != "announced":
        raise Conflict("conflict:draw-state", f"draw {draw.id} is {draw.state}")
    fail_announced(draw, reason, actor_of(user), now)
    ledger.issue_checkpoint(now)
    db.session.commit()
    if draw.root_id is not None:
        _retry_supplementary(draw, now)
    return draw


def fail_announced(draw: Draw, reason: str, actor: dict[str, str], now: datetime) -> None:
    """Append ``draw.failed`` (secret revealed) for an announced draw, in the current
    transaction; the caller holds the ledger lock and has read ``draw`` under it."""
    body = engine.failed_body(draw.id, reason, bytes.fromhex(draw.secret))
    draw.state = "failed"
    draw.reason = reason
    draw.finished_at = now
    draw.retry_pending = draw.root_id is not None
    ledger.append("draw.failed", body, actor, draw_id=draw.id, now=now)


def fail_stale(now: datetime | None = None) -> int:
    """Scheduler job: fail announced draws past their deadline (secret revealed), then retry
    the failed supplementary draws whose retry a stopped process left pending."""
    now = now or clock.now()
    ids = list(
        db.session.scalars(
            sa.select(Draw.id).where(Draw.state == "announced", Draw.deadline_at <= now)
        )
    )
    failed = 0
    for draw_id in ids:
        try:
            fail(get_draw(draw_id), "timeout:entropy", None, now)
            failed += 1
        except Conflict:
            db.session.rollback()
    pending = list(
        db.session.scalars(
            sa.select(Draw.id)
            .where(Draw.retry_pending.is_(True), Draw.state == "failed")
            .order_by(Draw.finished_at, Draw.id)
        )
    )
    for draw_id in pending:
        _retry_supplementary(get_draw(draw_id), now)
    return failed
