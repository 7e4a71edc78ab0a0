"""The trading centre's rules and limits from a TOML settings file.

rules.md gives every number as a default a deployment may change. The environment carries the
service's wiring (database, keys, gateways); the rules a centre sets for itself live in one
file, ``settings.toml`` in the instance folder or the file ``EXPERTDRAW_SETTINGS_FILE`` names,
so that they can be read, reviewed and kept under change control as one document::

    [eligibility]                  # rules.md exclusions (Rules of domain.eligibility_config)
    frequency_limit = 4
    frequency_days = 30
    travel_buffer = "PT2H"
    stale_share_limit = "1/5"
    region_policy = "exclude-prefecture"
    utc_offset = "+08:00"

    [alerts.refusal-rate]          # expert-use alert thresholds, per kind
    ratio = "1/2"

    [timers]
    response_window_minutes = 30
    announce_timeout_minutes = 60
    checkpoint_interval_seconds = 300

    [replacements]
    supplementary_retries = 3      # failed supplementary draws in a row before places stay open

    [retention]
    days = 3650                    # personal data of experts removed from the pool

    [reports]
    timezone = "Asia/Shanghai"
    lookback = { daily = 7, weekly = 4, monthly = 3 }

Every value is checked when the service starts: an unknown section or key, a wrong type or a
value out of range stops it with a message naming the file, the section and the key. Whenever
the rules in effect differ from those the ledger last recorded, the service records them in a
``rules.changed`` entry (``services.rules_record``).
"""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .domain.alert_thresholds import ThresholdError, merge_thresholds
from .domain.eligibility_config import Rules, RulesError

FILE_NAME = "settings.toml"
DEFAULT_ZONE = "Asia/Shanghai"

#: ``[timers]`` keys, the Flask setting each gives, and its least and greatest value (the
#: environment's variables of the same names have the same bounds).
TIMERS: dict[str, tuple[str, int, int]] = {
    "response_window_minutes": ("RESPONSE_WINDOW_MINUTES", 1, 7 * 24 * 60),
    "announce_timeout_minutes": ("ANNOUNCE_TIMEOUT_MINUTES", 1, 7 * 24 * 60),
    "lottery_timeout_hours": ("LOTTERY_TIMEOUT_HOURS", 1, 14 * 24),
    "checkpoint_interval_seconds": ("CHECKPOINT_INTERVAL_SECONDS", 1, 24 * 3600),
}
REPORT_KINDS = ("daily", "weekly", "monthly")
SECTIONS = ("eligibility", "alerts", "timers", "replacements", "retention", "reports")


class SettingsError(ValueError):
    """A bad settings file; the message names the file and the key (``section.key``)."""


def _integer(where: str, value: Any, minimum: int, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SettingsError(f"{where} must be an integer, got {value!r}")
    if not minimum <= value <= maximum:
        raise SettingsError(f"{where} must be {minimum} to {maximum}, got {value}")
    return value


def _table(where: str, value: Any, keys: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SettingsError(f"{where} must be a table")
    unknown = [key for key in value if key not in keys]
    if unknown:
        raise SettingsError(f"{where}.{unknown[0]} is not a setting (known: {', '.join(keys)})")
    return value


def read(path: Path) -> dict[str, Any]:
    """The Flask settings the file at ``path`` gives (only those it sets).

    Raises:
        SettingsError: naming the file, and the key or the line of the first problem.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")  # Windows editors may write a BOM
    except OSError as exc:
        raise SettingsError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise SettingsError(f"{path}: is not UTF-8 text") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: is not valid TOML: {exc}") from None
    try:
        return parse(document)
    except SettingsError as exc:
        raise SettingsError(f"{path}: {exc}") from None


def parse(document: dict[str, Any]) -> dict[str, Any]:
    """The Flask settings of a parsed settings document. Raises SettingsError naming the key."""
    unknown = [key for key in document if key not in SECTIONS]
    if unknown:
        raise SettingsError(f"[{unknown[0]}] is not a section (known: {', '.join(SECTIONS)})")
    settings: dict[str, Any] = {}
    if "eligibility" in document:
        eligibility = document["eligibility"]
        if not isinstance(eligibility, dict):
            raise SettingsError("eligibility must be a table")
        try:
            Rules.from_mapping(eligibility)
        except RulesError as exc:
            raise SettingsError(f"eligibility.{exc.key} {exc.detail}") from None
        settings["ELIGIBILITY_RULES"] = eligibility
    if "alerts" in document:
        try:
            merge_thresholds(document["alerts"])
        except ThresholdError as exc:
            raise SettingsError(f"alerts.{exc.key} {exc.detail}") from None
        settings["ALERT_THRESHOLDS"] = document["alerts"]
    if "timers" in document:
        timers = _table("timers", document["timers"], tuple(TIMERS))
        for key, value in timers.items():
            name, minimum, maximum = TIMERS[key]
            settings[name] = _integer(f"timers.{key}", value, minimum, maximum)
    if "replacements" in document:
        replacements = _table("replacements", document["replacements"], ("supplementary_retries",))
        if "supplementary_retries" in replacements:
            settings["SUPPLEMENTARY_RETRIES"] = _integer(
                "replacements.supplementary_retries", replacements["supplementary_retries"], 0, 20
            )
    if "retention" in document:
        retention = _table("retention", document["retention"], ("days",))
        if "days" in retention:
            settings["RETENTION_DAYS"] = _integer("retention.days", retention["days"], 1, 36_500)
    if "reports" in document:
        settings.update(_reports(_table("reports", document["reports"], ("timezone", "lookback"))))
    _check_one_time(settings)
    return settings


def _check_one_time(settings: dict[str, Any]) -> None:
    """Refuse a centre zone whose offset is not the rules' ``utc_offset``: eligibility (the
    day of a window), notices, pages and reports must all read the same clock."""
    offset = Rules.from_mapping(settings.get("ELIGIBILITY_RULES") or {}).utc_offset
    name = settings.get("REPORT_TIMEZONE", DEFAULT_ZONE)
    centre = ZoneInfo(name)
    first = datetime(datetime.now(UTC).year, 1, 1, 12, tzinfo=UTC)
    # Every day of this year and the next: a zone may change its offset for a few weeks only
    # (Africa/Casablanca in Ramadan), not just between winter and summer.
    for day in range(731):
        local = (first + timedelta(days=day)).astimezone(centre)
        if local.utcoffset() != offset:
            raise SettingsError(
                f"reports.timezone {name} is UTC{_hours(local.utcoffset())} on "
                f"{local.date().isoformat()}, but "
                f"eligibility.utc_offset is {_hours(offset)}: the centre keeps one time, so "
                "set both to the same (a zone without daylight saving time)"
            )


def _hours(offset: timedelta | None) -> str:
    minutes = int((offset or timedelta()).total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _reports(reports: dict[str, Any]) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    if "timezone" in reports:
        name = reports["timezone"]
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise SettingsError(
                f"reports.timezone must be an IANA time zone such as Asia/Shanghai, got {name!r}"
            ) from None
        settings["REPORT_TIMEZONE"] = name
    if "lookback" in reports:
        lookback = _table("reports.lookback", reports["lookback"], REPORT_KINDS)
        settings["REPORT_LOOKBACK"] = {
            kind: _integer(f"reports.lookback.{kind}", value, 1, 1000)
            for kind, value in lookback.items()
        }
    return settings
