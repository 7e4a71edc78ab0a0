"""Setting up from the command line: a bad number, setting or state is one line naming it,
with nothing left behind.

``seed`` asked for more relations than exist, a Redis URL whose port is no number, an SMTP CA
file with no certificate, an export refused after it made its parent folders, ``init`` under
a changed log origin, the scheduler on a database without the schema."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from expertdraw.config import ConfigError, from_environment
from expertdraw.extensions import db
from expertdraw.models import Expert
from expertdraw.services import ledger


def _flask(args: list[str], tmp_path: Path, timeout: float = 60, **extra: str):
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("EXPERTDRAW_")},
        "EXPERTDRAW_INSTANCE_PATH": str(tmp_path / "instance"),
        **extra,
    }
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "expertdraw", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


def test_seed_asked_for_too_many_conflicts_is_one_line_error(app, runner):
    """More relations than the pool's experts and organisations can make: one line, nothing
    seeded; a number beyond any pool is refused before anything runs."""
    done = runner.invoke(args=["seed", "--conflicts", "5000000"])
    assert done.exit_code == 1 and isinstance(done.exception, SystemExit)
    assert "Error:" in done.output and "relations asked" in done.output
    assert "Traceback" not in done.output
    assert db.session.scalar(sa.select(sa.func.count(Expert.id))) == 0
    huge = runner.invoke(args=["seed", "--experts", "99999999999999999999999"])
    assert huge.exit_code == 2 and "--experts" in huge.output


def test_a_redis_url_with_a_bad_port_is_one_line(tmp_path):
    """Refused when the configuration is read, before the rate limiter's client would fail
    on it with a traceback."""
    done = _flask(["rules"], tmp_path, EXPERTDRAW_REDIS_URL="redis://cache.internal:port/0")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "EXPERTDRAW_REDIS_URL" in done.stderr


def test_a_redis_url_with_a_bad_port_is_refused_by_the_config(tmp_path):
    with pytest.raises(ConfigError, match="EXPERTDRAW_REDIS_URL"):
        from_environment(
            {
                "EXPERTDRAW_INSTANCE_PATH": str(tmp_path),
                "EXPERTDRAW_REDIS_URL": "redis://cache.internal:port/0",
            }
        )


def test_an_smtp_ca_file_that_holds_no_certificate_is_refused(tmp_path):
    """Checked at start as the beacon's certificate is: a wrong file would fail every
    STARTTLS later, each retried as if the relay were down."""
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("this is not a certificate\n")
    with pytest.raises(ConfigError, match="EXPERTDRAW_SMTP_CA_FILE"):
        from_environment(
            {
                "EXPERTDRAW_INSTANCE_PATH": str(tmp_path),
                "EXPERTDRAW_SMTP_HOST": "mail.zt.example",
                "EXPERTDRAW_SMTP_TLS": "starttls",
                "EXPERTDRAW_SMTP_CA_FILE": str(not_pem),
            }
        )


def test_a_refused_export_leaves_no_folders_behind(app, runner, tmp_path):
    """The parent folders the export made for its bundle go too."""
    ledger.create_log()
    db.session.commit()
    out = tmp_path / "deep" / "er" / "bundle"
    done = runner.invoke(args=["export-ledger", str(out), "--to", "99"])
    assert done.exit_code == 1 and "beyond the last entry" in done.output
    assert not (tmp_path / "deep").exists()


def test_init_under_a_changed_log_origin_fails(app, runner):
    """``init``, run to check a setup, fails: every ledger write would be refused."""
    ledger.create_log()
    db.session.commit()
    app.config["LOG_ORIGIN"] = "other.origin.example"
    done = runner.invoke(args=["init"])
    assert done.exit_code != 0
    assert "LOG_ORIGIN" in done.output


def test_the_scheduler_on_an_uninitialised_database_stops_naming_init(tmp_path):
    """It stops at once naming ``init``, as every other command does, instead of running on
    and failing each lease attempt."""
    try:
        done = _flask(["scheduler"], tmp_path, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("flask scheduler kept running on a database without tables")
    assert done.returncode != 0
    assert "init" in done.stderr
