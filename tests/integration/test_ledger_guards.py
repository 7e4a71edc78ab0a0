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


def test_a_prefix_export_ends_where_a_checkpoint_covers_its_draw_results(app, runner, tmp_path):
    """ledger.md §5: a prefix may be exported, and what is exported must verify. A prefix
    cut after a draw's result but before the checkpoint that covers it would fail its own
    audit (``draw:coverage``): the export is refused, naming prefixes that verify."""
    from expertdraw import clock
    from expertdraw.domain.bundle import audit_bundle
    from expertdraw.models import LedgerEntry
    from expertdraw.services import draws, projects
    from tests.integration import centre as c

    with clock.frozen(c.NOW):
        centre = c.build()
        project = projects.create_project(c.project_spec(centre, "P-CUT"), centre.users["pm"])
        draw = draws.announce(project, centre.users["pm"], {"kind": "witness", "witnesses": 1})
        draws.add_witness(draw, centre.users["sup1"], "w")
    result = db.session.scalar(
        sa.select(LedgerEntry.seq).where(LedgerEntry.type == "draw.completed")
    )
    covering = db.session.scalar(
        sa.select(sa.func.min(Checkpoint.size)).where(Checkpoint.size > result)
    )
    assert covering > result + 1  # the notices sent come between the result and its checkpoint
    before = _checkpoints()
    cut = runner.invoke(args=["export-ledger", str(tmp_path / "cut"), "--to", str(result)])
    assert cut.exit_code == 1 and "Traceback" not in cut.output
    assert f"after the draw result at seq {result}" in cut.output
    assert f"--to {covering - 1}" in cut.output
    assert not (tmp_path / "cut").exists() and _checkpoints() == before
    whole = runner.invoke(args=["export-ledger", str(tmp_path / "ok"), "--to", str(covering - 1)])
    assert whole.exit_code == 0, whole.output
    assert audit_bundle(tmp_path / "ok").ok
    earlier = runner.invoke(
        args=["export-ledger", str(tmp_path / "early"), "--to", str(result - 1)]
    )
    assert earlier.exit_code == 0, earlier.output
    assert audit_bundle(tmp_path / "early").ok


def test_a_failed_export_leaves_nothing_behind(app, log, runner, tmp_path, monkeypatch):
    """A write that fails half way (a full disk) leaves no partial bundle, which an audit
    would fail as if it had been tampered with: the bundle is renamed into place whole."""
    from expertdraw.services import export

    def full_disk(size: int) -> list[str]:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(export, "checkpoint_notes", full_disk)
    tmp_path = tmp_path / "exports"
    failed = runner.invoke(args=["export-ledger", str(tmp_path / "bundle")])
    assert failed.exit_code == 1 and "Traceback" not in failed.output
    assert "No space left on device; nothing was left behind" in failed.output
    assert not tmp_path.exists()  # nor the folder made for the bundle
    monkeypatch.undo()
    done = runner.invoke(args=["export-ledger", str(tmp_path / "bundle")])
    assert done.exit_code == 0, done.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]
    assert (tmp_path / "bundle" / "entries.jsonl").read_text().count("\n") == ledger.size()


def test_the_commands_say_in_one_line_why_the_ledger_refuses(app, log, runner):
    size = ledger.size()
    app.config["LOG_ORIGIN"] = "other.example"
    ledger._ORIGINS_CHECKED.clear()
    moved = runner.invoke(args=["keys", "rotate", "--reason", "yearly"])
    assert moved.exit_code == 1 and "Traceback" not in moved.output
    assert "EXPERTDRAW_LOG_ORIGIN is 'other.example'" in moved.output
    app.config["LOG_ORIGIN"] = "ledger.expertdraw.zt.example"
    ledger._ORIGINS_CHECKED.clear()
    control = runner.invoke(args=["keys", "rotate", "--reason", "a\x01b"])
    assert control.exit_code == 2 and "control characters" in control.output  # --reason
    assert ledger.size() == size


def test_an_export_goes_into_a_link_to_an_empty_folder_or_the_current_one(
    app, log, runner, tmp_path, monkeypatch
):
    """A mounted stick or a link to one, or ``.``: the bundle is moved up inside OUT, never
    renamed over it."""
    stick = tmp_path / "stick"
    stick.mkdir()
    (tmp_path / "export").symlink_to(stick, target_is_directory=True)
    linked = runner.invoke(args=["export-ledger", str(tmp_path / "export")])
    assert linked.exit_code == 0, linked.output
    assert sorted(p.name for p in stick.iterdir()) == [
        "checkpoints.txt",
        "entries.jsonl",
        "keys.txt",
        "snapshots",
    ]
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    current = runner.invoke(args=["export-ledger", "."])
    assert current.exit_code == 0, current.output
    assert (here / "entries.jsonl").exists() and not list(here.glob(".partial-*"))
