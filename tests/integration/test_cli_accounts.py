"""The commands a production start needs: the first administrator from the command line, and a
demo seed that stays out of a production database unless asked. Behind a proxy, each client
counts for the login limits."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from expertdraw import create_app
from expertdraw.extensions import db
from expertdraw.models import Expert, User
from expertdraw.services import auth as auth_service

PASSWORD = "a long first password"


def test_the_first_administrator_is_created_from_the_command_line(app, runner):
    done = runner.invoke(
        args=["create-user", "chief", "--role", "admin"], input=f"{PASSWORD}\n{PASSWORD}\n"
    )
    assert done.exit_code == 0, done.output
    assert "user chief created (admin)" in done.output
    assert auth_service.authenticate("chief", PASSWORD).role == "admin"
    again = runner.invoke(args=["create-user", "chief", "--role", "admin", "--password", PASSWORD])
    assert again.exit_code == 1 and "Error:" in again.output and "user:username" in again.output
    short = runner.invoke(args=["create-user", "other", "--role", "admin", "--password", "short"])
    assert short.exit_code == 1 and "user:password" in short.output
    staff = runner.invoke(
        args=["create-user", "desk", "--role", "venue_staff", "--password", PASSWORD]
    )
    assert staff.exit_code == 1 and "user:link" in staff.output  # a venue is needed
    wrong = runner.invoke(args=["create-user", "e", "--role", "expert", "--password", PASSWORD])
    assert wrong.exit_code == 2  # experts' users are linked on the admin pages
    assert db.session.scalar(sa.select(sa.func.count(User.id))) == 1


def test_seed_refuses_a_production_database_unless_asked(app, runner):
    app.config["PRODUCTION"] = True
    refused = runner.invoke(args=["seed"])
    assert refused.exit_code == 1 and "production database" in refused.output
    assert db.session.scalar(sa.select(sa.func.count(Expert.id))) == 0


def test_behind_a_proxy_each_client_counts_for_the_login_limits(app_config: dict[str, Any]):
    config = {**app_config, "PROXY_HOPS": 1, "LOGIN_RATE_LIMIT_PER_ADDRESS": "3/minute"}
    application = create_app(config)
    client = application.test_client()
    body = {"username": "nobody-here", "password": "wrong password!"}

    def attempt(address: str) -> int:
        headers = {"X-Forwarded-For": address}
        return client.post("/api/v1/auth/token", json=body, headers=headers).status_code

    assert [attempt("203.0.113.7") for _ in range(4)] == [401, 401, 401, 429]
    assert attempt("198.51.100.20") == 401  # another client is not locked out


def test_a_database_that_cannot_be_reached_is_one_line(app_config: dict[str, Any], tmp_path):
    """A command run against a database that is down (here: a port nobody listens on) says so
    in one line naming the setting, where it printed a long traceback."""
    import base64
    import os

    config = {
        **app_config,
        "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://postgres@127.0.0.1:9/none",
        "DATA_KEY": base64.b64encode(os.urandom(32)).decode(),
        "INSTANCE_PATH": str(tmp_path),
    }
    down = create_app(config)
    with down.app_context():
        runner = down.test_cli_runner()
        for args in (["rules"], ["keys", "list"], ["checkpoint"]):
            done = runner.invoke(args=args)
            assert done.exit_code == 1, (args, done.output)
            assert "cannot use the database (EXPERTDRAW_DATABASE_URL)" in done.output, args
            assert "Traceback" not in done.output
