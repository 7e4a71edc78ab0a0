"""A crash at each write of a draw's request leaves no partial draw.

The process tests strike between the announcement and the completion (the pause
``EXPERTDRAW_FAULTS_COMPLETE_DELAY`` makes); these strike inside the completion and the
announcement, at each step that writes: the process "dies" there (an exception nobody handles,
the open transaction lost, as on SIGKILL), then recovery runs and every invariant of
``invariants.py`` must hold. A completion that committed its bookings apart from its
``draw.completed`` entry, say, would leave bookings of a draw that recovery fails.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from expertdraw import clock
from expertdraw.extensions import db
from expertdraw.services import auth as auth_service
from expertdraw.services import draws, ledger, seating

from ..integration import centre as c
from .invariants import recover_and_check
from .load import project_body


class Killed(BaseException):
    """The process dying mid-request: nothing of the open transaction survives."""


def _dying(real: Any, when: Any = None) -> Any:
    def step(*args: Any, **kwargs: Any) -> Any:
        if when is None or when(*args, **kwargs):
            db.session.rollback()
            raise Killed()
        return real(*args, **kwargs)

    return step


#: Where the request dies: (module, function, which calls), and whether its draw was
#: announced by then (recovery fails it) or not (nothing of it may remain).
POINTS = {
    "announcement entry": (ledger, "append", lambda kind, *a, **k: kind == "draw.announced", 0),
    "committee rows": (draws, "_write_committee", None, 1),
    "bookings": (seating, "book", None, 1),
    "completion entry": (ledger, "append", lambda kind, *a, **k: kind == "draw.completed", 1),
    "notices": (seating, "notices_sent", None, 1),
    "announcement checkpoint": (ledger, "issue_checkpoint", lambda *a, **k: _nth(1), 0),
    "completion checkpoint": (ledger, "issue_checkpoint", lambda *a, **k: _nth(2), 1),
}
_calls: list[int] = []


def _nth(n: int) -> bool:
    """True on the ``n``-th call of the struck function in this test (its checkpoints: the
    announcement's, then the completion's)."""
    _calls.append(1)
    return len(_calls) == n


@pytest.mark.parametrize("point", list(POINTS))
def test_a_crash_at_each_write_leaves_no_partial_draw(
    app: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, point: str
) -> None:
    module, name, when, announced = POINTS[point]
    _calls.clear()
    with clock.frozen(c.NOW):
        centre = c.build(technical=24, economic=12, venues=6)
    _, token = auth_service.issue_token(centre.users["admin"], label="crash")
    db.session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    client = app.test_client()
    created = client.post(
        "/api/v1/projects", json=project_body(1, centre.tenderer), headers=headers
    )
    assert created.status_code == 201, created.text
    monkeypatch.setattr(module, name, _dying(getattr(module, name), when))
    with pytest.raises(Killed):
        client.post(
            "/api/v1/projects/P-FAULT-00001/draws",
            json={"entropy": {"kind": "none"}},
            headers=headers,
        )
    monkeypatch.undo()
    db.session.remove()
    recovery = recover_and_check([], tmp_path / "bundle")
    assert (recovery.draws, recovery.failed_by_recovery) == (announced, announced)
    # The project can be drawn again: the request is made anew and completes.
    again = client.post(
        "/api/v1/projects/P-FAULT-00001/draws", json={"entropy": {"kind": "none"}}, headers=headers
    )
    assert again.status_code == 201 and again.get_json()["state"] == "completed", again.text
