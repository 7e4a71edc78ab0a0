"""Structured log lines: ``event key=value key=value``, easy to grep and to parse.

Callers pass identifiers, counts and times only, never personal data.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime


def _value(value: object) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        text = value.isoformat().replace("+00:00", "Z")
    elif value is None:
        text = "-"
    else:
        text = str(value)
    if not text or any(c in text for c in ' ="\\\n\t'):
        return json.dumps(text, ensure_ascii=False)
    return text


def event(name: str, **fields: object) -> str:
    """``name`` followed by ``key=value`` pairs; values with spaces or quotes are quoted."""
    return " ".join([name, *(f"{key}={_value(value)}" for key, value in fields.items())])
