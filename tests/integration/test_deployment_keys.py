"""What a deployment's processes must share, checked at start: the personal-data key, and
no demo login's published password outside demo mode."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from expertdraw import create_app
from expertdraw.config import ConfigError
from expertdraw.extensions import db
from expertdraw.services import auth, users

KEY_A = base64.b64encode(b"A" * 32).decode()
KEY_B = base64.b64encode(b"B" * 32).decode()


def _run(app: Any, *args: str) -> str:
    with app.app_context():
        try:
            done = app.test_cli_runner().invoke(args=list(args))
            assert done.exit_code == 0, done.output
            return done.output
        finally:
            db.session.remove()
            db.engine.dispose()


def _token(app: Any, username: str, password: str) -> Any:
    with app.app_context():
        try:
            return app.test_client().post(
                "/api/v1/auth/token", json={"username": username, "password": password}
            )
        finally:
            db.session.remove()
            db.engine.dispose()


def test_published_demo_passwords_work_only_in_demo_mode(app_config: dict[str, Any]):
    """A database seeded in demo mode keeps its demo users; outside demo mode their published
    passwords are refused, and ``flask demo-logins`` says so."""
    demo = create_app({**app_config, "DEMO": True, "DATA_KEY": KEY_A})
    _run(demo, "seed")
    assert _token(demo, "admin", "admin-demo-2026").status_code == 201
    live = create_app({**app_config, "DEMO": False, "DATA_KEY": KEY_A})
    refused = _token(live, "admin", "admin-demo-2026")
    assert refused.status_code == 401
    assert "demo mode" in refused.get_json()["detail"]
    assert _token(live, "admin", "admin-demo-2027").status_code == 401
    assert "published passwords are refused" in _run(live, "demo-logins")


def test_production_makes_no_data_key_for_an_initialised_database(
    app_config: dict[str, Any], tmp_path: Path
):
    """A process deployed without the instance's data key, on a database ``flask init``
    has set up (its ledger exists, no expert yet), stops at start instead of making a key of
    its own that no other process could read."""
    _run(create_app({**app_config, "DATA_KEY": KEY_A}), "init")
    other_host = tmp_path / "other-host"
    other_host.mkdir()
    config = {**app_config, "PRODUCTION": True, "DATA_KEY": None, "INSTANCE_PATH": str(other_host)}
    with pytest.raises(ConfigError, match="EXPERTDRAW_DATA_KEY"):
        create_app(config)
    assert not (other_host / "data.key").exists()


def test_production_refuses_a_data_key_that_does_not_open_the_data(app_config: dict[str, Any]):
    """Every process needs the key the personal data was encrypted with: another key stops
    the process at start, naming the setting; the right one starts."""
    _run(create_app({**app_config, "DATA_KEY": KEY_A}), "seed")
    with pytest.raises(ConfigError, match="does not open the database's personal data"):
        create_app({**app_config, "PRODUCTION": True, "DATA_KEY": KEY_B})
    assert create_app({**app_config, "PRODUCTION": True, "DATA_KEY": KEY_A}) is not None


def test_a_published_demo_password_cannot_be_set_outside_demo_mode(app):
    """Outside demo mode a demo login's published password would be refused at every login:
    creating a user with it, or setting it later, is refused as ``user:password``."""
    assert not app.config.get("DEMO")
    with pytest.raises(users.UserError, match="published demo password") as refused:
        users.create_user("manager", "manager-demo-2026", "project_manager")
    assert refused.value.code == "user:password"
    user = users.create_user("manager", "a long new password", "project_manager")
    db.session.commit()
    with pytest.raises(users.UserError, match="published demo password"):
        auth.change_password(user, "a long new password", "manager-demo-2026")
    assert auth.authenticate("manager", "a long new password").id == user.id


def _relative_sqlite(
    app_config: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, dict[str, Any], Any]:
    """A database named ``sqlite:///rel.db``, set up and seeded with key A from another
    working directory: that folder, the configuration and the app."""
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    config = {**app_config, "SQLALCHEMY_DATABASE_URI": "sqlite:///rel.db"}
    seeded = create_app({**config, "DATA_KEY": KEY_A})
    _run(seeded, "init")
    _run(seeded, "seed")
    return workdir, config, seeded


def test_production_key_check_reads_the_relative_sqlite_database_the_app_uses(
    app_config: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """``sqlite:///<relative file>`` is the file in the instance folder for Flask-SQLAlchemy
    (the database the app reads and writes); the production checks must look at that file,
    not at a file of the same name in the working directory: a key that does not open the
    data must stop the process, and no new key may be made for a database holding experts."""
    workdir, config, seeded = _relative_sqlite(app_config, tmp_path, monkeypatch)
    with seeded.app_context():
        used = db.engine.url.database
        db.engine.dispose()
    assert Path(used).resolve() == (Path(app_config["INSTANCE_PATH"]) / "rel.db").resolve()

    with pytest.raises(ConfigError, match="does not open the database's personal data"):
        create_app({**config, "PRODUCTION": True, "DATA_KEY": KEY_B})
    assert not (workdir / "rel.db").exists(), "the check made an empty database in the cwd"


def test_production_makes_no_key_for_a_relative_sqlite_database_holding_experts(
    app_config: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The same database, set up with ``EXPERTDRAW_DATA_KEY``; a production process started
    without it must stop (the database holds experts), not write a ``data.key`` of its own
    into the instance folder, which every later start would then use."""
    _workdir, config, _seeded = _relative_sqlite(app_config, tmp_path, monkeypatch)
    instance = Path(app_config["INSTANCE_PATH"])
    assert not (instance / "data.key").exists()
    with pytest.raises(ConfigError, match="EXPERTDRAW_DATA_KEY"):
        create_app({**config, "PRODUCTION": True, "DATA_KEY": None})
    assert not (instance / "data.key").exists()
