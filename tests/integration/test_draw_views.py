"""Completing a draw reuses the snapshot and announcement this process announced and
committed, only for the draw whose stored hash and commitment are those announced; otherwise
(another process, an evicted entry, a draw number announced again elsewhere) it loads and
checks what is stored."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from expertdraw import clock
from expertdraw.domain import draw as engine
from expertdraw.services import draws, ledger, projects
from expertdraw.services.errors import ServiceError

from . import centre as c


@pytest.fixture
def trading_centre(app):
    with clock.frozen(c.NOW):
        built = c.build()
    draws._ANNOUNCED.clear()
    yield built
    draws._ANNOUNCED.clear()


@pytest.fixture
def snapshots_given(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """What ``engine.complete`` is given as the snapshot, call by call."""
    given: list[Any] = []
    real = engine.complete

    def spy(snapshot: Any, *args: Any, **kwargs: Any) -> Any:
        given.append(snapshot)
        return real(snapshot, *args, **kwargs)

    monkeypatch.setattr(draws.engine, "complete", spy)
    return given


def _announce(centre: c.Centre) -> Any:
    spec = c.project_spec(centre, "P2027-0001", allow_no_entropy=True)
    project = projects.create_project(spec, centre.users["admin"])
    return draws.announce(project, centre.users["pm"], {"kind": "none"})


def _replays(draw_id: str) -> None:
    snapshot = draws.snapshot_of(draw_id)
    announced = ledger.entry_body("draw.announced", draw_id)
    completed = ledger.entry_body("draw.completed", draw_id)
    assert engine.replay(snapshot, announced, completed) is None


def test_the_announcing_process_completes_from_its_parsed_view(trading_centre, snapshots_given):
    with clock.frozen(c.NOW):
        draw = _announce(trading_centre)
        assert draws._ANNOUNCED[draw.id].snapshot_hash == draw.snapshot_hash
        draw = draws.complete(draw, "", trading_centre.users["pm"])
    assert draw.state == "completed"
    assert [type(s) for s in snapshots_given] == [engine.Snapshot]
    _replays(draw.id)


def test_nothing_is_kept_for_an_announcement_that_did_not_commit(trading_centre, monkeypatch):
    def refused() -> None:
        raise RuntimeError("the commit failed")

    with clock.frozen(c.NOW):
        spec = c.project_spec(trading_centre, "P2027-0001", allow_no_entropy=True)
        project = projects.create_project(spec, trading_centre.users["admin"])
        monkeypatch.setattr(draws.db.session, "commit", refused)
        with pytest.raises(RuntimeError):
            draws.announce(project, trading_centre.users["pm"], {"kind": "none"})
    assert not draws._ANNOUNCED


def test_a_draw_number_announced_again_elsewhere_is_loaded(trading_centre, snapshots_given):
    with clock.frozen(c.NOW):
        draw = _announce(trading_centre)
        kept = draws._ANNOUNCED[draw.id]
        # As if this process's announcement of the number had rolled back after it was
        # kept, and another process had announced the number with its own secret.
        draws._ANNOUNCED[draw.id] = dataclasses.replace(kept, commitment="0" * 64)
        draw = draws.complete(draw, "", trading_centre.users["pm"])
    assert draw.state == "completed"
    assert [type(s) for s in snapshots_given] == [dict]
    _replays(draw.id)


def test_another_process_loads_the_stored_snapshot(trading_centre, snapshots_given):
    with clock.frozen(c.NOW):
        draw = _announce(trading_centre)
        draws._ANNOUNCED.clear()  # as in another process
        draw = draws.complete(draw, "", trading_centre.users["pm"])
    assert draw.state == "completed"
    assert [type(s) for s in snapshots_given] == [dict]
    _replays(draw.id)


def test_stored_bytes_that_differ_are_refused(trading_centre, snapshots_given, monkeypatch):
    real = draws.snapshot_text

    def altered(draw_id: str) -> str:  # the table is append-only: alter what is read
        text = real(draw_id)
        changed = text.replace('"separation":"venue"', '"separation":"room"')
        assert changed != text
        return changed

    with clock.frozen(c.NOW):
        draw = _announce(trading_centre)
        draws._ANNOUNCED.clear()  # as in another process
        monkeypatch.setattr(draws, "snapshot_text", altered)
        with pytest.raises(ServiceError) as caught:
            draws.complete(draw, "", trading_centre.users["pm"])
    assert caught.value.code == "invalid:snapshot"
    assert [type(s) for s in snapshots_given] == [dict]


def test_the_cache_is_bounded(trading_centre) -> None:
    with clock.frozen(c.NOW):
        ids = []
        for n in range(draws._ANNOUNCED_MAX + 2):
            spec = c.project_spec(trading_centre, f"P2027-01{n:02d}", allow_no_entropy=True)
            project = projects.create_project(spec, trading_centre.users["admin"])
            ids.append(draws.announce(project, trading_centre.users["pm"], {"kind": "none"}).id)
    assert list(draws._ANNOUNCED) == ids[2:]
