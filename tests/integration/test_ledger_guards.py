"""What keeps the ledger whole against bad settings and arguments: the log's origin never
changes, and a refused export writes nothing, not even the checkpoint it would end with."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from expertdraw.domain.ledger import LedgerError
from expertdraw.extensions import db
from expertdraw.models import Checkpoint
from expertdraw.services import ledger

ACTOR = {"role": "admin", "id": "U0000000001"}
CHANGE = {"expert": "E0000001", "field": "status", "from": "active", "to": "suspended"}


@pytest.fixture
def log(app):
    ledger.create_log()
    db.session.commit()
    ledger.append("pool.changed", {**CHANGE, "reason": "a"}, ACTOR)
    db.session.commit()
    yield
    ledger._ORIGINS_CHECKED.clear()


def _checkpoints() -> int:
    return db.session.scalar(sa.select(sa.func.count(Checkpoint.id)))


def test_a_changed_origin_stops_every_write_and_leaves_no_key(app, log):
    size = ledger.size()
    keys_folder = Path(app.instance_path) / "ledger-keys"
    key_files = sorted(keys_folder.iterdir())
    app.config["LOG_ORIGIN"] = "other.example"
    ledger._ORIGINS_CHECKED.clear()
    with pytest.raises(LedgerError, match=r"EXPERTDRAW_LOG_ORIGIN is 'other\.example'"):
        ledger.append("pool.changed", {**CHANGE, "reason": "b"}, ACTOR)
    db.session.rollback()
    with pytest.raises(LedgerError, match="the log's origin never changes"):
        ledger.rotate_key("yearly", ACTOR)
    db.session.rollback()
    assert ledger.size() == size
    assert sorted(keys_folder.iterdir()) == key_files
    app.config["LOG_ORIGIN"] = "ledger.expertdraw.zt.example"
    ledger.append("pool.changed", {**CHANGE, "reason": "c"}, ACTOR)
    db.session.commit()
    assert ledger.size() == size + 1


def test_a_refused_export_writes_nothing(app, log, runner, tmp_path):
    full = tmp_path / "full"
    full.mkdir()
    (full / "old.txt").write_text("x")
    before = _checkpoints()
    refused = runner.invoke(args=["export-ledger", str(full)])
    assert refused.exit_code == 1 and f"{full} is not empty" in refused.output
    beyond = runner.invoke(args=["export-ledger", str(tmp_path / "new"), "--to", "99"])
    assert beyond.exit_code == 1 and "beyond the last entry" in beyond.output
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    under = runner.invoke(args=["export-ledger", str(a_file / "bundle")])
    assert under.exit_code == 1 and "cannot create" in under.output
    assert "Traceback" not in under.output
    assert _checkpoints() == before  # the uncovered tail stays as it was
    done = runner.invoke(args=["export-ledger", str(tmp_path / "bundle")])
    assert done.exit_code == 0, done.output
    assert _checkpoints() == before + 1  # a whole-log export ends with a checkpoint
