"""Venue staff: the day's bookings of their venue by workstation, and the check-in form.

Staff see which workstation is booked when and whether it is checked in; never which expert
evaluates which project, nor who the other members are (四不见面).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from flask import Blueprint, render_template, request
from flask_babel import gettext as _

from .. import auth, clock
from ..services import directory, notices
from ..services.errors import ServiceError
from .access import roles_required
from .forms import FormState, parse_day, zone

bp = Blueprint("staff", __name__, url_prefix="/venue")


def _day() -> date:
    return parse_day(request.values.get("day")) or clock.now().astimezone(zone()).date()


def _page(form: FormState, checked: dict[str, Any] | None = None, status: int = 200) -> Any:
    user = auth.current_user()
    day = _day()
    start = datetime.combine(day, time(0), tzinfo=zone())
    bookings = directory.venue_bookings(user.venue_id, start, start + timedelta(days=1))
    return render_template(
        "staff/today.html",
        venue=directory.venue(user.venue_id),
        day=day,
        previous_day=day - timedelta(days=1),
        next_day=day + timedelta(days=1),
        bookings=bookings,
        form=form,
        checked=checked,
    ), status


@bp.get("/")
@roles_required("venue_staff")
def today() -> Any:
    """Bookings of the day (today by default) and the check-in form."""
    return _page(FormState({}))


@bp.post("/check-in")
@roles_required("venue_staff")
def check_in() -> Any:
    """Check an expert in by the code on their notice."""
    state = FormState(request.form, fields={"code"})
    code = request.form.get("code", "").strip()
    if not code:
        state.add("code", _("Enter the check-in code."))
        return _page(state, status=422)
    try:
        checked = notices.check_in(auth.current_user(), code)
    except ServiceError as exc:
        if exc.code == "not-found":
            state.add("code", _("No seat at this venue has this check-in code."))
            return _page(state, status=exc.http_status)
        state.fail(exc)
        if state.general:
            state.errors["code"] = state.general.pop()
        return _page(state, status=exc.http_status)
    return _page(FormState({}), checked)
