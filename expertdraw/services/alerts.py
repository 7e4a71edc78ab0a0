"""Expert-use alerts for supervisors, and suspending an expert.

Thresholds come from ``app.config["ALERT_THRESHOLDS"]`` (the settings file's ``[alerts]``, each
kind's keys merged over the defaults of ``domain.alert_thresholds``); an alert fires when a
figure is *at or over* its threshold:

- ``frequency``: ``count`` (4) or more selections in the last ``days`` (30) days, counted by
  when the notices were sent (the eligibility rule of the same name counts evaluations near
  a window instead: the alert watches how often an expert is drawn, the rule who may sit);
- ``consecutive``: the expert's latest ``count`` (2) or more selections within ``days`` (90)
  were all for the same tenderer;
- ``refusal-rate``: of at least ``min_answers`` (4) answers in ``days`` (90), the share of
  declines and timeouts is ``ratio`` ("1/2", an exact ``n/d`` string) or more;
- ``no-show``: ``count`` (1) or more evaluations in ``days`` (90) that the expert accepted,
  that are over, and at which the expert never checked in;
- ``seated-conflict``: ``count`` (1) or more conflicts the expert declared in ``days`` (30)
  while sitting on a committee whose evaluation had not ended (the declaration tells the
  expert whether the organisation is a party of that committee).

The daily report job calls :func:`evaluate`. An alert is raised once per evidence (the
latest ledger entry or notice behind it), so running twice raises nothing new.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

import sqlalchemy as sa
from flask import current_app

from .. import clock, logfmt, metrics
from ..domain.alert_thresholds import ThresholdError, merge_thresholds
from ..domain.ledger import format_time
from ..domain.sampling import parse_ratio
from ..extensions import db
from ..models import (
    Booking,
    Draw,
    Expert,
    ExpertRelation,
    LedgerEntry,
    Member,
    Notice,
    Organisation,
    Project,
    User,
)
from ..models.inspection import ALERT_KINDS, Alert
from . import ledger
from .errors import Conflict, Forbidden, NotFound, ServiceError
from .experts import STATUS_REASONS, get_by_code
from .pagination import paginate
from .reports_experts import frequent, same_tenderer_runs, selections
from .reports_figures import rate, rows

log = logging.getLogger(__name__)

SUSPEND_REASONS = (*STATUS_REASONS, *(f"alert:{kind}" for kind in ALERT_KINDS))


def thresholds() -> dict[str, dict[str, Any]]:
    """The configured thresholds (``ALERT_THRESHOLDS``), merged over the defaults and checked.

    Raises:
        ServiceError: ``invalid:alert-thresholds`` naming the bad key.
    """
    try:
        return merge_thresholds(current_app.config.get("ALERT_THRESHOLDS"))
    except ThresholdError as exc:
        raise ServiceError("invalid:alert-thresholds", str(exc), exc.key) from None


def frequency_candidates(now: datetime, limits: dict[str, Any]) -> list[tuple[str, str, dict]]:
    """``(expert, evidence, detail)`` for experts at or over the frequency threshold."""
    history = selections(now - timedelta(days=limits["days"]), now)
    last = {s.expert: s.seq for s in history}
    return [
        (code, f"seq:{last[code]}", {"selections": n, "days": limits["days"]})
        for code, n in frequent(history, limits["count"]).items()
    ]


def consecutive_candidates(now: datetime, limits: dict[str, Any]) -> list[tuple[str, str, dict]]:
    """Experts whose latest selections ran for one tenderer at least ``count`` times."""
    history = selections(now - timedelta(days=limits["days"]), now)
    return [
        (code, f"seq:{run['last_seq']}", {"run": run["run"], "days": limits["days"]})
        for code, run in same_tenderer_runs(history, limits["count"]).items()
    ]


def refusal_candidates(now: datetime, limits: dict[str, Any]) -> list[tuple[str, str, dict]]:
    """Experts whose declines and timeouts reach the ratio, with enough answers."""
    begin = format_time(now - timedelta(days=limits["days"]))
    # answers, refused, and the seq of the latest refusal: the evidence, so that an
    # acceptance, which lowers the rate, never raises an alert of its own
    answered: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in rows(begin, format_time(now), ("notice.answered",)):
        tally = answered[row.body["expert"]]
        tally[0] += 1
        if row.body["answer"] != "accepted":
            tally[1] += 1
            tally[2] = row.seq
    ratio = parse_ratio(limits["ratio"])
    return [
        (code, f"seq:{seq}", {"refused": refused, "answered": n, "rate": rate(refused, n)})
        for code, (n, refused, seq) in sorted(answered.items())
        if n >= limits["min_answers"] and Fraction(refused, n) >= ratio
    ]


def no_show_candidates(now: datetime, limits: dict[str, Any]) -> list[tuple[str, str, dict]]:
    """Experts who accepted, stayed on the committee, and never checked in by the end."""
    found = db.session.execute(
        sa.select(Expert.code, Notice.id)
        .join(Member, Member.id == Notice.member_id)
        .join(Booking, Booking.member_id == Member.id)
        .join(Expert, Expert.id == Notice.expert_id)
        .where(
            Notice.status == "accepted",
            Notice.checked_in_at.is_(None),
            Member.state == "active",
            Booking.released_at.is_(None),
            Booking.end <= now,
            Booking.end > now - timedelta(days=limits["days"]),
        )
        .order_by(Expert.code, Booking.end, Notice.id)
    ).all()
    by_expert: dict[str, list[str]] = defaultdict(list)
    for code, notice_id in found:
        by_expert[code].append(notice_id)
    return [
        (code, f"notice:{ids[-1]}", {"no_shows": len(ids), "days": limits["days"]})
        for code, ids in sorted(by_expert.items())
        if len(ids) >= limits["count"]
    ]


def seated_conflict_candidates(
    now: datetime, limits: dict[str, Any]
) -> list[tuple[str, str, dict]]:
    """Experts who declared conflicts while sitting on a committee whose evaluation had not
    ended: such a declaration takes them off at once when the organisation is a party, so it
    tells them whether it is one. Supervisors see each, to tell a real conflict from probing.
    """
    seated = (
        sa.select(Member.id)
        .join(Draw, Draw.id == Member.draw_id)
        .join(Project, Project.id == Draw.project_id)
        .where(
            Member.expert_id == ExpertRelation.expert_id,
            Member.joined_at <= ExpertRelation.declared_at,
            sa.or_(Member.left_at.is_(None), Member.left_at >= ExpertRelation.declared_at),
            Project.window_end > ExpertRelation.declared_at,
            # Not the seat the declaration declined (notices.answer: a decline for a conflict
            # names the organisation): declining takes the expert off whatever it names, so
            # it tells them nothing. Their other seats still count.
            sa.not_(
                sa.and_(  # (no NULL comparisons: NOT of NULL would drop seats still held)
                    Member.left_at.is_not(None),
                    Member.left_reason.is_not(None),
                    Member.left_at == ExpertRelation.declared_at,
                    Member.left_reason == "declined",
                )
            ),
        )
        .exists()
    )
    found = db.session.execute(
        sa.select(Expert.code, ExpertRelation.id, Organisation.uscc)
        .join(Expert, Expert.id == ExpertRelation.expert_id)
        .join(Organisation, Organisation.id == ExpertRelation.organisation_id)
        .where(
            ExpertRelation.kind == "declared",
            ExpertRelation.declared_at > now - timedelta(days=limits["days"]),
            ExpertRelation.declared_at <= now,
            seated,
        )
        .order_by(Expert.code, ExpertRelation.declared_at, ExpertRelation.id)
    ).all()
    by_expert: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for code, relation_id, uscc in found:
        by_expert[code].append((relation_id, uscc))
    return [
        (
            code,
            f"relation:{declared[-1][0]}",
            {
                "declared": len(declared),
                "organisations": [uscc for _, uscc in declared],
                "days": limits["days"],
            },
        )
        for code, declared in sorted(by_expert.items())
        if len(declared) >= limits["count"]
    ]


CANDIDATES = {
    "frequency": frequency_candidates,
    "consecutive": consecutive_candidates,
    "refusal-rate": refusal_candidates,
    "no-show": no_show_candidates,
    "seated-conflict": seated_conflict_candidates,
}


#: Kinds that describe a standing condition (over a threshold), not an event: while one of
#: its alerts is open for an expert, a further selection or answer raises no other; once it
#: is handled, the condition found again on new evidence raises a new one. No-shows and
#: seated conflicts are events, each an alert of its own.
CONDITIONS = frozenset({"frequency", "consecutive", "refusal-rate"})


def _standing(kind: str, code: str, evidence: str) -> bool:
    """Whether the expert's latest alert of this condition still covers ``evidence``: it is
    open, or it was handled after the evidence's entry (``seq:<n>``) was recorded."""
    latest = db.session.execute(
        sa.select(Alert.acked_at)
        .where(Alert.kind == kind, Alert.expert_code == code)
        .order_by(Alert.id.desc())
        .limit(1)
    ).first()
    if latest is None:
        return False
    if latest.acked_at is None:
        return True
    recorded = db.session.scalar(
        sa.select(LedgerEntry.time).where(LedgerEntry.seq == int(evidence.partition(":")[2]))
    )
    return recorded is not None and recorded <= format_time(latest.acked_at)


def evaluate(now: datetime | None = None) -> list[Alert]:
    """Raise every alert due at ``now`` that was not raised before (commits).

    Returns the new alerts. Raises ServiceError for bad thresholds.
    """
    now = now or clock.now()
    limits = thresholds()
    raised: list[Alert] = []
    for kind, find in CANDIDATES.items():
        for code, evidence, detail in find(now, limits[kind]):
            exists = db.session.scalar(
                sa.select(Alert.id).where(
                    Alert.kind == kind, Alert.expert_code == code, Alert.evidence == evidence
                )
            )
            if exists or (kind in CONDITIONS and _standing(kind, code, evidence)):
                continue
            detail = {**detail, "threshold": dict(limits[kind])}
            alert = Alert(
                kind=kind, expert_code=code, evidence=evidence, detail=detail, raised_at=now
            )
            db.session.add(alert)
            raised.append(alert)
            metrics.ALERTS_RAISED.labels(kind=kind).inc()
            log.info(logfmt.event("alert.raised", kind=kind, expert=code, evidence=evidence))
    db.session.commit()
    return raised


def list_alerts(
    include_acked: bool = False, *, page: int = 1, per_page: int = 50
) -> tuple[list[Alert], int]:
    """One page of alerts, newest first (open ones only unless ``include_acked``), and the
    total."""
    stmt = sa.select(Alert).order_by(Alert.id.desc())
    if not include_acked:
        stmt = stmt.where(Alert.acked_at.is_(None))
    return paginate(stmt, page=page, per_page=per_page)


def get_alert(alert_id: int) -> Alert:
    """An alert by id. Raises NotFound."""
    alert = db.session.get(Alert, alert_id)
    if alert is None:
        raise NotFound("alert", alert_id)
    return alert


def _supervising(user: User) -> None:
    if user.role not in ("supervisor", "admin"):
        raise Forbidden("auth:forbidden", "only supervisors and administrators handle alerts")


def acknowledge(alert_id: int, user: User, *, commit: bool = True) -> Alert:
    """A supervisor acknowledges an alert (commits unless ``commit`` is False).

    Raises:
        Forbidden; NotFound; Conflict: ``conflict:alert`` when already acknowledged.
    """
    _supervising(user)
    alert = db.session.get(Alert, alert_id)
    if alert is None:
        raise NotFound("alert", alert_id)
    if alert.acked_at is not None:
        raise Conflict("conflict:alert", f"alert {alert_id} is already acknowledged")
    alert.acked_at = clock.now()
    alert.acked_by = user.id
    if commit:
        db.session.commit()
    return alert


def suspend_expert(code: str, reason: str, user: User, alert_id: int | None = None) -> Expert:
    """Suspend an active expert: the status change and its ``pool.changed`` entry commit in
    one transaction (and the alert acted on, if given, is acknowledged in it too).

    Raises:
        Forbidden: not a supervisor or admin; NotFound: no such expert or alert;
        ServiceError: ``invalid:reason``, ``invalid:alert`` (the alert is about another
        expert: acknowledging it would close it unhandled); Conflict: ``conflict:status``
        when not active.
    """
    _supervising(user)
    if reason not in SUSPEND_REASONS:
        raise ServiceError(
            "invalid:reason", f"reason is one of {', '.join(SUSPEND_REASONS)}", "reason"
        )
    ledger.lock()
    expert = get_by_code(code)
    if alert_id is not None:
        alert = db.session.get(Alert, alert_id)
        if alert is None:
            raise NotFound("alert", alert_id)
        if alert.expert_code != expert.code:
            raise ServiceError(
                "invalid:alert", f"alert {alert_id} is not about expert {expert.code}", "alert"
            )
    if expert.status != "active":
        raise Conflict("conflict:status", f"expert {expert.code} is {expert.status}", "status")
    try:
        expert.status = "suspended"
        ledger.append(
            "pool.changed",
            {
                "expert": expert.code,
                "field": "status",
                "from": "active",
                "to": "suspended",
                "reason": reason,
            },
            {"role": user.role, "id": user.pseudonym},
        )
        if alert_id is not None:
            acknowledge(alert_id, user, commit=False)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    log.info(logfmt.event("expert.suspended", expert=expert.code, reason=reason))
    from .replacements import recheck_expert

    recheck_expert(expert.id, {"role": user.role, "id": user.pseudonym})
    return expert
