"""Supervisor's inspection pages: reports (list, one, downloads), supervision samples
(announce, witness, replay, publish) and expert-use alerts (acknowledge, suspend); who may
open them, field errors that change nothing, labelled markup in both languages, CSRF."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from expertdraw import clock, create_app
from expertdraw.extensions import db
from expertdraw.models import Expert, LedgerEntry
from expertdraw.models.inspection import Alert, Inspection, Report
from expertdraw.services import alerts, reports

from ..integration import centre as c
from .conftest import PROJECT
from .test_markup import check, data_strings


def entries(kind: str) -> int:
    return db.session.scalar(
        sa.select(sa.func.count(LedgerEntry.seq)).where(LedgerEntry.type == kind)
    )


def both_languages(client: Any, path: str) -> None:
    """The page answers 200 in Chinese and in English, labelled and translated."""
    data = data_strings()
    for lang, html_lang in (("zh", "zh-CN"), ("en", "en")):
        joiner = "&" if "?" in path else "?"
        response = client.get(f"{path}{joiner}lang={lang}")
        assert response.status_code == 200, (path, lang, response.status_code)
        check(response.get_data(as_text=True), f"{path} [{lang}]", html_lang, data)


def refused(client: Any, path: str, method: str = "get") -> bool:
    return getattr(client, method)(path).status_code == 403


@pytest.fixture
def issued(completed: dict[str, Any]) -> list[Report]:
    """Daily reports up to the day after the completed draw."""
    reports.daily(c.NOW + timedelta(days=1))
    return list(db.session.scalars(sa.select(Report).order_by(Report.period_start)))


def test_reports_are_listed_filtered_and_shown_with_their_downloads(app, issued, login):
    client = login("sup1")
    listing = client.get("/supervisor/reports").get_data(as_text=True)
    assert all(f'data-report="{r.code}"' in listing for r in issued)
    assert 'href="/supervisor/reports"' in listing  # the supervisor's menu links here
    weekly = client.get("/supervisor/reports?kind=weekly").get_data(as_text=True)
    assert "data-report=" not in weekly
    bad = client.get("/supervisor/reports?kind=yearly")
    assert bad.status_code == 422 and 'id="f-kind-error"' in bad.get_data(as_text=True)
    day = next(r for r in issued if r.content["draws"]["completed"] == 1)
    page = client.get(f"/supervisor/reports/{day.id}?lang=en").get_data(as_text=True)
    assert day.sha256 in page and 'data-audit="ok"' in page
    assert 'data-figure="draws.completed">1<' in page and "Key figures" in page
    csv = client.get(f"/supervisor/reports/{day.id}.csv")
    assert csv.mimetype == "text/csv" and csv.data.startswith("\ufeff".encode())
    assert day.code.encode() in csv.data
    xlsx = client.get(f"/supervisor/reports/{day.id}.xlsx")
    assert xlsx.mimetype.endswith("spreadsheetml.sheet") and xlsx.data[:2] == b"PK"
    assert client.get("/supervisor/reports/99999").status_code == 404
    both_languages(client, "/supervisor/reports")
    both_languages(client, f"/supervisor/reports/{day.id}")


def test_only_supervisors_and_administrators_read_reports(app, issued, login):
    expert = c.expert_user("E0000001").username
    assert login("admin").get(f"/supervisor/reports/{issued[0].id}").status_code == 200
    for name in ("pm", "staff", expert):
        client = login(name)
        assert refused(client, "/supervisor/reports")
        assert refused(client, f"/supervisor/reports/{issued[0].id}.csv")
    assert app.test_client().get("/supervisor/reports").status_code == 302


@pytest.fixture
def raised(app, completed: dict[str, Any]) -> list[Alert]:
    """Frequency alerts for the five members (threshold: one selection)."""
    app.config["ALERT_THRESHOLDS"] = {"frequency": {"count": 1}}
    found = alerts.evaluate(c.NOW + timedelta(hours=1))
    assert len(found) == 5
    return found


def test_an_alert_is_acknowledged_once(app, raised, login):
    client = login("sup1")
    page = client.get("/supervisor/alerts").get_data(as_text=True)
    assert all(f'data-alert="{a.id}"' in page for a in raised)
    first = raised[0].id
    assert client.post(f"/supervisor/alerts/{first}/ack").status_code == 302
    assert db.session.get(Alert, first).acked_at is not None
    assert f'data-alert="{first}"' not in client.get("/supervisor/alerts").get_data(as_text=True)
    assert f'data-alert="{first}"' in client.get("/supervisor/alerts?all=1").get_data(as_text=True)
    again = client.post(f"/supervisor/alerts/{first}/ack?lang=en")
    assert again.status_code == 409 and "already acknowledged" in again.get_data(as_text=True)
    assert client.post("/supervisor/alerts/99999/ack").status_code == 404
    both_languages(client, "/supervisor/alerts")
    for name in ("pm", "staff"):
        assert refused(login(name), f"/supervisor/alerts/{raised[1].id}/ack", "post")
    assert db.session.get(Alert, raised[1].id).acked_at is None


def test_suspending_from_an_alert_needs_a_reason_and_acknowledges_it(app, raised, login):
    client = login("sup1")
    alert = raised[0]
    code = alert.expert_code
    before = entries("pool.changed")
    missing = client.post(f"/supervisor/alerts/{alert.id}/suspend", data={"reason": ""})
    html = missing.get_data(as_text=True)
    assert missing.status_code == 422 and 'id="f-reason-error"' in html
    assert entries("pool.changed") == before
    assert db.session.get(Alert, alert.id).acked_at is None
    done = client.post(f"/supervisor/alerts/{alert.id}/suspend", data={"reason": "alert:frequency"})
    assert done.status_code == 302
    expert = db.session.scalar(sa.select(Expert).where(Expert.code == code))
    assert expert.status == "suspended"
    assert db.session.get(Alert, alert.id).acked_at is not None
    assert entries("pool.changed") == before + 1


def _plan(**overrides: str) -> dict[str, str]:
    day = c.NOW.date().isoformat()
    values = {
        "start": day,
        "end": day,
        "ratios": "all 1/1",
        "risk": "",
        "default_risk": "all",
        "witnesses": "2",
        "inspectors": "2",
    }
    values.update(overrides)
    return values


def test_bad_sample_plans_are_refused_field_by_field_and_announce_nothing(app, day_over, login):
    client = login("sup1")
    assert 'name="ratios"' in client.get("/supervisor/samples/new").get_data(as_text=True)
    cases = {
        "start": _plan(start="2027-13-01"),
        "ratios": _plan(ratios="all half"),
        "risk": _plan(risk="P2027-0042"),
        "default_risk": _plan(default_risk=""),
        "witnesses": _plan(witnesses="12"),
        "inspectors": _plan(inspectors="x"),
    }
    for name, form in cases.items():
        response = client.post("/supervisor/samples/new", data=form)
        html = response.get_data(as_text=True)
        assert response.status_code == 422, name
        assert f'id="f-{name}-error"' in html, name
    unknown_level = client.post("/supervisor/samples/new", data=_plan(default_risk="low"))
    assert unknown_level.status_code == 422
    assert 'id="f-default_risk-error"' in unknown_level.get_data(as_text=True)
    empty = client.post(
        "/supervisor/samples/new?lang=en", data=_plan(start="2027-01-01", end="2027-01-02")
    )
    assert empty.status_code == 422
    assert "No project had its committee drawn" in empty.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(Inspection.id))) == 0
    assert entries("inspection.announced") == 0


def test_a_sample_is_announced_witnessed_replayed_and_published(app, day_over, login):
    sup1, sup2, admin = login("sup1"), login("sup2"), login("admin")
    both_languages(sup1, "/supervisor/samples/new")
    created = sup1.post("/supervisor/samples/new", data=_plan())
    assert created.status_code == 302
    sample = db.session.scalars(sa.select(Inspection)).one()
    assert created.location.endswith(f"/supervisor/samples/{sample.id}")
    assert entries("inspection.announced") == 1
    page = sup1.get(f"/supervisor/samples/{sample.id}").get_data(as_text=True)
    assert sample.commitment in page and 'name="value"' in page
    assert sup1.post(f"/supervisor/samples/{sample.id}/witness", data={"value": "7"}).status_code
    again = sup1.post(f"/supervisor/samples/{sample.id}/witness?lang=en", data={"value": "8"})
    assert again.status_code == 409
    assert "already entered your witness value for this sample" in again.get_data(as_text=True)
    blank = sup2.post(f"/supervisor/samples/{sample.id}/witness", data={"value": " "})
    assert blank.status_code == 422 and 'id="f-value-error"' in blank.get_data(as_text=True)
    assert refused(admin, f"/supervisor/samples/{sample.id}/witness", "post")
    sup2.post(f"/supervisor/samples/{sample.id}/witness", data={"value": "zt"})
    db.session.expire_all()
    assert db.session.get(Inspection, sample.id).state == "drawn"
    drawn = sup2.get(f"/supervisor/samples/{sample.id}").get_data(as_text=True)
    assert 'data-sample-state="drawn"' in drawn and f"<code>{PROJECT}</code>" in drawn
    assert "data-seed" in drawn
    verdict = admin.get(f"/supervisor/samples/{sample.id}/replay?lang=en").get_data(as_text=True)
    assert 'data-replay="match"' in verdict
    assert refused(admin, f"/supervisor/samples/{sample.id}/publish", "post")
    assert sup1.post(f"/supervisor/samples/{sample.id}/publish").status_code == 302
    db.session.expire_all()
    assert db.session.get(Inspection, sample.id).published_at is not None
    assert 'data-published="yes"' in sup1.get(f"/supervisor/samples/{sample.id}").get_data(
        as_text=True
    )
    both_languages(sup1, "/supervisor/samples")
    both_languages(sup1, f"/supervisor/samples/{sample.id}")


def test_only_supervisors_announce_samples_and_others_do_not_see_them(app, completed, login):
    assert refused(login("admin"), "/supervisor/samples/new")
    assert login("admin").get("/supervisor/samples").status_code == 200
    for name in ("pm", "staff"):
        assert refused(login(name), "/supervisor/samples")
        assert refused(login(name), "/supervisor/samples/new", "post")


@pytest.fixture
def csrf_client(app_config: dict[str, Any]) -> Iterator[Any]:
    """A supervisor's client of the app with CSRF protection on."""
    from .conftest import PASSWORD, csrf_of

    application = create_app({**app_config, "WTF_CSRF_ENABLED": True})
    with application.app_context():
        with clock.frozen(c.NOW):
            c.build()
        client = application.test_client()
        token = csrf_of(client.get("/login").get_data(as_text=True))
        client.post("/login", data={"username": "sup1", "password": PASSWORD, "csrf_token": token})
        yield client
        db.session.remove()
        db.engine.dispose()


def test_the_new_forms_refuse_posts_without_the_csrf_token(csrf_client):
    for path in (
        "/supervisor/samples/new",
        "/supervisor/samples/I2027-000001/witness",
        "/supervisor/samples/I2027-000001/publish",
        "/supervisor/alerts/1/ack",
        "/supervisor/alerts/1/suspend",
        "/supervisor/ledger/cosign",
        "/supervisor/draws/D2027-000001/lottery",
        "/supervisor/draws/D2027-000001/beacon",
        "/manager/projects/P/bidders",
        "/expert/leave",
        "/expert/leave/1/cancel",
    ):
        assert csrf_client.post(path, data={"x": "1"}).status_code == 400, path
    assert csrf_client.get("/supervisor/samples").status_code == 200


def test_another_plan_for_a_sampled_period_is_refused_however_close(app, day_over, login):
    """Only the very same form lands on its sample: a changed plan for the same period a
    moment later is refused (one sample per period), not silently dropped; the same form
    again shows the sample it announced."""
    sup1 = login("sup1")
    first = sup1.post("/supervisor/samples/new", data=_plan())
    assert first.status_code == 302
    again = sup1.post("/supervisor/samples/new", data=_plan())
    assert again.status_code == 302 and again.location == first.location
    other = sup1.post("/supervisor/samples/new", data=_plan(witnesses="1", inspectors="1"))
    assert other.status_code == 409
    assert entries("inspection.announced") == 1


def test_a_day_not_over_is_not_sampled(app, completed, login):
    response = login("sup1").post("/supervisor/samples/new?lang=en", data=_plan())
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="f-end-error"' in html and "once its period is over" in html
    assert entries("inspection.announced") == 0
