"""Prometheus metrics (``prometheus_client``): counts read from the database at scrape time,
plus counters of this process's work. Counts and codes only, never personal data.

From the database (gauges, the same on every instance): draws by state, notices by status,
deliveries by channel, kind and status, job runs by job and status, ledger size, age of the
last checkpoint, open alerts, and whether the database answered. From this process
(counters): reports issued, alerts raised, supervision samples drawn, experts whose personal
data retention blanked.
"""

from __future__ import annotations

from collections.abc import Iterator

import sqlalchemy as sa
from flask import has_app_context
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from . import clock

REGISTRY = CollectorRegistry(auto_describe=False)

REPORTS_ISSUED = Counter(
    "expertdraw_reports_issued", "Inspection reports issued", ["kind"], registry=REGISTRY
)
ALERTS_RAISED = Counter(
    "expertdraw_alerts_raised", "Expert-use alerts raised", ["kind"], registry=REGISTRY
)
INSPECTIONS_DRAWN = Counter(
    "expertdraw_inspections_drawn", "Supervision samples drawn", registry=REGISTRY
)
RETENTION_PURGED = Counter(
    "expertdraw_retention_purged",
    "Removed experts whose personal data was blanked",
    registry=REGISTRY,
)

DRAW_STATES = ("announced", "completed", "failed")
NOTICE_STATUSES = ("pending", "accepted", "declined", "timeout", "withdrawn")


def _counts(column: sa.ColumnElement, *group: sa.ColumnElement) -> list[sa.Row]:
    from .extensions import db

    return list(db.session.execute(sa.select(*group, sa.func.count(column)).group_by(*group)))


class DatabaseCollector(Collector):
    """Gauges computed from the current app's database on every scrape."""

    def collect(self) -> Iterator[Metric]:
        """Yield the gauges; only ``expertdraw_database_up 0`` when the database fails."""
        if not has_app_context():
            return
        from .extensions import db

        up = GaugeMetricFamily("expertdraw_database_up", "1 when the database answered")
        try:
            gauges = list(self._gauges())
        except SQLAlchemyError:
            db.session.rollback()
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from gauges

    def _gauges(self) -> Iterator[Metric]:
        from .models import Checkpoint, Delivery, Draw, LedgerEntry, Notice
        from .models.inspection import Alert
        from .models.scheduling import JobRun
        from .services import ledger

        draws = GaugeMetricFamily("expertdraw_draws", "Draws by state", labels=["state"])
        by_state = dict(_counts(Draw.id, Draw.state))
        for state in DRAW_STATES:
            draws.add_metric([state], by_state.get(state, 0))
        yield draws
        notices = GaugeMetricFamily("expertdraw_notices", "Notices by status", labels=["status"])
        by_status = dict(_counts(Notice.id, Notice.status))
        for status in NOTICE_STATUSES:
            notices.add_metric([status], by_status.get(status, 0))
        yield notices
        deliveries = GaugeMetricFamily(
            "expertdraw_deliveries",
            "Deliveries of notices and withdrawals by channel, kind and status (failed: for"
            " good, the expert has only the inbox)",
            labels=["channel", "kind", "status"],
        )
        for channel, kind, status, count in _counts(
            Delivery.id, Delivery.channel, Delivery.kind, Delivery.status
        ):
            deliveries.add_metric([channel, kind, status], count)
        yield deliveries
        runs = GaugeMetricFamily(
            "expertdraw_job_runs", "Recorded scheduler job runs", labels=["job", "status"]
        )
        for job, status, count in _counts(JobRun.id, JobRun.job, JobRun.status):
            runs.add_metric([job, status], count)
        yield runs
        from .extensions import db

        size = db.session.scalar(sa.select(sa.func.max(LedgerEntry.seq)))
        yield GaugeMetricFamily(
            "expertdraw_ledger_entries",
            "Entries in the ledger",
            value=0 if size is None else size + 1,
        )
        latest = ledger.latest_checkpoint()
        checkpoints = db.session.scalar(sa.select(sa.func.count(Checkpoint.id)))
        yield GaugeMetricFamily("expertdraw_checkpoints", "Checkpoints issued", value=checkpoints)
        if latest is not None:
            age = (clock.now() - latest.issued_at).total_seconds()
            yield GaugeMetricFamily(
                "expertdraw_checkpoint_age_seconds", "Age of the latest checkpoint", value=age
            )
        open_alerts = db.session.scalar(
            sa.select(sa.func.count(Alert.id)).where(Alert.acked_at.is_(None))
        )
        yield GaugeMetricFamily(
            "expertdraw_alerts_open", "Unacknowledged alerts", value=open_alerts
        )
        db.session.rollback()


REGISTRY.register(DatabaseCollector())


def render() -> tuple[bytes, str]:
    """The text exposition of every metric and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
