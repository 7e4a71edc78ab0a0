"""Who may open which page: every view declares its roles; undeclared views do not start.

``@roles_required("supervisor", "admin")`` sends anonymous visitors to the login page and other
roles to the 403 page (through ``expertdraw.auth.require_roles``). ``@public`` marks the few
pages anyone may open (login). ``check_declared`` runs when the app is built and refuses a page
blueprint whose views declare neither, so a forgotten decorator is a start-up error, not an
open page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, url_for

from .. import auth
from ..models import User

ROLES_ATTRIBUTE = "web_roles"
PUBLIC: frozenset[str] = frozenset()

HOME = {
    "project_manager": "manager.projects",
    "supervisor": "supervisor.draws_list",
    "admin": "admin.home",
    "expert": "expert.inbox",
    "venue_staff": "staff.today",
}


def roles_required(*roles: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Only users with one of ``roles`` may open the view (login first, else 403)."""
    guard = auth.require_roles(*roles)

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        wrapped = guard(view)
        setattr(wrapped, ROLES_ATTRIBUTE, frozenset(roles))
        return wrapped

    return decorator


def public(view: Callable[..., Any]) -> Callable[..., Any]:
    """Anyone may open the view (the login page)."""
    setattr(view, ROLES_ATTRIBUTE, PUBLIC)
    return view


def declared_roles(view: Callable[..., Any]) -> frozenset[str] | None:
    """The roles a view declared (empty for public), or None when it declared nothing."""
    return getattr(view, ROLES_ATTRIBUTE, None)


def check_declared(app: Flask, blueprint_names: set[str]) -> None:
    """Raise RuntimeError naming every page view that declares no roles."""
    missing = []
    for rule in app.url_map.iter_rules():
        blueprint, _, name = rule.endpoint.rpartition(".")
        if blueprint not in blueprint_names or name == "static":
            continue
        if declared_roles(app.view_functions[rule.endpoint]) is None:
            missing.append(rule.endpoint)
    if missing:
        raise RuntimeError(f"page views without @roles_required or @public: {sorted(missing)}")


def home_url(user: User | None) -> str:
    """Where a user starts: their role's main page (the login page when anonymous)."""
    if user is None:
        return url_for("web.login")
    return url_for(HOME[user.role])
