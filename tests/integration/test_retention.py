"""Retention: personal data of long-removed experts is blanked, once; the ledger is untouched."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from expertdraw import clock
from expertdraw.extensions import db
from expertdraw.models import Expert, LedgerEntry
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
    assert retention.purge(c.NOW) == 0  # idempotent
    assert list(db.session.scalars(sa.select(LedgerEntry.record))) == ledger_before


def test_the_default_keeps_data_for_ten_years(app, centre):
    expert = _expert("E0000003")
    expert.status = "removed"
    expert.removed_at = c.NOW - timedelta(days=3649)
    db.session.commit()
    assert retention.purge(c.NOW) == 0
    assert retention.purge(c.NOW + timedelta(days=2)) == 1
