"""Supervisor's draw room: the commitment, witness values, the result with its seed, and a
one-click replay verdict."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from .. import auth
from ..domain.ledger import LedgerError
from ..models import Draw
from ..services import directory, draws, ledger, sealed
from ..services import projects as project_service
from ..services import replay as replay_service
from ..services.errors import ServiceError
from .access import roles_required
from .forms import FormState

bp = Blueprint("supervisor", __name__, url_prefix="/supervisor")
SUPERVISE = ("supervisor", "admin")


def _user() -> Any:
    return auth.current_user()


@bp.get("/")
@bp.get("/draws")
@roles_required(*SUPERVISE)
def draws_list() -> str:
    """Draws waiting for witnesses first, then the finished ones."""
    return render_template("supervisor/draws.html", draws=directory.recent_draws())


def _completed_body(draw: Draw) -> dict[str, Any] | None:
    if draw.state == "announced":
        return None
    kind = "draw.completed" if draw.state == "completed" else "draw.failed"
    try:
        return ledger.entry_body(kind, draw.id)
    except LedgerError:
        return None


def room_page(draw: Draw, form: FormState | None = None, **extra: Any) -> str:
    """The draw room of ``draw`` (also used to show errors and the replay verdict)."""
    user = _user()
    entered = draws.witnesses_of(draw)
    project = project_service.get_project_by_id(draw.project_id)
    return render_template(
        "supervisor/room.html",
        draw=draw,
        project=project_service.summary(project),
        entered=len(entered),
        mine=any(w.supervisor_id == user.id for w in entered),
        result=_completed_body(draw),
        progress=sealed.progress(draw) if draw.state == "completed" else None,
        subdraws=[d for d in directory.draws_of_project(project) if d.root_id == draw.id],
        form=form or FormState({}),
        **extra,
    )


@bp.get("/draws/<draw_id>")
@roles_required(*SUPERVISE)
def room(draw_id: str) -> str:
    """The draw room."""
    return room_page(draws.get_draw(draw_id))


@bp.post("/draws/<draw_id>/witness")
@roles_required("supervisor")
def witness(draw_id: str) -> Response | tuple[str, int]:
    """Enter this supervisor's witness value; the last one completes the draw."""
    draw = draws.get_draw(draw_id)
    state = FormState(request.form, fields={"value"})
    try:
        draw = draws.add_witness(draw, _user(), request.form.get("value", ""))
    except ServiceError as exc:
        state.fail(exc)
        return room_page(draws.get_draw(draw_id), state), exc.http_status
    if draw.state == "completed":
        flash(_("The draw is completed."), "success")
    elif draw.state == "failed":
        flash(_("The draw failed: %(reason)s", reason=draw.reason or ""), "error")
    else:
        flash(_("Your witness value is recorded."), "success")
    return redirect(url_for("supervisor.room", draw_id=draw.id))


@bp.get("/draws/<draw_id>/replay")
@roles_required(*SUPERVISE)
def replay(draw_id: str) -> tuple[str, int] | str:
    """Recompute the draw and every replacement from the ledger, and show the verdict."""
    draw = draws.get_draw(draw_id)
    try:
        verdict = replay_service.replay_draw(draw)
    except ServiceError as exc:
        state = FormState({})
        state.fail(exc)
        return room_page(draw, state), exc.http_status
    return room_page(draws.get_draw(verdict["draw"]), replay=verdict)
