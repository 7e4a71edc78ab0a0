"""The plan of a supervision sample: which projects, at which risk level, which inspectors.

The plan is the sample's snapshot (:mod:`expertdraw.domain.sampling`): everything the
random choice may pick from, fixed and hashed before any randomness exists.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa

from ..domain import sampling as method
from ..extensions import db
from ..models import Draw, Project, User, Witness
from ..models.inspection import Inspection
from .errors import ServiceError
from .reports_periods import zone


def completed_projects(start: date, end: date) -> list[str]:
    """Codes of projects whose committee draw completed between local dates ``start`` and
    ``end`` (inclusive), sorted."""
    tz = zone()
    begin = datetime.combine(start, time(0), tz).astimezone(UTC)
    until = datetime.combine(end + timedelta(days=1), time(0), tz).astimezone(UTC)
    codes = db.session.scalars(
        sa.select(Project.code)
        .join(Draw, Draw.project_id == Project.id)
        .where(
            Draw.root_id.is_(None),
            Draw.state == "completed",
            Draw.finished_at >= begin,
            Draw.finished_at < until,
        )
        .distinct()
    )
    return sorted(codes)


def witnesses_of(projects: list[str], inspectors: set[str]) -> dict[str, list[str]]:
    """For each project, the inspectors who witnessed one of its draws (its own or a
    supplementary one), sorted: they are left out of its inspection (回避), which would
    otherwise check their own work, as far as the pool allows (domain.sampling). Projects
    without such inspectors are not listed."""
    if not projects:
        return {}
    rows = db.session.execute(
        sa.select(Project.code, User.pseudonym)
        .join(Draw, Draw.project_id == Project.id)
        .join(Witness, Witness.draw_id == Draw.id)
        .join(User, User.id == Witness.supervisor_id)
        .where(Project.code.in_(projects))
        .distinct()
    )
    found: dict[str, set[str]] = {}
    for code, pseudonym in rows:
        if pseudonym in inspectors:
            found.setdefault(code, set()).add(pseudonym)
    return {code: sorted(found[code]) for code in sorted(found)}


def inspector_pool() -> list[str]:
    """Pseudonyms of every active supervisor, sorted."""
    return sorted(
        db.session.scalars(
            sa.select(User.pseudonym).where(User.role == "supervisor", User.active.is_(True))
        )
    )


def next_id(now: datetime) -> str:
    """The next inspection id of the year: ``I2027-000001``, ``I2027-000002``..."""
    prefix = f"I{now.astimezone(zone()).year}-"  # the centre's year
    count = db.session.scalar(
        sa.select(sa.func.count(Inspection.id)).where(Inspection.id.startswith(prefix))
    )
    return f"{prefix}{count + 1:06d}"


def build_plan(
    inspection_id: str,
    start: date,
    end: date,
    ratios: dict[str, str],
    risk: dict[str, str],
    default_risk: str,
    inspectors_per_project: int,
) -> dict[str, Any]:
    """The plan snapshot (domain.sampling), levels in the order ``ratios`` gives them.

    Raises:
        ServiceError: ``invalid:period``, ``invalid:risk``, ``infeasible:no-projects``,
            ``infeasible:inspectors``, or the domain's ``sampling:*``.
    """
    if end < start:
        raise ServiceError("invalid:period", "the period ends before it starts", "end")
    if default_risk not in ratios:
        raise ServiceError("invalid:risk", "default_risk must be one of the levels", "default_risk")
    projects = completed_projects(start, end)
    unknown = sorted(set(risk) - set(projects))
    if unknown:
        raise ServiceError("invalid:risk", f"not completed in the period: {unknown[0]}", "risk")
    bad_level = sorted({level for level in risk.values() if level not in ratios})
    if bad_level:
        raise ServiceError("invalid:risk", f"no ratio for level {bad_level[0]}", "risk")
    if not projects:
        raise ServiceError("infeasible:no-projects", "no project completed in the period")
    inspectors = inspector_pool()
    if len(inspectors) < inspectors_per_project:
        raise ServiceError("infeasible:inspectors", "fewer supervisors than inspectors needed")
    levels = [
        {
            "name": name,
            "ratio": ratio,
            "projects": [p for p in projects if risk.get(p, default_risk) == name],
        }
        for name, ratio in ratios.items()
    ]
    plan = {
        "inspection": inspection_id,
        "period": {"start": start.isoformat(), "end": end.isoformat(), "zone": zone().key},
        "levels": levels,
        "inspectors": inspectors,
        "inspectors_per_project": inspectors_per_project,
    }
    recusals = witnesses_of(projects, set(inspectors))
    if recusals:
        plan["recusals"] = recusals
    try:
        checked = method.check_plan(plan)
    except method.SamplingError as exc:
        raise ServiceError(exc.code, exc.message, "ratios") from None
    for level in levels:
        if level["projects"] and method.parse_ratio(level["ratio"]) == 0:
            # A level sampled at 0 would exempt the projects put in it from any chance of
            # inspection: whoever sets the risk levels could choose who is never inspected.
            raise ServiceError(
                "sampling:ratio",
                f"level {level['name']} holds projects: its ratio must be above 0",
                "ratios",
            )
    return checked
