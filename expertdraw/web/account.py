"""Every user's own account: a new password, and the browsers signed in to the account.

Registers its views on ``auth.bp`` (the ``web`` blueprint). Changing the password needs the
current one, counts as a login attempt for the rate limit, and signs out every other browser
and API token of the account, so whoever else held a credential is out.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from .. import auth
from ..services import auth as auth_service
from ..services import page_sessions
from ..services.users import UserError
from .access import roles_required
from .auth import ALL_ROLES, bp
from .forms import FormState, abandon

PASSWORD_FIELDS = {"current_password", "new_password", "repeat_password"}


def _page(form: FormState, status: int = 200) -> tuple[str, int]:
    user = auth.current_user()
    key = auth.session_key()
    rows = page_sessions.live(user, auth.session_idle())
    sessions = [(row, page_sessions.is_session(row, key)) for row in rows]
    return render_template("auth/account.html", form=form, sessions=sessions), status


@bp.get("/account")
@roles_required(*ALL_ROLES)
def account() -> tuple[str, int]:
    """The password form and the browsers signed in to this account."""
    return _page(FormState({}, fields=PASSWORD_FIELDS))


@bp.post("/account/password")
@roles_required(*ALL_ROLES)
def account_password() -> Response | tuple[str, int]:
    """Set a new password; every other browser and API token of the account is signed out."""
    user = auth.current_user()
    state = FormState({}, fields=PASSWORD_FIELDS)
    current = request.form.get("current_password", "")
    new = request.form.get("new_password", "")
    if not current:
        state.add("current_password", _("Enter your current password."))
    if not new:
        state.add("new_password", _("Enter the new password."))
    elif request.form.get("repeat_password", "") != new:
        state.add("repeat_password", _("The two new passwords differ."))
    if not state.ok:
        return _page(state, 422)
    try:
        auth.check_login_rate(user.username)
        ended = auth_service.change_password(user, current, new, keep_session=auth.session_key())
    except auth.RateLimited as exc:
        state.add(
            None,
            _(
                "Too many attempts. Wait %(seconds)s seconds and try again.",
                seconds=exc.headers["Retry-After"],
            ),
        )
        return _page(state, 429)
    except auth_service.PasswordError:
        abandon()
        state.add("current_password", _("The current password is wrong."))
        return _page(state, 403)
    except UserError as exc:
        state.fail(exc)
        if state.general:
            state.errors["new_password"] = state.general.pop()
        return _page(state, 422)
    auth.keep_signed_in(user)
    flash(
        _(
            "Your password is changed. Other browsers and API tokens signed out: %(count)s.",
            count=ended,
        ),
        "success",
    )
    return redirect(url_for("web.account"))


@bp.post("/account/sessions/end-others")
@roles_required(*ALL_ROLES)
def account_end_others() -> Response:
    """Sign out every other browser signed in to this account."""
    ended = page_sessions.end_others(auth.current_user(), auth.session_key())
    flash(_("Other browsers signed out: %(count)s.", count=ended), "success")
    return redirect(url_for("web.account"))
