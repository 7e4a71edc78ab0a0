"""Scheduler job: complete announced beacon draws with the pulse fetched from the beacon.

Off unless ``BEACON_URL`` is configured. Each run takes the announced beacon draws whose
awaited pulse time (``not_before`` of the announcement) has passed and whose deadline has not,
fetches the first pulse at or after that time from the beacon, and hands it to
:func:`expertdraw.services.draws.supply_entropy`, the call a supervisor's entry makes: the
pulse is verified there with ``BEACON_CERTIFICATE`` and time-checked, kept exactly as served,
and the ledger records the same completion (by the scheduler).

A failed fetch or a refused pulse is logged and leaves the draw announced; the next run tries
again, until the pulse is taken, a supervisor enters it, or the draw times out
(:func:`expertdraw.services.draws.fail_stale`). A draw whose ``not_before`` is not later than
its announcement is never completed here: its pulse may have been public before the
commitment.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from flask import current_app

from ..domain.beacon import BeaconError
from ..domain.beacon_source import BeaconSource, beacon_source_from_url
from ..domain.entropy import EntropyError, parse_time
from ..extensions import db
from ..logfmt import event
from ..models import Draw
from . import draws
from .errors import Conflict, ServiceError

log = logging.getLogger(__name__)


def due(now: datetime) -> list[tuple[str, datetime]]:
    """``(draw id, not_before)`` of the announced beacon draws whose pulse time has come and
    whose deadline has not passed, by draw id. Reads only."""
    rows = db.session.execute(
        sa.select(Draw.id, Draw.entropy, Draw.announced_at)
        .where(Draw.state == "announced", Draw.deadline_at > now)
        .order_by(Draw.id)
    ).all()
    found: list[tuple[str, datetime]] = []
    for draw_id, entropy, announced_at in rows:
        if not isinstance(entropy, dict) or entropy.get("kind") != "beacon":
            continue
        try:
            not_before = parse_time(entropy.get("not_before"))
        except EntropyError:
            log.error(event("beacon.refused", draw=draw_id, error="entropy:time"))
            continue
        if not_before > now:
            continue
        if not_before <= announced_at:
            log.error(event("beacon.refused", draw=draw_id, error="entropy:not-before"))
            continue
        found.append((draw_id, not_before))
    return found


def _source() -> BeaconSource | None:
    """The configured beacon source, or None (not configured, or configured wrongly: logged)."""
    url = current_app.config.get("BEACON_URL")
    if not url:
        return None
    certificate = current_app.config.get("BEACON_CERTIFICATE")
    if not certificate or not Path(certificate).is_file():
        # Without the certificate no pulse can be verified, so none is fetched.
        log.error(event("beacon.unconfigured", missing="BEACON_CERTIFICATE"))
        return None
    try:
        return beacon_source_from_url(url)
    except BeaconError as exc:
        log.error(event("beacon.unconfigured", error=exc.code, detail=exc.message))
        return None


def _take(draw_id: str, not_before: datetime, source: BeaconSource) -> bool:
    """Fetch, verify and use the pulse of one draw (commits); False if it stays announced."""
    try:
        raw = source.fetch_pulse_at_or_after(not_before)
    except BeaconError as exc:
        log.error(
            event(
                "beacon.fetch_failed",
                draw=draw_id,
                not_before=not_before,
                error=exc.code,
                detail=exc.message,
            )
        )
        return False
    try:
        pulse = raw.decode("utf-8")
    except UnicodeDecodeError:
        log.error(event("beacon.refused", draw=draw_id, error="entropy:beacon-format"))
        return False
    draw = draws.get_draw(draw_id)
    if draw.state != "announced":  # entered by a supervisor meanwhile
        db.session.rollback()
        return False
    try:
        draw = draws.supply_entropy(draw, None, pulse=pulse)
    except Conflict as exc:
        db.session.rollback()
        log.info(event("beacon.skipped", draw=draw_id, reason=exc.code))
        return False
    except ServiceError as exc:
        db.session.rollback()
        log.error(event("beacon.refused", draw=draw_id, error=exc.code, detail=str(exc)))
        return False
    log.info(event("beacon.taken", draw=draw_id, state=draw.state, not_before=not_before))
    return True


def complete_due(now: datetime) -> int:
    """Scheduler job: take the awaited pulse of every due beacon draw; returns how many were
    taken (the draw then completed, or failed replayably as any completion may).

    Does nothing when ``BEACON_URL`` is not configured.
    """
    source = _source()
    if source is None:
        return 0
    pending = due(now)
    db.session.rollback()  # no transaction stays open while the beacon answers
    return sum(_take(draw_id, not_before, source) for draw_id, not_before in pending)
