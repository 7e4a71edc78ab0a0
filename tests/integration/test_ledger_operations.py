"""The ledger in operation: a replacing insert meets the append-only guard, a whole-log export
ends with a checkpoint while writes go on, and the checkpoint job keeps its period."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from expertdraw.domain.bundle import audit_bundle
from expertdraw.extensions import db
from expertdraw.models import LedgerEntry
from expertdraw.services import export, ledger

from .test_ledger_service import ACTOR, _change


@pytest.fixture
def log(app):
    ledger.create_log()
    db.session.commit()
    return app


def test_the_append_only_guard_also_refuses_a_replacing_insert(log):
    """An insert that replaces a signed entry meets the append-only guard: SQLite's INSERT OR
    REPLACE deletes the row it replaces (with recursive triggers on, the delete meets the
    guard), PostgreSQL's INSERT ... ON CONFLICT DO UPDATE updates it."""
    ledger.append("pool.changed", _change(1), ACTOR)
    ledger.issue_checkpoint()
    db.session.commit()
    before = db.session.scalar(sa.select(LedgerEntry.record).where(LedgerEntry.seq == 1))
    forged = before.replace("E0000001", "E0000666")
    db.session.rollback()  # end the session's (IMMEDIATE) transaction
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), db.engine.begin() as conn:
        columns = "(seq, type, time, leaf, key_id, record)"
        copy = "SELECT seq, type, time, leaf, key_id, :record FROM ledger_entries WHERE seq = 1"
        if conn.dialect.name == "sqlite":
            replacing = f"INSERT OR REPLACE INTO ledger_entries {columns} {copy}"
        else:
            replacing = (
                f"INSERT INTO ledger_entries {columns} {copy} "
                "ON CONFLICT (seq) DO UPDATE SET record = EXCLUDED.record"
            )
        conn.execute(sa.text(replacing), {"record": forged})
    db.session.expire_all()
    assert db.session.scalar(sa.select(LedgerEntry.record).where(LedgerEntry.seq == 1)) == before


def test_a_whole_log_export_ends_with_a_checkpoint_while_writes_go_on(log, tmp_path, monkeypatch):
    """Another writer commits an entry right after the export's checkpoint over the tail: the
    export stops at that checkpoint, so it ends covered (the entry waits for the next one)."""
    ledger.append("pool.changed", _change(1), ACTOR)
    db.session.commit()
    cover = export._cover_tail

    def cover_then_another_writer_commits() -> int:
        covered = cover()
        ledger.append("pool.changed", _change(2), ACTOR)  # another process's write, committed
        db.session.commit()
        return covered

    monkeypatch.setattr(export, "_cover_tail", cover_then_another_writer_commits)
    export.write_bundle(tmp_path / "bundle")
    report = audit_bundle(tmp_path / "bundle", entry_signatures=True)
    assert report.ok, [str(p) for p in report.problems]
    last = json.loads((tmp_path / "bundle" / "entries.jsonl").read_text().splitlines()[-1])
    assert report.summary["uncovered_tail"] == 0, (last["entry"]["seq"], report.summary)
    assert last["entry"]["seq"] == ledger.size() - 2  # the other writer's entry is not in it


def test_the_checkpoint_job_leaves_no_more_than_its_interval_without_a_checkpoint(log):
    """ledger.md §4: a checkpoint SHOULD be issued at least every 5 minutes while entries
    arrive. The job runs every CHECKPOINT_INTERVAL_SECONDS (300 s, jobs.py): a checkpoint a
    draw issued 10 s after one run does not make the next run skip the entries since."""
    from datetime import timedelta

    from expertdraw import clock

    interval = timedelta(seconds=log.config["CHECKPOINT_INTERVAL_SECONDS"])
    assert interval == timedelta(minutes=5)
    run = clock.now() + timedelta(days=1)  # a run of the job; the next is at run + interval
    ledger.append("pool.changed", _change(1), ACTOR, now=run + timedelta(seconds=10))
    ledger.issue_checkpoint(run + timedelta(seconds=10))  # as a draw's result issues one
    db.session.commit()
    ledger.append("pool.changed", _change(2), ACTOR, now=run + timedelta(seconds=11))
    db.session.commit()
    issued = ledger.checkpoint_if_due(run + interval)
    if issued is None:  # then the run after it is the first to issue one
        issued = ledger.checkpoint_if_due(run + 2 * interval)
    assert issued is not None
    gap = issued.issued_at - (run + timedelta(seconds=10))
    assert gap <= interval, f"{gap} between two checkpoints while entries arrived"
