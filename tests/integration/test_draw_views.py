"""Completing a draw reuses the parsed snapshot this process announced, only for stored bytes
that hash to it; otherwise (another process, an evicted entry) it loads the stored snapshot."""

from __future__ import annotations

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
    draws._VIEWS.clear()
    yield built
    draws._VIEWS.clear()


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
    project = projects.create_project(spec, centre.users["pm"])
    return draws.announce(project, centre.users["pm"], {"kind": "none"})


def _replays(draw_id: str) -> None:
    snapshot = draws.snapshot_of(draw_id)
    announced = ledger.entry_body("draw.announced", draw_id)
    completed = ledger.entry_body("draw.completed", draw_id)
    assert engine.replay(snapshot, announced, completed) is None


def test_the_announcing_process_completes_from_its_parsed_view(trading_centre, snapshots_given):
    with clock.frozen(c.NOW):
        draw = _announce(trading_centre)
        assert draw.snapshot_hash in draws._VIEWS
        draw = draws.complete(draw, "", trading_centre.users["pm"])
    assert draw.state == "completed"
    assert [type(s) for s in snapshots_given] == [engine.Snapshot]
    _replays(draw.id)


def test_another_process_loads_the_stored_snapshot(trading_centre, snapshots_given):
    with clock.frozen(c.NOW):
        draw = _announce(trading_centre)
        draws._VIEWS.clear()  # as in another process
        draw = draws.complete(draw, "", trading_centre.users["pm"])
    assert draw.state == "completed"
    assert [type(s) for s in snapshots_given] == [dict]
    _replays(draw.id)


def test_a_view_is_not_used_for_stored_bytes_that_differ(
    trading_centre, snapshots_given, monkeypatch
):
    real = draws.snapshot_text

    def altered(draw_id: str) -> str:  # the table is append-only: alter what is read
        text = real(draw_id)
        changed = text.replace('"separation":"venue"', '"separation":"room"')
        assert changed != text
        return changed

    with clock.frozen(c.NOW):
        draw = _announce(trading_centre)
        assert draw.snapshot_hash in draws._VIEWS
        monkeypatch.setattr(draws, "snapshot_text", altered)
        with pytest.raises(ServiceError) as caught:
            draws.complete(draw, "", trading_centre.users["pm"])
    assert caught.value.code == "invalid:snapshot"
    assert [type(s) for s in snapshots_given] == [dict]


def test_the_cache_is_bounded() -> None:
    draws._VIEWS.clear()
    try:
        for index in range(draws._VIEWS_MAX + 3):
            draws._remember_view(f"{index:064x}", object())  # type: ignore[arg-type]
        assert list(draws._VIEWS) == [f"{i:064x}" for i in range(3, draws._VIEWS_MAX + 3)]
        assert draws._view_of(f"{0:064x}") is None
    finally:
        draws._VIEWS.clear()
