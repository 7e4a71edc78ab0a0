"""The latest slot a trigger fired at or before a time: what a new scheduler leader looks for
in the job runs, so that a slot fired as the lease changed hands is still run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from expertdraw.scheduler import latest_slot

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2027, 3, 15, 4, 30, 20, tzinfo=UTC)  # 12:30:20 in Beijing


@pytest.mark.parametrize(
    "trigger, expected",
    [
        (
            IntervalTrigger(minutes=1, start_date=datetime(2027, 1, 1, tzinfo=UTC)),
            NOW.replace(second=0),
        ),
        (
            CronTrigger(hour=0, minute=10, timezone=SHANGHAI),
            datetime(2027, 3, 15, 0, 10, tzinfo=SHANGHAI),
        ),
        (
            CronTrigger(day_of_week="mon", hour=1, timezone=SHANGHAI),
            datetime(2027, 3, 15, 1, 0, tzinfo=SHANGHAI),
        ),
        (
            CronTrigger(day=1, hour=2, timezone=SHANGHAI),
            datetime(2027, 3, 1, 2, 0, tzinfo=SHANGHAI),
        ),
        (CronTrigger(hour=12, minute=30, second=20, timezone=SHANGHAI), NOW),  # exactly now
    ],
)
def test_the_latest_slot_is_the_last_fire_at_or_before_now(trigger, expected):
    assert latest_slot(trigger, NOW) == expected


def test_a_trigger_that_has_not_fired_yet_has_no_latest_slot():
    later = IntervalTrigger(minutes=1, start_date=NOW + timedelta(seconds=1))
    assert latest_slot(later, NOW) is None
    assert latest_slot(CronTrigger(year=2030, timezone=UTC), NOW) is None
