"""Thresholds of the expert-use alerts (rules.md's frequency and refusal figures), with
validation, so that a settings file is checked when the service starts and the same merge is
used when the alerts are evaluated.

Each kind has fixed keys; a configuration gives some of them and the rest keep the defaults.
Counts and days are integers of at least 1 (never booleans), a ratio is an exact ``"n/d"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .sampling import SamplingError, parse_ratio

DEFAULT_THRESHOLDS: dict[str, dict[str, Any]] = {
    "frequency": {"count": 4, "days": 30},
    "consecutive": {"count": 2, "days": 90},
    "refusal-rate": {"ratio": "1/2", "min_answers": 4, "days": 90},
    "no-show": {"count": 1, "days": 90},
    "seated-conflict": {"count": 1, "days": 30},
}


#: The largest value of each key: a longer look-back than a century would reach before the
#: calendar's start.
MAXIMA = {"count": 10_000, "min_answers": 10_000, "days": 36_500}


class ThresholdError(ValueError):
    """A bad threshold; ``key`` names it as ``kind`` or ``kind.key``."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key} {message}")
        self.key = key
        self.detail = message


def merge_thresholds(configured: object) -> dict[str, dict[str, Any]]:
    """The configured thresholds merged over :data:`DEFAULT_THRESHOLDS`, checked.

    Raises:
        ThresholdError: naming the first unknown kind, unknown key or bad value.
    """
    if configured is None:
        configured = {}
    if not isinstance(configured, Mapping):
        raise ThresholdError("alerts", "must be a table of alert kinds")
    unknown = sorted(set(configured) - set(DEFAULT_THRESHOLDS))
    if unknown:
        raise ThresholdError(
            str(unknown[0]), f"is not an alert kind ({', '.join(DEFAULT_THRESHOLDS)})"
        )
    merged: dict[str, dict[str, Any]] = {}
    for kind, defaults in DEFAULT_THRESHOLDS.items():
        given = configured.get(kind) or {}
        if not isinstance(given, Mapping):
            raise ThresholdError(kind, f"must be a table with keys {', '.join(defaults)}")
        extra = sorted(set(given) - set(defaults))
        if extra:
            raise ThresholdError(f"{kind}.{extra[0]}", f"is not a key of {kind}")
        values = {**defaults, **given}
        for key, value in values.items():
            if key == "ratio":
                try:
                    ratio = parse_ratio(value)
                except SamplingError:
                    raise ThresholdError(
                        f"{kind}.ratio", f"must be an exact ratio n/d, got {value!r}"
                    ) from None
                if ratio == 0:  # every expert's rate reaches 0: an alert for each, unearned
                    raise ThresholdError(f"{kind}.ratio", f"must be more than 0, got {value!r}")
            elif isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ThresholdError(
                    f"{kind}.{key}", f"must be an integer of at least 1, got {value!r}"
                )
            elif value > MAXIMA[key]:
                raise ThresholdError(
                    f"{kind}.{key}", f"must be an integer of at most {MAXIMA[key]}, got {value!r}"
                )
        merged[kind] = values
    return merged
