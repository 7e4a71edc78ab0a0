"""Administrator's editing pages: correct an expert's data; add and correct venues, rooms and
workstations and take them out of service; add and correct organisations by unified social
credit code; change a user's role, venue, password or whether it may log in.

The views register on the ``admin`` blueprint. Each form re-renders with the values typed and
the error beside its field when the service refuses; a refused change writes nothing.
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from .. import auth
from ..extensions import db
from ..models import User
from ..services import auth as auth_service
from ..services import directory, experts, places, sealed_pool
from ..services.errors import ServiceError
from ..services.users import UserError
from .access import roles_required
from .admin import bp, organisations_page, regions
from .forms import FormState, abandon, message_for
from .labels import label

EXPERT_FIELDS = set(experts.EDITABLE)
VENUE_FIELDS = {"venue_id", "name", "region_code", "address"}
ROOM_FIELDS = {"room_id", "room_name"}
ORGANISATION_FIELDS = {"uscc", "name", "kind", "region_code", "parent_uscc"}
USER_FIELDS = {"role", "venue_id", "password", "active"}


# Experts ------------------------------------------------------------------------------------


def _expert_page(code: str, form: FormState, status: int = 200) -> tuple[str, int]:
    return render_template(
        "admin/expert_edit.html",
        expert=experts.editable(code),
        form=form,
        regions=regions(),
        specialties=directory.specialties(),
    ), status


def _sealed_page(code: str, form: FormState, status: int) -> tuple[str, int]:
    experts.get_by_code(code)  # NotFound: a 404, as for the record itself
    return render_template("admin/expert_sealed.html", code=code, form=form), status


@bp.post("/experts/<code>/open")
@roles_required("admin")
def expert_open(code: str) -> Response | tuple[str, int]:
    """Open a seated expert's record with a purpose: ``list.opened`` for each committee."""
    state = FormState(request.form, fields={"purpose"})
    try:
        sealed_pool.open_record(code, auth.current_user(), request.form.get("purpose", ""))
    except ServiceError as exc:
        abandon()
        if exc.http_status == 404:
            abort(404)
        state.fail(exc)
        return _sealed_page(code, state, exc.http_status)
    return redirect(url_for("admin.expert_edit", code=code))


@bp.route("/experts/<code>", methods=["GET", "POST"])
@roles_required("admin")
def expert_edit(code: str) -> Response | tuple[str, int]:
    """Correct an expert's data; eligibility changes are logged as ``pool.changed``. The
    record of an expert seated on a committee whose evaluation is on opens first with a
    purpose (:mod:`~expertdraw.services.sealed_pool`)."""
    if sealed_pool.hidden(auth.current_user(), [code]):
        status = 200 if request.method == "GET" else 403
        return _sealed_page(code, FormState({}, fields={"purpose"}), status)
    if request.method == "GET":
        current = experts.editable(code)
        return _expert_page(code, FormState(vars(current), fields=EXPERT_FIELDS))
    state = FormState(request.form, fields=EXPERT_FIELDS)
    values = {name: request.form.get(name, "") for name in experts.EDITABLE}
    try:
        changed = experts.update_expert(code, values, auth.current_user())
    except ServiceError as exc:
        state.fail(exc)
        return _expert_page(code, state, exc.http_status)
    flash(_("The data of expert %(code)s is saved.", code=code), "success")
    if changed:
        flash(_("Changes that affect eligibility are recorded in the ledger."), "success")
    return redirect(url_for("admin.expert_edit", code=code))


# Venues, rooms and workstations -------------------------------------------------------------


def _venues_page(form: FormState, status: int = 200) -> tuple[str, int]:
    return render_template(
        "admin/venues.html", venues=directory.venues(), form=form, regions=regions()
    ), status


@bp.post("/venues")
@roles_required("admin")
def venue_add() -> Response | tuple[str, int]:
    """Add a venue; its rooms and workstations are added on the venue's page."""
    state = FormState(request.form, fields=VENUE_FIELDS)
    try:
        venue = places.save_venue(
            request.form.get("venue_id", ""),
            request.form.get("name", ""),
            request.form.get("region_code", ""),
            request.form.get("address", ""),
            new=True,
        )
    except ServiceError as exc:
        state.fail(exc)
        return _venues_page(state, exc.http_status)
    flash(_("Venue %(id)s is added. Add its rooms and workstations.", id=venue.id), "success")
    return redirect(url_for("admin.venue", venue_id=venue.id))


def _venue_or_404(venue_id: str) -> Any:
    venue = next((v for v in directory.venues() if v.id == venue_id), None)
    if venue is None:
        abort(404)
    return venue


def _venue_page(venue_id: str, form: FormState | None = None, status: int = 200) -> Any:
    venue = _venue_or_404(venue_id)
    return render_template(
        "admin/venue.html", venue=venue, form=form or FormState({}), regions=regions()
    ), status


@bp.route("/venues/<venue_id>", methods=["GET", "POST"])
@roles_required("admin")
def venue(venue_id: str) -> Response | tuple[str, int]:
    """One venue: correct it, add rooms and workstations, take any out of service."""
    if request.method == "GET":
        return _venue_page(venue_id)
    _venue_or_404(venue_id)
    state = FormState(request.form, fields=VENUE_FIELDS)
    try:
        places.save_venue(
            venue_id,
            request.form.get("name", ""),
            request.form.get("region_code", ""),
            request.form.get("address", ""),
            new=False,
        )
    except ServiceError as exc:
        state.fail(exc)
        return _venue_page(venue_id, state, exc.http_status)
    flash(_("Venue %(id)s is saved.", id=venue_id), "success")
    return redirect(url_for("admin.venue", venue_id=venue_id))


@bp.post("/venues/<venue_id>/rooms")
@roles_required("admin")
def room_add(venue_id: str) -> Response | tuple[str, int]:
    """Add an evaluation room to the venue."""
    _venue_or_404(venue_id)
    state = FormState(request.form, fields=ROOM_FIELDS)
    try:
        room = places.add_room(
            venue_id, request.form.get("room_id", ""), request.form.get("room_name", "")
        )
    except ServiceError as exc:
        state.fail(exc)
        return _venue_page(venue_id, state, exc.http_status)
    flash(_("Room %(id)s is added.", id=room.id), "success")
    return redirect(url_for("admin.venue", venue_id=venue_id))


@bp.post("/venues/<venue_id>/rooms/<room_id>/workstations")
@roles_required("admin")
def workstation_add(venue_id: str, room_id: str) -> Response | tuple[str, int]:
    """Add a workstation to a room of the venue."""
    venue = _venue_or_404(venue_id)
    if room_id not in {r.id for r in venue.rooms}:
        abort(404)
    field = f"workstation_id-{room_id}"
    state = FormState(request.form, fields={field})
    try:
        places.add_workstation(room_id, request.form.get(field, ""))
    except ServiceError as exc:
        abandon()
        state.add(field, message_for(exc.code, str(exc)))
        return _venue_page(venue_id, state, exc.http_status)
    flash(_("Workstation %(id)s is added.", id=request.form.get(field, "").strip()), "success")
    return redirect(url_for("admin.venue", venue_id=venue_id))


@bp.post("/venues/<venue_id>/service")
@roles_required("admin")
def place_service(venue_id: str) -> Response | tuple[str, int]:
    """Take the venue, one of its rooms or workstations out of service, or back into it."""
    venue = _venue_or_404(venue_id)
    kind = request.form.get("kind", "")
    ident = request.form.get("id", "")
    rooms = {r.id for r in venue.rooms}
    workstations = {w.id for r in venue.rooms for w in r.workstations}
    owned = {"venue": {venue.id}, "room": rooms, "workstation": workstations}.get(kind, set())
    if ident not in owned:
        abort(404)
    active = request.form.get("active") == "1"
    try:
        change = places.set_in_service(kind, ident, active)
    except ServiceError as exc:
        state = FormState({})
        state.fail(exc)
        return _venue_page(venue_id, state, exc.http_status)
    what = label("place_kind", kind)
    if change.active:
        flash(_("%(what)s %(id)s is back in service.", what=what, id=ident), "success")
    else:
        flash(_("%(what)s %(id)s is out of service.", what=what, id=ident), "success")
        if change.bookings:
            flash(
                _(
                    "It still has %(n)s current bookings; those seats stay as given. "
                    "New draws no longer use it.",
                    n=change.bookings,
                ),
                "error",
            )
    return redirect(url_for("admin.venue", venue_id=venue_id))


# Organisations ------------------------------------------------------------------------------


@bp.post("/organisations")
@roles_required("admin")
def organisation_add() -> Response | tuple[str, int]:
    """Register an organisation by its unified social credit code (check character checked)."""
    state = FormState(request.form, fields=ORGANISATION_FIELDS)
    try:
        org = places.save_organisation(
            request.form.get("uscc", ""),
            request.form.get("name", ""),
            request.form.get("kind", ""),
            request.form.get("region_code", ""),
            request.form.get("parent_uscc", ""),
            new=True,
        )
    except ServiceError as exc:
        state.fail(exc)
        return organisations_page(state, exc.http_status)
    flash(_("Organisation %(code)s is registered.", code=org.uscc), "success")
    return redirect(url_for("admin.organisations", q=org.uscc))


def _organisation_page(uscc: str, form: FormState, status: int = 200) -> tuple[str, int]:
    return render_template(
        "admin/organisation_edit.html",
        org=places.organisation(uscc),
        form=form,
        regions=regions(),
    ), status


@bp.route("/organisations/<uscc>", methods=["GET", "POST"])
@roles_required("admin")
def organisation_edit(uscc: str) -> Response | tuple[str, int]:
    """Correct an organisation's name, type, region or controlling organisation."""
    org = places.organisation(uscc)
    if request.method == "GET":
        parent = db.session.get(type(org), org.parent_id) if org.parent_id else None
        values = {
            "name": org.name,
            "kind": org.kind,
            "region_code": org.region_code or "",
            "parent_uscc": parent.uscc if parent else "",
        }
        return _organisation_page(uscc, FormState(values, fields=ORGANISATION_FIELDS))
    state = FormState(request.form, fields=ORGANISATION_FIELDS)
    try:
        places.save_organisation(
            org.uscc,
            request.form.get("name", ""),
            request.form.get("kind", ""),
            request.form.get("region_code", ""),
            request.form.get("parent_uscc", ""),
            new=False,
            actor={"role": "admin", "id": auth.current_user().pseudonym},
        )
    except ServiceError as exc:
        state.fail(exc)
        return _organisation_page(uscc, state, exc.http_status)
    flash(_("Organisation %(code)s is saved.", code=org.uscc), "success")
    return redirect(url_for("admin.organisation_edit", uscc=org.uscc))


# Users --------------------------------------------------------------------------------------


def _user_page(user: User, form: FormState, status: int = 200) -> tuple[str, int]:
    return render_template(
        "admin/user_edit.html",
        user=user,
        sealed=auth_service.sealed_account(user),
        form=form,
        venues_options=[(v.id, f"{v.id} {v.name}") for v in directory.venues()],
    ), status


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@roles_required("admin")
def user_edit(user_id: int) -> Response | tuple[str, int]:
    """Change a user's role or venue, set a new password, or deactivate / reactivate it."""
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    if request.method == "GET":
        values = {"role": user.role, "venue_id": user.venue_id or "", "active": user.active}
        return _user_page(user, FormState(values, fields=USER_FIELDS))
    state = FormState(request.form, fields=USER_FIELDS)
    own = user_id == auth.current_user().id
    try:
        auth_service.update_account(
            user_id,
            auth.current_user(),
            role=request.form.get("role", ""),
            active=request.form.get("active") == "1",
            venue_id=request.form.get("venue_id") or None,
            password=request.form.get("password") or None,
            keep_session=auth.session_key() if own else None,
        )
    except UserError as exc:
        abandon()
        field = exc.code.split(":", 1)[1]
        field = {"link": "venue_id", "self": "active", "expert-removed": "active"}.get(field, field)
        state.add(field, message_for(exc.code, str(exc)))
        return _user_page(db.session.get(User, user_id) or user, state, 422)
    if own:
        auth.keep_signed_in(user)
    flash(_("User %(name)s is saved.", name=user.username), "success")
    return redirect(url_for("admin.users"))
