"""Settings from the environment.

Every setting has a default suitable for a single-machine demo on SQLite; a trading centre sets
``EXPERTDRAW_DATABASE_URL`` to PostgreSQL and ``EXPERTDRAW_KEY_PASSPHRASE`` in production.
Values are validated here so that a bad setting stops the service at start with a message that
names the variable, instead of failing later.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import click

PREFIX = "EXPERTDRAW_"
#: rules.md's timers, which the environment or the settings file may change.
TIMER_DEFAULTS = {
    "RESPONSE_WINDOW_MINUTES": 30,
    "ANNOUNCE_TIMEOUT_MINUTES": 60,
    "LOTTERY_TIMEOUT_HOURS": 48,
    "CHECKPOINT_INTERVAL_SECONDS": 300,
}


class ConfigError(click.ClickException, ValueError):
    """A configuration value is missing or malformed; the message names the variable. The
    ``flask`` commands print it as one line (``Error: ...``) and exit with status 1."""


def _int(
    env: dict[str, str], name: str, default: int, minimum: int = 0, maximum: int = 10**7
) -> int:
    raw = env.get(PREFIX + name)
    if raw is None or raw == "":
        return default
    if not re.fullmatch(r"[+-]?[0-9]+", raw.strip()):
        raise ConfigError(f"{PREFIX}{name} must be an integer, got {raw!r}")
    if len(raw.strip().lstrip("+-").lstrip("0")) > 12:  # past every bound, and int() limits
        raise ConfigError(f"{PREFIX}{name} must be {minimum} to {maximum}, got {raw.strip()}")
    value = int(raw)
    if not minimum <= value <= maximum:
        raise ConfigError(f"{PREFIX}{name} must be {minimum} to {maximum}, got {value}")
    return value


def _session_limits(env: dict[str, str]) -> dict[str, int]:
    """How long a page session may idle, and last at all (from a minute up to a week)."""
    idle = _int(env, "SESSION_IDLE_SECONDS", 8 * 3600, 60, 7 * 86400)
    absolute = _int(env, "SESSION_ABSOLUTE_SECONDS", 12 * 3600, 60, 7 * 86400)
    if idle > absolute:
        raise ConfigError(
            f"{PREFIX}SESSION_IDLE_SECONDS ({idle}) must not exceed "
            f"{PREFIX}SESSION_ABSOLUTE_SECONDS ({absolute})"
        )
    return {"SESSION_IDLE_SECONDS": idle, "SESSION_ABSOLUTE_SECONDS": absolute}


#: The shortest secrets production accepts: the passphrase alone guards the ledger's
#: signing keys in a copy of the instance folder; the secret key signs the session cookies.
MIN_PASSPHRASE, MIN_SECRET_KEY = 16, 32


def _check_production_secrets(env: dict[str, str]) -> None:
    """Production refuses secrets too short to keep, outbound services reached in clear
    (an SMS notice carries the check-in code), and a gateway without its signing secret
    (the channel would be off without a word)."""
    if len(env.get(PREFIX + "KEY_PASSPHRASE", "")) < MIN_PASSPHRASE:
        raise ConfigError(
            f"{PREFIX}KEY_PASSPHRASE must be at least {MIN_PASSPHRASE} characters in production "
            "(keys encrypted with a shorter one: run `flask keys repassphrase` outside "
            "production, with the current passphrase set)"
        )
    if len(env.get(PREFIX + "SECRET_KEY", "")) < MIN_SECRET_KEY:
        raise ConfigError(
            f"{PREFIX}SECRET_KEY must be at least {MIN_SECRET_KEY} characters in production "
            '(python -c "import secrets; print(secrets.token_urlsafe(32))" makes one)'
        )
    for name in ("SMS_GATEWAY_URL", "BEACON_URL"):
        value = env.get(PREFIX + name) or ""
        if value and not value.startswith("https://"):
            raise ConfigError(f"{PREFIX}{name} must be an https:// URL in production")
    if env.get(PREFIX + "SMS_GATEWAY_URL") and not env.get(PREFIX + "SMS_GATEWAY_SECRET"):
        raise ConfigError(
            f"{PREFIX}SMS_GATEWAY_URL is set without {PREFIX}SMS_GATEWAY_SECRET: messages to "
            "the gateway are signed with it"
        )


# The user information (where a password goes) of a URL, with or without its scheme, and the
# values of query parameters whose name speaks of a secret.
_USERINFO = re.compile(r"^(\s*(?:[A-Za-z][A-Za-z0-9+.-]*://)?).*@", re.DOTALL)
_SECRET_PARAMETER = re.compile(
    r"(?i)([?&;][^=&;#]*(?:pass|pwd|secret|token|key|auth|credential)[^=&;#]*=)[^&;#]*"
)


def shown_url(value: str) -> str:
    """``value`` as a message may quote it: a URL's user information (where a password
    goes) and the values of password-like query parameters replaced by ``***``. A refused
    setting's message reaches the terminal, the journal and CI logs, where no secret
    belongs."""
    return _SECRET_PARAMETER.sub(r"\1***", _USERINFO.sub(r"\1***@", value))


def _url(env: dict[str, str], name: str, example: str) -> str | None:
    value = env.get(PREFIX + name) or None
    if value is not None and not re.fullmatch(
        r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[!-~]*)?", value
    ):
        raise ConfigError(
            f"{PREFIX}{name} must be an http(s) URL such as {example}, got {shown_url(value)!r}"
        )
    return value


_MAILBOX = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")
_LOOPBACK = ("localhost", "127.0.0.1", "::1")


def _smtp(env: dict[str, str], production: bool) -> dict[str, Any]:
    """The e-mail relay's settings. The sender is a plain address (a bad one has the relay
    refuse every notice, one by one); ``SMTP_TLS`` is ``starttls``, ``auto`` (STARTTLS when
    the relay offers it) or ``none``; a login is sent only over TLS; production reaches a relay
    on another host only by ``starttls`` (a notice carries a check-in code)."""
    host = env.get(PREFIX + "SMTP_HOST") or None
    sender = env.get(PREFIX + "SMTP_FROM", "expertdraw@localhost")
    if not _MAILBOX.fullmatch(sender):
        raise ConfigError(
            f"{PREFIX}SMTP_FROM must be an e-mail address such as notices@ggzy.example.cn"
        )
    tls = env.get(PREFIX + "SMTP_TLS") or "auto"
    if tls not in ("starttls", "auto", "none"):
        raise ConfigError(f"{PREFIX}SMTP_TLS must be starttls, auto or none, got {tls!r}")
    username = env.get(PREFIX + "SMTP_USERNAME") or None
    if username and tls == "none":
        raise ConfigError(
            f"{PREFIX}SMTP_USERNAME is set with {PREFIX}SMTP_TLS=none: a login is sent only "
            "over TLS"
        )
    if production and host and host not in _LOOPBACK and tls != "starttls":
        raise ConfigError(
            f"{PREFIX}SMTP_TLS must be starttls in production for a relay on another host "
            "(a notice carries the check-in code)"
        )
    ca_file = _file(env, "SMTP_CA_FILE")
    # Anything but certificates would fail every STARTTLS, each retried as a relay down.
    _check_certificates("SMTP_CA_FILE", ca_file, "give the relay's CA certificates (PEM)")
    return {
        "SMTP_HOST": host,
        "SMTP_PORT": _int(env, "SMTP_PORT", 25, 1, 65535),
        "SMTP_FROM": sender,
        "SMTP_TLS": tls,
        "SMTP_CA_FILE": ca_file,
        "SMTP_USERNAME": username,
        "SMTP_PASSWORD": env.get(PREFIX + "SMTP_PASSWORD") or None,
    }


def _file(env: dict[str, str], name: str) -> str | None:
    value = env.get(PREFIX + name) or None
    if value is not None and not Path(value).is_file():
        raise ConfigError(f"{PREFIX}{name} names no readable file: {value!r}")
    return value


def check_beacon_certificate(path: str | None) -> None:
    """``BEACON_CERTIFICATE`` must hold PEM certificates (NIST's): with anything else every
    beacon draw announced would wait for a pulse no certificate could check.

    Raises:
        ConfigError: naming the setting and the file.
    """
    _check_certificates("BEACON_CERTIFICATE", path, "give the NIST beacon's certificate file")


def _check_certificates(name: str, path: str | None, advice: str) -> None:
    """The file ``path`` of setting ``name`` holds at least one PEM certificate.

    Raises:
        ConfigError: naming the setting, the file and ``advice``.
    """
    if not path:
        return
    from cryptography import x509

    try:
        data = Path(path).read_bytes()
        x509.load_pem_x509_certificates(data)
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"{PREFIX}{name} {path!r} holds no PEM certificate ({type(exc).__name__}): {advice}"
        ) from None


def _check_redis_url(url: str) -> None:
    """The parts of ``REDIS_URL`` the client reads at start: a port that is a number, a
    database that is one.

    Raises:
        ConfigError: naming the setting (the password masked).
    """
    from urllib.parse import urlsplit

    shown = shown_url(url)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a port that is not a number fails here, not at start
    except ValueError:
        raise ConfigError(f"{PREFIX}REDIS_URL has a port that is no number: {shown!r}") from None
    database = parts.path.strip("/")
    if database and not database.isdigit():
        raise ConfigError(f"{PREFIX}REDIS_URL names a database that is no number: {shown!r}")


def _bool(env: dict[str, str], name: str, default: bool) -> bool:
    raw = env.get(PREFIX + name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{PREFIX}{name} must be a boolean (1/0, true/false), got {raw!r}")


def settings_file(env: dict[str, str], instance: Path) -> dict[str, Any]:
    """The settings of the rules file: ``EXPERTDRAW_SETTINGS_FILE`` (which must exist), else
    ``settings.toml`` in the instance folder if there is one (see ``settings_file``)."""
    from .settings_file import FILE_NAME, SettingsError, read

    named = env.get(PREFIX + "SETTINGS_FILE")
    if named:
        path = Path(named)
        if not path.is_file():
            raise ConfigError(f"{PREFIX}SETTINGS_FILE names no file: {named!r}")
    else:
        path = instance / FILE_NAME
        if not path.is_file():
            return {}
    try:
        return read(path)
    except SettingsError as exc:
        raise ConfigError(f"settings file {exc}") from None


def default_instance_path() -> Path:
    """The instance folder: keys, secrets and the default SQLite database live here."""
    return Path.cwd() / "instance"


def _check_database_url(url: str, environment: str, environment_names_database: bool) -> None:
    """A URL SQLAlchemy can read, naming a database: without one, PostgreSQL's driver would
    fall back to the operating system user's own database and ``init`` would write there;
    SQLite would keep everything in memory and lose it at exit."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    name = PREFIX + "DATABASE_URL"
    try:
        parsed = make_url(url)
        parsed.port  # noqa: B018 - a port that is not a number fails here, not at connect
    except (ArgumentError, ValueError) as exc:
        said = str(exc).replace(url, shown_url(url))
        raise ConfigError(f"{name} is not a valid URL: {said}") from None
    named = (
        parsed.database or {"dbname", "service"} & set(parsed.query) or environment_names_database
    )
    if parsed.get_backend_name() == "postgresql" and not named:
        raise ConfigError(
            f"{name} must name its database: postgresql://<user>@<host>/<db> (or ?dbname=, "
            "?service=, or PGDATABASE / PGSERVICE in the environment)"
        )
    in_memory = not parsed.database or parsed.database == ":memory:"
    if parsed.get_backend_name() == "sqlite" and in_memory and environment != "testing":
        raise ConfigError(f"{name} must name a database file: sqlite:///<file>")


def from_environment(env: dict[str, str] | None = None) -> dict[str, Any]:
    """Build the Flask config mapping from environment variables."""
    env = dict(os.environ if env is None else env)
    instance = Path(env.get(PREFIX + "INSTANCE_PATH") or default_instance_path()).resolve()
    database_url = env.get(PREFIX + "DATABASE_URL") or f"sqlite:///{instance / 'expertdraw.db'}"
    if "://" not in database_url:
        raise ConfigError(
            f"{PREFIX}DATABASE_URL must be a SQLAlchemy URL, got {shown_url(database_url)!r}"
        )
    if database_url.split("://", 1)[0] not in ("sqlite", "postgresql", "postgresql+psycopg"):
        raise ConfigError(
            f"{PREFIX}DATABASE_URL must be sqlite:///<file> or postgresql://<user>@<host>/<db>, "
            f"got {shown_url(database_url)!r}"
        )
    if database_url.startswith("postgresql://"):
        # psycopg 3 is the PostgreSQL driver.
        database_url = "postgresql+psycopg://" + database_url[len("postgresql://") :]
    _check_database_url(
        database_url,
        env.get(PREFIX + "ENV", "development"),
        bool(env.get("PGDATABASE") or env.get("PGSERVICE")),
    )
    production = env.get(PREFIX + "ENV", "development") == "production"
    if env.get(PREFIX + "ENV", "development") not in {"development", "production", "testing"}:
        raise ConfigError(f"{PREFIX}ENV must be development, production or testing")
    if production and not env.get(PREFIX + "KEY_PASSPHRASE"):
        raise ConfigError(
            f"{PREFIX}KEY_PASSPHRASE is required in production: the ledger signing key "
            "must be stored encrypted"
        )
    if production and not env.get(PREFIX + "SECRET_KEY"):
        raise ConfigError(f"{PREFIX}SECRET_KEY is required in production")
    if production:
        _check_production_secrets(env)
    beacon_url = _url(env, "BEACON_URL", "https://beacon.nist.gov/beacon/2.0")
    if production and _bool(env, "DEMO", False):
        raise ConfigError(
            f"{PREFIX}DEMO must be off in production: demo users have published passwords"
        )
    if instance.exists() and not instance.is_dir():
        raise ConfigError(f"{PREFIX}INSTANCE_PATH names a file, not a folder: {str(instance)!r}")
    redis_url = env.get(PREFIX + "REDIS_URL") or None
    if redis_url and not re.match(r"rediss?://", redis_url):
        raise ConfigError(
            f"{PREFIX}REDIS_URL must be a redis:// or rediss:// URL, got {shown_url(redis_url)!r}"
        )
    if redis_url:
        _check_redis_url(redis_url)
    origin = env.get(PREFIX + "LOG_ORIGIN", "ledger.expertdraw.zt.example")
    if not re.fullmatch(r"[!-~]+", origin) or "+" in origin:
        raise ConfigError(
            f"{PREFIX}LOG_ORIGIN must be a name of printable ASCII without spaces or '+' "
            f"(e.g. ledger.expertdraw.zt.example), got {origin!r}"
        )
    rules = settings_file(env, instance)
    # The environment's timers, where set, take precedence over the settings file.
    from .settings_file import TIMERS

    bounds = {name: (low, high) for name, low, high in TIMERS.values()}
    timers = {
        name: _int(env, name, rules.get(name, default), *bounds[name])
        for name, default in TIMER_DEFAULTS.items()
    }
    return {
        **rules,
        **timers,
        "INSTANCE_PATH": str(instance),
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "PRODUCTION": production,
        "DEMO": _bool(env, "DEMO", False),
        "SCHEDULER_ENABLED": _bool(env, "SCHEDULER", False),
        "LOG_ORIGIN": origin,
        "KEY_PASSPHRASE": env.get(PREFIX + "KEY_PASSPHRASE") or None,
        "DATA_KEY": env.get(PREFIX + "DATA_KEY") or None,
        "SECRET_KEY": env.get(PREFIX + "SECRET_KEY") or None,
        "REDIS_URL": redis_url,
        **_smtp(env, production),
        "SMS_GATEWAY_URL": _url(env, "SMS_GATEWAY_URL", "https://sms.example.cn/send"),
        "SMS_GATEWAY_SECRET": env.get(PREFIX + "SMS_GATEWAY_SECRET") or None,
        "BEACON_URL": beacon_url,
        "BEACON_CERTIFICATE": _file(env, "BEACON_CERTIFICATE"),
        "METRICS_TOKEN": env.get(PREFIX + "METRICS_TOKEN") or None,
        "API_TOKEN_DAYS": _int(env, "API_TOKEN_DAYS", 90, 1, 3650),
        **_session_limits(env),
        "PROXY_HOPS": _int(env, "PROXY_HOPS", 0, 0, 5),
    }
