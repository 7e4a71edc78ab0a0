"""The draw workflow through the services, on both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine.interfaces import CacheStats

from expertdraw import clock
from expertdraw.extensions import db
from expertdraw.models import (
    Alternate,
    Booking,
    Delivery,
    Draw,
    Expert,
    LedgerEntry,
    Member,
    Notice,
)
from expertdraw.personal_data import protector
from expertdraw.services import draws, ledger, notices, projects, sealed, seating
from expertdraw.services.errors import ServiceError

from . import centre as c


@pytest.fixture
def trading_centre(app):
    with clock.frozen(c.NOW):
        built = c.build()
    return built


def _spec(centre: c.Centre, **overrides) -> projects.ProjectSpec:
    return c.project_spec(centre, "P2027-0001", **overrides)


def test_committee_shape_is_enforced(trading_centre):
    with clock.frozen(c.NOW), pytest.raises(ServiceError) as info:
        projects.create_project(
            _spec(trading_centre, strata=[projects.StratumSpec("t", "A0101", "technical", 6)]),
            trading_centre.users["pm"],
        )
    assert info.value.code == "committee:odd"


def test_a_witnessed_draw_seats_five_members_and_records_everything(trading_centre):
    pm, sup1, sup2 = (trading_centre.users[u] for u in ("pm", "sup1", "sup2"))
    with clock.frozen(c.NOW):
        project = projects.create_project(_spec(trading_centre), pm)
        dry = draws.dry_run(project)
        assert dry.feasible, dry.reason
        assert [s["eligible"] for s in dry.strata] == [24, 12]
        draw = draws.announce(project, pm, {"kind": "witness", "witnesses": 2})
        assert draw.state == "announced"
        draws.add_witness(draw, sup1, "31415")
        assert draw.state == "announced"
        draws.add_witness(draw, sup2, "zt-2027-03-01")
    assert draw.state == "completed"
    members = db.session.scalars(sa.select(Member).where(Member.draw_id == draw.id)).all()
    assert len(members) == 5
    assert len({m.venue_id for m in members}) == 5  # separation: venue
    bookings = db.session.scalars(sa.select(Booking)).all()
    assert len(bookings) == 5
    kinds = list(db.session.scalars(sa.select(LedgerEntry.type).order_by(LedgerEntry.seq)))
    assert kinds[:3] == ["log.created", "draw.announced", "draw.completed"]
    assert kinds.count("notice.sent") == 5
    progress = sealed.progress(draw)
    assert progress["pending"] == 5 and progress["members"] == 5
    _assert_committee_rows(draw.id, members)


def _assert_committee_rows(draw_id: str, members: list[Member]) -> None:
    """Each member has one notice of its own expert, with an inbox delivery and a check-in
    code stored encrypted (the rows are written in one statement on PostgreSQL); the
    alternates are those the ledger names."""
    notices = db.session.scalars(sa.select(Notice).where(Notice.draw_id == draw_id)).all()
    assert sorted((n.member_id, n.expert_id) for n in notices) == sorted(
        (m.id, m.expert_id) for m in members
    )
    for notice in notices:
        raw = bytes(
            db.session.scalar(
                sa.text("SELECT check_in_code FROM notices WHERE id = :id"), {"id": notice.id}
            )
        )
        assert notice.check_in_code.encode() not in raw
        assert notice.check_in_hash == protector().lookup_hash(
            seating.normalise_code(notice.check_in_code)
        )
        channels = db.session.scalars(
            sa.select(Delivery.channel).where(Delivery.notice_id == notice.id)
        ).all()
        assert "inbox" in channels
    completed = ledger.entry_body("draw.completed", draw_id)
    named = [(a["stratum"], e) for a in completed["alternates"] for e in a["experts"]]
    stored = db.session.execute(
        sa.select(Alternate.stratum, Expert.code)
        .join(Expert, Expert.id == Alternate.expert_id)
        .where(Alternate.draw_id == draw_id)
        .order_by(Alternate.stratum, Alternate.position)
    ).all()
    assert sorted(named) == sorted(map(tuple, stored)) and len(stored) == 3


def test_every_statement_of_a_draw_is_compiled_once(trading_centre):
    """SQLAlchemy compiles a statement without a cache key anew every time (milliseconds for
    the committee's): from a project's announcement to its committee's rows, every
    statement a draw sends must be cached after the first draw."""
    pm, sup1, sup2 = (trading_centre.users[u] for u in ("pm", "sup1", "sup2"))
    stats: list[tuple[CacheStats, str]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if context.compiled is not None:  # not the driver's own SQL (SQLite's ledger writes)
            stats.append((context.cache_hit, " ".join(statement.split())[:80]))

    with clock.frozen(c.NOW):
        for n, code in enumerate(("P2027-0001", "P2027-0002")):
            if n:
                sa.event.listen(db.engine, "after_cursor_execute", record)
            project = projects.create_project(c.project_spec(trading_centre, code), pm)
            draw = draws.announce(project, pm, {"kind": "witness", "witnesses": 2})
            draws.add_witness(draw, sup1, "a")
            draws.add_witness(draw, sup2, "b")
            assert draw.state == "completed"
        sa.event.remove(db.engine, "after_cursor_execute", record)
    assert any("INSERT INTO members" in text for _, text in stats)
    assert [text for hit, text in stats if hit is CacheStats.NO_CACHE_KEY] == []


def test_decline_brings_in_an_alternate_and_timeout_too(trading_centre):
    pm, sup1, sup2 = (trading_centre.users[u] for u in ("pm", "sup1", "sup2"))
    with clock.frozen(c.NOW):
        project = projects.create_project(_spec(trading_centre), pm)
        draw = draws.announce(project, pm, {"kind": "witness", "witnesses": 2})
        draws.add_witness(draw, sup1, "a")
        draws.add_witness(draw, sup2, "b")
        first = db.session.scalars(
            sa.select(Notice).where(Notice.draw_id == draw.id).order_by(Notice.id)
        ).first()
        expert_code = db.session.scalar(
            sa.text("SELECT code FROM experts WHERE id = :i"), {"i": first.expert_id}
        )
        user = c.expert_user(expert_code)
        notices.answer(user, first.id, accept=False, reason="ill")
    assert db.session.get(Notice, first.id).status == "declined"
    active = db.session.scalars(
        sa.select(Member).where(Member.draw_id == draw.id, Member.state == "active")
    ).all()
    assert len(active) == 5
    replaced = list(
        db.session.scalars(sa.select(LedgerEntry.record).where(LedgerEntry.type == "draw.replaced"))
    )
    assert len(replaced) == 1
    later = c.NOW + timedelta(hours=2)
    with clock.frozen(later):
        assert notices.expire_overdue(later) == 5
    assert (
        db.session.scalar(
            sa.select(sa.func.count(LedgerEntry.seq)).where(LedgerEntry.type == "draw.replaced")
        )
        == 6
    )
    # every live booking belongs to an active member; none overlaps another
    live = db.session.scalars(sa.select(Booking).where(Booking.released_at.is_(None))).all()
    assert len(live) == db.session.scalar(
        sa.select(sa.func.count(Member.id)).where(Member.state == "active")
    )


def test_infeasible_request_announces_nothing(trading_centre):
    pm = trading_centre.users["pm"]
    with clock.frozen(c.NOW):
        project = projects.create_project(
            _spec(
                trading_centre,
                strata=[
                    projects.StratumSpec("technical", "A0101", "technical", 4, 2),
                    projects.StratumSpec("economic", "C0301", "economic", 13, 1),
                ],
            ),
            pm,
        )
        before = db.session.scalar(sa.select(sa.func.count(LedgerEntry.seq)))
        with pytest.raises(ServiceError) as info:
            draws.announce(project, pm, {"kind": "witness", "witnesses": 2})
    assert info.value.code.startswith("infeasible:")
    assert db.session.scalar(sa.select(sa.func.count(LedgerEntry.seq))) == before
    assert db.session.scalar(sa.select(sa.func.count(Draw.id))) == 0
