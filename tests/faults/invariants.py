"""What must hold after any fault, once ``fail_stale`` has run: no partial draw, nothing lost.

- every draw is completed or failed, with exactly one ``draw.announced`` and exactly one
  final entry (``draw.completed`` / ``draw.failed``) that matches its state, and a failed
  draw's entry reveals its secret;
- every booking belongs to a completed draw, each completed draw has one booking per member,
  and no expert or workstation is booked twice at once;
- every project and draw a client was told about (201) is in the database, and the draw is
  in the ledger in the state the client was told;
- the ledger's ``seq`` runs 0..n-1 without a gap, and the exported bundle passes the full
  audit with replay.

``recover_and_check`` runs in the test's app context, on the same database as the server.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from expertdraw import clock
from expertdraw.domain.bundle import audit_bundle
from expertdraw.extensions import db
from expertdraw.models import Booking, Draw, LedgerEntry, Member, Project
from expertdraw.services import draws, export

from .load import Answer

FINAL = ("draw.completed", "draw.failed")


@dataclass(frozen=True)
class Recovery:
    """Counts after recovery, for the test's own assertions and the soak's report."""

    draws: int
    completed: int
    failed: int
    failed_by_recovery: int  # announced draws that ``fail_stale`` had to fail
    told: int  # draws the clients were told about (201)
    entries: int


def _problems_of_draws() -> list[str]:
    problems = []
    entries: dict[str, Counter[str]] = {}
    for draw_id, kind, n in db.session.execute(
        sa.select(LedgerEntry.draw_id, LedgerEntry.type, sa.func.count())
        .where(LedgerEntry.type.in_(("draw.announced", *FINAL)))
        .group_by(LedgerEntry.draw_id, LedgerEntry.type)
    ):
        entries.setdefault(draw_id, Counter())[kind] = n
    for draw in db.session.scalars(sa.select(Draw).where(Draw.root_id.is_(None))):
        seen = entries.pop(draw.id, Counter())
        if draw.state not in ("completed", "failed"):
            problems.append(f"{draw.id} is {draw.state} after recovery")
            continue
        expected = Counter({"draw.announced": 1, f"draw.{draw.state}": 1})
        if seen != expected:
            problems.append(f"{draw.id} ({draw.state}) has ledger entries {dict(seen)}")
        if draw.state == "failed":
            record = db.session.scalar(
                sa.select(LedgerEntry.record).where(
                    LedgerEntry.draw_id == draw.id, LedgerEntry.type == "draw.failed"
                )
            )
            body = json.loads(record)["entry"]["body"] if record else {}
            if body.get("secret") != draw.secret:
                problems.append(f"{draw.id} failed without revealing its secret")
    problems += [f"ledger entries for unknown draw {d}: {dict(k)}" for d, k in entries.items()]
    return problems


def _problems_of_bookings() -> list[str]:
    problems = []
    state_of = {
        draw_id: state for draw_id, state in db.session.execute(sa.select(Draw.id, Draw.state))
    }
    bookings = Counter(db.session.scalars(sa.select(Booking.draw_id)))
    members = Counter(db.session.scalars(sa.select(Member.draw_id)))
    for draw_id, n in bookings.items():
        if state_of.get(draw_id) != "completed":
            problems.append(f"{n} bookings of {draw_id}, which is {state_of.get(draw_id)}")
    for draw_id, state in state_of.items():
        if state == "completed" and bookings[draw_id] != members[draw_id]:
            problems.append(
                f"{draw_id}: {members[draw_id]} members but {bookings[draw_id]} bookings"
            )
    for column in ("workstation_id", "expert_id"):
        overlaps = db.session.scalar(
            sa.text(
                f"SELECT count(*) FROM bookings a JOIN bookings b ON a.{column} = b.{column} "
                "AND a.id < b.id AND a.released_at IS NULL AND b.released_at IS NULL "
                'AND a.start < b."end" AND b.start < a."end"'
            )
        )
        if overlaps:
            problems.append(f"{overlaps} double bookings by {column}")
    return problems


def _problems_of_answers(answers: Iterable[Answer]) -> list[str]:
    problems = []
    for answer in answers:
        if answer.step == "project" and answer.status == 201:
            code = (answer.body or {}).get("code")
            if db.session.scalar(sa.select(Project.id).where(Project.code == code)) is None:
                problems.append(f"project {code} (told 201) is not in the database")
        if answer.step != "draw" or answer.status != 201:
            continue
        draw = db.session.get(Draw, answer.draw) if answer.draw else None
        if draw is None:
            problems.append(f"draw {answer.draw} (told 201 {answer.state}) is not in the database")
            continue
        if draw.state != answer.state:
            problems.append(f"{draw.id} told {answer.state}, but it is {draw.state}")
        final = db.session.scalar(
            sa.select(LedgerEntry.type).where(
                LedgerEntry.draw_id == draw.id, LedgerEntry.type.in_(FINAL)
            )
        )
        if final != f"draw.{answer.state}":
            problems.append(f"{draw.id} told {answer.state}, but the ledger says {final}")
    return problems


def recover_and_check(answers: Iterable[Answer], bundle: Path) -> Recovery:
    """Run ``fail_stale`` a day after every deadline, then check every invariant.

    Raises AssertionError listing every problem found (the first 50).
    """
    answers = list(answers)
    db.session.remove()
    latest = db.session.scalar(sa.select(sa.func.max(Draw.deadline_at)))
    later = max(clock.now(), latest or clock.now()) + timedelta(days=1)
    with clock.frozen(later):
        recovered = draws.fail_stale(later)
        problems = _problems_of_draws() + _problems_of_bookings() + _problems_of_answers(answers)
        seqs = list(db.session.scalars(sa.select(LedgerEntry.seq).order_by(LedgerEntry.seq)))
        if seqs != list(range(len(seqs))):
            problems.append(f"ledger seq has gaps: {len(seqs)} entries, last {seqs[-1]}")
        export.write_bundle(bundle)
    report = audit_bundle(bundle, replay=True)
    if not report.ok:
        problems += [f"audit: {p}" for p in report.problems[:10]]
    states = Counter(db.session.scalars(sa.select(Draw.state).where(Draw.root_id.is_(None))))
    db.session.remove()
    assert not problems, "\n".join(problems[:50])
    return Recovery(
        draws=sum(states.values()),
        completed=states["completed"],
        failed=states["failed"],
        failed_by_recovery=recovered,
        told=sum(1 for a in answers if a.step == "draw" and a.status == 201),
        entries=len(seqs),
    )
