"""Experts' answers to notices, timeouts, declared conflicts, and venue check-in."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from .. import clock
from ..extensions import db
from ..logfmt import event
from ..models import (
    Booking,
    Draw,
    Expert,
    ExpertRelation,
    Leave,
    Member,
    Notice,
    Organisation,
    Project,
    User,
)
from ..personal_data import protector
from . import ledger, replacements, seating
from .errors import Conflict, Forbidden, NotFound, ServiceError, TooMany
from .pagination import paginate

log = logging.getLogger(__name__)

DECLINE_REASONS = ("ill", "travel", "conflict", "other")
CHECK_IN_EARLY = timedelta(hours=2)


def _actor(user: User | None) -> dict[str, str]:
    return {"role": user.role, "id": user.pseudonym} if user else dict(ledger.SYSTEM)


def _expert_code(expert_id: int) -> str:
    return db.session.scalar(sa.select(Expert.code).where(Expert.id == expert_id))


def notice_for(user: User, notice_id: str) -> Notice:
    """An expert's own notice; anyone else's is not found (no existence leak)."""
    notice = db.session.get(Notice, notice_id)
    if notice is None or user.role != "expert" or notice.expert_id != user.expert_id:
        raise NotFound("notice", notice_id)
    return notice


def answer(
    user: User,
    notice_id: str,
    accept: bool,
    reason: str | None = None,
    conflict_with: str | None = None,
) -> dict[str, Any]:
    """Record an expert's answer; a decline replaces the member until the evaluation ends
    (commits).

    ``conflict_with`` (a unified social credit code) records a declared conflict on the
    expert for later draws, as rules.md asks; a decline for ``conflict`` must give it.

    The same answer given again (a double click, a request retried) changes nothing and
    answers as the first did.

    Raises:
        NotFound: not the expert's notice; Conflict: answered otherwise already, or past due;
        ServiceError: bad reason.
    """
    now = clock.now()
    ledger.lock()
    notice = notice_for(user, notice_id)
    db.session.refresh(notice)
    same = not conflict_with and (
        notice.status == "accepted"
        if accept
        else notice.status == "declined" and notice.reason == reason
    )
    if same:
        # The same answer again (a double click, a retried request): it stands, once. A
        # decline with another reason, or a conflict to record, is another answer (refused).
        db.session.rollback()
        return {"notice": notice.id, "status": notice.status}
    if notice.status != "pending":
        raise Conflict("conflict:notice", f"the notice is {notice.status}")
    if now >= notice.due_at:  # at the due time the notice has timed out (expire_overdue)
        raise Conflict("conflict:notice-late", "the response window has closed")
    member = db.session.get(Member, notice.member_id)
    if accept and replacements.evaluation_over(member, now):
        # A seat is not taken up once its evaluation is over (notices due after the window's
        # end were written before their due time was held to it).
        raise Conflict("conflict:notice-late", "the evaluation is over")
    if accept and _on_leave(notice.expert_id, member):
        # Declared after the draw's snapshot was taken (while it awaited its entropy): a seat
        # accepted over it would be one the expert said they cannot take.
        raise Conflict(
            "conflict:notice-leave",
            "you declared a leave over this evaluation: decline the notice, or cancel the "
            "leave first",
        )
    if accept and reason:
        # Refused, not dropped: an answer with a decline's reason was meant otherwise.
        raise ServiceError("invalid:reason", "an acceptance gives no reason", "reason")
    if accept:
        reason = None
    elif reason not in DECLINE_REASONS:
        raise ServiceError(
            "invalid:reason", f"reason is one of {', '.join(DECLINE_REASONS)}", "reason"
        )
    if reason == "conflict" and not (conflict_with or "").strip():
        # rules.md records a declared conflict for later draws; with no organisation named
        # there would be nothing to record, and the next draw could seat the expert again.
        raise ServiceError(
            "invalid:conflict-with",
            "a decline for a conflict names the organisation (its unified social credit "
            "code), so that later draws leave you out; otherwise choose another reason",
            "conflict_with",
        )
    if conflict_with:
        # Checked and recorded first, so a bad code leaves the notice untouched.
        declare_conflict(user, conflict_with, now=now, commit=False)
    notice.status = "accepted" if accept else "declined"
    notice.reason = reason
    notice.answered_at = now
    code = _expert_code(notice.expert_id)
    actor = _actor(user)
    ledger.append(
        "notice.answered",
        {
            "draw": notice.draw_id,
            "notice": notice.id,
            "expert": code,
            "answer": notice.status,
            "reason": reason or "",
        },
        actor,
        draw_id=notice.draw_id,
        now=now,
    )
    if accept or replacements.evaluation_over(member, now):
        # After the evaluation a decline is recorded and replaces no one (as a timeout).
        if not accept:
            replacements.leave_after_evaluation(member, "declined", now)
        ledger.issue_checkpoint(now)
        db.session.commit()
    else:
        replacements.replace_member(member, "declined", actor, now)
    if conflict_with:
        # A declared conflict is a later-found one for every committee the expert sits on,
        # this one included when it was accepted (rules.md: it triggers a replacement).
        replacements.recheck_expert(user.expert_id, actor, now)
        db.session.refresh(notice)
    return {"notice": notice.id, "status": notice.status}


def _on_leave(expert_id: int, member: Member) -> bool:
    """Whether the expert has declared a leave over the window of ``member``'s evaluation."""
    project = db.session.scalar(
        sa.select(Project)
        .join(Draw, Draw.project_id == Project.id)
        .where(Draw.id == member.draw_id)
    )
    return (
        db.session.scalar(
            sa.select(Leave.id).where(
                Leave.expert_id == expert_id,
                Leave.start < project.window_end,
                Leave.end > project.window_start,
            )
        )
        is not None
    )


#: Conflicts an expert may declare themselves in a day. A declaration takes the expert off a
#: committee of that organisation at once, so it tells them whether the organisation is a
#: party; the limit (and the ``seated-conflict`` alert) keeps that from becoming a search.
#: The centre records more through the pool's data.
DECLARATIONS_PER_DAY = 5


def declare_conflict(
    user: User, uscc: str, *, now: datetime | None = None, commit: bool = True
) -> None:
    """An expert declares a conflict with an organisation (``pool.changed``).

    Raises:
        Forbidden: not an expert; ServiceError: a malformed or unknown code; TooMany: past
        ``DECLARATIONS_PER_DAY`` in the last 24 hours.
    """
    from ..domain.codes import CodeError, validate_uscc

    now = now or clock.now()
    if user.role != "expert" or user.expert_id is None:
        raise Forbidden("auth:forbidden", "only experts declare their own conflicts")
    try:
        code = validate_uscc(uscc)
    except CodeError as exc:
        raise ServiceError(exc.code, str(exc), "conflict_with") from None
    org = db.session.scalar(sa.select(Organisation).where(Organisation.uscc == code))
    if org is None:
        raise ServiceError("invalid:organisation", f"no organisation {code}", "conflict_with")
    exists = db.session.scalar(
        sa.select(ExpertRelation.id).where(
            ExpertRelation.expert_id == user.expert_id,
            ExpertRelation.organisation_id == org.id,
            ExpertRelation.kind == "declared",
        )
    )
    if exists:
        return
    today = db.session.scalar(
        sa.select(sa.func.count(ExpertRelation.id)).where(
            ExpertRelation.expert_id == user.expert_id,
            ExpertRelation.kind == "declared",
            ExpertRelation.declared_at > now - timedelta(days=1),
        )
    )
    if today >= DECLARATIONS_PER_DAY:
        raise TooMany(
            "rate-limited:declarations",
            f"at most {DECLARATIONS_PER_DAY} conflicts can be declared in a day; "
            "the centre can record more",
            "conflict_with",
        )
    db.session.add(
        ExpertRelation(
            expert_id=user.expert_id, organisation_id=org.id, kind="declared", declared_at=now
        )
    )
    ledger.append(
        "pool.changed",
        {
            "expert": _expert_code(user.expert_id),
            "field": "declared-conflict",
            "from": "",
            "to": org.uscc,
            "reason": "declared by the expert",
        },
        _actor(user),
        now=now,
    )
    if commit:
        db.session.commit()
        # A conflict with a party of a committee the expert already sits on takes them off it.
        from .replacements import recheck_expert

        recheck_expert(user.expert_id, _actor(user), now)


def expire_overdue(now: datetime | None = None) -> int:
    """Scheduler job: pending notices past their response window time out and are replaced.

    Each notice is its own transaction: one whose replacement is refused or fails (logged, the
    notice left pending for the next run) does not hold up the notices due after it; a failure
    other than a refusal makes the run fail (:class:`TimeoutsFailed`) after the others. A run
    catching up after the evaluation has ended records the timeouts and replaces no one:
    nobody can take a place in an evaluation that is over, and whether the expert sat is for
    the check-in records to say."""
    now = now or clock.now()
    ids = list(
        db.session.scalars(
            sa.select(Notice.id)
            .where(Notice.status == "pending", Notice.due_at <= now)
            .order_by(Notice.due_at)
        )
    )
    done = failed = 0
    for notice_id in ids:
        try:
            done += _time_out(notice_id, now)
        except ServiceError as exc:  # Conflict too
            db.session.rollback()
            log.error(event("notice.timeout_refused", notice=notice_id, error=exc.code))
        except Exception as exc:
            # A broken row (a value that does not decrypt, say) must not hold up every
            # notice due after it; the run is reported failed below once the rest are done.
            db.session.rollback()
            log.error(event("notice.timeout_failed", notice=notice_id, error=type(exc).__name__))
            failed += 1
    if failed:
        raise TimeoutsFailed(f"{failed} overdue notice(s) could not be timed out; see the log")
    return done


class TimeoutsFailed(RuntimeError):
    """Some overdue notices could not be timed out (the others were): the job run fails, so
    that it is retried and shows as failed."""


def _time_out(notice_id: str, now: datetime) -> int:
    """Time out one overdue notice and replace its member, in one transaction (commits).
    Returns 1 if it timed out, 0 if it was answered meanwhile."""
    ledger.lock()
    notice = db.session.get(Notice, notice_id)
    db.session.refresh(notice)
    if notice.status != "pending":
        db.session.rollback()
        return 0
    notice.status = "timeout"
    notice.answered_at = now
    ledger.append(
        "notice.answered",
        {
            "draw": notice.draw_id,
            "notice": notice.id,
            "expert": _expert_code(notice.expert_id),
            "answer": "timeout",
            "reason": "",
        },
        dict(ledger.SYSTEM),
        draw_id=notice.draw_id,
        now=now,
    )
    member = db.session.get(Member, notice.member_id)
    if replacements.evaluation_over(member, now):
        replacements.leave_after_evaluation(member, "timeout", now)
        db.session.commit()
        log.warning(event("notice.timeout_after_evaluation", notice=notice_id))
        return 1
    replacements.replace_member(member, "timeout", dict(ledger.SYSTEM), now)
    return 1


def inbox(user: User) -> list[dict[str, Any]]:
    """An expert's own notices, newest first, with only what a notice may say."""
    return [notice_view(n, m, p) for n, m, p in db.session.execute(_inbox_rows(user)).all()]


def inbox_page(user: User, *, page: int, per_page: int) -> tuple[list[dict[str, Any]], int]:
    """One page of :func:`inbox`, and how many notices the expert has in all."""
    chosen, total = paginate(_inbox_rows(user), page=page, per_page=per_page, rows=True)
    return [notice_view(n, m, p) for n, m, p in chosen], total


def _inbox_rows(user: User) -> sa.Select[Any]:
    if user.role != "expert" or user.expert_id is None:
        raise Forbidden("auth:forbidden", "only experts have an inbox")
    return (
        sa.select(Notice, Member, Project)
        .join(Member, Member.id == Notice.member_id)
        .join(Draw, Draw.id == Notice.draw_id)
        .join(Project, Project.id == Draw.project_id)
        .where(Notice.expert_id == user.expert_id)
        .order_by(Notice.sent_at.desc(), Notice.id.desc())
    )


def notice_view(notice: Notice, member: Member, project: Project) -> dict[str, Any]:
    """The anonymous content of a notice (rules.md): never project, parties or other members."""
    from ..models import Stratum, Venue

    venue = db.session.get(Venue, member.venue_id)
    specialty = db.session.scalar(
        sa.select(Stratum.specialty_code).where(
            Stratum.project_id == project.id, Stratum.name == member.stratum
        )
    )
    status = notice.status
    if status == "pending" and notice.due_at <= clock.now():
        # Past its due time it can no longer be answered; the timer records the timeout
        # within a minute, and the expert sees it at once.
        status = "timeout"
    return {
        "notice": notice.id,
        "status": status,
        "window_start": project.window_start,
        "window_end": project.window_end,
        "venue": venue.id,
        "venue_name": venue.name,
        "venue_address": venue.address,
        "room": member.room_id,
        "workstation": member.workstation_id,
        "check_in_code": notice.check_in_code,
        "specialty": specialty,
        "due_at": notice.due_at,
        "answered_at": notice.answered_at,
    }


#: A code entered again by the same desk within this time is the same check-in.
SAME_CHECK_IN = timedelta(seconds=30)


def _same_check_in(notice: Notice, staff: User, now: datetime) -> bool:
    """Whether the notice's check-in is this desk's of a moment ago."""
    at = notice.checked_in_at
    return at is not None and notice.checked_in_by == staff.id and now - at < SAME_CHECK_IN


def check_in(staff: User, code: str) -> dict[str, Any]:
    """Venue staff enter a check-in code: confirm workstation and time, nothing about the project.

    A code of another venue's seat gets the same answer as a code that does not exist: the
    desk of one venue learns nothing about the seats of others.

    Raises:
        Forbidden: not venue staff; NotFound: no seat of this venue has the code;
        ServiceError: not accepted or no longer seated, outside the check-in time.
    """
    if staff.role != "venue_staff" or not staff.venue_id:
        raise Forbidden("auth:forbidden", "only venue staff check experts in")
    now = clock.now()
    digest = protector().lookup_hash(seating.normalise_code(code))
    found = db.session.execute(
        sa.select(Notice, Member)
        .join(Member, Member.id == Notice.member_id)
        .where(Notice.check_in_hash == digest, Member.venue_id == staff.venue_id)
    ).first()
    if found is None:
        raise NotFound("check-in code", "given")
    notice, member = found
    booking = db.session.scalar(
        sa.select(Booking).where(Booking.member_id == member.id, Booking.released_at.is_(None))
    )
    if booking is None or notice.status != "accepted":
        raise ServiceError("checkin:not-seated", "this code has no accepted, current seat")
    if now < booking.start - CHECK_IN_EARLY:
        raise ServiceError("checkin:time", "check-in opens two hours before the window")
    if now >= booking.end:
        raise ServiceError("checkin:closed", "check-in has closed: the evaluation window ended")
    again = notice.checked_in_at is not None  # a second person with the same code?
    if again and _same_check_in(notice, staff, now):
        # The same desk entering the code again at once (a double click): the one check-in.
        db.session.commit()
        again = False
    elif not again:
        # Written only while the seat is still accepted and nobody has checked in with the
        # code: a withdrawal (a replacement) or a second desk that wrote since the read above
        # wins, whichever of them commits first, as the row's lock orders them.
        written = db.session.execute(
            sa.update(Notice)
            .where(
                Notice.id == notice.id,
                Notice.status == "accepted",
                Notice.checked_in_at.is_(None),
            )
            .values(checked_in_at=now, checked_in_by=staff.id)
            .execution_options(synchronize_session=False)
        ).rowcount
        db.session.commit()  # expires the notice: read again below as committed
        if written != 1:
            if notice.status != "accepted":
                raise ServiceError("checkin:not-seated", "this code has no accepted, current seat")
            again = not _same_check_in(notice, staff, now)
    else:
        db.session.commit()
    return {
        "again": again,
        "workstation": member.workstation_id,
        "room": member.room_id,
        "window_start": booking.start,
        "window_end": booking.end,
        "checked_in_at": notice.checked_in_at,
    }
