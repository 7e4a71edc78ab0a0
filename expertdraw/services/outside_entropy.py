"""What the draw room shows of a draw's outside entropy (draw.md §3): the beacon pulse awaited
and, once taken, the verified pulse; the public lottery sources whose numbers are awaited.

Reading only; supplying the value is :func:`expertdraw.services.draws.supply_entropy`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .. import clock
from ..domain.beacon import BeaconError, parse_pulse
from ..domain.entropy import parse_time
from ..extensions import db
from ..models import BeaconPulse, Draw

# Beacon states, in the order a draw goes through them.
WAITING = "waiting"  # the awaited pulse time has not come yet
DUE = "due"  # the pulse exists (or will in a moment); a supervisor may enter it
TAKEN = "taken"  # the pulse was verified and used: the draw completed (or failed after it)
MISSED = "missed"  # the draw ended without a pulse (it timed out or was failed)


def beacon(draw: Draw, now: datetime | None = None) -> dict[str, Any] | None:
    """The beacon status of a beacon draw (None for other kinds).

    ``not_before``: the awaited pulse time (the first pulse at or after it counts);
    ``not_before_ms``: the same in milliseconds since the epoch, as the beacon's API takes it;
    ``status``: one of ``waiting``, ``due``, ``taken``, ``missed``; ``deadline``: when an
    announced draw fails for want of entropy; ``pulse``: the verified pulse once taken
    (``index``, ``time``, ``output``, ``raw``).
    """
    if draw.entropy.get("kind") != "beacon":
        return None
    now = now or clock.now()
    not_before = parse_time(draw.entropy["not_before"])
    stored = db.session.get(BeaconPulse, draw.id)
    pulse = None
    if stored is not None:
        raw = bytes(stored.raw).decode("utf-8", errors="replace")
        try:
            parsed = parse_pulse(raw)
        except BeaconError:
            parsed = None
        pulse = {
            "index": parsed.pulse_index if parsed else None,
            "time": parsed.time_stamp if parsed else None,
            "output": parsed.output_value.lower() if parsed else None,
            "raw": raw,
        }
    if draw.state != "announced":
        status = TAKEN if pulse is not None else MISSED
    else:
        status = WAITING if now < not_before else DUE
    return {
        "not_before": not_before,
        "not_before_text": draw.entropy["not_before"],
        "not_before_ms": int(not_before.timestamp() * 1000),
        "source": draw.entropy.get("source"),
        "status": status,
        "deadline": draw.deadline_at,
        "pulse": pulse,
    }


def lottery_sources(draw: Draw) -> list[str] | None:
    """The announced public lottery sources, in order (None for other kinds)."""
    if draw.entropy.get("kind") != "public-lottery":
        return None
    return list(draw.entropy.get("sources") or [])
