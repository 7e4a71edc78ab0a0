"""The ledger in the database: appends, proofs, checkpoints, keys, export, concurrency."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from itertools import pairwise
from pathlib import Path

import pytest
import sqlalchemy as sa

from expertdraw.domain import merkle
from expertdraw.domain.bundle import audit_bundle
from expertdraw.domain.ledger import LedgerError, entry_leaf
from expertdraw.domain.notes import VerifierKey
from expertdraw.domain.receipt import verify_receipt
from expertdraw.extensions import db
from expertdraw.models import LedgerEntry, LedgerNode
from expertdraw.services import export, keys, ledger

ACTOR = {"role": "admin", "id": "U0000000001"}


def _change(n: int) -> dict[str, str]:
    return {
        "expert": f"E{n:07d}",
        "field": "status",
        "from": "active",
        "to": "suspended",
        "reason": "test",
    }


@pytest.fixture
def log(app):
    ledger.create_log()
    db.session.commit()
    return app


def _records() -> list[dict]:
    return [
        json.loads(r)
        for r in db.session.scalars(sa.select(LedgerEntry.record).order_by(LedgerEntry.seq))
    ]


def test_appends_chain_without_gaps_and_roots_match_the_naive_tree(log):
    for n in range(20):
        ledger.append("pool.changed", _change(n), ACTOR)
    db.session.commit()
    records = _records()
    assert [r["entry"]["seq"] for r in records] == list(range(21))
    for before, after in pairwise(records):
        assert after["entry"]["prev"] == before["leaf"]
    leaves = [bytes.fromhex(r["leaf"]) for r in records]
    for size in (1, 2, 3, 7, 8, 13, 21):
        assert ledger.root(size) == merkle.tree_root(leaves[:size])


def test_appends_are_seen_by_queries_in_their_transaction_and_vanish_on_rollback(log):
    ledger.append("pool.changed", _change(1), ACTOR, draw_id="D2026-000001")
    assert ledger.size() == 2  # a query sees the append before commit
    assert ledger.entry_body("pool.changed", "D2026-000001") == _change(1)
    ledger.append("pool.changed", _change(2), ACTOR)
    assert json.loads(db.session.get(LedgerEntry, 2).record)["entry"]["body"] == _change(2)
    db.session.rollback()
    assert ledger.size() == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LedgerNode)) == 1


def test_a_thousand_appends_in_one_transaction_are_all_written(log):
    for n in range(1200):
        ledger.append("pool.changed", _change(n), ACTOR)
    db.session.commit()
    records = _records()
    assert [r["entry"]["seq"] for r in records] == list(range(1201))
    leaves = [bytes.fromhex(r["leaf"]) for r in records]
    assert ledger.root(1201) == merkle.tree_root(leaves)


def test_stored_records_keep_every_character_of_the_signed_line(log):
    """Quotes, backslashes, escapes, CJK and non-BMP text survive the write path unchanged, so
    the stored record is still the exact signed line and its leaf hash."""
    tricky = {
        "expert": "E0000001",
        "field": "note",
        "from": 'a "quoted" \\ back\\slash',
        "to": "换行\n制表\t 😀 \u0001 \\u0000",
        "reason": "{'not': json} , ) ;",
    }
    ledger.append("pool.changed", tricky, ACTOR, draw_id=None)
    db.session.commit()
    record = db.session.get(LedgerEntry, 1).record
    assert json.loads(record)["entry"]["body"] == tricky
    assert "\n" not in record  # one bundle line: escapes stay escaped
    stored = json.loads(record)
    assert stored["leaf"] == entry_leaf(stored["entry"]).hex()
    assert ledger.root(2) == merkle.tree_root([bytes.fromhex(r["leaf"]) for r in _records()])


def test_a_malformed_entry_is_refused_and_nothing_is_written(log):
    with pytest.raises(LedgerError):
        ledger.append("pool.changed", {"expert": "E1", "score": 0.5}, ACTOR)
    db.session.rollback()
    assert ledger.size() == 1


def test_receipts_and_consistency_proofs_verify(log):
    for n in range(10):
        ledger.append("pool.changed", _change(n), ACTOR)
    first = ledger.issue_checkpoint()
    for n in range(10, 15):
        ledger.append("pool.changed", _change(n), ACTOR)
    second = ledger.issue_checkpoint()
    db.session.commit()
    trusted = [VerifierKey.parse(keys.current_row().verifier)]
    receipt = ledger.receipt(4)
    assert receipt["tree_size"] == second.size
    verify_receipt(receipt, trusted)
    proof = [bytes.fromhex(h) for h in ledger.consistency(first.size, second.size)]
    assert merkle.verify_consistency(
        first.size, second.size, bytes.fromhex(first.root), bytes.fromhex(second.root), proof
    )


def test_rotation_switches_keys_and_the_bundle_verifies(log, tmp_path: Path):
    ledger.append("pool.changed", _change(1), ACTOR)
    old = keys.current_row().key_id
    new_row = ledger.rotate_key("annual rotation", ACTOR)
    ledger.append("pool.changed", _change(2), ACTOR)
    ledger.issue_checkpoint()
    db.session.commit()
    records = _records()
    rotated = next(r for r in records if r["entry"]["type"] == "key.rotated")
    assert rotated["key"] == old
    assert records[-1]["key"] == new_row.key_id != old
    assert new_row.from_seq == rotated["entry"]["seq"] + 1
    export.write_bundle(tmp_path / "bundle")
    report = audit_bundle(tmp_path / "bundle", entry_signatures=True)
    assert report.ok, [str(p) for p in report.problems]
    lines = (tmp_path / "bundle" / "keys.txt").read_text().splitlines()
    assert len(lines) == 2 and lines[0].endswith(f" 0 {rotated['entry']['seq']}")


def test_a_bundle_ending_at_the_rotation_ends_the_old_key_there_and_lists_the_new_one(
    log, tmp_path: Path
):
    ledger.append("pool.changed", _change(1), ACTOR)
    old = keys.current_row().verifier
    new_row = ledger.rotate_key("annual rotation", ACTOR)
    db.session.commit()
    rotation = ledger.head().seq
    export.write_bundle(tmp_path / "whole")
    assert (tmp_path / "whole" / "keys.txt").read_text() == (
        f"{old} 0 {rotation}\n{new_row.verifier} {rotation + 1}\n"
    )
    assert audit_bundle(tmp_path / "whole", entry_signatures=True).ok
    export.write_bundle(tmp_path / "before", to_seq=rotation - 1)  # before it: the old key only
    assert (tmp_path / "before" / "keys.txt").read_text() == f"{old} 0\n"
    assert audit_bundle(tmp_path / "before", entry_signatures=True).ok


def test_a_passphrase_encrypts_the_signing_key(app_config, tmp_path):
    from expertdraw import create_app

    config = {**app_config, "KEY_PASSPHRASE": "a long passphrase"}
    application = create_app(config)
    with application.app_context():
        ledger.create_log()
        db.session.commit()
        pem = next((Path(config["INSTANCE_PATH"]) / keys.KEY_DIR).glob("*.pem")).read_bytes()
        assert b"ENCRYPTED" in pem
        application.config["KEY_PASSPHRASE"] = "the wrong one"
        with pytest.raises(keys.SigningKeyError):
            ledger.append("pool.changed", _change(1), ACTOR)
        db.session.rollback()
        db.engine.dispose()
    # A process started with the wrong passphrase stops at once, with one line, instead of
    # failing every ledger write later.
    from expertdraw.config import ConfigError

    for wrong in ("the wrong one", None):
        with pytest.raises(ConfigError, match="EXPERTDRAW_KEY_PASSPHRASE does not open"):
            create_app({**config, "KEY_PASSPHRASE": wrong})
    assert create_app(config).config["KEY_PASSPHRASE"] == "a long passphrase"  # it starts


def test_the_keys_take_a_new_passphrase(app_config, tmp_path):
    """``flask keys repassphrase``: every key is encrypted with the new passphrase, which the
    next start needs; a too short one or a wrong current one changes nothing."""
    from expertdraw import create_app
    from expertdraw.config import ConfigError

    config = {**app_config, "KEY_PASSPHRASE": "short one"}
    application = create_app(config)
    with application.app_context():
        ledger.create_log()
        db.session.commit()
        db.engine.dispose()
    folder = Path(config["INSTANCE_PATH"]) / keys.KEY_DIR
    before = {p.name: p.read_bytes() for p in folder.glob("*.pem")}
    runner = application.test_cli_runner()
    context = application.app_context()
    context.push()  # as the flask command runs it
    short = runner.invoke(args=["keys", "repassphrase", "--new-passphrase", "tiny"])
    assert short.exit_code == 2 and "at least 16 characters" in short.output
    application.config["KEY_PASSPHRASE"] = "not the one"
    wrong = runner.invoke(args=["keys", "repassphrase", "--new-passphrase", "x" * 20])
    assert wrong.exit_code == 1 and "does not open with the current passphrase" in wrong.output
    assert {p.name: p.read_bytes() for p in folder.glob("*.pem")} == before
    application.config["KEY_PASSPHRASE"] = "short one"
    done = runner.invoke(args=["keys", "repassphrase", "--new-passphrase", "a much longer one"])
    assert done.exit_code == 0 and "1 key(s) encrypted" in done.output
    assert [p.name for p in folder.iterdir()] == list(before)  # no file left beside them
    context.pop()
    with pytest.raises(ConfigError, match="does not open"):
        create_app(config)
    assert create_app({**config, "KEY_PASSPHRASE": "a much longer one"}) is not None


def test_export_then_audit_passes_and_detects_a_changed_byte(log, tmp_path: Path):
    for n in range(5):
        ledger.append("pool.changed", _change(n), ACTOR)
    ledger.issue_checkpoint()
    db.session.commit()
    bundle = tmp_path / "b"
    export.write_bundle(bundle)
    assert audit_bundle(bundle).ok
    entries = bundle / "entries.jsonl"
    entries.write_bytes(entries.read_bytes().replace(b"E0000003", b"E0000004", 1))
    report = audit_bundle(bundle)
    assert not report.ok
    assert report.first.seq == 4  # _change(3) is entry 4: log.created is entry 0


def test_concurrent_writers_leave_a_gapless_fork_free_log(log, database_url, app_config):
    ledger.issue_checkpoint()
    db.session.commit()
    db.engine.dispose()
    worker = Path(__file__).with_name("ledger_worker.py")
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(worker),
                database_url,
                app_config["INSTANCE_PATH"],
                str(w),
                "8",
                "3",
            ],
            cwd=Path(__file__).resolve().parents[2],
        )
        for w in range(4)
    ]
    assert [p.wait(timeout=300) for p in procs] == [0] * 4
    records = _records()
    assert len(records) == 1 + 4 * 8 * 3
    assert [r["entry"]["seq"] for r in records] == list(range(len(records)))
    for before, after in pairwise(records):
        assert after["entry"]["prev"] == before["leaf"]
        assert after["entry"]["time"] >= before["entry"]["time"]
    leaves = [bytes.fromhex(r["leaf"]) for r in records]
    assert ledger.root(len(leaves)) == merkle.tree_root(leaves)


def test_the_tail_is_read_by_key_look_ups_not_scans(log):
    """Each frontier node is one primary-key look-up (level and index), and the head comes from
    the end of the key, however long the log and however stale the statistics (none are
    gathered here): a join form of the query once scanned a whole level of the tree on every
    append. The plans come from auto_explain inside the function."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the tail function is PostgreSQL's (SQLite reads the tail with one query)")
    for n in range(2000):
        ledger.append("pool.changed", _change(n), ACTOR)
    db.session.commit()
    connection = db.engine.raw_connection()
    try:
        driver = connection.driver_connection
        plans: list[str] = []
        driver.add_notice_handler(lambda notice: plans.append(notice.message_primary))
        with driver.cursor() as cursor:
            for setting in (
                "LOAD 'auto_explain'",
                "SET auto_explain.log_min_duration = 0",
                "SET auto_explain.log_nested_statements = on",
                "SET auto_explain.log_level = notice",
                "SET client_min_messages = notice",
            ):
                cursor.execute(setting)
            cursor.execute("SELECT * FROM expertdraw_ledger_tail(%s)", (ledger.LOCK_KEY,))
            assert [row[0] for row in cursor.fetchall()] == [2000] * bin(2001).count("1")
        driver.rollback()
    finally:
        connection.close()
    head = next(p for p in plans if "FROM ledger_entries" in p)
    nodes = next(p for p in plans if "ledger_nodes" in p and "Query Text" in p)
    assert "Index Scan Backward using pk_ledger_entries" in head
    assert re.search(r"Index Cond: \(\(level = \w+\.level\) AND \(index = ", nodes), nodes


def test_a_checkpoint_written_with_the_entries_is_stored_as_issued(log):
    """``with_entries`` (one statement with the entries on PostgreSQL) stores exactly the
    checkpoint issued, with its time, and it is the latest."""
    from datetime import UTC, datetime

    from expertdraw.models import Checkpoint

    at = datetime(2027, 3, 1, 1, 2, 3, 456789, tzinfo=UTC)
    for n in range(3):
        ledger.append("pool.changed", _change(n), ACTOR)
    issued = ledger.issue_checkpoint(at, with_entries=True)
    db.session.commit()
    stored = db.session.scalars(sa.select(Checkpoint).order_by(Checkpoint.id.desc())).first()
    assert (stored.size, stored.root, stored.note, stored.issued_at) == (
        issued.size,
        issued.root,
        issued.note,
        at,
    )
    assert stored.size == ledger.size() == 4
    assert ledger.latest_checkpoint().size == 4


def test_a_rotation_reason_with_personal_data_is_refused_and_rotates_nothing(log):
    from expertdraw.services.errors import ServiceError

    before = ledger.keys.current_row().verifier
    with pytest.raises(ServiceError) as refused:
        ledger.rotate_key("张三 138 1234 5678 要求轮换", ACTOR)
    db.session.rollback()
    assert refused.value.code == "invalid:personal-data" and refused.value.field == "reason"
    assert ledger.keys.current_row().verifier == before
