"""One time for the whole centre: the zone of ``[reports] timezone`` cuts the days of the
reports, the draw export, the forms' dates and the draw numbers' years, and is the zone the
pages name."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from openpyxl import load_workbook

from expertdraw.extensions import db
from expertdraw.models.inspection import Report
from expertdraw.services import reports

from ..integration.inspection_helpers import run_draw

URL = "/supervisor/export/draws"


def sheets(data: bytes) -> dict[str, list[tuple[Any, ...]]]:
    book = load_workbook(io.BytesIO(data))
    return {sheet.title: list(sheet.iter_rows(values_only=True)) for sheet in book.worksheets}


def _report(kind: str, start: date) -> Report:
    return db.session.scalar(
        sa.select(Report).where(Report.kind == kind, Report.period_start == start)
    )


def test_a_month_ends_at_the_centres_midnight_in_the_report_and_the_export(app, centre, login):
    run_draw(centre, "P2027-0100", datetime(2027, 2, 28, 15, 30, tzinfo=UTC))  # 23:30 Beijing
    reports.monthly(datetime(2027, 3, 1, 1, 0, tzinfo=UTC))
    reports.daily(datetime(2027, 3, 1, 1, 0, tzinfo=UTC))
    assert _report("monthly", date(2027, 2, 1)).content["draws"]["requested"] == 1
    assert _report("daily", date(2027, 2, 28)).content["draws"]["requested"] == 1
    client = login("sup1")
    february = sheets(client.get(f"{URL}?from=2027-02-01&to=2027-02-28&lang=en").data)
    march = sheets(client.get(f"{URL}?from=2027-03-01&to=2027-03-31&lang=en").data)
    assert len(february["draws"]) == 2 and len(march["draws"]) == 1  # header and rows
    assert dict(february["about"])["Times"] == "China Standard Time (UTC+8)"


def test_another_zone_cuts_the_report_the_export_and_the_draw_number_alike(app, centre, login):
    app.config["REPORT_TIMEZONE"] = "Asia/Urumqi"  # UTC+6, as the settings file sets it
    # 23:00 on 2027-02-20 at the centre, 01:00 on the 21st in Beijing
    run_draw(centre, "P2027-0101", datetime(2027, 2, 20, 17, 0, tzinfo=UTC))
    reports.daily(datetime(2027, 2, 22, 1, 0, tzinfo=UTC))
    day = _report("daily", date(2027, 2, 20)).content
    assert day["period"]["zone"] == "Asia/Urumqi" and day["draws"]["requested"] == 1
    client = login("sup1")
    book = sheets(client.get(f"{URL}?from=2027-02-20&to=2027-02-20&lang=en").data)
    assert len(book["draws"]) - 1 == day["draws"]["requested"]
    assert dict(book["about"])["Times"] == "Asia/Urumqi (UTC+06:00)"
    page = client.get("/supervisor/draws?lang=en").get_data(as_text=True)
    assert "Times are Asia/Urumqi (UTC+06:00)." in page


def test_a_draw_on_new_years_night_is_numbered_in_the_centres_year(app, centre):
    from expertdraw.services.draws import _next_draw_id

    # 00:30 on 1 January 2028 in Beijing is still 2027 in UTC
    assert _next_draw_id(datetime(2027, 12, 31, 16, 30, tzinfo=UTC)) == "D2028-000001"
    db.session.rollback()
    assert _next_draw_id(datetime(2027, 12, 31, 15, 30, tzinfo=UTC)).startswith("D2027-")
    db.session.rollback()
