"""Opening the sealed list and the printable draw record (抽取记录表, as a page and as a PDF),
for supervisors and administrators. All show members' codes, so all go through
``sealed.open_list``: a purpose is required and every opening, each PDF included, is a
``list.opened`` ledger entry."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from .. import auth, clock
from ..domain.ledger import LedgerError, parse_time
from ..models import Draw
from ..services import directory, draws, ledger
from ..services import projects as project_service
from ..services.errors import ServiceError
from . import list_openings
from . import record_pdf as record_document
from .access import roles_required
from .forms import FormState

bp = Blueprint("record", __name__, url_prefix="/supervisor")
SUPERVISE = ("supervisor", "admin")


def _purpose_page(draw: Draw, action: str, state: FormState, status: int = 200) -> tuple[str, int]:
    project = project_service.get_project_by_id(draw.project_id)
    return render_template(
        "supervisor/purpose.html",
        draw=draw,
        project=project,
        action=action,
        form=state,
        opening=request.form.get(list_openings.FIELD) or list_openings.new_token(),
    ), status


def _open(draw: Draw, action: str) -> tuple[list[dict[str, Any]] | None, Any]:
    """Open the list with the submitted purpose, or return the purpose page with the error."""
    state = FormState(request.form, fields={"purpose"})
    purpose = request.form.get("purpose", "").strip()
    if not purpose:
        state.add("purpose", _("State why you open the list; the purpose is recorded."))
        return None, _purpose_page(draw, action, state, 422)
    try:
        user = auth.current_user()
        copy = action == "record_pdf"
        return list_openings.open_once(draw, user, purpose, action, copy=copy), None
    except ServiceError as exc:
        state.fail(exc)
        return None, _purpose_page(draw, action, state, exc.http_status)


@bp.route("/draws/<draw_id>/list", methods=["GET", "POST"])
@roles_required(*SUPERVISE)
def open_list(draw_id: str) -> Response | tuple[str, int] | str:
    """Ask for the purpose, then show the members (logged as ``list.opened``)."""
    draw = draws.get_draw(draw_id)
    if request.method == "GET":
        return _purpose_page(draw, "list", FormState({}))
    members, error_page = _open(draw, "list")
    if members is None:
        return error_page
    return render_template(
        "supervisor/list.html",
        draw=draw,
        project=project_service.get_project_by_id(draw.project_id),
        members=members,
        purpose=request.form.get("purpose", "").strip(),
    )


def _body(kind: str, draw_id: str) -> dict[str, Any] | None:
    try:
        return ledger.entry_body(kind, draw_id)
    except LedgerError:
        return None


def _root(draw_id: str) -> Draw:
    draw = draws.get_draw(draw_id)
    return draws.get_draw(draw.root_id) if draw.root_id is not None else draw


def as_drawn(project: dict[str, Any], announced: dict[str, Any] | None) -> dict[str, Any]:
    """The project's summary with what the draw was made from: the window, strata,
    separation, members per employer and region rule of its announcement (a project may be
    corrected after a failed draw; its record shows the request it was drawn for). A stratum
    keeps its kind from the project's stratum of that name, if there is one still."""
    if not announced:
        return project
    request = announced.get("request") or {}
    drawn = dict(project)
    window = request.get("window") or {}
    if window.get("start") and window.get("end"):
        drawn["window_start"] = parse_time(window["start"])
        drawn["window_end"] = parse_time(window["end"])
    for key in ("separation", "max_per_group"):
        if key in request:
            drawn[key] = request[key]
    if announced.get("region_policy"):
        drawn["region_policy"] = announced["region_policy"]
    if "strata" in request:
        kinds = {s["name"]: s["kind"] for s in project["strata"]}
        drawn["strata"] = [{**s, "kind": kinds.get(s["name"])} for s in request["strata"]]
    return drawn


def record_data(draw: Draw, members: list[dict[str, Any]], purpose: str) -> dict[str, Any]:
    """Everything the draw record shows, for the HTML page and the PDF alike: the project,
    the announcement and result bodies, witnesses, the opened ``members``, replacements,
    the draw's ledger entries, supplementary draws, the latest checkpoint and this opening."""
    project = project_service.get_project_by_id(draw.project_id)
    announced = _body("draw.announced", draw.id)
    return {
        "draw": draw,
        "project": as_drawn(project_service.summary(project), announced),
        "specialty_names": directory.specialty_names(),
        "announced": announced,
        "result": _body("draw.completed", draw.id) or _body("draw.failed", draw.id),
        "witnesses": len(draws.witnesses_of(draw)),
        "members": members,
        "replacements": ledger.entry_bodies("draw.replaced", draw.id),
        "entries": directory.draw_entries(draw.id),
        "subdraws": [d for d in directory.draws_of_project(project) if d.root_id == draw.id],
        "checkpoint": ledger.latest_checkpoint(),
        "purpose": purpose,
        "printed_at": clock.now(),
        "by": auth.current_user(),
    }


@bp.route("/draws/<draw_id>/record", methods=["GET", "POST"])
@roles_required(*SUPERVISE)
def record(draw_id: str) -> Response | tuple[str, int] | str:
    """The printable draw record: request, commitment, seed, members, seats, replacements."""
    draw = _root(draw_id)
    if request.method == "GET":
        return _purpose_page(draw, "record", FormState({}))
    members, error_page = _open(draw, "record")
    if members is None:
        return error_page
    purpose = request.form.get("purpose", "").strip()
    return render_template("supervisor/record.html", **record_data(draw, members, purpose))


@bp.route("/draws/<draw_id>/record.pdf", methods=["GET", "POST"])
@roles_required(*SUPERVISE)
def record_pdf(draw_id: str) -> Response | tuple[str, int] | str:
    """The draw record as a PDF file in the user's language; opening it is logged like the
    HTML record (``list.opened`` with the purpose)."""
    draw = _root(draw_id)
    if request.method == "GET":
        return _purpose_page(draw, "record_pdf", FormState({}))
    members, error_page = _open(draw, "record_pdf")
    if members is None:
        return error_page
    purpose = request.form.get("purpose", "").strip()
    pdf = record_document.build(record_data(draw, members, purpose))
    return Response(
        pdf,
        mimetype="application/pdf",
        headers={
            "Content-Disposition": f"attachment; filename=draw-record-{draw.id}.pdf",
            "Cache-Control": "no-store",
        },
    )
