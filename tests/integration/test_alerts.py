"""Expert-use alerts fire at their threshold and not below; suspension is atomic."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from expertdraw import clock
from expertdraw.extensions import db
from expertdraw.models import Alternate, Expert, LedgerEntry, Member, Notice
from expertdraw.models.inspection import Alert
from expertdraw.services import alerts, ledger, notices, reports
from expertdraw.services.errors import Conflict, Forbidden, ServiceError

from . import centre as c
from .inspection_helpers import append, completed_project, run_draw

T = c.NOW + timedelta(hours=1)


@pytest.fixture
def centre(app):
    with clock.frozen(c.NOW):
        return c.build()


def _sent(expert: str, draw: str, minutes: int) -> None:
    body = {"draw": draw, "notice": f"N{minutes:06d}", "expert": expert, "channel": "inbox"}
    append("notice.sent", body, T + timedelta(minutes=minutes))


def _answered(expert: str, answer: str, minutes: int) -> None:
    body = {
        "draw": "D2027-900001",
        "notice": f"N{minutes:06d}",
        "expert": expert,
        "answer": answer,
        "reason": "ill" if answer == "declined" else "",
    }
    append("notice.answered", body, T + timedelta(minutes=minutes))


def _raised(kind: str) -> dict[str, Alert]:
    rows = db.session.scalars(sa.select(Alert).where(Alert.kind == kind)).all()
    return {a.expert_code: a for a in rows}


def test_frequency_fires_at_the_threshold_and_not_below(app, centre):
    app.config["ALERT_THRESHOLDS"] = {"frequency": {"count": 3}}
    for minute in range(3):
        _sent("E0000001", f"D2027-90000{minute}", minute)
    for minute in range(3, 5):
        _sent("E0000002", f"D2027-90000{minute}", minute)
    now = T + timedelta(hours=1)
    alerts.evaluate(now)
    raised = _raised("frequency")
    assert set(raised) == {"E0000001"}
    assert raised["E0000001"].detail["selections"] == 3
    assert raised["E0000001"].detail["threshold"] == {"count": 3, "days": 30}
    assert alerts.evaluate(now) == []  # same evidence: nothing new
    _sent("E0000002", "D2027-900009", 9)
    assert [a.expert_code for a in alerts.evaluate(now)] == ["E0000002"]


def test_a_standing_condition_has_one_open_alert_until_it_is_handled(app, centre):
    """A further selection of an expert already over the threshold, or an answer (an
    acceptance included) of one already over the refusal rate, raises no second alert while
    the first is open; handled, the condition found on new evidence raises a new one."""
    app.config["ALERT_THRESHOLDS"] = {
        "frequency": {"count": 3},
        "refusal-rate": {"ratio": "1/2", "min_answers": 4},
    }
    for minute in range(3):
        _sent("E0000001", f"D2027-90000{minute}", minute)
    for minute, answer in enumerate(["declined", "timeout", "declined", "accepted"], start=10):
        _answered("E0000002", answer, minute)
    now = T + timedelta(hours=1)
    assert sorted(a.kind for a in alerts.evaluate(now)) == ["frequency", "refusal-rate"]
    _sent("E0000001", "D2027-900007", 7)
    _answered("E0000002", "accepted", 20)
    assert alerts.evaluate(now) == []
    for alert in db.session.scalars(sa.select(Alert)):
        alert.acked_at = now
    db.session.commit()
    later = now + timedelta(days=1)
    assert alerts.evaluate(later) == []  # nothing recorded since they were handled
    _sent("E0000001", "D2027-900008", 90)  # after the acknowledgement
    assert [a.kind for a in alerts.evaluate(later)] == ["frequency"]


def test_selections_outside_the_look_back_do_not_count(app, centre):
    app.config["ALERT_THRESHOLDS"] = {"frequency": {"count": 2, "days": 1}}
    _sent("E0000001", "D2027-900001", 0)
    _sent("E0000001", "D2027-900002", 1)
    assert _raised("frequency") == {}
    alerts.evaluate(T + timedelta(days=1, minutes=1))  # the first one is over a day old
    assert _raised("frequency") == {}


def test_consecutive_selections_for_one_tenderer_fire_at_the_threshold(app, centre):
    app.config["ALERT_THRESHOLDS"] = {"consecutive": {"count": 2}}
    same = [completed_project(f"P2027-01{n}", c.NOW, centre.tenderer) for n in range(3)]
    other = completed_project("P2027-0199", c.NOW, centre.agency)
    _sent("E0000001", same[0].id, 0)
    _sent("E0000001", same[1].id, 1)  # two in a row for the tenderer: fires
    _sent("E0000002", same[2].id, 2)
    _sent("E0000002", other.id, 3)  # the run is broken: latest run is 1
    _sent("E0000003", same[2].id, 4)  # one only
    alerts.evaluate(T + timedelta(hours=1))
    raised = _raised("consecutive")
    assert set(raised) == {"E0000001"}
    assert raised["E0000001"].detail["run"] == 2


def test_refusal_rate_fires_at_the_ratio_with_enough_answers(app, centre):
    app.config["ALERT_THRESHOLDS"] = {"refusal-rate": {"ratio": "1/2", "min_answers": 4}}
    answers = {
        "E0000001": ["declined", "timeout", "accepted", "accepted"],  # 2/4: at the ratio
        "E0000002": ["declined", "accepted", "accepted", "accepted"],  # 1/4: below
        "E0000003": ["declined", "declined", "declined"],  # 3/3, too few answers
    }
    minute = 0
    for code, given in answers.items():
        for answer in given:
            _answered(code, answer, minute)
            minute += 1
    alerts.evaluate(T + timedelta(hours=1))
    raised = _raised("refusal-rate")
    assert set(raised) == {"E0000001"}
    assert raised["E0000001"].detail["rate"] == "2/4"


def test_no_show_fires_when_an_accepted_member_never_checked_in(app, centre):
    draw = run_draw(centre, "P2027-0001", c.NOW)
    notice = db.session.scalars(
        sa.select(Notice).where(Notice.draw_id == draw.id).order_by(Notice.id)
    ).first()
    code = db.session.scalar(sa.select(Expert.code).where(Expert.id == notice.expert_id))
    with clock.frozen(c.NOW + timedelta(minutes=1)):
        notices.answer(c.expert_user(code), notice.id, accept=True)
    after = c.WINDOW + timedelta(hours=9)
    app.config["ALERT_THRESHOLDS"] = {"no-show": {"count": 2}}
    alerts.evaluate(after)
    assert _raised("no-show") == {}
    app.config["ALERT_THRESHOLDS"] = {"no-show": {"count": 1}}
    alerts.evaluate(c.WINDOW + timedelta(hours=7))  # the evaluation is not over yet
    assert _raised("no-show") == {}
    alerts.evaluate(after)
    assert set(_raised("no-show")) == {code}


def test_the_daily_job_raises_alerts(app, centre):
    app.config["ALERT_THRESHOLDS"] = {"frequency": {"count": 1}}
    _sent("E0000001", "D2027-900001", 0)
    reports.daily(T + timedelta(days=2))
    assert set(_raised("frequency")) == {"E0000001"}


def test_bad_thresholds_are_refused(app, centre):
    app.config["ALERT_THRESHOLDS"] = {"refusal-rate": {"ratio": "0.5"}}
    with pytest.raises(ServiceError) as info:
        alerts.thresholds()
    assert info.value.code == "invalid:alert-thresholds"
    app.config["ALERT_THRESHOLDS"] = {"frequency": {"count": 0}}
    with pytest.raises(ServiceError):
        alerts.thresholds()


def _pool_changes() -> list[dict]:
    records = db.session.scalars(
        sa.select(LedgerEntry.record)
        .where(LedgerEntry.type == "pool.changed")
        .order_by(LedgerEntry.seq)
    )
    return [json.loads(r)["entry"] for r in records]


def test_suspension_appends_pool_changed_with_the_status_change(app, centre):
    app.config["ALERT_THRESHOLDS"] = {"frequency": {"count": 1}}
    _sent("E0000001", "D2027-900001", 0)
    (alert,) = alerts.evaluate(T + timedelta(hours=1))
    sup = centre.users["sup1"]
    with clock.frozen(T + timedelta(hours=2)):
        alerts.suspend_expert("E0000001", "alert:frequency", sup, alert.id)
    db.session.expire_all()
    expert = db.session.scalar(sa.select(Expert).where(Expert.code == "E0000001"))
    assert expert.status == "suspended"
    (entry,) = _pool_changes()
    assert entry["body"] == {
        "expert": "E0000001",
        "field": "status",
        "from": "active",
        "to": "suspended",
        "reason": "alert:frequency",
    }
    assert entry["actor"] == {"role": "supervisor", "id": sup.pseudonym}
    assert db.session.get(Alert, alert.id).acked_by == sup.id
    with pytest.raises(Conflict):
        alerts.suspend_expert("E0000001", "other", sup)


def test_a_failed_ledger_append_leaves_the_expert_active(app, centre, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(ledger, "append", broken)
    with pytest.raises(RuntimeError):
        alerts.suspend_expert("E0000002", "investigation", centre.users["admin"])
    db.session.expire_all()
    expert = db.session.scalar(sa.select(Expert).where(Expert.code == "E0000002"))
    assert expert.status == "active"
    assert _pool_changes() == []


def test_only_supervisors_and_admins_suspend_with_a_reason_code(app, centre):
    with pytest.raises(Forbidden):
        alerts.suspend_expert("E0000001", "other", centre.users["pm"])
    with pytest.raises(ServiceError) as info:
        alerts.suspend_expert("E0000001", "because I say so", centre.users["sup1"])
    assert info.value.code == "invalid:reason"


def test_a_conflict_declared_while_seated_is_shown_to_supervisors(app, centre):
    """Declaring a conflict takes a member off a committee of that organisation at once, so
    it tells whether the organisation is a party: each declaration made while seated raises
    ``seated-conflict``; one made by an expert on no committee raises nothing."""
    draw = run_draw(centre, "P2027-0001", c.NOW)
    seated = db.session.scalars(
        sa.select(Expert.code)
        .join(Notice, Notice.expert_id == Expert.id)
        .where(Notice.draw_id == draw.id)
        .order_by(Notice.id)
    ).first()
    # On no committee, nor an alternate who could come in when ``seated`` leaves.
    idle = next(
        code
        for code in centre.experts
        if code not in _codes_of(Member, draw.id) and code not in _codes_of(Alternate, draw.id)
    )
    unrelated = c.uscc(6)  # a registered organisation that is no party of the project
    with clock.frozen(c.NOW + timedelta(minutes=5)):
        notices.declare_conflict(c.expert_user(seated), unrelated)
        notices.declare_conflict(c.expert_user(seated), centre.bidders[0])  # a party: leaves
        notices.declare_conflict(c.expert_user(idle), centre.bidders[0])
    alerts.evaluate(c.NOW + timedelta(hours=1))
    raised = _raised("seated-conflict")
    assert set(raised) == {seated}
    assert raised[seated].detail["organisations"] == [unrelated, centre.bidders[0]]
    alerts.evaluate(c.NOW + timedelta(hours=2))  # once per evidence
    assert (
        db.session.scalar(sa.select(sa.func.count(Alert.id)).where(Alert.kind == "seated-conflict"))
        == 1
    )
    app.config["ALERT_THRESHOLDS"] = {"seated-conflict": {"count": 3}}
    db.session.execute(sa.delete(Alert))
    alerts.evaluate(c.NOW + timedelta(hours=3))
    assert _raised("seated-conflict") == {}


def _codes_of(seats: Any, draw_id: str) -> set[str]:
    """The codes of the experts in ``seats`` (members or alternates) of a draw."""
    return set(
        db.session.scalars(
            sa.select(Expert.code)
            .join(seats, seats.expert_id == Expert.id)
            .where(seats.draw_id == draw_id)
        )
    )


def test_an_expert_declares_at_most_five_conflicts_a_day(app, centre):
    """Each declaration may take the expert off a committee of that organisation, so it must
    not become a search of the parties: the sixth in 24 hours is refused and changes nothing."""
    from expertdraw.models import ExpertRelation
    from expertdraw.services.errors import TooMany

    user = c.expert_user("E0000001")
    organisations = [c.uscc(n) for n in range(10, 17)]

    def declared() -> int:
        return db.session.scalar(
            sa.select(sa.func.count(ExpertRelation.id)).where(
                ExpertRelation.expert_id == user.expert_id, ExpertRelation.kind == "declared"
            )
        )

    with clock.frozen(c.NOW):
        for uscc in organisations[:5]:
            notices.declare_conflict(user, uscc)
        notices.declare_conflict(user, organisations[0])  # already declared: no new one
        with pytest.raises(TooMany) as refused:
            notices.declare_conflict(user, organisations[5])
    db.session.rollback()
    assert refused.value.code == "rate-limited:declarations" and refused.value.http_status == 429
    assert declared() == 5
    with clock.frozen(c.NOW + timedelta(days=1, minutes=1)):
        notices.declare_conflict(user, organisations[5])
    assert declared() == 6


def test_declining_a_notice_for_a_conflict_raises_no_seated_conflict(app, centre):
    """A decline for a conflict names the organisation (rules.md) and takes the expert off
    whatever it names: it tells them nothing, so it is no probe. A declaration made while
    the expert keeps another seat still is."""
    draw = run_draw(centre, "P2027-0001", c.NOW)
    first, second = db.session.scalars(
        sa.select(Notice).where(Notice.draw_id == draw.id).order_by(Notice.id)
    ).all()[:2]
    code = db.session.scalar(sa.select(Expert.code).where(Expert.id == first.expert_id))
    with clock.frozen(c.NOW + timedelta(minutes=5)):
        notices.answer(
            c.expert_user(code),
            first.id,
            accept=False,
            reason="conflict",
            conflict_with=centre.bidders[0],
        )
    alerts.evaluate(c.NOW + timedelta(hours=1))
    assert _raised("seated-conflict") == {}
    other = db.session.scalar(sa.select(Expert.code).where(Expert.id == second.expert_id))
    with clock.frozen(c.NOW + timedelta(minutes=6)):
        notices.declare_conflict(c.expert_user(other), c.uscc(6))
    alerts.evaluate(c.NOW + timedelta(hours=2))
    assert set(_raised("seated-conflict")) == {other}
