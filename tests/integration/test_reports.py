"""Inspection reports: local-day periods, numbers recomputed from the ledger, idempotent jobs,
XLSX and CSV exports, the ledger audit and the checkpoint chain between reports."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from expertdraw import clock
from expertdraw.extensions import db
from expertdraw.models import LedgerEntry, Notice, Venue
from expertdraw.models.inspection import Report
from expertdraw.services import (
    draws,
    notices,
    places,
    projects,
    reports,
    reports_experts,
    reports_export,
)
from expertdraw.services import reports_periods as periods
from expertdraw.services.reports_periods import Period

from . import centre as c
from .inspection_helpers import run_draw, spec

SHANGHAI = ZoneInfo("Asia/Shanghai")
JUST_BEFORE_MIDNIGHT = datetime(2027, 2, 20, 15, 59, 59, 999000, tzinfo=UTC)  # 23:59:59.999
MIDNIGHT = datetime(2027, 2, 20, 16, 0, tzinfo=UTC)  # 2027-02-21 00:00 in Beijing
LATER = datetime(2027, 2, 22, 1, 0, tzinfo=UTC)  # 09:00 on the 22nd


@pytest.fixture
def centre(app):
    with clock.frozen(c.NOW):
        return c.build()


def _report(kind: str, start: date) -> Report:
    report = db.session.scalar(
        sa.select(Report).where(Report.kind == kind, Report.period_start == start)
    )
    assert report is not None, f"no {kind} report for {start}"
    return report


def test_the_daily_report_covers_exactly_the_local_day(centre):
    run_draw(centre, "P2027-0001", JUST_BEFORE_MIDNIGHT)
    run_draw(centre, "P2027-0002", MIDNIGHT)
    issued = reports.daily(LATER)
    # the log was created on the 19th (10:00 local); yesterday is the 21st
    assert issued == ["daily-2027-02-19", "daily-2027-02-20", "daily-2027-02-21"]
    day20 = _report("daily", date(2027, 2, 20)).content
    day21 = _report("daily", date(2027, 2, 21)).content
    assert day20["period"]["from"] == "2027-02-19T16:00:00.000Z"
    assert day20["period"]["until"] == "2027-02-20T16:00:00.000Z"
    assert day20["draws"]["requested"] == day20["draws"]["completed"] == 1
    assert day21["draws"]["requested"] == day21["draws"]["completed"] == 1
    assert day20["notices"]["sent"] == day21["notices"]["sent"] == 5
    assert _report("daily", date(2027, 2, 19)).content["draws"]["requested"] == 0
    # Reports issued late (here by catch-up) say when the pool and the venues were counted.
    for section in ("stale_data", "venues"):
        assert day20[section]["as_of"] == "2027-02-22T01:00:00.000Z"


def _ledger_counts(day: date) -> Counter:
    """Entries per type whose time falls on local ``day``, read independently of the service."""
    counts: Counter = Counter()
    for record in db.session.scalars(sa.select(LedgerEntry.record)):
        entry = json.loads(record)["entry"]
        moment = datetime.strptime(entry["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        if moment.astimezone(SHANGHAI).date() != day:
            continue
        counts[entry["type"]] += 1
        if entry["type"] == "notice.answered":
            counts["answer:" + entry["body"]["answer"]] += 1
    return counts


def test_report_numbers_equal_numbers_recomputed_from_the_ledger(centre):
    first = run_draw(centre, "P2027-0001", c.NOW)
    pm, sup1 = centre.users["pm"], centre.users["sup1"]
    with clock.frozen(c.NOW + timedelta(minutes=1)):
        pending = db.session.scalars(
            sa.select(Notice).where(Notice.draw_id == first.id).order_by(Notice.id)
        ).all()
        codes = [
            db.session.scalar(sa.text("SELECT code FROM experts WHERE id = :i"), {"i": n.expert_id})
            for n in pending[:2]
        ]
        notices.answer(c.expert_user(codes[0]), pending[0].id, accept=True)
        notices.answer(c.expert_user(codes[1]), pending[1].id, accept=False, reason="ill")
    with clock.frozen(c.NOW + timedelta(hours=2)):
        notices.expire_overdue(c.NOW + timedelta(hours=2))
        project = projects.create_project(spec(centre, "P2027-0002"), pm)
        announced = draws.announce(project, pm, {"kind": "witness", "witnesses": 2})
        draws.fail(announced, "cancelled", sup1)
    reports.daily(LATER)
    day = c.NOW.astimezone(SHANGHAI).date()
    content = _report("daily", day).content
    counts = _ledger_counts(day)
    assert content["draws"]["requested"] == counts["draw.announced"] >= 2
    assert content["draws"]["completed"] == counts["draw.completed"]
    # the cancelled draw, and supplementary draws superseded while the timeouts ran
    assert content["draws"]["failed"] == counts["draw.failed"] >= 1
    reasons = content["draws"]["failure_reasons"]
    assert reasons["cancelled"] == 1 and set(reasons) <= {"cancelled", "superseded"}
    assert sum(reasons.values()) == counts["draw.failed"]
    assert content["replacements"]["count"] == counts["draw.replaced"] > 1
    assert content["notices"]["sent"] == counts["notice.sent"]
    assert content["notices"]["answered"] == counts["notice.answered"]
    for answer in ("accepted", "declined", "timeout"):
        assert content["notices"][answer] == counts["answer:" + answer]
    assert content["notices"]["refusal_rate"] == (
        f"{counts['answer:declined']}/{counts['notice.answered']}"
    )
    assert content["replacements"]["rate"] == (f"{counts['draw.replaced']}/{counts['notice.sent']}")
    assert content["ledger"]["audit"]["ok"], content["ledger"]["audit"]["problems"]


def test_running_the_jobs_twice_issues_each_report_once(centre):
    run_draw(centre, "P2027-0001", c.NOW)
    assert reports.daily(LATER)
    assert reports.daily(LATER) == []
    assert reports.daily(LATER + timedelta(hours=1)) == []
    weekly = reports.weekly(datetime(2027, 3, 1, 1, 0, tzinfo=UTC))  # a Monday, 09:00 local
    assert weekly == ["weekly-2027-02-15", "weekly-2027-02-22"]
    assert reports.weekly(datetime(2027, 3, 1, 2, 0, tzinfo=UTC)) == []
    assert reports.monthly(datetime(2027, 3, 1, 1, 0, tzinfo=UTC)) == ["monthly-2027-02-01"]
    issued = list(
        db.session.scalars(sa.select(LedgerEntry.record).where(LedgerEntry.type == "report.issued"))
    )
    rows = db.session.scalars(sa.select(Report)).all()
    assert len(issued) == len(rows) == 3 + 2 + 1
    bodies = {json.loads(r)["entry"]["body"]["report"]: json.loads(r)["entry"] for r in issued}
    for report in rows:
        body = bodies[report.code]["body"]
        assert body == {
            "report": report.code,
            "kind": report.kind,
            "period": Period(report.kind, report.period_start, report.period_end).label,
            "sha256": reports.digest(report.content),
        }
        assert report.sha256 == body["sha256"]
        assert bodies[report.code]["actor"] == {"role": "system", "id": "scheduler"}


def test_each_report_checks_its_checkpoint_against_the_previous_one(centre):
    run_draw(centre, "P2027-0001", c.NOW)
    reports.daily(LATER)
    first = _report("daily", date(2027, 2, 19)).content["ledger"]
    second = _report("daily", date(2027, 2, 20)).content["ledger"]
    assert first["consistency"]["ok"] is None  # nothing to compare with
    assert second["consistency"]["ok"] is True
    assert second["consistency"]["previous_size"] == first["checkpoint"]["size"]
    assert second["checkpoint"]["size"] > first["checkpoint"]["size"]
    assert second["audit"]["ok"] and second["audit"]["entries"] > 0


def test_a_checkpoint_that_does_not_extend_the_previous_one_is_reported(centre):
    from expertdraw.services.reports_audit import checkpoint_before, consistent

    run_draw(centre, "P2027-0001", c.NOW)
    current = checkpoint_before(LATER)
    forged = {"size": 2, "root": "ab" * 32}
    assert consistent(forged, current)["ok"] is False
    assert consistent({"size": current.size, "root": current.root}, current)["ok"] is True


def test_xlsx_and_csv_exports_round_trip_the_numbers(centre):
    run_draw(centre, "P2027-0001", c.NOW)
    reports.daily(LATER)
    report = _report("daily", c.NOW.astimezone(SHANGHAI).date())
    expected = dict(reports_export.rows_of(report))
    assert expected["draws.requested"] == 1 and expected["notices.sent"] == 5
    sheet = load_workbook(io.BytesIO(reports_export.to_xlsx(report)))["report"]
    cells = list(sheet.iter_rows(values_only=True))
    assert cells[0] == ("metric", "value")
    assert {m: ("" if v is None else v) for m, v in cells[1:]} == expected
    text = reports_export.to_csv(report).decode("utf-8-sig")
    parsed = list(csv.reader(io.StringIO(text)))
    assert parsed[0] == ["metric", "value"]
    assert dict(parsed[1:]) == {m: str(v) for m, v in expected.items()}


def test_formula_like_text_is_defused_in_exports(centre):
    reports.daily(LATER)
    report = _report("daily", date(2027, 2, 19))
    report.content = {**report.content, "note": "=HYPERLINK(1)"}
    assert "'=HYPERLINK(1)" in reports_export.to_csv(report).decode("utf-8-sig")
    sheet = load_workbook(io.BytesIO(reports_export.to_xlsx(report)))["report"]
    values = [row[1] for row in sheet.iter_rows(values_only=True)]
    assert "'=HYPERLINK(1)" in values
    db.session.rollback()


def _expert_code(expert_id: int) -> str:
    return db.session.scalar(sa.text("SELECT code FROM experts WHERE id = :i"), {"i": expert_id})


def test_median_confirmation_counts_committees_whose_members_all_accepted(centre):
    first = run_draw(centre, "P2027-0001", c.NOW)
    run_draw(centre, "P2027-0002", c.NOW)  # never confirmed: not counted
    pending = db.session.scalars(
        sa.select(Notice).where(Notice.draw_id == first.id).order_by(Notice.id)
    ).all()
    for minutes, notice in enumerate(pending, start=6):
        with clock.frozen(c.NOW + timedelta(minutes=minutes)):
            notices.answer(c.expert_user(_expert_code(notice.expert_id)), notice.id, accept=True)
    reports.daily(LATER)
    content = _report("daily", c.NOW.astimezone(SHANGHAI).date()).content
    last_answer = 5 + len(pending)
    assert content["confirmation"] == {"committees": 1, "median_seconds": last_answer * 60}
    assert content["notices"]["accepted"] == len(pending) == 5


def test_a_report_replays_the_draws_and_samples_of_its_period(centre):
    """The report's ledger check replays what the period's entries recorded: each committee
    with a result in it, and each sample drawn in it; a drawn sample whose projects its seed
    does not give fails the report's audit, as it fails a supervisor's own replay."""
    from expertdraw.domain import sampling as method
    from expertdraw.services import ledger, sampling
    from expertdraw.services.users import create_user

    run_draw(centre, "P2027-0001", JUST_BEFORE_MIDNIGHT - timedelta(hours=1))
    run_draw(centre, "P2027-0002", JUST_BEFORE_MIDNIGHT)
    for name in ("sup3", "sup4"):  # the draws' two witnesses inspect neither
        create_user(name, "correct horse battery", "supervisor")
    db.session.commit()
    with clock.frozen(MIDNIGHT + timedelta(hours=1)):  # the 20th is over: it can be sampled
        inspection = sampling.announce(
            centre.users["sup1"],
            start=date(2027, 2, 20),
            end=date(2027, 2, 20),
            ratios={"low": "1/2"},
            witnesses=2,
        )
    record = db.session.scalar(
        sa.select(LedgerEntry.record)
        .where(LedgerEntry.type == "inspection.announced")
        .order_by(LedgerEntry.seq.desc())
    )
    announced = json.loads(record)["entry"]["body"]
    body = method.drawn_body(announced["plan"], bytes.fromhex(inspection.secret), ["a", "b"])
    everyone = sorted(p for level in announced["plan"]["levels"] for p in level["projects"])
    body["targets"] = [{**target, "projects": everyone} for target in body["targets"]]
    with clock.frozen(MIDNIGHT + timedelta(hours=2)):
        ledger.append("inspection.drawn", body, {"role": "supervisor", "id": "U0001"})
        ledger.issue_checkpoint()
        db.session.commit()
    reports.daily(LATER)
    day20 = _report("daily", date(2027, 2, 20)).content["ledger"]["audit"]
    day21 = _report("daily", date(2027, 2, 21)).content["ledger"]["audit"]
    assert day20["ok"] and day20["replayed"] == {"draws": 2, "samples": 0}
    assert day21["replayed"] == {"draws": 0, "samples": 1}
    assert not day21["ok"]
    assert [p.split(":")[:2] for p in day21["problems"]] == [["replay", f"sample {inspection.id}"]]


def test_utilisation_counts_the_seats_of_closed_places_that_still_hold_bookings(centre):
    """Booked seats stay booked when their venues close: the day's utilisation counts those
    workstations on both sides of its share (five members booked eight hours each on 1 March,
    every venue then closed: 2,400 of 2,400 minutes, not 2,400 of none)."""
    run_draw(centre, "P2027-0001", c.NOW)
    with clock.frozen(c.NOW + timedelta(hours=1)):
        open_before = reports.issue(
            periods.containing("daily", date(2027, 3, 1)), datetime(2027, 3, 2, 1, tzinfo=UTC)
        )[0].content["venues"]
        for venue in db.session.scalars(sa.select(Venue.id)).all():
            places.set_in_service("venue", venue, False)
    begin = datetime(2027, 3, 1, tzinfo=SHANGHAI)
    closed = reports_experts.venue_utilisation(begin, begin + timedelta(days=1))
    assert open_before["booked_workstation_minutes"] == 5 * 8 * 60
    assert open_before["workstations"] > 5
    assert closed == {
        "workstations": 5,
        "booked_workstation_minutes": 2400,
        "available_workstation_minutes": 5 * 24 * 60,
        "utilisation": "2400/7200",
    }
