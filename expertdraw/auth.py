"""Authentication glue: page sessions, bearer tokens, ``current_user()``, login rate limits.

Why here: pages and the API share one notion of "who is asking". Pages use Flask's signed
session cookie (``login_user``/``logout_user``); API clients send ``Authorization: Bearer``.
A bearer header, when present, wins and is never silently replaced by the cookie. The database
work lives in ``services.auth``; this module only reads the request and the session.

The session cookie holds the user id, the key of its server-side session row (so logging out,
a new password or a deactivation ends it for good, and a user can end their other browsers'
sessions), a fingerprint of the password hash and the login time (sessions end after
``SESSION_ABSOLUTE_SECONDS`` even when refreshed, and after ``SESSION_IDLE_SECONDS`` without a
request). ``SECRET_KEY`` comes from config or from ``<instance>/secret_key`` (0600).
Page views declare who may see them with ``require_roles``; API endpoints with ``api_route``.
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from flask import (
    Flask,
    abort,
    current_app,
    g,
    has_request_context,
    redirect,
    request,
    session,
    url_for,
)
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import parse
from werkzeug.routing import BuildError

from .logfmt import event
from .models import ROLES, ApiToken, User
from .services import auth as auth_service
from .services import page_sessions

SECRET_FILE = "secret_key"
LIMITER = "expertdraw.limiter"
_RESOLVED = "_auth_resolved"


class RateLimited(Exception):
    """Too many attempts; reported as 429 ``rate-limited`` with ``Retry-After``."""

    code = "rate-limited"
    http_status = 429

    def __init__(self, retry_after: int) -> None:
        self.message = f"too many attempts; try again in {retry_after} seconds"
        super().__init__(self.message)
        self.headers = {"Retry-After": str(retry_after)}


def init_app(app: Flask) -> None:
    """Secret key, cookie settings, the login rate limiter, and ``g.user`` on each request."""
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = load_secret_key(app.instance_path)
    # Flask's defaults exist for these keys, so they are set, not ``setdefault``.
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = app.config.get("SESSION_COOKIE_SAMESITE") or "Lax"
    if app.config.get("PRODUCTION"):
        app.config["SESSION_COOKIE_SECURE"] = True
    idle = int(app.config.setdefault("SESSION_IDLE_SECONDS", 8 * 3600))
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(seconds=idle)
    app.config.setdefault("SESSION_ABSOLUTE_SECONDS", 12 * 3600)
    app.config.setdefault("LOGIN_RATE_LIMIT", "10/minute")
    app.config.setdefault("LOGIN_RATE_LIMIT_PER_ADDRESS", "60/minute")
    app.config.setdefault("LOGIN_RATE_LIMIT_PER_ACCOUNT", "30/hour")
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config.get("REDIS_URL") or "memory://")
    if app.config.get("PRODUCTION") and app.config["RATELIMIT_STORAGE_URI"] == "memory://":
        # Several server processes would each count attempts on their own.
        app.logger.warning(
            event(
                "auth.rate-limit-per-process",
                hint="set EXPERTDRAW_REDIS_URL: every process then counts login attempts (and "
                "refused draw requests) together",
            )
        )
    limiter = Limiter(get_remote_address, auto_check=False, key_prefix="expertdraw")
    limiter.init_app(app)
    app.extensions[LIMITER] = limiter
    app.before_request(_load_user)


def load_secret_key(instance_path: str) -> str:
    """The session signing key from ``<instance>/secret_key``, created (mode 0600) if missing.

    The key is written to a private temporary file and linked into place, so a process that
    starts at the same moment either links first or reads the complete key of the one that
    did, never a half-written file.
    """
    path = Path(instance_path) / SECRET_FILE
    if not path.exists():
        fd, temporary = tempfile.mkstemp(prefix=".secret_key.", dir=instance_path)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            with contextlib.suppress(FileExistsError):
                os.link(temporary, path)
        finally:
            os.unlink(temporary)
    key = path.read_text().strip()
    if len(key) < 32:
        raise RuntimeError(f"{path} holds no usable secret key; delete it to regenerate")
    return key


def _load_user() -> None:
    g.user = current_user()


def _bearer() -> str | None:
    """The bearer token sent with the request; ``""`` for a malformed Authorization header."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return ""
    return token.strip()


def current_user() -> User | None:
    """The user making this request (bearer token first, else page session), or ``None``.

    Resolved once per request; ``auth_method()`` then says how, ``auth_error()`` why not.
    """
    if not has_request_context():
        return None
    if g.get(_RESOLVED) is _this_request():
        return g.get("user")
    g.auth_method = None
    g.auth_error = None
    g.api_token = None
    user: User | None = None
    token = _bearer()
    if token is not None:
        found = auth_service.user_for_token(token)
        if found is None:
            g.auth_error = "auth:invalid-token"
        else:
            user, g.api_token = found
            g.auth_method = "token"
    elif "uid" in session:
        user = _session_user()
        if user is not None:
            g.auth_method = "session"
    setattr(g, _RESOLVED, _this_request())
    g.user = user
    return user


def _this_request() -> object:
    """The request object itself: ``g`` can outlive a request (tests keep one app context)."""
    return request._get_current_object()  # type: ignore[attr-defined]


def _session_user() -> User | None:
    started = session.get("iat")
    max_age = int(current_app.config["SESSION_ABSOLUTE_SECONDS"])
    if not isinstance(started, int) or time.time() - started > max_age:
        page_sessions.end(session.get("sid"))
        session.clear()
        return None
    user = page_sessions.user_for(
        session.get("uid"), session.get("sid"), session.get("sv"), session_idle()
    )
    if user is None:
        session.clear()
    return user


def session_idle() -> timedelta:
    """How long a page session may go without a request before it ends."""
    return timedelta(seconds=int(current_app.config["SESSION_IDLE_SECONDS"]))


def session_key() -> str | None:
    """The server-side key of this browser's page session, if it has one."""
    key = session.get("sid")
    return key if isinstance(key, str) else None


def auth_method() -> str | None:
    """``"token"``, ``"session"`` or ``None`` for the current request."""
    current_user()
    return g.get("auth_method")


def auth_error() -> str | None:
    """Why a presented credential was refused (``auth:invalid-token``), else ``None``."""
    current_user()
    return g.get("auth_error")


def current_token() -> ApiToken | None:
    """The token row the request authenticated with, if it used one."""
    current_user()
    return g.get("api_token")


def login_user(user: User) -> None:
    """Start a page session for ``user`` (call after ``services.auth.authenticate``).

    A session this browser held before ends on the server: a login never continues an old one.
    """
    page_sessions.end(session.get("sid"))
    session.clear()
    session["uid"] = user.id
    session["sid"] = page_sessions.start(user)
    session["sv"] = page_sessions.session_version(user)
    session["iat"] = int(time.time())
    session.permanent = True
    g.user = user
    g.auth_method = "session"
    setattr(g, _RESOLVED, _this_request())


def keep_signed_in(user: User) -> None:
    """After ``user`` changed their own password, this browser stays signed in: its cookie
    takes the new password's fingerprint (the other sessions have ended)."""
    session["sv"] = page_sessions.session_version(user)


def logout_user() -> None:
    """End the page session of this browser, on the server too: a copy of the cookie taken
    before stops working."""
    page_sessions.end(session.get("sid"))
    session.clear()
    g.user = None
    g.auth_method = None
    setattr(g, _RESOLVED, _this_request())


def require_roles(*roles: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator for page views: anonymous visitors go to the login page, other roles get 403.

    ``LOGIN_VIEW`` (config, default ``web.login``) names the login endpoint; without one,
    anonymous visitors get 401. Roles are required: access is denied by default.
    """
    unknown = set(roles) - set(ROLES)
    if not roles or unknown:
        raise ValueError(f"require_roles needs roles from {ROLES}; unknown: {unknown}")

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            user = current_user()
            if user is None:
                try:
                    target = url_for(current_app.config.get("LOGIN_VIEW", "web.login"))
                except BuildError:
                    abort(401)
                return redirect(f"{target}?{urlencode({'next': request.full_path})}")
            if user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapper

    return decorator


def limiter() -> Limiter:
    """The running app's Flask-Limiter (its storage is memory or ``REDIS_URL``)."""
    return current_app.extensions[LIMITER]


def client_network(address: str) -> str:
    """What login limits count attempts by: an IPv4 address, or an IPv6 address's /64 (one
    host holds a whole /64 and could take a new address for every attempt)."""
    import ipaddress

    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv4Address):
        return str(parsed)
    if parsed.ipv4_mapped is not None:
        return str(parsed.ipv4_mapped)
    return str(ipaddress.ip_network(f"{parsed}/64", strict=False))


def check_login_rate(username: str) -> None:
    """Count one login attempt; raise ``RateLimited`` past the configured limits.

    Three limits apply: ``LOGIN_RATE_LIMIT`` per remote address and username,
    ``LOGIN_RATE_LIMIT_PER_ADDRESS`` per remote address (against trying many usernames), and
    ``LOGIN_RATE_LIMIT_PER_ACCOUNT`` per username from any address (against guesses at one
    account spread over many addresses; set well above the first, since whoever knows a
    username can spend it and keep its owner out until the window passes). Every attempt
    counts, successful or not. Behind a reverse proxy, configure ProxyFix so the
    remote address is the client's. If the storage (Redis) fails, the error is logged and the
    attempt allowed: locking every user out would be worse than Argon2-paced guessing.
    """
    address = client_network(get_remote_address() or "unknown")
    name = username.strip().lower()[:64]
    checks = (
        (current_app.config["LOGIN_RATE_LIMIT"], ("login", address, name)),
        (current_app.config["LOGIN_RATE_LIMIT_PER_ADDRESS"], ("login-address", address)),
        (current_app.config["LOGIN_RATE_LIMIT_PER_ACCOUNT"], ("login-account", name)),
    )
    strategy = limiter().limiter
    for text, key in checks:
        item = parse(text)
        try:
            allowed = strategy.hit(item, *key)
            reset = 0.0 if allowed else strategy.get_window_stats(item, *key).reset_time
        except Exception:  # storage down: log it, and let Argon2's cost slow guessing
            current_app.logger.exception("login rate limit storage failed; not limiting")
            return
        if not allowed:
            raise RateLimited(max(1, int(reset - time.time()) + 1))
