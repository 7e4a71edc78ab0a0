"""Random supervision sampling (双随机、一公开): plan, announce, witness, draw, publish.

A supervisor fixes a plan: the projects whose committee was completed in a period (local
dates), each with a risk level (``default_risk`` unless listed), each level's sampling ratio
(``"1/2"``...), and the inspector pool (every active supervisor's pseudonym). The service
commits to a fresh secret and appends ``inspection.announced`` (plan, plan hash, commitment,
number of witnesses), covered by a checkpoint before any witness value is taken. When the
last witness has typed a value it appends ``inspection.drawn`` with the revealed secret, the
values, the seed and the sample (:mod:`expertdraw.domain.sampling`), which anyone replays
from those two entries alone. Publishing makes the project list public.
"""

from __future__ import annotations

import json
import logging
import secrets
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa

from .. import clock, logfmt, metrics
from ..domain import sampling as method
from ..domain.ledger import format_time
from ..extensions import db
from ..models import LedgerEntry, User
from ..models.inspection import Inspection, InspectionWitness
from . import ledger, sampling_plan
from .draws import actor_of
from .errors import Conflict, Forbidden, NotFound, ServiceError
from .pagination import paginate

log = logging.getLogger(__name__)
MAX_WITNESSES = 9


def _supervisor(user: User) -> None:
    if user.role != "supervisor":
        raise Forbidden("auth:forbidden", "only supervisors run supervision samples")


def announce(
    user: User,
    *,
    start: date,
    end: date,
    ratios: dict[str, str],
    risk: dict[str, str] | None = None,
    default_risk: str = "low",
    witnesses: int = 2,
    inspectors_per_project: int = 2,
) -> Inspection:
    """Fix the plan, commit to a secret and append ``inspection.announced`` (commits).

    Raises:
        Forbidden: not a supervisor; ServiceError: as ``sampling_plan.build_plan``, and
            ``invalid:entropy`` for a witness count outside 1..9, ``infeasible:witnesses``
            for more witnesses than active supervisors; Conflict
            ``conflict:inspection-period`` when another sample's period overlaps this one
            (whatever its state: one sample per period, so none is drawn again).
    """
    _supervisor(user)
    if not 1 <= witnesses <= MAX_WITNESSES:
        raise ServiceError("invalid:entropy", f"witnesses is 1 to {MAX_WITNESSES}", "witnesses")
    supervisors = len(sampling_plan.inspector_pool())
    if witnesses > supervisors:  # each gives one value: more could never all arrive
        raise ServiceError(
            "infeasible:witnesses",
            f"{witnesses} witness values asked for, but {supervisors} active supervisors "
            "can give one each",
            "witnesses",
        )
    now = clock.now()
    if _ends(end) > now:
        # A sample takes the projects completed in its period; drawn before the period is
        # over it would miss the rest, and the period could not be sampled again.
        raise ServiceError(
            "invalid:period-not-over",
            f"the period ends with {end.isoformat()}: a sample is drawn once it is over",
            "end",
        )
    ledger.lock()
    earlier = _sampled(start, end)
    if earlier is not None:
        # One sample per period: drawing again could only serve to keep the convenient one.
        db.session.rollback()
        raise Conflict(
            "conflict:inspection-period",
            f"the period overlaps that of sample {earlier.id} ({earlier.state}): one sample "
            "is drawn per period",
            "start",
        )
    inspection_id = sampling_plan.next_id(now)
    try:
        plan = sampling_plan.build_plan(
            inspection_id, start, end, ratios, risk or {}, default_risk, inspectors_per_project
        )
    except ServiceError:
        db.session.rollback()  # releases the ledger lock; nothing was written
        raise
    secret = secrets.token_bytes(32)
    body = method.announced_body(plan, secret, witnesses)
    inspection = Inspection(
        id=inspection_id,
        state="announced",
        plan=plan,
        plan_hash=body["plan_hash"],
        commitment=body["commitment"],
        secret=secret.hex(),
        witnesses=witnesses,
        created_by=user.id,
        announced_at=now,
    )
    db.session.add(inspection)
    ledger.append("inspection.announced", body, actor_of(user), now=now)
    ledger.issue_checkpoint(now)
    db.session.commit()
    log.info(logfmt.event("inspection.announced", inspection=inspection_id, plan=body["plan_hash"]))
    return inspection


def _ends(day: date) -> datetime:
    """When local date ``day`` is over (the centre's zone)."""
    from .reports_periods import zone

    return datetime.combine(day + timedelta(days=1), time(), zone()).astimezone(UTC)


def _sampled(start: date, end: date) -> Inspection | None:
    """The earliest sample whose period overlaps ``start``..``end`` (local dates), if any."""
    for inspection in db.session.scalars(sa.select(Inspection).order_by(Inspection.id)):
        period = inspection.plan["period"]
        if period["start"] <= end.isoformat() and start.isoformat() <= period["end"]:
            return inspection
    return None


def list_inspections(*, page: int = 1, per_page: int = 50) -> tuple[list[Inspection], int]:
    """One page of supervision samples, newest first, and the total."""
    stmt = sa.select(Inspection).order_by(Inspection.announced_at.desc(), Inspection.id.desc())
    return paginate(stmt, page=page, per_page=per_page)


def published(*, page: int = 1, per_page: int = 50) -> tuple[list[Inspection], int]:
    """One page of published samples, most recently published first, and the total."""
    stmt = (
        sa.select(Inspection)
        .where(Inspection.published_at.is_not(None))
        .order_by(Inspection.published_at.desc(), Inspection.id.desc())
    )
    return paginate(stmt, page=page, per_page=per_page)


def witness_count(inspection: Inspection) -> int:
    """How many witness values were entered so far."""
    return db.session.scalar(
        sa.select(sa.func.count(InspectionWitness.id)).where(
            InspectionWitness.inspection_id == inspection.id
        )
    )


def witnessed_by(inspection: Inspection, supervisor: User) -> bool:
    """Whether this supervisor has entered their witness value for the sample."""
    return (
        db.session.scalar(
            sa.select(InspectionWitness.id).where(
                InspectionWitness.inspection_id == inspection.id,
                InspectionWitness.supervisor_id == supervisor.id,
            )
        )
        is not None
    )


def get_inspection(inspection_id: str) -> Inspection:
    """An inspection by id. Raises NotFound."""
    inspection = db.session.get(Inspection, inspection_id)
    if inspection is None:
        raise NotFound("inspection", inspection_id)
    return inspection


def add_witness(inspection: Inspection, supervisor: User, value: str) -> Inspection:
    """A supervisor's witness value; the last one draws the sample (commits).

    Raises:
        Forbidden: not a supervisor; Conflict: already witnessed or already drawn;
        ServiceError: ``invalid:witness`` for an empty or over-long value.
    """
    _supervisor(supervisor)
    value = value.strip() if isinstance(value, str) else ""
    if not value or len(value) > 200:
        raise ServiceError("invalid:witness", "a witness value is 1 to 200 characters", "value")
    ledger.refuse_personal_data(value, "value")
    ledger.lock()
    db.session.refresh(inspection)
    if inspection.state != "announced":
        raise Conflict("conflict:inspection-state", f"inspection {inspection.id} is drawn")
    entered = list(
        db.session.scalars(
            sa.select(InspectionWitness)
            .where(InspectionWitness.inspection_id == inspection.id)
            .order_by(InspectionWitness.position)
        )
    )
    if any(w.supervisor_id == supervisor.id for w in entered):
        raise Conflict("conflict:witness", "each supervisor witnesses once")
    now = clock.now()
    db.session.add(
        InspectionWitness(
            inspection_id=inspection.id,
            position=len(entered),
            supervisor_id=supervisor.id,
            value=value,
            entered_at=now,
        )
    )
    db.session.flush()
    if len(entered) + 1 == inspection.witnesses:
        return _draw(inspection, [w.value for w in entered] + [value], supervisor, now)
    db.session.commit()
    return inspection


def _draw(inspection: Inspection, values: list[str], user: User, now: datetime) -> Inspection:
    body = method.drawn_body(inspection.plan, bytes.fromhex(inspection.secret), values)
    inspection.state = "drawn"
    inspection.seed = body["seed"]
    inspection.result = {"targets": body["targets"], "inspectors": body["inspectors"]}
    inspection.drawn_at = now
    ledger.append("inspection.drawn", body, actor_of(user), now=now)
    ledger.issue_checkpoint(now)
    db.session.commit()
    metrics.INSPECTIONS_DRAWN.inc()
    log.info(logfmt.event("inspection.drawn", inspection=inspection.id, seed=body["seed"]))
    return inspection


def ledger_bodies(inspection_id: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The ``inspection.announced`` and ``inspection.drawn`` bodies of a sample, as recorded.

    Raises:
        NotFound: the ledger holds no announcement of that id.
    """
    found: dict[str, dict[str, Any]] = {}
    for kind, record in db.session.execute(
        sa.select(LedgerEntry.type, LedgerEntry.record)
        .where(LedgerEntry.type.in_(("inspection.announced", "inspection.drawn")))
        .order_by(LedgerEntry.seq)
    ):
        body = json.loads(record)["entry"]["body"]
        if body.get("inspection") == inspection_id:
            found.setdefault(kind, body)
    if "inspection.announced" not in found:
        raise NotFound("inspection", inspection_id)
    return found["inspection.announced"], found.get("inspection.drawn")


def replay(inspection_id: str) -> list[str]:
    """Replay a drawn sample from its ledger entries alone; the differences (none: ``[]``).

    Raises:
        NotFound: not announced; Conflict: ``conflict:inspection-state`` when not drawn yet.
    """
    announced, drawn = ledger_bodies(inspection_id)
    if drawn is None:
        raise Conflict("conflict:inspection-state", f"inspection {inspection_id} is not drawn")
    return method.replay_sample(announced, drawn)


def publish(inspection: Inspection, user: User) -> Inspection:
    """Make a drawn sample's project list public (commits; publishing twice is a no-op).

    Raises:
        Forbidden: not a supervisor; Conflict: not drawn yet.
    """
    _supervisor(user)
    if inspection.state != "drawn":
        raise Conflict("conflict:inspection-state", f"inspection {inspection.id} is not drawn")
    if inspection.published_at is None:
        inspection.published_at = clock.now()
        db.session.commit()
    return inspection


def public_list(inspection: Inspection) -> dict[str, Any]:
    """What the public sees: projects and inspector roles, the proof values; no people.

    Raises:
        NotFound: not published (an unpublished sample does not exist for the public).
    """
    if inspection.published_at is None or inspection.result is None:
        raise NotFound("inspection", inspection.id)
    level_of = {
        p: target["level"] for target in inspection.result["targets"] for p in target["projects"]
    }
    return {
        "inspection": inspection.id,
        "period": inspection.plan["period"],
        "commitment": inspection.commitment,
        "plan_hash": inspection.plan_hash,
        "seed": inspection.seed,
        "published_at": format_time(inspection.published_at),
        "levels": [
            {"level": level["name"], "ratio": level["ratio"], "projects": len(level["projects"])}
            for level in inspection.plan["levels"]
        ],
        "targets": [
            {
                "project": item["project"],
                "level": level_of[item["project"]],
                "inspectors": ["supervisor"] * len(item["inspectors"]),
            }
            for item in inspection.result["inspectors"]
        ],
    }
