"""expertdraw: auditable random drawing of evaluation experts, venues and workstations.

Flask and the database layer are imported inside ``create_app`` only, so that the offline
verifier (``python -m expertdraw.verify``) loads nothing but the pure domain package.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask

MIGRATIONS = str(Path(__file__).resolve().parent / "migrations")


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the application: config → extensions → blueprints → errors → cli → jobs."""
    from flask import Flask

    from . import config as config_module

    settings = config_module.from_environment()
    if test_config:
        settings.update(test_config)
    app = Flask(__name__, instance_path=settings["INSTANCE_PATH"], instance_relative_config=False)
    app.config.update(settings)
    config_module.check_beacon_certificate(app.config.get("BEACON_CERTIFICATE"))
    try:
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise config_module.ConfigError(
            f"EXPERTDRAW_INSTANCE_PATH cannot be made a folder: {app.instance_path!r} "
            f"({exc.strerror})"
        ) from None
    url = _in_instance(app.config["SQLALCHEMY_DATABASE_URI"], app.instance_path)
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    _private_sqlite_file(url)
    register_extensions(app)
    register_security(app)
    register_blueprints(app)
    register_cli(app)
    register_jobs(app)
    hops = int(app.config.get("PROXY_HOPS") or 0)
    if hops:
        # Behind reverse proxies the client's address (login limits, logs) and scheme come
        # from their X-Forwarded-* headers; only that many hops are trusted.
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    return app


def _in_instance(url: str, instance_path: str) -> str:
    """The database URL with a relative SQLite path taken in the instance folder, as
    Flask-SQLAlchemy takes it, so that every check at start (the data key, the signing key,
    the new file's mode) looks at the file the app uses, not one in the working directory."""
    import os

    import sqlalchemy as sa

    parsed = sa.engine.make_url(url)
    path = parsed.database or ""
    relative = path not in ("", ":memory:") and not path.startswith("file:")
    if parsed.get_backend_name() != "sqlite" or not relative or os.path.isabs(path):
        return url
    return parsed.set(database=os.path.join(instance_path, path)).render_as_string(
        hide_password=False
    )


def _private_sqlite_file(url: str) -> None:
    """Create a new SQLite database file readable by its owner only (SQLite would create it
    world-readable, and it holds the pool, encrypted or not); its journal files follow."""
    import os

    prefix = "sqlite:///"
    if not url.startswith(prefix) or url == prefix or ":memory:" in url:
        return
    path = Path(url[len(prefix) :].split("?", 1)[0])
    if path.exists() or not path.parent.is_dir():
        return
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def register_extensions(app: Flask) -> None:
    from . import models, personal_data  # noqa: F401  (models register their tables)
    from .extensions import db, migrate

    db.init_app(app)
    _close_session_safely(app)
    personal_data.init_app(app)
    from .services.keys import check_signing_key

    check_signing_key(
        app.instance_path, app.config.get("KEY_PASSPHRASE"), app.config["SQLALCHEMY_DATABASE_URI"]
    )
    migrate.init_app(app, db, directory=MIGRATIONS, render_as_batch=True)


def _close_session_safely(app: Flask) -> None:
    """Close the request's session before Flask-SQLAlchemy removes it (teardowns run in
    reverse order), so that a database lost at the very end of a request cannot turn an
    already built response into a server error: a dead connection is invalidated instead."""
    from sqlalchemy.exc import SQLAlchemyError

    from .extensions import db

    @app.teardown_appcontext
    def close_session(exc: BaseException | None = None) -> None:
        try:
            db.session.close()
        except SQLAlchemyError:
            db.session().invalidate()


def register_security(app: Flask) -> None:
    from . import auth

    auth.init_app(app)


def register_blueprints(app: Flask) -> None:
    from . import api, ops, web

    ops.init_app(app)
    api.init_app(app)
    web.init_app(app)


def register_jobs(app: Flask) -> None:
    from . import jobs

    jobs.init_app(app)


def register_cli(app: Flask) -> None:
    from . import cli

    cli.init_app(app)
