"""Retention: personal data of long-removed experts is blanked, once; the ledger is untouched."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from expertdraw import clock
from expertdraw.extensions import db
from expertdraw.models import (
    Employment,
    Expert,
    ExpertRelation,
    ExpertSpecialty,
    Leave,
    LedgerEntry,
    Penalty,
    User,
)
from expertdraw.services import retention

from . import centre as c


@pytest.fixture
def centre(app):
    with clock.frozen(c.NOW):
        return c.build()


def _expert(code: str) -> Expert:
    return db.session.scalar(sa.select(Expert).where(Expert.code == code))


def test_personal_data_of_experts_removed_long_ago_is_blanked_once(app, centre):
    app.config["RETENTION_DAYS"] = 30
    old, recent = _expert("E0000001"), _expert("E0000002")
    user = c.expert_user("E0000001")
    db.session.add(
        Penalty(expert_id=old.id, kind="blacklist", start=c.NOW.date(), note="私下接触投标人")
    )
    db.session.add(Leave(expert_id=old.id, start=c.NOW, end=c.NOW + timedelta(days=1)))
    for expert, days in ((old, 31), (recent, 29)):
        expert.status = "removed"
        expert.removed_at = c.NOW - timedelta(days=days)
    db.session.commit()
    ledger_before = list(db.session.scalars(sa.select(LedgerEntry.record)))
    assert retention.purge(c.NOW) == 1
    db.session.expire_all()
    old, recent = _expert("E0000001"), _expert("E0000002")
    assert old.name == retention.PLACEHOLDER_NAME and old.id_number == ""
    assert old.phone is None and old.phone_hash is None and old.email is None
    assert old.id_number_hash == retention.placeholder_hash("E0000001")
    assert old.code == "E0000001" and old.status == "removed"
    assert recent.name == "专家2" and recent.phone is not None
    # Everything else that could tell who they were is gone too; the code stays.
    assert old.title == "" and old.employer_id is None
    for table in (Employment, ExpertRelation, Penalty, Leave, ExpertSpecialty):
        rows = db.session.scalar(
            sa.select(sa.func.count()).select_from(table).where(table.expert_id == old.id)
        )
        assert rows == 0, table.__tablename__
    assert db.session.scalar(
        sa.select(sa.func.count())
        .select_from(ExpertSpecialty)
        .where(ExpertSpecialty.expert_id == recent.id)
    )
    assert retention.purge(c.NOW) == 0  # idempotent
    assert list(db.session.scalars(sa.select(LedgerEntry.record))) == ledger_before
    closed = db.session.get(User, user.id)
    assert not closed.active and closed.username == f"purged-{user.id}"


def test_the_default_keeps_data_for_ten_years(app, centre):
    expert = _expert("E0000003")
    expert.status = "removed"
    expert.removed_at = c.NOW - timedelta(days=3649)
    db.session.commit()
    assert retention.purge(c.NOW) == 0
    assert retention.purge(c.NOW + timedelta(days=2)) == 1
