"""The rules in effect recorded in the ledger whenever they change (rules.md: every number is
a default a deployment can change in configuration; each change is itself a ledger entry).
On both databases."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from expertdraw import clock
from expertdraw.extensions import db
from expertdraw.models import LedgerEntry
from expertdraw.services import draws, export, ledger, projects, reports, rules_record
from tests.verifier import run_verifier

from . import centre as c


def _entries() -> list[tuple[int, str, dict]]:
    rows = db.session.execute(
        sa.select(LedgerEntry.seq, LedgerEntry.type, LedgerEntry.record).order_by(LedgerEntry.seq)
    )
    return [(seq, kind, json.loads(record)["entry"]["body"]) for seq, kind, record in rows]


def _rules_entries() -> list[tuple[int, dict]]:
    return [(seq, body) for seq, kind, body in _entries() if kind == "rules.changed"]


def _announce(centre: c.Centre, code: str, minutes: int = 0):
    with clock.frozen(c.NOW + timedelta(minutes=minutes)):
        project = projects.create_project(c.project_spec(centre, code), centre.users["pm"])
        return draws.announce(project, centre.users["pm"], {"kind": "witness", "witnesses": 1})


def test_the_defaults_need_no_record(app):
    """With rules.md's defaults nothing is recorded: they are in effect until a record."""
    with clock.frozen(c.NOW):
        centre = c.build()
    _announce(centre, "P-DEF")
    assert _rules_entries() == []
    assert rules_record.recorded() == (None, rules_record.defaults())
    assert rules_record.in_effect() == rules_record.defaults()


def test_a_change_is_recorded_once_before_the_draw_it_governs(app, tmp_path):
    """A changed limit is recorded before the next announcement, once; a later change names
    only its own keys and the record it replaces; a return to the defaults is a change too.
    The bundle audits and replays with the entries in it."""
    with clock.frozen(c.NOW):
        centre = c.build()
    app.config["ELIGIBILITY_RULES"] = {"frequency_limit": 3}
    first = _announce(centre, "P-R1")
    [(seq1, body1)] = _rules_entries()
    assert body1["changed"] == ["eligibility.frequency_limit"]
    assert body1["previous"] is None
    assert body1["rules"]["eligibility"]["frequency_limit"] == 3
    assert body1["rules"] == rules_record.in_effect()
    announced = [seq for seq, kind, body in _entries() if kind == "draw.announced"]
    assert announced == [seq1 + 1]  # recorded in the announcement's own transaction
    assert ledger.entry_body("draw.announced", first.id)["draw"] == first.id

    _announce(centre, "P-R2", minutes=1)
    assert len(_rules_entries()) == 1  # unchanged: no second record

    app.config["ALERT_THRESHOLDS"] = {"refusal-rate": {"ratio": "2/3"}}
    app.config["SUPPLEMENTARY_RETRIES"] = 5
    _announce(centre, "P-R3", minutes=2)
    (_, _), (seq2, body2) = _rules_entries()
    assert body2["changed"] == ["alerts.refusal-rate.ratio", "supplementary_retries"]
    assert body2["previous"] == seq1
    assert body2["rules"]["eligibility"]["frequency_limit"] == 3

    app.config["ELIGIBILITY_RULES"] = {}
    app.config["ALERT_THRESHOLDS"] = {}
    app.config["SUPPLEMENTARY_RETRIES"] = 3
    _announce(centre, "P-R4", minutes=3)
    *_, (_, body3) = _rules_entries()
    assert body3["rules"] == rules_record.defaults()
    assert body3["previous"] == seq2
    assert set(body3["changed"]) == {
        "eligibility.frequency_limit",
        "alerts.refusal-rate.ratio",
        "supplementary_retries",
    }
    bundle = tmp_path / "bundle"
    export.write_bundle(bundle)
    verdict = run_verifier(bundle, "--entry-signatures")
    assert verdict.returncode == 0, verdict.stdout + verdict.stderr


def test_a_failed_announcement_records_nothing(app, monkeypatch):
    """The record belongs to the announcement's transaction: when the announcement fails
    after both entries were appended (its checkpoint cannot be signed), neither stays."""
    with clock.frozen(c.NOW):
        centre = c.build()
        project = projects.create_project(c.project_spec(centre, "P-FAIL"), centre.users["pm"])
    app.config["ELIGIBILITY_RULES"] = {"stale_days": 200}
    size = ledger.size()

    def refuse(*args, **kwargs):
        raise RuntimeError("the signing key is unavailable")

    monkeypatch.setattr(ledger, "issue_checkpoint", refuse)
    with clock.frozen(c.NOW), pytest.raises(RuntimeError):
        draws.announce(project, centre.users["pm"], {"kind": "witness", "witnesses": 1})
    assert ledger.size() == size
    assert _rules_entries() == []
    monkeypatch.undo()
    _announce(centre, "P-AFTER")
    [(_, body)] = _rules_entries()
    assert body["changed"] == ["eligibility.stale_days"]


def test_a_report_records_changed_thresholds(app):
    """Reports apply the alert thresholds: a report issued under changed ones records them."""
    with clock.frozen(c.NOW):
        c.build()
    app.config["ALERT_THRESHOLDS"] = {"no-show": {"count": 2}}
    later = c.NOW + timedelta(days=2)
    period = reports.requested_period("daily", (c.NOW + timedelta(days=1)).date(), later)
    with clock.frozen(later):
        report, issued = reports.issue(period, later)
    assert issued
    [(seq, body)] = _rules_entries()
    assert body["changed"] == ["alerts.no-show.count"]
    assert seq < report.ledger_seq


def test_the_rules_command_shows_and_records(app, runner):
    with clock.frozen(c.NOW):
        c.build()
    app.config["ELIGIBILITY_RULES"] = {"region_policy": "exclude-county"}
    shown = runner.invoke(args=["rules"])
    assert shown.exit_code == 0, shown.output
    assert '"region_policy": "exclude-county"' in shown.output
    assert "not yet recorded; changed since the ledger's record: eligibility.region_policy" in (
        shown.output
    )
    assert _rules_entries() == []
    recorded = runner.invoke(args=["rules", "--record"])
    assert recorded.exit_code == 0, recorded.output
    [(seq, _)] = _rules_entries()
    assert f"rules.changed recorded at seq {seq}: eligibility.region_policy" in recorded.output
    assert ledger.latest_checkpoint().size == seq + 1  # covered at once
    again = runner.invoke(args=["rules"])
    assert f"recorded in the ledger at seq {seq}" in again.output
    app.config["ELIGIBILITY_RULES"] = {}
    back = runner.invoke(args=["rules"])
    assert "changed since the ledger's record: eligibility.region_policy" in back.output


def test_the_report_settings_are_recorded_and_set_the_jobs_time_zone(app):
    """The time zone that decides the reports' days, and how far back the jobs look, are
    rules like the others: changed, they are recorded before the next draw; and the report
    jobs fire at that zone's midnight."""
    from expertdraw.jobs import job_specs

    with clock.frozen(c.NOW):
        centre = c.build()
    app.config["REPORT_TIMEZONE"] = "Asia/Urumqi"
    app.config["REPORT_LOOKBACK"] = {"daily": 30}
    _announce(centre, "P-REP")
    [(_, body)] = _rules_entries()
    assert body["changed"] == ["reports.lookback.daily", "reports.timezone"]
    assert body["rules"]["reports"]["timezone"] == "Asia/Urumqi"
    specs = {spec.name: spec for spec in job_specs(app.config)}
    assert str(specs["daily-report"].trigger.timezone) == "Asia/Urumqi"
