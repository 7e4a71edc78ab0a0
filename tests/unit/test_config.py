"""Configuration from the environment: defaults, validation that names the variable."""

from __future__ import annotations

import pytest

from expertdraw.config import ConfigError, from_environment


def test_defaults_give_sqlite_under_the_instance_folder(tmp_path):
    settings = from_environment({"EXPERTDRAW_INSTANCE_PATH": str(tmp_path)})
    assert settings["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'expertdraw.db'}"
    assert settings["RESPONSE_WINDOW_MINUTES"] == 30
    assert settings["API_TOKEN_DAYS"] == 90


def test_postgresql_urls_use_psycopg_3():
    settings = from_environment({"EXPERTDRAW_DATABASE_URL": "postgresql://u@h/db"})
    assert settings["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@h/db"


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
    ],
)
def test_a_bad_setting_is_refused_naming_the_variable(env, named):
    with pytest.raises(ConfigError, match=named):
        from_environment(env)


def test_production_with_passphrase_and_secret_starts():
    settings = from_environment(
        {
            "EXPERTDRAW_ENV": "production",
            "EXPERTDRAW_KEY_PASSPHRASE": "long passphrase",
            "EXPERTDRAW_SECRET_KEY": "s" * 32,
        }
    )
    assert settings["PRODUCTION"] is True


def test_beacon_fetching_is_off_unless_a_url_is_set():
    assert from_environment({})["BEACON_URL"] is None
    url = "https://beacon.nist.gov/beacon/2.0"
    assert from_environment({"EXPERTDRAW_BEACON_URL": url})["BEACON_URL"] == url
