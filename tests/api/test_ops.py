"""Operations endpoints: /health and /metrics; the inspection API's roles and exports."""

from __future__ import annotations

import base64
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook

from expertdraw import clock, create_app
from expertdraw.extensions import db
from expertdraw.services import auth as auth_service
from expertdraw.services import ledger, reports

from ..integration import centre as c
from .conftest import ApiClient, assert_problem

LATER = datetime(2027, 2, 22, 1, 0, tzinfo=UTC)


def _create_log(at: datetime | None = None) -> None:
    ledger.create_log(at)
    db.session.commit()


def test_health_is_ok_with_a_fresh_checkpoint(app, client):
    _create_log()
    response = client.get("/health")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["status"] == "ok" and body["database"] and body["signing_key"]
    assert body["checkpoint"]["size"] == 1 and body["checkpoint"]["behind"] == 0
    assert 0 <= body["checkpoint"]["age_seconds"] < 60
    assert body["scheduler"] == {"leader": None, "lease": "never-taken"}
    assert response.headers["Cache-Control"] == "no-store"


def test_health_names_the_scheduler_leader(app, client):
    from expertdraw.services import leases

    _create_log()
    leases.acquire("scheduler", "host-a:123", 30)
    body = client.get("/health").get_json()
    assert body["scheduler"]["leader"] == "host-a:123"
    assert body["scheduler"]["lease"] == "held"


def test_in_production_only_the_operators_token_names_the_leader(app, client):
    from expertdraw.services import leases

    _create_log()
    leases.acquire("scheduler", "host-a:123", 30)
    app.config["PRODUCTION"] = True
    assert client.get("/health").get_json()["scheduler"]["leader"] == "hidden"
    app.config["METRICS_TOKEN"] = "operators-token"
    assert client.get("/health").get_json()["scheduler"]["leader"] == "hidden"
    told = client.get("/health", headers={"Authorization": "Bearer operators-token"})
    assert told.get_json()["scheduler"] == {"leader": "host-a:123", "lease": "held", "epoch": 1}


def test_health_fails_when_the_log_has_no_key(app, client):
    response = client.get("/health")
    assert response.status_code == 503
    assert response.get_json()["signing_key"] is False


def test_health_fails_when_checkpoints_stop_while_entries_arrive(app, client):
    start = datetime.now(UTC) - timedelta(hours=1)
    _create_log(start)
    ledger.append(
        "pool.changed",
        {
            "expert": "E0000001",
            "field": "status",
            "from": "active",
            "to": "suspended",
            "reason": "x",
        },
        dict(ledger.SYSTEM),
        now=start,
    )
    db.session.commit()
    response = client.get("/health")
    assert response.status_code == 503
    assert response.get_json()["checkpoint"]["overdue"] is True


def test_health_is_503_when_the_database_is_unreachable(tmp_path: Path):
    instance = tmp_path / "instance"
    instance.mkdir()
    broken = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://postgres@127.0.0.1:1/nothing",
            "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"connect_timeout": 2}},
            "INSTANCE_PATH": str(instance),
            "SECRET_KEY": "test-secret",
            "SCHEDULER_ENABLED": False,
            # A deployment has its data key; without one, and no database to tell whether
            # it holds personal data, the service would refuse to start (personal_data).
            "DATA_KEY": base64.b64encode(bytes(32)).decode(),
        }
    )
    with broken.app_context():
        response = broken.test_client().get("/health")
        assert response.status_code == 503
        assert response.get_json() == {"status": "unavailable", "database": False}
        metrics = broken.test_client().get("/metrics")
        assert metrics.status_code == 200
        assert "expertdraw_database_up 0.0" in metrics.get_data(as_text=True)
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def centre(app):
    with clock.frozen(c.NOW):
        return c.build()


def test_metrics_expose_the_counts_and_counters(app, client, centre):
    reports.daily(LATER)
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    for line in (
        "expertdraw_database_up 1.0",
        'expertdraw_draws{state="completed"} 0.0',
        'expertdraw_notices{status="pending"} 0.0',
        "expertdraw_ledger_entries 4.0",  # log.created and three daily reports
        "expertdraw_alerts_open 0.0",
    ):
        assert line in text, line
    assert 'expertdraw_reports_issued_total{kind="daily"}' in text
    assert "# TYPE expertdraw_reports_issued_total counter" in text
    assert "# TYPE expertdraw_job_runs gauge" in text


def test_metrics_can_require_a_token(app, client):
    app.config["METRICS_TOKEN"] = "s3cret"
    assert client.get("/metrics").status_code == 401
    response = client.get("/metrics", headers={"Authorization": "Bearer s3cret"})
    assert response.status_code == 200


def test_production_keeps_metrics_closed_without_a_token_and_asks_for_https(app, client):
    app.config["PRODUCTION"] = True
    response = client.get("/metrics")
    assert response.status_code == 401
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def _as(app, user) -> ApiClient:
    _, token = auth_service.issue_token(user, label="ops test")
    return ApiClient(app.test_client(), token)


def test_supervisors_read_and_export_reports(app, centre):
    reports.daily(LATER)
    sup, admin, pm = (_as(app, centre.users[u]) for u in ("sup1", "admin", "pm"))
    listing = sup.get("/api/v1/reports?kind=daily").get_json()
    assert listing["total"] == 3
    newest = listing["items"][0]
    assert newest["code"] == "daily-2027-02-21"
    report = sup.get(f"/api/v1/reports/{newest['id']}").get_json()
    assert report["content"]["period"]["label"] == "2027-02-21"
    xlsx = admin.get(f"/api/v1/reports/{newest['id']}/xlsx")
    assert xlsx.status_code == 200
    assert 'filename="daily-2027-02-21.xlsx"' in xlsx.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(xlsx.data))["report"]
    values = dict(sheet.iter_rows(min_row=2, values_only=True))
    assert values["report.sha256"] == newest["sha256"]
    csv = sup.get(f"/api/v1/reports/{newest['id']}/csv")
    assert csv.mimetype == "text/csv" and newest["sha256"] in csv.get_data(as_text=True)
    assert_problem(pm.get("/api/v1/reports"), 403, "auth:forbidden")


def test_suspending_an_expert_through_the_api(api, users, app):
    _create_log()
    response = api("supervisor").post(
        "/api/v1/experts/E0000001/suspend", json={"reason": "investigation"}
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"code": "E0000001", "status": "suspended"}
    again = api("admin").post("/api/v1/experts/E0000001/suspend", json={"reason": "other"})
    assert_problem(again, 409, "conflict:status")
    bad = api("admin").post("/api/v1/experts/E0000001/suspend", json={"reason": "gossip"})
    assert_problem(bad, 422, "invalid:reason")
    assert_problem(
        api("project_manager").post("/api/v1/experts/E0000001/suspend", json={"reason": "other"}),
        403,
        "auth:forbidden",
    )
