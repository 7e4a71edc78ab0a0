"""Issuing a finished period's inspection report now, from the reports page: the same report
the scheduler would issue (once per period), its progress streamed to the page's script, and
errors beside their field that issue nothing."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from expertdraw import clock
from expertdraw.extensions import db
from expertdraw.models import LedgerEntry
from expertdraw.models.inspection import Report
from expertdraw.services import reports
from expertdraw.services import reports_periods as periods
from expertdraw.web import progress

from ..integration import centre as c
from .test_progress import PROGRESS, read_stream
from .test_supervision_pages import both_languages

LATER = c.NOW + timedelta(days=3)  # 2027-02-23: 2027-02-20 and 2027-02-21 are over
DAY = "2027-02-20"


@pytest.fixture
def later(centre: c.Centre) -> Any:
    """The centre, three days after it was set up (its ledger begins on 2027-02-19)."""
    clock.set_clock(lambda: LATER)
    return centre


def issued_count() -> int:
    return db.session.scalar(sa.select(sa.func.count(Report.id))) or 0


def report_entries() -> int:
    return db.session.scalar(
        sa.select(sa.func.count(LedgerEntry.seq)).where(LedgerEntry.type == "report.issued")
    )


def test_the_reports_page_offers_to_issue_a_report_now(app, later, login):
    client = login("sup1")
    html = client.get("/supervisor/reports").get_data(as_text=True)
    assert 'action="/supervisor/reports"' in html and 'data-progress="report-progress"' in html
    assert 'value="2027-02-22"' in html  # yesterday, local time, by default
    both_languages(client, "/supervisor/reports")


def test_a_finished_day_is_issued_once(app, later, login):
    client = login("sup1")
    response = client.post("/supervisor/reports?lang=en", data={"report_kind": "daily", "day": DAY})
    assert response.status_code == 302
    report = db.session.scalar(sa.select(Report))
    assert response.location.endswith(f"/supervisor/reports/{report.id}")
    assert (report.kind, report.period_start.isoformat()) == ("daily", DAY)
    assert report_entries() == 1
    page = client.get(response.location + "?lang=en").get_data(as_text=True)
    assert f"Report {report.code} is issued." in page
    again = client.post("/supervisor/reports?lang=en", data={"report_kind": "daily", "day": DAY})
    assert again.location == response.location
    page = client.get(again.location + "?lang=en").get_data(as_text=True)
    assert f"Report {report.code} was issued already." in page
    assert issued_count() == 1 and report_entries() == 1
    # The scheduler's job finds it and issues only the other missing days.
    reports.daily(LATER)
    days = db.session.scalars(sa.select(Report.period_start).where(Report.kind == "daily"))
    assert sorted(d.isoformat() for d in days) == ["2027-02-19", DAY, "2027-02-21", "2027-02-22"]


def test_the_report_is_the_one_the_scheduler_would_issue(app, later, login):
    period = periods.containing("weekly", date(2027, 2, 18))
    expected = reports.digest(reports.build_content(period))
    db.session.rollback()
    login("sup1").post("/supervisor/reports", data={"report_kind": "weekly", "day": "2027-02-18"})
    report = db.session.scalar(sa.select(Report))
    assert (report.period_start, report.sha256) == (period.start, expected)


def test_the_progress_is_streamed_then_the_report_page(app, later, login):
    response = login("sup1").post(
        "/supervisor/reports?lang=en",
        data={"report_kind": "daily", "day": DAY},
        headers=PROGRESS,
    )
    assert response.mimetype == progress.MEDIA_TYPE
    messages, rest = read_stream(response.data)
    texts = [m["progress"]["text"] for m in messages if "progress" in m]
    assert texts == [
        "Counting the period's draws, answers and seats…",
        "Auditing the whole ledger…",
        "Recording the report in the ledger…",
    ]
    page = messages[-1]["page"]
    assert page["status"] == 200 and 'data-report-issued="new"' in page["html"]
    assert rest == b"" and issued_count() == 1


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"report_kind": "daily", "day": ""}, "day"),
        ({"report_kind": "daily", "day": "20.02.2027"}, "day"),
        ({"report_kind": "yearly", "day": DAY}, "report_kind"),
        ({"report_kind": "daily", "day": "2027-02-23"}, "day"),  # today: not over
        ({"report_kind": "monthly", "day": DAY}, "day"),  # February is not over
        ({"report_kind": "daily", "day": "2027-02-18"}, "day"),  # before the ledger
    ],
)
def test_a_bad_request_names_the_field_and_issues_nothing(app, later, login, data, field):
    response = login("sup1").post("/supervisor/reports?lang=en", data=data, headers=PROGRESS)
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and response.mimetype == "text/html"
    assert f'id="f-{field}-error"' in html and 'id="error-summary"' in html
    assert issued_count() == 0 and report_entries() == 0


def test_only_supervisors_and_administrators_issue_reports(app, later, login):
    data = {"report_kind": "daily", "day": DAY}
    for username in ("pm", "staff"):
        assert login(username).post("/supervisor/reports", data=data).status_code == 403
    assert issued_count() == 0
    assert login("admin").post("/supervisor/reports", data=data).status_code == 302


def test_a_period_not_over_is_explained_in_the_pages_language(app, later, login):
    response = login("sup1").post(
        "/supervisor/reports", data={"report_kind": "daily", "day": "2027-02-23"}, headers=PROGRESS
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "请选择一个已结束、且签名日志当时已建立的期间内的日期" in html
    assert "has not ended" not in html
