"""Retention of personal data in the pool (rules.md, Records).

An expert removed from the pool more than ``RETENTION_DAYS`` days ago (default 3650, ten
years) keeps the code the ledger and past draws refer to, and loses everything else that
could tell who they were: name, ID number, phone and e-mail are replaced by placeholders;
title and employer are blanked; employments, relations and declared conflicts, penalties
(with their notes), leave and specialties are deleted; their user account, already closed
at removal, loses its username. The region stays (a prefecture, as the draws' records
have it). The ledger holds no personal data, so it is not touched. Purging again changes
nothing (idempotent).
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from .. import clock, logfmt, metrics
from ..extensions import db
from ..models import (
    Employment,
    Expert,
    ExpertRelation,
    ExpertSpecialty,
    Leave,
    Penalty,
    User,
)

log = logging.getLogger(__name__)

DEFAULT_RETENTION_DAYS = 3650
PLACEHOLDER_NAME = "[purged]"


def retention_days() -> int:
    """``RETENTION_DAYS`` from the configuration, default 3650."""
    return int(current_app.config.get("RETENTION_DAYS") or DEFAULT_RETENTION_DAYS)


def placeholder_hash(code: str) -> str:
    """A unique stand-in for ``id_number_hash`` (a unique column), derived from the code only."""
    return hashlib.sha256(f"expertdraw/purged/v1\x00{code}".encode()).hexdigest()


def purge(now: datetime | None = None) -> int:
    """Scheduler job: blank the personal data of experts removed over the retention period
    ago (commits). Returns how many experts were purged this time.

    Experts marked removed without a ``removed_at`` date are kept: their age is unknown.
    """
    now = now or clock.now()
    cutoff = now - timedelta(days=retention_days())
    removed = db.session.scalars(
        sa.select(Expert)
        .where(
            Expert.status == "removed",
            Expert.removed_at.is_not(None),
            Expert.removed_at <= cutoff,
        )
        .order_by(Expert.id)
    )
    # Names are encrypted: those already purged are told apart here, not by the database.
    due = [expert for expert in removed if expert.name != PLACEHOLDER_NAME]
    ids = [expert.id for expert in due]
    for expert in due:
        expert.name = PLACEHOLDER_NAME
        expert.id_number = ""
        expert.id_number_hash = placeholder_hash(expert.code)
        expert.phone = None
        expert.phone_hash = None
        expert.email = None
        expert.title = ""
        expert.employer_id = None
    if ids:
        for table in (Employment, ExpertRelation, Penalty, Leave, ExpertSpecialty):
            db.session.execute(sa.delete(table).where(table.expert_id.in_(ids)))
        for user in db.session.scalars(sa.select(User).where(User.expert_id.in_(ids))):
            user.username = f"purged-{user.id}"
            user.active = False
    db.session.commit()
    if due:
        metrics.RETENTION_PURGED.inc(len(due))
        log.info(logfmt.event("retention.purged", experts=len(due), cutoff=cutoff))
    return len(due)
