"""Logging in and out, and the home address that sends each role to its main page."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from .. import auth
from ..services import auth as auth_service
from ..services import preferences
from . import i18n
from .access import home_url, public, roles_required
from .forms import FormState

bp = Blueprint(
    "web",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/assets",
)

ALL_ROLES = ("admin", "project_manager", "supervisor", "expert", "venue_staff")


def _safe_next(target: str | None) -> str | None:
    """A local path to return to after login, never another site: printable ASCII only (a
    browser drops tabs and line breaks, so ``/\t/evil.example`` would become
    ``//evil.example``), starting with one ``/`` and no backslash, and no scheme or host as
    ``urlsplit`` reads it."""
    if not target or any(not " " < ch <= "~" for ch in target):
        return None
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target.rstrip("?") or None


@bp.get("/")
@public
def index() -> Response:
    """Each role's main page, or the login page."""
    return redirect(home_url(auth.current_user()))


@bp.route("/login", methods=["GET", "POST"])
@public
def login() -> Response | tuple[str, int] | str:
    """The login form; on success, the page asked for or the role's main page."""
    state = FormState(request.form, fields={"username", "password"})
    next_url = _safe_next(request.values.get("next"))
    if request.method == "GET":
        if auth.current_user() is not None:
            return redirect(next_url or home_url(auth.current_user()))
        return render_template("auth/login.html", form=state, next_url=next_url)
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    status = 200
    try:
        auth.check_login_rate(username)
        user = auth_service.authenticate(username, password)
    except auth.RateLimited as exc:
        state.add(
            None,
            _(
                "Too many attempts. Wait %(seconds)s seconds and try again.",
                seconds=exc.headers["Retry-After"],
            ),
        )
        status = 429
    except auth_service.AuthError:
        state.add(None, _("Wrong username or password."))
        status = 401
    else:
        chosen = session.get(i18n.SESSION_KEY)
        auth.login_user(user)
        if chosen in i18n.LOCALES:
            preferences.set_language(user, chosen)
        return redirect(next_url or home_url(user))
    return render_template("auth/login.html", form=state, next_url=next_url), status


@bp.post("/logout")
@roles_required(*ALL_ROLES)
def logout() -> Response:
    """End the session and return to the login page (in the same language)."""
    code = i18n.current_code()
    auth.logout_user()
    session[i18n.SESSION_KEY] = code
    return redirect(url_for("web.login"))
