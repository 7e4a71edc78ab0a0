"""Races between a completion and the changes that judge or close what it seats, and a double
award (PostgreSQL: row and advisory locks order these writes; SQLite has one writer). Each race
is made to happen every time: the product's own step is wrapped so that the other request, in
its own thread and session, commits at exactly that point. The clock is frozen by the main
thread only, around every thread's life: the frozen clock is the process's, and threads
freezing it in turn could leave it frozen for the tests after."""

from __future__ import annotations

import threading
from typing import Any

import sqlalchemy as sa

from expertdraw import clock
from expertdraw.extensions import db
from expertdraw.models import Expert, Member, User
from expertdraw.services import draws, experts, projects, seating

from . import centre as c


def test_a_suspension_committed_while_an_immediate_draw_completes_is_not_left_seated(
    pg_app, monkeypatch
):
    """README: a member found no longer eligible (a suspension) is replaced. An admin
    suspends an expert while a `none`-entropy draw, whose needs_recheck() already said
    "nothing changed", is completing: the admin's re-check finds no completed committee yet,
    and the completion skips its own re-check, so the suspended expert stays seated."""
    centre, draw = _announced("P-SUSP")
    admin_id = centre.users["admin"].id
    assert draw.pool_seen is not None  # announced by this request: recheck may be skipped
    real_prepare = seating.prepare
    suspended: list[str] = []

    def prepare(drawn: Any, body: dict[str, Any]) -> Any:
        # The completion has its result and has not yet taken the ledger lock: an admin on
        # another worker suspends the first drawn member now, and commits.
        code = body["members"][0]["expert"]
        _suspend_in_another_worker(pg_app, admin_id, code, suspended)
        return real_prepare(drawn, body)

    monkeypatch.setattr(seating, "prepare", prepare)
    with clock.frozen(c.NOW):
        draws.complete_at_once(draw, centre.users["admin"])
    db.session.remove()
    assert len(suspended) == 1
    assert _seated_suspended() == [], f"suspended and still seated: {_seated_suspended()}"


def _announced(code: str) -> tuple[c.Centre, Any]:
    """The test centre and project ``code``'s draw, announced with ``none`` entropy by an
    admin (this request's draw object: it carries ``pool_seen``)."""
    with clock.frozen(c.NOW):
        centre = c.build()
        spec = c.project_spec(centre, code, allow_no_entropy=True)
        project = projects.create_project(spec, centre.users["admin"])
        return centre, draws.announce(project, centre.users["admin"], {"kind": "none"})


def _suspend_in_another_worker(app: Any, admin_id: int, code: str, suspended: list[str]) -> None:
    """An admin on another worker suspends expert ``code`` and commits, while the caller
    waits (its own transaction open)."""

    def suspend() -> None:
        with app.app_context():
            try:
                admin = db.session.get(User, admin_id)
                experts.set_status(code, "suspended", _a_reason(), admin)
                suspended.append(code)
            finally:
                db.session.remove()

    worker = threading.Thread(target=suspend, name="admin")
    worker.start()
    worker.join(60)
    assert not worker.is_alive()


def _seated_suspended() -> list[str]:
    return db.session.scalars(
        sa.select(Expert.code)
        .join(Member, Member.expert_id == Expert.id)
        .where(Member.state == "active", Expert.status == "suspended")
    ).all()


def _a_reason() -> str:
    return experts.STATUS_REASONS[0]


def test_a_workstation_closed_while_a_draw_completes_is_not_booked_unannounced(pg_app, monkeypatch):
    """README Known limits: taking a workstation out of service stops new draws from using
    it (a waiting draw that would seat a member there fails, conflict:workstation-closed),
    and bookings already made stay, counted for the admin ("It still has N current
    bookings"). A closure committed between the completion's closure check (under the ledger
    lock) and its commit passes both checks: the admin is told 0 bookings remain, the draw
    books the closed workstation."""
    from expertdraw.models import Booking, Workstation
    from expertdraw.services import places

    centre, draw = _announced("P-CLOSE")
    real = seating.state_and_clashes
    told: list[Any] = []
    workers: list[threading.Thread] = []

    def close(workstation: str) -> None:
        with pg_app.app_context():
            try:
                told.append(places.set_in_service("workstation", workstation, False))
            finally:
                db.session.remove()

    def state_and_clashes(draw_id: str, seats: list[dict[str, Any]], prepared: Any) -> Any:
        found = real(draw_id, seats, prepared)
        if seats:  # checked under the ledger lock; an admin closes a drawn workstation now
            # Given two seconds to commit: without the ledger lock it does, before the
            # completion books; with it, it waits for the completion's commit.
            worker = threading.Thread(target=close, args=(seats[0]["workstation"],))
            worker.start()
            worker.join(2)
            workers.append(worker)
        return found

    monkeypatch.setattr(seating, "state_and_clashes", state_and_clashes)
    with clock.frozen(c.NOW):
        done = draws.complete(draw, "", centre.users["admin"], recheck=False)
        outcome = (done.id, done.state)
        for worker in workers:
            worker.join(60)
            assert not worker.is_alive()
    db.session.remove()
    assert len(told) == 1
    change = told[0]
    held = db.session.scalar(
        sa.select(sa.func.count(Booking.id))
        .join(Workstation, Workstation.id == Booking.workstation_id)
        .where(Workstation.id == change.id, Booking.released_at.is_(None))
    )
    # Either the draw failed (workstation-closed), or the admin was told of the booking.
    assert held == change.bookings, (
        f"draw {outcome[0]} is {outcome[1]}; workstation {change.id} closed with "
        f"{held} held booking(s), admin told {change.bookings}"
    )


def test_a_suspension_committed_while_a_supplementary_draw_completes_is_not_left_seated(
    pg_app, monkeypatch
):
    """The same for a supplementary draw completed at once (entropy `none`) after a decline:
    replacements._announce_prepared completes it with recheck=False after the announcement
    committed (the ledger lock released), so a suspension committed in between is re-checked
    against no committee and never after."""
    from expertdraw.models import Notice
    from expertdraw.services import notices

    centre, draw = _announced("P-SUPP")
    admin_id = centre.users["admin"].id
    with clock.frozen(c.NOW):
        draw = draws.complete(draw, "", centre.users["admin"])
        root_id = draw.id

        def decline_economic() -> None:
            notice, code = db.session.execute(
                sa.select(Notice, Expert.code)
                .join(Member, Member.id == Notice.member_id)
                .join(Expert, Expert.id == Member.expert_id)
                .where(
                    Member.draw_id == root_id,
                    Member.state == "active",
                    Member.stratum == "economic",
                )
            ).one()
            notices.answer(c.expert_user(code), notice.id, False, "ill")
            db.session.remove()

        decline_economic()  # the economic stratum's one alternate takes the place

        real_prepare = seating.prepare
        suspended: list[str] = []

        def prepare(drawn: Any, body: dict[str, Any]) -> Any:
            if drawn.root_id is not None and not suspended:
                code = body["members"][0]["expert"]
                _suspend_in_another_worker(pg_app, admin_id, code, suspended)
            return real_prepare(drawn, body)

        monkeypatch.setattr(seating, "prepare", prepare)
        decline_economic()  # no alternate left: supplementary draw D-R1, completed at once
    assert len(suspended) == 1, "no supplementary draw was completed"
    assert _seated_suspended() == [], f"suspended and still seated: {_seated_suspended()}"


def test_two_award_requests_at_once_record_one_award(pg_app, monkeypatch):
    """record_award reads project.awarded_at before the ledger lock and not again under it:
    two requests at once (a double-submitted form, two workers) both append
    project.awarded for the same project."""
    from datetime import timedelta

    from expertdraw.models import LedgerEntry, Project
    from expertdraw.services import ledger, sealed

    centre, draw = _announced("P-AWARD")
    admin_id = centre.users["admin"].id
    with clock.frozen(c.NOW):
        draws.complete(draw, "", centre.users["admin"])
    db.session.remove()
    both_read = threading.Barrier(2)
    real_lock = ledger.lock
    waited: set[str] = set()

    def lock() -> None:
        name = threading.current_thread().name
        if name.startswith("award") and name not in waited:
            waited.add(name)
            both_read.wait(10)  # both requests have read awarded_at (None)
        real_lock()

    monkeypatch.setattr(ledger, "lock", lock)

    def award() -> None:
        with pg_app.app_context():
            try:
                found = db.session.scalar(sa.select(Project).where(Project.code == "P-AWARD"))
                sealed.record_award(found, db.session.get(User, admin_id))
            finally:
                db.session.remove()

    running = [threading.Thread(target=award, name=f"award{n}") for n in (1, 2)]
    with clock.frozen(c.WINDOW + timedelta(hours=9)):
        for thread in running:
            thread.start()
        for thread in running:
            thread.join(60)
    assert not any(thread.is_alive() for thread in running)
    awarded = db.session.scalar(
        sa.select(sa.func.count()).where(LedgerEntry.type == "project.awarded")
    )
    assert awarded == 1, f"{awarded} project.awarded entries for one project"
