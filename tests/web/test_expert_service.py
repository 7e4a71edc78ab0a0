"""``services.experts`` (added for the pages): search, suspend / reactivate with
``pool.changed``, the expert's own data and its confirmation; ``services.directory`` bookings."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from expertdraw import clock
from expertdraw.extensions import db
from expertdraw.models import Expert, LedgerEntry, Member
from expertdraw.services import directory, experts, ledger
from expertdraw.services.errors import Conflict, Forbidden, NotFound, ServiceError

from ..integration import centre as c


def entries(kind: str) -> list[dict]:
    records = db.session.scalars(
        sa.select(LedgerEntry.record).where(LedgerEntry.type == kind).order_by(LedgerEntry.seq)
    )
    return [json.loads(r)["entry"]["body"] for r in records]


def test_search_finds_by_code_prefix_or_name_and_filters_by_status(app, centre):
    assert [r.code for r in experts.search("E000000")][:3] == ["E0000001", "E0000002", "E0000003"]
    assert [r.code for r in experts.search("专家12")] == ["E0000012"]
    experts.set_status("E0000012", "suspended", "penalty", centre.users["admin"])
    assert [r.code for r in experts.search(status="suspended")] == ["E0000012"]
    assert experts.search("100%_") == []


def test_only_admins_change_an_expert_status(app, centre):
    with pytest.raises(Forbidden):
        experts.set_status("E0000001", "suspended", "penalty", centre.users["sup1"])
    with pytest.raises(ServiceError) as bad:
        experts.set_status("E0000001", "retired", "penalty", centre.users["admin"])
    assert bad.value.code == "invalid:status" and bad.value.field == "status"
    with pytest.raises(ServiceError) as why:
        experts.set_status("E0000001", "suspended", "because", centre.users["admin"])
    assert why.value.field == "reason"
    with pytest.raises(NotFound):
        experts.set_status("E9999999", "suspended", "penalty", centre.users["admin"])
    with pytest.raises(Conflict):
        experts.set_status("E0000001", "active", "review-cleared", centre.users["admin"])
    assert entries("pool.changed") == []


def test_suspending_appends_pool_changed_in_the_same_transaction(app, centre):
    size = ledger.size()
    experts.set_status("E0000002", "suspended", "investigation", centre.users["admin"])
    assert ledger.size() == size + 1
    assert entries("pool.changed") == [
        {
            "expert": "E0000002",
            "field": "status",
            "from": "active",
            "to": "suspended",
            "reason": "investigation",
        }
    ]
    db.session.expire_all()
    assert db.session.scalar(sa.select(Expert.status).where(Expert.code == "E0000002")) == (
        "suspended"
    )


def test_an_expert_confirms_data_once_a_day(app, centre):
    user = c.expert_user("E0000004")
    profile = experts.own_profile(user)
    assert profile["employer"]["name"] == "单位10" and profile["relations"] == []
    with clock.frozen(c.NOW + timedelta(days=3)):
        day = experts.confirm_data(user)
        assert experts.confirm_data(user) == day
    assert day.isoformat() == "2027-02-23"
    assert [b["field"] for b in entries("pool.changed")] == ["data-confirmed"]
    assert entries("pool.changed")[0]["from"] == c.NOW.date().isoformat()
    with pytest.raises(Forbidden):
        experts.confirm_data(centre.users["pm"])


def test_venue_bookings_carry_no_identities(app, completed):
    venue_id = db.session.scalar(sa.select(Member.venue_id).limit(1))
    start = c.WINDOW - timedelta(hours=9)
    rows = directory.venue_bookings(venue_id, start, start + timedelta(days=1))
    assert rows and set(rows[0]) == {
        "room",
        "room_name",
        "workstation",
        "start",
        "end",
        "checked_in",
    }
