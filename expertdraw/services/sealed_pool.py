"""The pool pages and the sealed list: a seated expert is named to an admin only by an opening.

An admin keeps the pool by expert code, and the ledger, which admins read as supervisors do,
names each committee by the same codes: a pool page that named an expert seated on a committee
would open that committee's name list with no ``list.opened`` (rules.md: the admin is "as
supervisor", and "every opening of a name list is a ``list.opened`` entry"). So, until a
committee's evaluation ends, the pool list shows its members and unused alternates without
their names (a search by name does not find them either), and such an expert's record opens
with a stated purpose, appending ``list.opened`` for each committee they sit on or stand by
for. The record then stays open to that admin for ``sealed.SHOWN_AGAIN_FOR``, as a list does.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa

from .. import clock
from ..domain.ledger import format_time
from ..extensions import db
from ..models import Alternate, Draw, Expert, LedgerEntry, Member, Project, User
from . import ledger, sealed
from .errors import Forbidden, NotFound, ServiceError


def committees(codes: Iterable[str], now: datetime | None = None) -> dict[str, set[str]]:
    """The experts of ``codes`` who sit on (replaced members too: the list names them), or
    stand by as an unused alternate for, a committee whose evaluation has not ended: expert
    code to the committees' root draws."""
    now = now or clock.now()
    # Stripped, as experts.get_by_code finds them: a padded code is the same expert.
    wanted = sorted({code.strip() for code in codes})
    if not wanted:
        return {}
    found: dict[str, set[str]] = defaultdict(set)
    members = (
        sa.select(Expert.code, Member.draw_id)
        .select_from(Member)
        .join(Expert, Expert.id == Member.expert_id)
        .join(Draw, Draw.id == Member.draw_id)
    )
    alternates = (
        sa.select(Expert.code, sa.func.coalesce(Draw.root_id, Draw.id))
        .select_from(Alternate)
        .join(Expert, Expert.id == Alternate.expert_id)
        .join(Draw, Draw.id == Alternate.draw_id)
        .where(Alternate.used.is_(False), Draw.state == "completed")
    )
    for statement in (members, alternates):
        live = statement.join(Project, Project.id == Draw.project_id).where(
            Project.window_end > now, Expert.code.in_(wanted)
        )
        for code, draw_id in db.session.execute(live):
            found[code].add(draw_id)
    return dict(found)


PURPOSE_PREFIX = "pool record of "


def _purpose_of(code: str, purpose: str) -> str:
    return f"{PURPOSE_PREFIX}{code}: {purpose}"


def _opened_by(user: User, now: datetime) -> dict[str, set[str]]:
    """The records ``user`` opened within ``sealed.SHOWN_AGAIN_FOR``: code to root draws."""
    since = format_time(now - sealed.SHOWN_AGAIN_FOR)
    opened: dict[str, set[str]] = defaultdict(set)
    # Newest first by the (type, seq) index; entry times never decrease along seq.
    rows = db.session.execute(
        sa.select(LedgerEntry.time, LedgerEntry.record)
        .where(LedgerEntry.type == "list.opened")
        .order_by(LedgerEntry.seq.desc())
        .execution_options(yield_per=100)
    )
    for time, record in rows:
        if time < since:
            break
        entry = json.loads(record)["entry"]
        purpose = entry["body"]["purpose"]
        if entry["actor"].get("id") == user.pseudonym and purpose.startswith(PURPOSE_PREFIX):
            opened[purpose[len(PURPOSE_PREFIX) :].split(":", 1)[0]].add(entry["body"]["draw"])
    rows.close()
    return opened


def hidden(user: User, codes: Iterable[str], now: datetime | None = None) -> set[str]:
    """The experts of ``codes`` whose names ``user`` may not see now: seated or
    standing by on a committee whose evaluation has not ended, and their record not opened
    by ``user`` for each of those committees within ``sealed.SHOWN_AGAIN_FOR``."""
    now = now or clock.now()
    seated = committees(codes, now)
    if not seated:
        return set()
    opened = _opened_by(user, now)
    return {code for code, roots in seated.items() if not roots <= opened.get(code, set())}


def open_record(code: str, user: User, purpose: str) -> list[int]:
    """Open a seated expert's record for ``user``, an admin: one ``list.opened`` for each
    committee the expert sits on or stands by for, with ``purpose`` (commits). Returns the
    entries' ``seq`` (none when the expert sits on no committee whose evaluation is on).

    Raises:
        Forbidden: not an admin; NotFound: no such expert; ServiceError: ``invalid:purpose``,
        ``invalid:purpose-personal`` (as :func:`sealed.open_list`).
    """
    if user.role != "admin":
        raise Forbidden("auth:forbidden", "only administrators keep the pool")
    code = code.strip()
    if db.session.scalar(sa.select(Expert.id).where(Expert.code == code)) is None:
        raise NotFound("expert", code)
    purpose = sealed.checked_purpose(purpose)
    if not purpose:
        raise ServiceError(
            "invalid:purpose", "opening a member's record needs a purpose", "purpose"
        )
    now = clock.now()
    roots = committees([code], now).get(code, set())
    if not roots:
        return []
    ledger.lock()
    seqs = []
    for root in sorted(roots):
        entry = ledger.append(
            "list.opened",
            {"draw": root, "by": user.pseudonym, "purpose": _purpose_of(code, purpose)},
            {"role": user.role, "id": user.pseudonym},
            draw_id=root,
            now=now,
        )
        seqs.append(int(entry["seq"]))
    db.session.commit()
    return seqs
