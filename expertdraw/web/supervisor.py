"""Supervisor's draw room: the commitment, witness values, the result with its seed, and a
one-click replay verdict."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from .. import auth, clock
from ..domain.ledger import LedgerError
from ..models import Draw
from ..services import directory, draws, ledger, outside_entropy, replacements, sealed
from ..services import projects as project_service
from ..services import replay as replay_service
from ..services.errors import ServiceError
from .access import roles_required
from .forms import FormState, lines, parse_page

bp = Blueprint("supervisor", __name__, url_prefix="/supervisor")
SUPERVISE = ("supervisor", "admin")
DRAW_STATES = ("announced", "completed", "failed")
DRAWS_PER_PAGE = 50


def _user() -> Any:
    return auth.current_user()


@bp.get("/")
@bp.get("/draws")
@roles_required(*SUPERVISE)
def draws_list() -> str:
    """Draws waiting for witnesses first, then the finished ones, a page at a time; found by
    draw id or project code and state. Superseded supplementary draws are hidden unless asked."""
    state = request.args.get("state") or None
    search = directory.DrawSearch(
        text=request.args.get("q", "")[:64],
        state=state if state in DRAW_STATES else None,
        superseded=request.args.get("superseded") == "1",
    )
    page = parse_page(request.args.get("page"))
    rows, total, hidden = directory.find_draws(
        search, offset=(page - 1) * DRAWS_PER_PAGE, limit=DRAWS_PER_PAGE
    )
    return render_template(
        "supervisor/draws.html",
        draws=rows,
        search=search,
        states=DRAW_STATES,
        total=total,
        hidden=hidden,
        page=page,
        pages=max(1, -(-total // DRAWS_PER_PAGE)),
    )


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
        evaluation_over=project.window_end <= clock.now(),  # no place is filled any more
        subdraws=[d for d in directory.draws_of_project(project) if d.root_id == draw.id],
        beacon=outside_entropy.beacon(draw),
        lottery=outside_entropy.lottery_sources(draw),
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


@bp.post("/draws/<draw_id>/supplementary")
@roles_required(*SUPERVISE)
def fill(draw_id: str) -> Response | tuple[str, int]:
    """Announce a supplementary draw for the open places the service left open."""
    state = FormState(request.form)
    try:
        sub = replacements.fill_open_places(draws.get_draw(draw_id), _user())
    except ServiceError as exc:
        state.fail(exc)
        return room_page(draws.get_draw(draw_id), state), exc.http_status
    flash(_("Supplementary draw %(id)s is announced.", id=sub.id), "success")
    return redirect(url_for("supervisor.room", draw_id=sub.id))


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


# Outside entropy (draw.md §3): the API's roles, supervisors and administrators, supply it.
MAX_LOTTERY_NUMBER = 10**12
MAX_PULSE_CHARS = 20000
NUMBER = re.compile(r"[0-9]{1,13}")


def _entropy_done(draw: Draw) -> Response:
    if draw.state == "completed":
        flash(_("The draw is completed."), "success")
    elif draw.state == "announced":
        flash(_("Your reading is recorded; another supervisor confirms it."), "success")
    else:
        flash(_("The draw failed: %(reason)s", reason=draw.reason or ""), "error")
    return redirect(url_for("supervisor.room", draw_id=draw.id))


@bp.post("/draws/<draw_id>/lottery")
@roles_required(*SUPERVISE)
def lottery(draw_id: str) -> Response | tuple[str, int]:
    """Enter the published numbers of each announced lottery source; completes the draw."""
    draw = draws.get_draw(draw_id)
    sources = outside_entropy.lottery_sources(draw) or []
    names = [f"numbers.{i}" for i in range(len(sources))]
    state = FormState(request.form, fields=set(names))
    numbers: list[list[int]] = []
    for position, name in enumerate(names, 1):
        words = lines(request.form.get(name, ""))
        values = [int(w) for w in words if NUMBER.fullmatch(w) and int(w) <= MAX_LOTTERY_NUMBER]
        if not words:
            state.add(name, _("Enter the numbers of source %(n)s.", n=position))
        elif len(values) != len(words):
            state.add(
                name,
                _(
                    "Source %(n)s: numbers are whole numbers from 0 to 10^12, separated by "
                    "spaces or commas.",
                    n=position,
                ),
            )
        numbers.append(values)
    if not sources:
        state.add(None, _("This draw does not take lottery numbers."))
    if not state.ok:
        return room_page(draw, state), 422
    try:
        draw = draws.supply_entropy(draw, _user(), numbers=numbers)
    except ServiceError as exc:
        state.fail(exc)
        return room_page(draws.get_draw(draw_id), state), exc.http_status
    return _entropy_done(draw)


@bp.post("/draws/<draw_id>/beacon")
@roles_required(*SUPERVISE)
def beacon(draw_id: str) -> Response | tuple[str, int]:
    """Enter the beacon pulse (pasted, or the file as downloaded); it is verified with the
    beacon's certificate and must be the first pulse at or after the awaited time."""
    draw = draws.get_draw(draw_id)
    state = FormState(request.form, fields={"pulse"})
    upload = request.files.get("pulse_file")
    pulse = request.form.get("pulse", "")
    if upload is not None and upload.filename:
        raw = upload.read(MAX_PULSE_CHARS * 4 + 1)
        try:
            pulse = raw.decode("utf-8")
        except UnicodeDecodeError:
            pulse = None
        if pulse is None:
            state.add("pulse", _("The pulse file is not UTF-8 text (JSON)."))
    if pulse is not None and not pulse.strip():
        state.add("pulse", _("Paste the pulse, or choose the pulse file."))
    elif pulse is not None and len(pulse) > MAX_PULSE_CHARS:
        state.add("pulse", _("A pulse is at most 20,000 characters."))
    if not state.ok or pulse is None:
        return room_page(draw, state), 422
    try:
        draw = draws.supply_entropy(draw, _user(), pulse=pulse)
    except ServiceError as exc:
        state.fail(exc)
        return room_page(draws.get_draw(draw_id), state), exc.http_status
    return _entropy_done(draw)
