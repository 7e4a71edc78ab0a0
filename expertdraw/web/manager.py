"""Project manager's pages: projects, the project form, dry run, draw request, draw status
(counts only until the list opens), the award and the list opened after it."""

from __future__ import annotations

import secrets
from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import format_datetime
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from .. import auth, clock
from ..domain.entropy import parse_time
from ..extensions import db
from ..models import Draw, Project
from ..services import directory, draws, outside_entropy, sealed
from ..services import projects as project_service
from ..services.errors import ServiceError
from . import draw_form, list_openings, project_form
from .access import roles_required
from .forms import SENT_TWICE_WITHIN, FormState, abandon, message_for, parse_page

bp = Blueprint("manager", __name__, url_prefix="/manager")
MANAGE = ("project_manager", "admin")
PER_PAGE = 25


def _user() -> Any:
    return auth.current_user()


def _form_page(state: FormState, status: int = 200, editing: str = "") -> tuple[str, int]:
    return render_template(
        "manager/project_form.html",
        form=state,
        editing=editing,
        rows=project_form.stratum_rows(state.values),
        specialties=directory.specialties(),
        regions=[(code, f"{code} {name}") for code, name, _level in directory.regions()],
        region_policy=draws.rules().region_policy,
    ), status


@bp.get("/")
@bp.get("/projects")
@roles_required(*MANAGE)
def projects() -> str:
    """Projects, newest first."""
    page = parse_page(request.args.get("page"))
    rows, total = project_service.list_projects((page - 1) * PER_PAGE, PER_PAGE, _user())
    live = {p.code: draws.live_root_draw(p) for p in rows}
    return render_template(
        "manager/projects.html",
        projects=rows,
        live=live,
        page=page,
        pages=max(1, -(-total // PER_PAGE)),
        total=total,
    )


@bp.route("/projects/new", methods=["GET", "POST"])
@roles_required(*MANAGE)
def new_project() -> Response | tuple[str, int]:
    """Register a project: parties by unified social credit code, strata, window."""
    state = FormState(request.form)
    state.fields = project_form.all_fields(request.form)
    if request.method == "GET":
        return _form_page(FormState({}))
    parsed = project_form.parse(state)
    if parsed.spec is None:
        return _form_page(state, 422)
    try:
        project = project_service.create_project(parsed.spec, _user())
    except ServiceError as exc:
        earlier = _sent_twice(exc, parsed.spec)
        if earlier is not None:
            abandon()
            flash(_("Project %(code)s is registered.", code=earlier.code), "success")
            return redirect(url_for("manager.project", code=earlier.code))
        project_form.place_error(state, exc, parsed.row_of)
        return _form_page(state, exc.http_status)
    flash(_("Project %(code)s is registered.", code=project.code), "success")
    return redirect(url_for("manager.project", code=project.code))


def _resolved(spec: project_service.ProjectSpec) -> project_service.ProjectSpec:
    """``spec`` with its defaults as registration takes them (region policy, alternates), and
    its bidders in one order (a project keeps them as a set: read back, they come sorted)."""
    strata = [
        replace(
            stratum,
            alternates=project_service.default_alternates(stratum.count)
            if stratum.alternates is None
            else stratum.alternates,
        )
        for stratum in spec.strata
    ]
    bidders, drafters = tuple(sorted(spec.bidders)), tuple(sorted(spec.drafters))
    return replace(
        project_service.with_region_policy(spec), strata=strata, bidders=bidders, drafters=drafters
    )


def _sent_twice(exc: ServiceError, spec: project_service.ProjectSpec) -> Project | None:
    """The project this registration already made, if the refusal is its own code taken by
    the very same form a moment before."""
    if exc.code != "conflict:project":
        return None
    user = _user()
    earlier = db.session.scalar(sa.select(Project).where(Project.code == spec.code))
    if (
        earlier is None
        or earlier.created_by != user.id
        or earlier.created_at + SENT_TWICE_WITHIN < clock.now()
    ):
        return None
    # The same form: the registered project, read back through the form, is this request.
    values = project_form.values_of(earlier)
    state = FormState(values)
    state.fields = project_form.all_fields(values)
    again = project_form.parse(state).spec
    if again is None or _resolved(again) != _resolved(spec):
        return None
    return earlier


@bp.route("/projects/<code>/edit", methods=["GET", "POST"])
@roles_required(*MANAGE)
def edit_project(code: str) -> Response | tuple[str, int]:
    """Correct a project before its draw: the registration form, filled in."""
    project = project_service.get_project(code, _user())
    if draws.live_root_draw(project) is not None:
        # Nothing typed here could be saved: say so now, not after the form is filled in.
        flash(_("This project has a draw: it can no longer be corrected."), "error")
        return redirect(url_for("manager.project", code=project.code))
    if request.method == "GET":
        return _form_page(FormState(project_form.values_of(project)), editing=project.code)
    state = FormState(request.form)
    state.fields = project_form.all_fields(request.form)
    parsed = project_form.parse(state)
    if parsed.spec is None:
        return _form_page(state, 422, editing=project.code)
    try:
        project_service.update_project(project, parsed.spec, _user())
    except ServiceError as exc:
        project_form.place_error(state, exc, parsed.row_of)
        return _form_page(state, exc.http_status, editing=project.code)
    flash(_("Project %(code)s is corrected.", code=project.code), "success")
    return redirect(url_for("manager.project", code=project.code))


def _project_page(project: Project, **extra: Any) -> str:
    summary = project_service.summary(project)
    names = directory.organisation_names(
        [summary["tenderer"], summary["agency"], summary["authority"], *summary["bidders"]]
    )
    live = draws.live_root_draw(project)
    return render_template(
        "manager/project.html",
        project=summary,
        names=names,
        specialty_names=directory.specialty_names(),
        draws=directory.draws_of_project(project),
        live=live,
        progress=sealed.progress(live) if live is not None else None,
        witnesses=len(draws.witnesses_of(live)) if live is not None else 0,
        beacon=outside_entropy.beacon(live) if live is not None else None,
        lottery=outside_entropy.lottery_sources(live) if live is not None else None,
        entropy_kinds=draw_form.kinds(project.allow_no_entropy),
        idempotency_key=secrets.token_urlsafe(16),
        opening=list_openings.new_token(),
        now=clock.now(),
        **extra,
    )


@bp.get("/projects/<code>")
@roles_required(*MANAGE)
def project(code: str) -> str:
    """The project, its draws and what can be done next."""
    return _project_page(project_service.get_project(code, _user()), form=FormState({}))


def _bidders_page(project: Project, form: FormState, status: int = 200) -> tuple[str, int]:
    summary = project_service.summary(project)
    deadline = project.bid_deadline
    live = draws.live_root_draw(project)
    after_draw = live is not None
    return render_template(
        "manager/bidders.html",
        project=summary,
        # A supervisor comes from the draw room and goes back to it (the manager's pages are
        # not theirs).
        supervising=_user().role == "supervisor",
        room_draw=live.id if live is not None else None,
        names=directory.organisation_names(summary["bidders"]),
        open_for_bids=deadline is None or clock.now() <= deadline,
        after_draw=after_draw,
        may_add=not after_draw or _user().role in project_service.AFTER_DRAW_ROLES,
        form=form,
    ), status


@bp.route("/projects/<code>/bidders", methods=["GET", "POST"])
@roles_required("project_manager", "supervisor", "admin")
def bidders(code: str) -> Response | tuple[str, int]:
    """The project's bidders; add one by unified social credit code until the bid deadline.

    Before the draw is requested the project manager adds bidders. After, a supervisor or an
    admin does, with a reason kept in the ledger: members of a completed draw in conflict
    with the new bidder are replaced, and in a project manager's hands each addition would
    tell them a member's employer.
    """
    project = project_service.get_project(code, _user())
    state = FormState(request.form, fields={"uscc", "reason"})
    if request.method == "GET":
        return _bidders_page(project, state)
    uscc = request.form.get("uscc", "").strip().upper()
    if not uscc:
        state.add("uscc", _("Enter the bidder's unified social credit code."))
        return _bidders_page(project, state, 422)
    try:
        org, replaced = project_service.add_bidder_and_recheck(
            project, uscc, _user(), request.form.get("reason", "")
        )
    except ServiceError as exc:
        if exc.code == "invalid:deadline":
            abandon()
            state.add("uscc", _("Bids closed at the bid deadline; no bidder can be added."))
        else:
            state.fail(exc)
        return _bidders_page(project, state, exc.http_status)
    flash(_("%(code)s is added as a bidder.", code=org.uscc), "success")
    if replaced:
        flash(
            _("Members in conflict with the new bidder, now replaced: %(n)s.", n=replaced),
            "success",
        )
    return redirect(url_for("manager.bidders", code=code))


@bp.get("/projects/<code>/dry-run")
@roles_required(*MANAGE)
def dry_run(code: str) -> str:
    """Eligible counts per stratum, exclusions per reason and the verdict; writes nothing."""
    user = _user()
    project = project_service.get_project(code, user)
    result = draws.dry_run(project, user=user)
    return render_template(
        "manager/dry_run.html",
        project=project_service.summary(project),
        result=result,
        reason=message_for(result.reason) if result.reason else "",
        specialty_names=directory.specialty_names(),
    )


@bp.post("/projects/<code>/draws")
@roles_required(*MANAGE)
def request_draw(code: str) -> Response | tuple[str, int]:
    """Announce a draw with the entropy chosen (witnesses, beacon, public lottery, or none
    where the project allows it); a resubmitted form returns the same draw. Nothing is
    announced when the form has an error."""
    project = project_service.get_project(code, _user())
    state = FormState(request.form, fields=set(draw_form.FIELDS))
    entropy = draw_form.parse(project, request.form, state)
    if entropy is None:
        return _project_page(project, form=state), 422
    key = (request.form.get("idempotency_key") or "").strip()[:100] or None
    try:
        draw = draws.announce(
            project, _user(), entropy, idempotency_key=f"web:{key}" if key else None
        )
    except ServiceError as exc:
        draw_form.place_error(state, exc)
        return _project_page(project, form=state), exc.http_status
    draw = draws.complete_at_once(draw, _user())
    _flash_announced(draw)
    return redirect(url_for("manager.draw", draw_id=draw.id))


def _flash_announced(draw: Draw) -> None:
    """Say what the new draw waits for: witnesses, the pulse of its time, lottery numbers."""
    kind = draw.entropy.get("kind")
    if draw.state == "failed":
        flash(_("The draw failed: %(reason)s", reason=draw.reason or ""), "error")
    elif draw.state == "completed":
        flash(_("Draw %(id)s is completed with the server's secret alone.", id=draw.id), "success")
    elif kind == "beacon":
        when = format_datetime(parse_time(draw.entropy["not_before"]), "yyyy-MM-dd HH:mm:ss")
        flash(
            _(
                "Draw %(id)s is announced. It waits for the first beacon pulse at or after "
                "%(time)s.",
                id=draw.id,
                time=when,
            ),
            "success",
        )
    elif kind == "public-lottery":
        flash(
            _(
                "Draw %(id)s is announced. Supervisors enter the numbers of each source once "
                "they are published.",
                id=draw.id,
            ),
            "success",
        )
    else:
        flash(_("Draw %(id)s is announced. Supervisors can now witness it.", id=draw.id), "success")


@bp.get("/draws/<draw_id>")
@roles_required(*MANAGE)
def draw(draw_id: str) -> str:
    """Draw status: commitment, seed, and counts only (never who was drawn)."""
    item: Draw = draws.get_draw(draw_id, _user())
    project = project_service.get_project_by_id(item.project_id)
    return render_template(
        "manager/draw.html",
        draw=item,
        project=project,
        progress=sealed.progress(item),
        witnesses=len(draws.witnesses_of(item)),
        beacon=outside_entropy.beacon(item),
        lottery=outside_entropy.lottery_sources(item),
    )


@bp.post("/projects/<code>/no-entropy")
@roles_required("admin")
def permit_no_entropy(code: str) -> Response:
    """An admin allows the project's draws to take no outside entropy."""
    project_service.permit_no_entropy(project_service.get_project(code, _user()), _user())
    flash(_("This project may now be drawn without outside entropy."), "success")
    return redirect(url_for("manager.project", code=code))


@bp.post("/projects/<code>/award")
@roles_required(*MANAGE)
def award(code: str) -> Response | tuple[str, int]:
    """Record the award; the list may then be opened to the project manager."""
    project = project_service.get_project(code, _user())
    try:
        sealed.record_award(project, _user())
    except ServiceError as exc:
        state = FormState({})
        state.fail(exc)
        return _project_page(project, form=state), exc.http_status
    flash(_("The award is recorded. You may now open the list."), "success")
    return redirect(url_for("manager.project", code=code))


@bp.post("/projects/<code>/list")
@roles_required(*MANAGE)
def open_list(code: str) -> tuple[str, int] | str:
    """The list of members after the award (logged as ``list.opened``)."""
    project = project_service.get_project(code, _user())
    live = draws.live_root_draw(project)
    if live is None or live.state != "completed":
        return _project_page(project, form=FormState({}, general=[_("No completed draw.")])), 409
    try:
        purpose = request.form.get("purpose", "")
        members = list_openings.open_once(live, _user(), purpose, "manager")
    except ServiceError as exc:
        state = FormState({})
        state.fail(exc)
        return _project_page(project, form=state), exc.http_status
    return render_template(
        "manager/list.html", project=project_service.summary(project), draw=live, members=members
    )
