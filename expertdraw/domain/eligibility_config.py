"""Configurable limits of the exclusion rules (rules.md defaults), with validation.

A deployment changes these in configuration and records every change as a ledger entry, so
:meth:`Rules.to_mapping` gives a JSON value without floats (durations as ISO 8601 strings, the
stale-share limit as a decimal or ``n/d`` string) and :meth:`Rules.from_mapping` reads it back.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from typing import Any, Literal

from expertdraw.domain.eligibility_facts import EligibilityError

RegionPolicy = Literal["exclude-prefecture", "exclude-county", "none"]
REGION_POLICIES: tuple[str, ...] = ("exclude-prefecture", "exclude-county", "none")

_DURATION = re.compile(r"P(?:([0-9]+)D)?(?:T(?:([0-9]+)H)?(?:([0-9]+)M)?(?:([0-9]+)S)?)?")
_OFFSET = re.compile(r"([+-])([0-9]{2}):([0-9]{2})")


class RulesError(EligibilityError):
    """A bad rules configuration; ``key`` names the offending key.

    Codes: ``rules:unknown-key``, ``rules:invalid``, ``rules:not-a-mapping``.
    """

    def __init__(self, code: str, key: str, message: str) -> None:
        super().__init__(code, f"{key}: {message}")
        self.key = key
        self.detail = message


@dataclass(frozen=True)
class Rules:
    """Limits of the exclusion rules; every default is rules.md's.

    - ``former_employer_years``: ``party-former`` look-back (years, calendar);
    - ``penalty_years``: ``penalty`` look-back from the penalty's start date (years);
    - ``travel_buffer``: added on both sides of the window for ``busy``;
    - ``frequency_limit`` / ``frequency_days``: ``frequency`` excludes at this many memberships
      of evaluations starting within that many days of the window start, before or after it
      (``eligibility_rules.recent_span``);
    - ``same_tenderer_days``: ``same-tenderer`` span (days, the same way);
    - ``stale_days``: ``stale-data`` when not confirmed within this many days;
    - ``stale_share_limit``: a stratum may be drawn only if its stale share is below this
      (exact: a ``Fraction``; ``Decimal``, ``int`` and strings like ``"0.2"`` are converted);
    - ``region_policy``: ``exclude-prefecture`` (default), ``exclude-county`` or ``none``;
    - ``utc_offset``: the trading centre's offset from UTC (China: +08:00), which turns the
      window start into the evaluation date.
    """

    former_employer_years: int = 3
    penalty_years: int = 3
    travel_buffer: timedelta = timedelta(hours=2)
    frequency_limit: int = 4
    frequency_days: int = 30
    same_tenderer_days: int = 90
    stale_days: int = 365
    stale_share_limit: Fraction = Fraction(1, 5)
    region_policy: RegionPolicy = "exclude-prefecture"
    utc_offset: timedelta = timedelta(hours=8)

    def __post_init__(self) -> None:
        # The upper bounds keep every date the rules compute within the calendar.
        for key, minimum, maximum in (
            ("former_employer_years", 0, 100),
            ("penalty_years", 0, 100),
            ("frequency_limit", 1, 10**9),  # a count: a huge one is "no limit"
            ("frequency_days", 1, 36_500),
            ("same_tenderer_days", 0, 36_500),
            ("stale_days", 0, 36_500),
        ):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int):
                raise RulesError("rules:invalid", key, f"must be an integer, got {value!r}")
            if not minimum <= value <= maximum:
                raise RulesError("rules:invalid", key, f"must be {minimum} to {maximum}")
        buffer = self.travel_buffer
        if (
            not isinstance(buffer, timedelta)
            or not timedelta(0) <= buffer <= timedelta(days=30)
            or buffer.microseconds
        ):
            raise RulesError(
                "rules:invalid", "travel_buffer", "must be a whole-second duration of 0 to 30 days"
            )
        limit = _fraction("stale_share_limit", self.stale_share_limit)
        if not 0 < limit <= 1:
            raise RulesError("rules:invalid", "stale_share_limit", "must be > 0 and <= 1")
        object.__setattr__(self, "stale_share_limit", limit)
        if self.region_policy not in REGION_POLICIES:
            raise RulesError(
                "rules:invalid", "region_policy", f"must be one of {', '.join(REGION_POLICIES)}"
            )
        offset = self.utc_offset
        if (
            not isinstance(offset, timedelta)
            or abs(offset) >= timedelta(hours=24)
            or offset % timedelta(minutes=1)
        ):
            raise RulesError("rules:invalid", "utc_offset", "must be whole minutes within ±24 h")

    @property
    def zone(self) -> timezone:
        """The trading centre's fixed-offset time zone."""
        return timezone(self.utc_offset)

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> Rules:
        """Build rules from configuration; absent keys keep their defaults.

        Accepted values: integers (not bools) for counts; ``travel_buffer`` as ``timedelta``
        or ISO 8601 ``PnDTnHnMnS`` (e.g. ``"PT2H"``); ``stale_share_limit`` as ``Fraction``,
        ``Decimal``, ``int`` or a string (``"0.2"``, ``"1/5"``), never a float;
        ``utc_offset`` as ``timedelta`` or ``"+08:00"``.

        Raises:
            RulesError: ``rules:not-a-mapping``, ``rules:unknown-key`` or ``rules:invalid``,
                with ``key`` naming the offending key.
        """
        if not isinstance(mapping, Mapping):
            raise RulesError("rules:not-a-mapping", "$", "configuration must be a mapping")
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in mapping.items():
            if key not in known:
                raise RulesError("rules:unknown-key", str(key), "is not a rules setting")
            if key == "travel_buffer":
                value = _duration(key, value)
            elif key == "utc_offset":
                value = _offset(key, value)
            elif key == "stale_share_limit":
                value = _fraction(key, value)
            values[key] = value
        return cls(**values)

    def to_mapping(self) -> dict[str, Any]:
        """The rules as a JSON value without floats, accepted by :meth:`from_mapping`."""
        return {
            "former_employer_years": self.former_employer_years,
            "penalty_years": self.penalty_years,
            "travel_buffer": _format_duration(self.travel_buffer),
            "frequency_limit": self.frequency_limit,
            "frequency_days": self.frequency_days,
            "same_tenderer_days": self.same_tenderer_days,
            "stale_days": self.stale_days,
            "stale_share_limit": _format_fraction(self.stale_share_limit),
            "region_policy": self.region_policy,
            "utc_offset": _format_offset(self.utc_offset),
        }


def _duration(key: str, value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, str):
        match = _DURATION.fullmatch(value)
        if match and value not in ("P", "PT") and not value.endswith("T"):
            days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
            try:
                return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
            except OverflowError:  # beyond any bound the caller checks next
                raise RulesError(
                    "rules:invalid", key, f"is too long a duration, got {value!r}"
                ) from None
    raise RulesError(
        "rules:invalid", key, f"must be an ISO 8601 duration like 'PT2H', got {value!r}"
    )


def _format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    text = "P" + (f"{days}D" if days else "")
    time = "".join(f"{n}{unit}" for n, unit in ((hours, "H"), (minutes, "M"), (seconds, "S")) if n)
    if time:
        text += "T" + time
    return text if text != "P" else "PT0S"


def _offset(key: str, value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, str) and (match := _OFFSET.fullmatch(value)):
        sign = -1 if match.group(1) == "-" else 1
        return sign * timedelta(hours=int(match.group(2)), minutes=int(match.group(3)))
    raise RulesError("rules:invalid", key, f"must be an offset like '+08:00', got {value!r}")


def _format_offset(value: timedelta) -> str:
    sign = "-" if value < timedelta(0) else "+"
    minutes = int(abs(value).total_seconds()) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _fraction(key: str, value: Any) -> Fraction:
    if isinstance(value, bool | float):
        raise RulesError("rules:invalid", key, "must be exact (string, Decimal or Fraction)")
    if isinstance(value, Fraction | int):
        return Fraction(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise RulesError("rules:invalid", key, "must be a finite number")
        return Fraction(value)
    if isinstance(value, str):
        try:
            return Fraction(value.strip())
        except (ValueError, ZeroDivisionError):
            pass
    raise RulesError(
        "rules:invalid", key, f"must be an exact number like '0.2' or '1/5', got {value!r}"
    )


def _format_fraction(value: Fraction) -> str:
    denominator = value.denominator
    twos = fives = 0
    while denominator % 2 == 0:
        denominator //= 2
        twos += 1
    while denominator % 5 == 0:
        denominator //= 5
        fives += 1
    if denominator != 1:
        return f"{value.numerator}/{value.denominator}"
    places = max(twos, fives)
    scaled = value * 10**places
    digits = str(scaled.numerator).rjust(places + 1, "0")
    return digits if places == 0 else f"{digits[:-places]}.{digits[-places:]}"
