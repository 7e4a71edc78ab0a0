"""Report periods in local dates (Asia/Shanghai by default) and their UTC bounds.

A day is local midnight to local midnight; a week is Monday to Sunday; a month is a calendar
month. Bounds are half open, ``[start, end)``, in UTC, and also as ledger time strings, which
compare in time order as text (``2027-02-20T16:00:00.000Z``), so a period's entries are
``start_text <= time < end_text``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context

from ..domain.ledger import format_time
from .errors import ServiceError

DEFAULT_ZONE = "Asia/Shanghai"
KINDS = ("daily", "weekly", "monthly")
# How many finished periods a job looks back for reports it has not issued yet.
DEFAULT_LOOKBACK = {"daily": 7, "weekly": 4, "monthly": 3}


def zone() -> ZoneInfo:
    """The trading centre's time zone: ``REPORT_TIMEZONE``, default Asia/Shanghai (also
    outside an app)."""
    configured = current_app.config.get("REPORT_TIMEZONE") if has_app_context() else None
    return ZoneInfo(configured or DEFAULT_ZONE)


def lookback(kind: str) -> int:
    """Finished periods a job catches up on: ``REPORT_LOOKBACK[kind]`` or the default."""
    configured = current_app.config.get("REPORT_LOOKBACK") or {}
    return int(configured.get(kind, DEFAULT_LOOKBACK[kind]))


@dataclass(frozen=True)
class Period:
    """One report period: local dates ``start`` to ``end`` inclusive."""

    kind: str
    start: date
    end: date

    @property
    def label(self) -> str:
        """``2027-02-20`` (day), ``2027-02-15/2027-02-21`` (week), ``2027-02`` (month)."""
        if self.kind == "daily":
            return self.start.isoformat()
        if self.kind == "monthly":
            return self.start.strftime("%Y-%m")
        return f"{self.start.isoformat()}/{self.end.isoformat()}"

    def bounds(self, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """``[start, end)`` as aware UTC datetimes."""
        begin = datetime.combine(self.start, time(0), tz).astimezone(UTC)
        end = datetime.combine(self.end + timedelta(days=1), time(0), tz).astimezone(UTC)
        return begin, end

    def text_bounds(self, tz: ZoneInfo) -> tuple[str, str]:
        """``[start, end)`` as ledger time strings."""
        begin, end = self.bounds(tz)
        return format_time(begin), format_time(end)


def containing(kind: str, day: date) -> Period:
    """The period of ``kind`` that contains local date ``day``.

    Raises:
        ServiceError: ``invalid:kind`` for an unknown kind.
    """
    if kind == "daily":
        return Period(kind, day, day)
    if kind == "weekly":
        monday = day - timedelta(days=day.weekday())
        return Period(kind, monday, monday + timedelta(days=6))
    if kind == "monthly":
        first = day.replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
        return Period(kind, first, following - timedelta(days=1))
    raise ServiceError("invalid:kind", f"kind is one of {', '.join(KINDS)}", "kind")


def local_date(moment: datetime, tz: ZoneInfo) -> date:
    """The local date of an aware instant."""
    return moment.astimezone(tz).date()


def finished(kind: str, now: datetime, tz: ZoneInfo, count: int, since: datetime) -> list[Period]:
    """Up to ``count`` most recent periods of ``kind`` that ended by ``now``, oldest first,
    leaving out periods that ended before ``since`` (the log's creation)."""
    current = containing(kind, local_date(now, tz))
    periods: list[Period] = []
    day = current.start - timedelta(days=1)
    while len(periods) < count:
        period = containing(kind, day)
        if period.bounds(tz)[1] <= since:
            break
        periods.append(period)
        day = period.start - timedelta(days=1)
    return list(reversed(periods))
