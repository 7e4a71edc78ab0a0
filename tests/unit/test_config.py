"""Configuration from the environment: defaults, validation that names the variable."""

from __future__ import annotations

import pytest

from expertdraw.config import ConfigError, from_environment


def test_defaults_give_sqlite_under_the_instance_folder(tmp_path):
    settings = from_environment({"EXPERTDRAW_INSTANCE_PATH": str(tmp_path)})
    assert settings["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'expertdraw.db'}"
    assert settings["RESPONSE_WINDOW_MINUTES"] == 30
    assert settings["API_TOKEN_DAYS"] == 90
    assert (settings["SESSION_IDLE_SECONDS"], settings["SESSION_ABSOLUTE_SECONDS"]) == (
        8 * 3600,
        12 * 3600,
    )


def test_postgresql_urls_use_psycopg_3():
    settings = from_environment({"EXPERTDRAW_DATABASE_URL": "postgresql://u@h/db"})
    assert settings["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@h/db"


PRODUCTION = {
    "EXPERTDRAW_ENV": "production",
    "EXPERTDRAW_KEY_PASSPHRASE": "a long passphrase",
    "EXPERTDRAW_SECRET_KEY": "s" * 32,
}


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"EXPERTDRAW_RESPONSE_WINDOW_MINUTES": "soon"}, "EXPERTDRAW_RESPONSE_WINDOW_MINUTES"),
        ({"EXPERTDRAW_RESPONSE_WINDOW_MINUTES": "0"}, "EXPERTDRAW_RESPONSE_WINDOW_MINUTES"),
        ({"EXPERTDRAW_DEMO": "perhaps"}, "EXPERTDRAW_DEMO"),
        ({"EXPERTDRAW_DATABASE_URL": "expertdraw.db"}, "EXPERTDRAW_DATABASE_URL"),
        ({"EXPERTDRAW_ENV": "staging"}, "EXPERTDRAW_ENV"),
        ({"EXPERTDRAW_ENV": "production", "EXPERTDRAW_SECRET_KEY": "x"}, "KEY_PASSPHRASE"),
        ({"EXPERTDRAW_BEACON_URL": "beacon.nist.gov/beacon/2.0"}, "EXPERTDRAW_BEACON_URL"),
        ({"EXPERTDRAW_BEACON_URL": "http://x y"}, "EXPERTDRAW_BEACON_URL"),
        ({"EXPERTDRAW_SMS_GATEWAY_URL": "notaurl"}, "EXPERTDRAW_SMS_GATEWAY_URL"),
        ({"EXPERTDRAW_DATABASE_URL": "bogus://x"}, "EXPERTDRAW_DATABASE_URL"),
        # no database named: the driver would pick the OS user's own and `init` write there
        ({"EXPERTDRAW_DATABASE_URL": "postgresql://"}, "DATABASE_URL must name its database"),
        ({"EXPERTDRAW_DATABASE_URL": "postgresql://u@h/"}, "DATABASE_URL must name its database"),
        ({"EXPERTDRAW_DATABASE_URL": "sqlite://"}, "DATABASE_URL must name a database file"),
        ({"EXPERTDRAW_DATABASE_URL": "sqlite:///:memory:"}, "must name a database file"),
        ({"EXPERTDRAW_DATABASE_URL": "postgresql://u@h:port/db"}, "DATABASE_URL is not a valid"),
        ({"EXPERTDRAW_SMTP_PORT": "70000"}, "EXPERTDRAW_SMTP_PORT"),
        ({"EXPERTDRAW_RESPONSE_WINDOW_MINUTES": "9" * 20}, "MINUTES must be 1 to .*, got 9999"),
        ({"EXPERTDRAW_SESSION_IDLE_SECONDS": "9" * 14}, "IDLE_SECONDS must be 60 to 604800, got"),
        ({"EXPERTDRAW_RESPONSE_WINDOW_MINUTES": "20000"}, "EXPERTDRAW_RESPONSE_WINDOW_MINUTES"),
        ({"EXPERTDRAW_CHECKPOINT_INTERVAL_SECONDS": "86401"}, "CHECKPOINT_INTERVAL_SECONDS"),
        ({"EXPERTDRAW_REDIS_URL": "notaurl"}, "EXPERTDRAW_REDIS_URL"),
        ({"EXPERTDRAW_LOG_ORIGIN": ""}, "EXPERTDRAW_LOG_ORIGIN"),
        ({"EXPERTDRAW_LOG_ORIGIN": "two words"}, "EXPERTDRAW_LOG_ORIGIN"),
        ({"EXPERTDRAW_BEACON_CERTIFICATE": "/nonexistent.pem"}, "EXPERTDRAW_BEACON_CERTIFICATE"),
        ({"EXPERTDRAW_API_TOKEN_DAYS": "0"}, "EXPERTDRAW_API_TOKEN_DAYS"),
        ({"EXPERTDRAW_SESSION_IDLE_SECONDS": "5"}, "EXPERTDRAW_SESSION_IDLE_SECONDS"),
        ({"EXPERTDRAW_SESSION_ABSOLUTE_SECONDS": "1e9"}, "EXPERTDRAW_SESSION_ABSOLUTE_SECONDS"),
        ({"EXPERTDRAW_SESSION_IDLE_SECONDS": "50000"}, "EXPERTDRAW_SESSION_IDLE_SECONDS"),
        (
            {
                "EXPERTDRAW_ENV": "production",
                "EXPERTDRAW_KEY_PASSPHRASE": "p" * 16,
                "EXPERTDRAW_SECRET_KEY": "s" * 32,
                "EXPERTDRAW_DEMO": "1",
            },
            "EXPERTDRAW_DEMO",
        ),
        *(
            ({**PRODUCTION, **change}, named)
            for change, named in (
                ({"EXPERTDRAW_KEY_PASSPHRASE": "a"}, "KEY_PASSPHRASE must be at least 16"),
                ({"EXPERTDRAW_SECRET_KEY": "x" * 31}, "SECRET_KEY must be at least 32"),
                (
                    {
                        "EXPERTDRAW_SMS_GATEWAY_URL": "http://sms.example.cn/send",
                        "EXPERTDRAW_SMS_GATEWAY_SECRET": "s",
                    },
                    "SMS_GATEWAY_URL must be an https:// URL",
                ),
                ({"EXPERTDRAW_BEACON_URL": "http://beacon.example/2.0"}, "BEACON_URL must be"),
                (
                    {"EXPERTDRAW_SMS_GATEWAY_URL": "https://sms.example.cn/send"},
                    "without EXPERTDRAW_SMS_GATEWAY_SECRET",
                ),
            )
        ),
    ],
)
def test_a_bad_setting_is_refused_naming_the_variable(env, named):
    with pytest.raises(ConfigError, match=named):
        from_environment(env)


def test_production_with_passphrase_and_secret_starts():
    settings = from_environment(
        {
            "EXPERTDRAW_ENV": "production",
            "EXPERTDRAW_KEY_PASSPHRASE": "a long passphrase",
            "EXPERTDRAW_SECRET_KEY": "s" * 32,
        }
    )
    assert settings["PRODUCTION"] is True


def test_beacon_fetching_is_off_unless_a_url_is_set():
    assert from_environment({})["BEACON_URL"] is None
    url = "https://beacon.nist.gov/beacon/2.0"
    assert from_environment({"EXPERTDRAW_BEACON_URL": url})["BEACON_URL"] == url


def test_an_instance_path_that_is_a_file_is_refused(tmp_path):
    a_file = tmp_path / "instance"
    a_file.write_text("x")
    with pytest.raises(ConfigError, match="EXPERTDRAW_INSTANCE_PATH names a file"):
        from_environment({"EXPERTDRAW_INSTANCE_PATH": str(a_file)})


@pytest.mark.parametrize(
    ("url", "env"),
    [
        ("postgresql:///?service=expertdraw", {}),
        ("postgresql://u@/?host=/var/run/postgresql&dbname=expertdraw", {}),
        ("postgresql://u@localhost", {"PGDATABASE": "expertdraw"}),
        ("postgresql://", {"PGSERVICE": "expertdraw"}),
    ],
)
def test_a_database_named_outside_the_path_is_taken(url, env):
    """libpq's other ways to name the database: the query, a service file, the environment."""
    settings = from_environment({"EXPERTDRAW_DATABASE_URL": url, **env})
    assert settings["SQLALCHEMY_DATABASE_URI"].startswith("postgresql+psycopg://")


def test_an_instance_path_below_a_file_is_one_line(tmp_path):
    from expertdraw import create_app

    (tmp_path / "afile").write_text("x")
    below = tmp_path / "afile" / "sub"
    with pytest.raises(ConfigError, match="EXPERTDRAW_INSTANCE_PATH cannot be made a folder"):
        create_app({"INSTANCE_PATH": str(below)})


def test_a_config_error_is_one_line_from_a_flask_command(tmp_path):
    """``flask`` prints ``Error: ...`` naming the variable and exits 1, no traceback."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "EXPERTDRAW_DEMO": "perhaps", "EXPERTDRAW_INSTANCE_PATH": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "expertdraw", "rules"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert "Error: EXPERTDRAW_DEMO must be a boolean" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"not a database\n", "cannot use the database (EXPERTDRAW_DATABASE_URL): file is not a"),
        (b"", "no such table: signing_keys; run `flask --app expertdraw init` first"),
    ],
)
def test_a_database_that_is_not_the_services_is_one_line(tmp_path, content, said):
    import os
    import subprocess
    import sys

    database = tmp_path / "some.db"
    database.write_bytes(content)  # an empty file is an empty SQLite database
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("EXPERTDRAW_")},
        "EXPERTDRAW_INSTANCE_PATH": str(tmp_path / "instance"),
        "EXPERTDRAW_DATABASE_URL": f"sqlite:///{database}",
    }
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "expertdraw", "keys", "list"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert said in done.stderr


SECRET = "S3cretDbPassw0rd"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("EXPERTDRAW_DATABASE_URL", f"postgres://expertdraw:{SECRET}@db.internal/expertdraw"),
        ("EXPERTDRAW_DATABASE_URL", f"postgresql+psycopg2://expertdraw:{SECRET}@db/expertdraw"),
        ("EXPERTDRAW_DATABASE_URL", f"postgresql://expertdraw:{SECRET}@db:port/expertdraw"),
        ("EXPERTDRAW_DATABASE_URL", f"mysql://db/expertdraw?password={SECRET}"),
        ("EXPERTDRAW_REDIS_URL", f"redis+sentinel://:{SECRET}@sentinel:26379/0"),
        ("EXPERTDRAW_SMS_GATEWAY_URL", f"https://acct:{SECRET}@sms.example.cn/send"),
        ("EXPERTDRAW_BEACON_URL", f"https://beacon.example/2.0?token={SECRET}&x=1 y"),
        ("EXPERTDRAW_DATABASE_URL", f"expertdraw:{SECRET}@db.internal/expertdraw"),
        ("EXPERTDRAW_REDIS_URL", f" redis://:{SECRET}@cache.internal:6379/0"),
        ("EXPERTDRAW_DATABASE_URL", f"mysql://db/expertdraw?sslpassword={SECRET}"),
        ("EXPERTDRAW_SMS_GATEWAY_URL", f"https://sms.example.cn/send?access_token={SECRET} x"),
    ],
)
def test_a_refused_url_is_quoted_without_the_password_it_carries(tmp_path, variable, value):
    """The message names the variable and shows the URL's shape, never its secret: it reaches
    the terminal, the journal and CI logs."""
    env = {
        "EXPERTDRAW_INSTANCE_PATH": str(tmp_path),
        variable: value,
        "EXPERTDRAW_SMS_GATEWAY_SECRET": "gateway-secret",
    }
    with pytest.raises(ConfigError) as refused:
        from_environment(env)
    said = str(refused.value)
    assert variable in said
    assert SECRET not in said


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"EXPERTDRAW_SMTP_FROM": "not an address"}, "EXPERTDRAW_SMTP_FROM must be an e-mail"),
        ({"EXPERTDRAW_SMTP_FROM": "a@zt.example\r\nBcc: b@else.example"}, "SMTP_FROM"),
        ({"EXPERTDRAW_SMTP_FROM": "@"}, "SMTP_FROM"),
        ({"EXPERTDRAW_SMTP_TLS": "ssl"}, "EXPERTDRAW_SMTP_TLS must be starttls, auto or none"),
        (
            {"EXPERTDRAW_SMTP_TLS": "none", "EXPERTDRAW_SMTP_USERNAME": "notices"},
            "a login is sent only over TLS",
        ),
        ({"EXPERTDRAW_SMTP_CA_FILE": "/no/such/ca.pem"}, "EXPERTDRAW_SMTP_CA_FILE names no"),
    ],
)
def test_a_bad_mail_setting_is_refused_at_start(env, named):
    with pytest.raises(ConfigError, match=named):
        from_environment({"EXPERTDRAW_SMTP_HOST": "mail.zt.example", **env})


def test_production_reaches_a_relay_on_another_host_only_by_starttls(tmp_path):
    production = {
        "EXPERTDRAW_ENV": "production",
        "EXPERTDRAW_INSTANCE_PATH": str(tmp_path),
        "EXPERTDRAW_KEY_PASSPHRASE": "a passphrase of some length",
        "EXPERTDRAW_SECRET_KEY": "s" * 40,
        "EXPERTDRAW_DATABASE_URL": "postgresql://app@db.internal/expertdraw",
    }
    with pytest.raises(ConfigError, match="SMTP_TLS must be starttls in production"):
        from_environment({**production, "EXPERTDRAW_SMTP_HOST": "mail.zt.example"})
    config = from_environment(
        {**production, "EXPERTDRAW_SMTP_HOST": "mail.zt.example", "EXPERTDRAW_SMTP_TLS": "starttls"}
    )
    assert config["SMTP_TLS"] == "starttls"
    assert from_environment({**production, "EXPERTDRAW_SMTP_HOST": "127.0.0.1"})["SMTP_HOST"]
