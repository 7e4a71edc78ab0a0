"""Races between requests that only row locks order (PostgreSQL, as multi-instance centres
run it; SQLite's single writer serialises these writes anyway): a retried draw request meeting
its first copy's completion, two administrators removing each other, and check-in desks
meeting a withdrawal or each other."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from expertdraw import clock
from expertdraw.extensions import db
from expertdraw.models import Expert, Member, Notice, User
from expertdraw.personal_data import protector
from expertdraw.services import auth as auth_service
from expertdraw.services import draws, ledger, notices, projects, replacements, seating
from expertdraw.services.errors import Forbidden, ServiceError
from expertdraw.services.users import create_user

from . import centre as c

CODE = "ABCDE-FGHJK"


def _threads(*targets: tuple[str, Any]) -> None:
    running = [threading.Thread(target=run, name=name) for name, run in targets]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join(60)
    assert not any(thread.is_alive() for thread in running)


def test_a_retry_meeting_its_first_copys_completion_gets_the_same_draw(pg_app, monkeypatch):
    """The retry (same Idempotency-Key) is handed the first request's draw while that request
    is still completing it: it answers with the completed draw, not a conflict."""
    with clock.frozen(c.NOW):
        centre = c.build()
        spec = c.project_spec(centre, "P-IDEM", allow_no_entropy=True)
        projects.create_project(spec, centre.users["admin"])
        _, token = auth_service.issue_token(centre.users["admin"], label="t")
        db.session.commit()
    db.session.remove()
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "same-key-1"}
    first_announced, second_announced, first_done = (threading.Event() for _ in range(3))
    real_announce, real_complete = draws.announce, draws.complete

    def announce(*args: Any, **kwargs: Any) -> Any:
        if threading.current_thread().name == "second":
            assert first_announced.wait(30)
        drawn = real_announce(*args, **kwargs)
        {"first": first_announced, "second": second_announced}[
            threading.current_thread().name
        ].set()
        return drawn

    def complete(*args: Any, **kwargs: Any) -> Any:
        if threading.current_thread().name == "first":
            assert second_announced.wait(30)  # the retry already holds the announced draw
            try:
                return real_complete(*args, **kwargs)
            finally:
                first_done.set()
        assert first_done.wait(30)
        return real_complete(*args, **kwargs)

    monkeypatch.setattr(draws, "announce", announce)
    monkeypatch.setattr(draws, "complete", complete)
    answers: dict[str, Any] = {}

    def request(name: str) -> None:
        with pg_app.test_client() as client:
            sent = client.post(
                "/api/v1/projects/P-IDEM/draws", json={"entropy": {"kind": "none"}}, headers=headers
            )
            answers[name] = (sent.status_code, sent.get_json())

    with clock.frozen(c.NOW):
        _threads(("first", lambda: request("first")), ("second", lambda: request("second")))
    assert answers["first"][0] == 201 and answers["second"][0] == 201, answers
    assert answers["second"][1]["id"] == answers["first"][1]["id"]
    assert answers["second"][1]["state"] == "completed"


def test_two_administrators_removing_each_other_leave_one(pg_app):
    with clock.frozen(c.NOW):
        centre = c.build()
        other = create_user("admin2", "correct horse battery", "admin")
        db.session.commit()
        ids = [centre.users["admin"].id, other.id]
        tokens = [auth_service.issue_token(db.session.get(User, i), label="t")[1] for i in ids]
        db.session.commit()
    db.session.remove()
    both_in = threading.Barrier(2)
    outcomes: list[Any] = []

    def remove(token: str, target: int) -> None:
        with pg_app.app_context():
            try:
                actor, _row = auth_service.user_for_token(token)  # authenticated first
                both_in.wait(10)
                auth_service.update_account(target, actor, role="admin", active=False)
                outcomes.append("removed")
            except Forbidden as exc:
                outcomes.append(exc.code)
            finally:
                db.session.remove()

    with clock.frozen(c.NOW):
        _threads(("a", lambda: remove(tokens[0], ids[1])), ("b", lambda: remove(tokens[1], ids[0])))
    assert sorted(outcomes) == ["auth:forbidden", "removed"]
    active = db.session.scalar(
        sa.select(sa.func.count(User.id)).where(User.role == "admin", User.active.is_(True))
    )
    assert active == 1


@pytest.fixture
def seated(pg_app) -> Iterator[dict[str, int]]:
    """A completed draw whose first member accepted, with a known check-in code, and two
    desks of that member's venue."""
    with clock.frozen(c.NOW):
        centre = c.build()
        spec = c.project_spec(centre, "P-CHK", allow_no_entropy=True)
        project = projects.create_project(spec, centre.users["admin"])
        draw = draws.announce(project, centre.users["admin"], {"kind": "none"})
        draw = draws.complete(draw, "", centre.users["admin"])
        member = db.session.scalars(
            sa.select(Member).where(Member.draw_id == draw.id, Member.state == "active")
        ).first()
        notice = db.session.scalar(sa.select(Notice).where(Notice.member_id == member.id))
        code = db.session.scalar(sa.select(Expert.code).where(Expert.id == member.expert_id))
        notices.answer(c.expert_user(code), notice.id, True)
        desks = [
            create_user(
                f"desk{n}", "correct horse battery", "venue_staff", venue_id=member.venue_id
            )
            for n in (1, 2)
        ]
        notice.check_in_hash = protector().lookup_hash(seating.normalise_code(CODE))
        db.session.commit()
        yield {"member": member.id, "notice": notice.id, "desk1": desks[0].id, "desk2": desks[1].id}


@pytest.fixture
def paused_writes(pg_app) -> Iterator[list[Any]]:
    """Holds: each a callable run in a desk's thread just before its check-in write."""
    holds: list[Any] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("UPDATE notices") and threading.current_thread().name.startswith(
            "desk"
        ):
            for hold in holds:
                hold()

    with pg_app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", before)
    yield holds
    sa.event.remove(engine, "before_cursor_execute", before)


def _desk(app: Any, user_id: int, into: list[Any]) -> None:
    with app.app_context():
        try:
            into.append(notices.check_in(db.session.get(User, user_id), CODE))
        except ServiceError as exc:
            into.append(exc.code)
        finally:
            db.session.remove()


def test_two_desks_with_one_code_at_once_tell_the_second_it_came_again(
    pg_app, seated, paused_writes
):
    both_read = threading.Barrier(2)
    paused_writes.append(lambda: both_read.wait(10))
    said: list[Any] = []
    db.session.remove()
    with clock.frozen(c.WINDOW - timedelta(minutes=30)):
        _threads(
            ("desk1", lambda: _desk(pg_app, seated["desk1"], said)),
            ("desk2", lambda: _desk(pg_app, seated["desk2"], said)),
        )
    assert sorted(answer["again"] for answer in said) == [False, True], said
    assert said[0]["checked_in_at"] == said[1]["checked_in_at"]


def test_a_desk_does_not_seat_a_member_withdrawn_after_it_read_the_code(
    pg_app, seated, paused_writes
):
    read, withdrawn = threading.Event(), threading.Event()

    def hold() -> None:
        read.set()
        assert withdrawn.wait(30)

    paused_writes.append(hold)
    said: list[Any] = []
    db.session.remove()
    with clock.frozen(c.WINDOW - timedelta(minutes=30)):
        desk = threading.Thread(target=_desk, args=(pg_app, seated["desk1"], said), name="desk")
        desk.start()
        assert read.wait(30)
        member = db.session.get(Member, seated["member"])
        replacements.replace_member(member, "conflict", dict(ledger.SYSTEM))
        db.session.remove()
        withdrawn.set()
        desk.join(60)
    assert said == ["checkin:not-seated"]
    notice = db.session.get(Notice, seated["notice"])
    assert notice.status == "withdrawn" and notice.checked_in_at is None
