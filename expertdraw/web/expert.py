"""Expert's pages: the inbox of anonymous notices (accept / decline), the schedule of accepted
seats, declared conflicts, and the confirmation that employer and relations are correct."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from .. import auth, clock
from ..services import directory, experts, notices
from ..services import leave as leave_service
from ..services.errors import ServiceError
from .access import roles_required
from .forms import FormState, parse_local

bp = Blueprint("expert", __name__, url_prefix="/expert")


def _user() -> Any:
    return auth.current_user()


def _inbox(form: FormState | None = None, failed: str | None = None) -> str:
    items = notices.inbox(_user())
    return render_template(
        "expert/inbox.html",
        notices=items,
        pending=[n for n in items if n["status"] == "pending"],
        others=[n for n in items if n["status"] != "pending"],
        form=form or FormState({}),
        failed=failed,
        specialty_names=directory.specialty_names(),
    )


@bp.get("/")
@bp.get("/notices")
@roles_required("expert")
def inbox() -> str:
    """Notices, newest first: what, where, when, the check-in code; never the project."""
    return _inbox()


@bp.post("/notices/<notice_id>/answer")
@roles_required("expert")
def answer(notice_id: str) -> Response | tuple[str, int]:
    """Accept, or decline with a reason (a declared conflict is recorded for later draws)."""
    state = FormState(request.form, fields={"reason", "conflict_with"})
    accept = request.form.get("answer") == "accept"
    reason = request.form.get("reason") or None
    conflict = request.form.get("conflict_with", "").strip() or None
    if not accept and reason is None:
        state.add("reason", _("Choose why you decline."))
        return _inbox(state, notice_id), 422
    try:
        notices.answer(_user(), notice_id, accept=accept, reason=reason, conflict_with=conflict)
    except ServiceError as exc:
        state.fail(exc)
        return _inbox(state, notice_id), exc.http_status
    if accept:
        flash(_("Thank you. You accepted; please keep the check-in code."), "success")
    else:
        flash(_("You declined. Another expert will be asked."), "success")
    return redirect(url_for("expert.inbox"))


@bp.get("/schedule")
@roles_required("expert")
def schedule() -> str:
    """Accepted seats still to come."""
    now = clock.now()
    items = [
        n for n in notices.inbox(_user()) if n["status"] == "accepted" and n["window_end"] > now
    ]
    items.sort(key=lambda n: n["window_start"])
    return render_template(
        "expert/schedule.html", items=items, specialty_names=directory.specialty_names()
    )


@bp.route("/conflicts", methods=["GET", "POST"])
@roles_required("expert")
def conflicts() -> Response | tuple[str, int]:
    """Declare a conflict with an organisation by its unified social credit code."""
    state = FormState(request.form, fields={"uscc"})
    status = 200
    if request.method == "POST":
        try:
            notices.declare_conflict(_user(), request.form.get("uscc", ""))
        except ServiceError as exc:
            state.fail(exc, aliases={"conflict_with": "uscc"})
            status = exc.http_status
        else:
            flash(_("The conflict is recorded; you will not be drawn for that party."), "success")
            return redirect(url_for("expert.conflicts"))
    profile = experts.own_profile(_user())
    return render_template("expert/conflicts.html", form=state, profile=profile), status


def _leave_page(form: FormState, status: int = 200) -> tuple[str, int]:
    return render_template(
        "expert/leave.html", form=form, leaves=leave_service.own_leave(_user())
    ), status


@bp.route("/leave", methods=["GET", "POST"])
@roles_required("expert")
def leave() -> Response | tuple[str, int]:
    """Declare a period when you cannot evaluate; you are not drawn for windows overlapping it."""
    state = FormState(request.form, fields={"start", "end"})
    if request.method == "GET":
        return _leave_page(state)
    start = parse_local(request.form.get("start", ""))
    end = parse_local(request.form.get("end", ""))
    if start is None:
        state.add("start", _("Enter when the leave starts, as YYYY-MM-DD HH:MM."))
    if end is None:
        state.add("end", _("Enter when the leave ends, as YYYY-MM-DD HH:MM."))
    if start is None or end is None:
        return _leave_page(state, 422)
    try:
        leave_service.declare(_user(), start, end)
    except ServiceError as exc:
        state.fail(exc)
        return _leave_page(state, exc.http_status)
    flash(_("Your leave is recorded; you will not be drawn for evaluations during it."), "success")
    return redirect(url_for("expert.leave"))


@bp.post("/leave/<int:leave_id>/cancel")
@roles_required("expert")
def cancel_leave(leave_id: int) -> Response | tuple[str, int]:
    """Withdraw one of your leaves that has not ended; you may be drawn again for that time."""
    try:
        leave_service.cancel(_user(), leave_id)
    except ServiceError as exc:
        state = FormState({})
        state.fail(exc)
        return _leave_page(state, exc.http_status)
    flash(_("The leave is cancelled."), "success")
    return redirect(url_for("expert.leave"))


@bp.route("/profile", methods=["GET", "POST"])
@roles_required("expert")
def profile() -> Response | str:
    """My employer and relations, and the button confirming they are still correct."""
    if request.method == "POST":
        day = experts.confirm_data(_user())
        flash(_("Thank you. Your data is confirmed as of %(day)s.", day=day.isoformat()), "success")
        return redirect(url_for("expert.profile"))
    return render_template("expert/profile.html", profile=experts.own_profile(_user()))
