"""The rules in effect, and their record in the ledger.

rules.md: every number is a default a deployment can change in configuration, and each change
is itself a ledger entry. The rules in effect are the eligibility limits, the alert
thresholds, the timers, the supplementary draws' retry limit and the retention of personal
data, as configured (``settings_file``) over the defaults. When they differ from what the
ledger last recorded (the defaults, before any record), the service appends ``rules.changed``
with the whole set, the keys that changed and the ``seq`` of the record they replace, so that a
supervisor reading the ledger knows the rules under which each later draw was made.

The check runs under the ledger lock before every draw announcement and report, and by
``flask init`` and ``flask rules``: a process started with new settings records them before
the first draw they govern, and instances sharing one database with different settings each
record theirs before their own draws, which makes the difference visible.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import current_app

from ..config import TIMER_DEFAULTS
from ..domain.alert_thresholds import DEFAULT_THRESHOLDS
from ..domain.eligibility_config import Rules
from ..extensions import db
from ..models import LedgerEntry
from . import alerts, ledger
from .reports_periods import DEFAULT_LOOKBACK, DEFAULT_ZONE, lookback
from .reports_periods import KINDS as REPORT_KINDS
from .retention import DEFAULT_RETENTION_DAYS, retention_days

RULES_CHANGED = "rules.changed"
#: Failed supplementary draws in a row before the places are left open, unless configured.
DEFAULT_RETRIES = 3


def supplementary_retries() -> int:
    """Failed supplementary draws in a row before the places are left open."""
    return int(current_app.config.get("SUPPLEMENTARY_RETRIES", DEFAULT_RETRIES))


def _timers(values: Mapping[str, int]) -> dict[str, int]:
    """The timers of ``values`` (Flask setting names) under the settings file's keys."""
    return {name.lower(): values[name] for name in TIMER_DEFAULTS}


def defaults() -> dict[str, Any]:
    """The rules of rules.md's defaults: in effect until a ``rules.changed`` says otherwise."""
    return {
        "eligibility": Rules().to_mapping(),
        "alerts": copy.deepcopy(DEFAULT_THRESHOLDS),
        "timers": _timers(TIMER_DEFAULTS),
        "supplementary_retries": DEFAULT_RETRIES,
        "retention_days": DEFAULT_RETENTION_DAYS,
        "reports": {"timezone": DEFAULT_ZONE, "lookback": dict(DEFAULT_LOOKBACK)},
    }


def in_effect() -> dict[str, Any]:
    """The rules this process applies, as a JSON value (no floats, no secrets).

    Raises:
        ServiceError: ``invalid:alert-thresholds`` for bad thresholds; RulesError for bad
        eligibility rules (both are checked when the service starts from a settings file).
    """
    config = current_app.config
    return {
        "eligibility": Rules.from_mapping(config.get("ELIGIBILITY_RULES") or {}).to_mapping(),
        "alerts": alerts.thresholds(),
        "timers": _timers(config),
        "supplementary_retries": supplementary_retries(),
        "retention_days": retention_days(),
        "reports": {
            "timezone": current_app.config.get("REPORT_TIMEZONE") or DEFAULT_ZONE,
            "lookback": {kind: lookback(kind) for kind in REPORT_KINDS},
        },
    }


def recorded() -> tuple[int | None, dict[str, Any]]:
    """The ``seq`` and rules of the last ``rules.changed`` entry; ``(None, defaults())``
    when the ledger has none."""
    row = db.session.execute(
        sa.select(LedgerEntry.seq, LedgerEntry.record)
        .where(LedgerEntry.type == RULES_CHANGED)
        .order_by(LedgerEntry.seq.desc())
        .limit(1)
    ).first()
    if row is None:
        return None, defaults()
    # A record made before a rule was recorded (``reports``, a new timer) had its default then.
    rules = defaults()
    for key, value in json.loads(row.record)["entry"]["body"]["rules"].items():
        merged = isinstance(value, dict) and isinstance(rules.get(key), dict)
        rules[key] = {**rules[key], **value} if merged else value
    return row.seq, rules


def changed_keys(old: Any, new: Any, prefix: str = "") -> list[str]:
    """The dotted keys whose values differ between two rule sets, in order."""
    if isinstance(old, dict) and isinstance(new, dict):
        keys = sorted(set(old) | set(new))
        return [
            changed
            for key in keys
            for changed in changed_keys(old.get(key), new.get(key), f"{prefix}{key}.")
        ]
    return [] if old == new else [prefix.rstrip(".")]


def record_if_changed(now: datetime | None = None) -> dict[str, Any] | None:
    """Append ``rules.changed`` in the current transaction when the rules in effect differ
    from the last recorded; returns the entry, or None when they are the same. Takes the
    ledger lock, so the comparison and the entry are made against the same tail."""
    current = in_effect()
    ledger.lock()
    previous_seq, previous = recorded()
    changed = changed_keys(previous, current)
    if not changed:
        return None
    body = {"rules": current, "changed": changed, "previous": previous_seq}
    return ledger.append(RULES_CHANGED, body, dict(ledger.SYSTEM), now=now)


def flatten(rules: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """``(dotted key, value)`` of a rule set, in key order, for a page to list."""
    pairs: list[tuple[str, Any]] = []
    for key in sorted(rules):
        value = rules[key]
        if isinstance(value, dict):
            pairs.extend(flatten(value, f"{prefix}{key}."))
        else:
            pairs.append((f"{prefix}{key}", value))
    return pairs


@dataclass(frozen=True)
class Standing:
    """The rules in effect and how the ledger stands to them: ``seq`` of the record that
    holds them (None: the defaults, or not recorded yet), and the keys changed since the
    ledger's record (recorded before the next draw)."""

    rules: dict[str, Any]
    seq: int | None
    pending: list[str]

    @property
    def pairs(self) -> list[tuple[str, Any]]:
        return flatten(self.rules)


def standing() -> Standing:
    """The rules in effect, with the ``seq`` that records them or what is not recorded yet."""
    current = in_effect()
    seq, previous = recorded()
    pending = changed_keys(previous, current)
    return Standing(current, None if pending else seq, pending)
