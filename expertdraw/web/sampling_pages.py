"""Supervisor's supervision samples (双随机、一公开): list, announce one (the plan: period, risk
levels and their ratios), witness it, replay it from the ledger, publish its project list.

The views register on the supervisor blueprint and keep the API's roles
(``api/sampling.py``): supervisors and administrators read; only supervisors announce,
witness and publish.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from .. import auth, clock
from ..extensions import db
from ..models.inspection import Inspection
from ..services import sampling
from ..services.errors import ServiceError
from .access import roles_required
from .forms import (
    SENT_TWICE_WITHIN,
    FormState,
    abandon,
    parse_day,
    parse_int,
    parse_page,
    zone,
)
from .supervisor import SUPERVISE, bp

PER_PAGE = 25
LEVEL = re.compile(r"^[a-z][a-z0-9-]{0,15}$")
RATIO = re.compile(r"^(0|[1-9][0-9]{0,8})/[1-9][0-9]{0,8}$")
PROJECT = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
MAX_LEVELS = 5
MAX_RISK_LINES = 5000
DEFAULT_RATIOS = "high 1/2\nmedium 1/5\nlow 1/10"
FIELDS = {"start", "end", "ratios", "risk", "default_risk", "witnesses", "inspectors"}


def _user() -> Any:
    return auth.current_user()


@dataclass
class SamplePlan:
    """What the announcement form asks for, read and checked field by field."""

    start: date | None = None
    end: date | None = None
    ratios: dict[str, str] = field(default_factory=dict)
    risk: dict[str, str] = field(default_factory=dict)
    default_risk: str = ""
    witnesses: int = 2
    inspectors: int = 2


def _day(state: FormState, name: str) -> date | None:
    text = str(state.get(name)).strip()
    if not text:
        state.add(name, _("Enter a date as YYYY-MM-DD."))
        return None
    day = parse_day(text)
    if day is None:
        state.add(name, _("Enter a date as YYYY-MM-DD."))
    return day


def _pairs(text: str) -> list[tuple[int, list[str]]]:
    """Non-empty lines of a textarea as ``(line number, words)``."""
    found = []
    for number, line in enumerate((text or "").splitlines(), 1):
        words = [w for w in re.split(r"[\s:=,，：]+", line.strip()) if w]
        if words:
            found.append((number, words))
    return found


def parse_plan(state: FormState) -> SamplePlan | None:
    """The plan of the form, or None with every problem recorded beside its field."""
    plan = SamplePlan(start=_day(state, "start"), end=_day(state, "end"))
    for number, words in _pairs(state.get("ratios")):
        if len(words) != 2 or not LEVEL.match(words[0]) or not RATIO.match(words[1]):
            state.add(
                "ratios",
                _("Line %(n)s: write a level name and its ratio, e.g. high 1/2.", n=number),
            )
            break
        if words[0] in plan.ratios:
            state.add("ratios", _("Line %(n)s: this level is listed twice.", n=number))
            break
        plan.ratios[words[0]] = words[1]
    if not plan.ratios and "ratios" not in state.errors:
        state.add("ratios", _("Enter at least one level and its ratio."))
    elif len(plan.ratios) > MAX_LEVELS:
        state.add("ratios", _("At most %(n)s levels.", n=MAX_LEVELS))
    lines = _pairs(state.get("risk"))
    if len(lines) > MAX_RISK_LINES:
        state.add("risk", _("At most %(n)s projects.", n=MAX_RISK_LINES))
    for number, words in lines:
        if len(words) != 2 or not PROJECT.match(words[0]) or not LEVEL.match(words[1]):
            state.add(
                "risk",
                _(
                    "Line %(n)s: write a project code and its level, e.g. P2027-0042 high.",
                    n=number,
                ),
            )
            break
        plan.risk[words[0]] = words[1]
    plan.default_risk = str(state.get("default_risk")).strip()
    if not LEVEL.match(plan.default_risk):
        state.add("default_risk", _("Enter the level of projects not listed, e.g. low."))
    witnesses = parse_int(state.get("witnesses"))
    if witnesses is None or not 1 <= witnesses <= sampling.MAX_WITNESSES:
        state.add("witnesses", _("Choose 1 to 9 witnesses."))
    inspectors = parse_int(state.get("inspectors"))
    if inspectors is None or not 1 <= inspectors <= 10:
        state.add("inspectors", _("Choose 1 to 10 inspectors per project."))
    if not state.ok:
        return None
    plan.witnesses, plan.inspectors = witnesses or 2, inspectors or 2
    return plan


@bp.get("/samples")
@roles_required(*SUPERVISE)
def samples() -> str:
    """Supervision samples, newest first."""
    page = parse_page(request.args.get("page"))
    items, total = sampling.list_inspections(page=page, per_page=PER_PAGE)
    return render_template(
        "supervisor/samples.html",
        samples=items,
        page=page,
        pages=max(1, -(-total // PER_PAGE)),
        total=total,
    )


def _defaults() -> dict[str, str]:
    today = clock.now().astimezone(zone()).date()
    last_month_end = today.replace(day=1) - timedelta(days=1)
    return {
        "start": last_month_end.replace(day=1).isoformat(),
        "end": last_month_end.isoformat(),
        "ratios": DEFAULT_RATIOS,
        "default_risk": "low",
        "witnesses": "2",
        "inspectors": "2",
    }


@bp.route("/samples/new", methods=["GET", "POST"])
@roles_required("supervisor")
def new_sample() -> Response | tuple[str, int]:
    """Announce a sample: the plan is fixed and committed to before any witness value."""
    if request.method == "GET":
        return render_template("supervisor/sample_form.html", form=FormState(_defaults())), 200
    state = FormState(request.form, fields=FIELDS)
    plan = parse_plan(state)
    if plan is None or plan.start is None or plan.end is None:
        return render_template("supervisor/sample_form.html", form=state), 422
    try:
        inspection = sampling.announce(
            _user(),
            start=plan.start,
            end=plan.end,
            ratios=plan.ratios,
            risk=plan.risk,
            default_risk=plan.default_risk,
            witnesses=plan.witnesses,
            inspectors_per_project=plan.inspectors,
        )
    except ServiceError as exc:
        earlier = _sent_twice(exc, plan)
        if earlier is not None:  # the same form sent twice (a double click on a slow link)
            abandon()
            return redirect(url_for("supervisor.sample", inspection_id=earlier.id))
        state.fail(exc, aliases={"inspectors_per_project": "inspectors"})
        return render_template("supervisor/sample_form.html", form=state), exc.http_status
    flash(
        _("Sample %(id)s is announced. Supervisors can now witness it.", id=inspection.id),
        "success",
    )
    return redirect(url_for("supervisor.sample", inspection_id=inspection.id))


def _sent_twice(exc: ServiceError, plan: Any) -> Inspection | None:
    """The sample this form already announced: the same supervisor, a moment ago, the same
    period, levels, ratios, risk levels, witnesses and inspectors per project."""
    if exc.code != "conflict:inspection-period":
        return None
    for inspection in db.session.scalars(
        sa.select(Inspection).where(
            Inspection.created_by == _user().id,
            Inspection.announced_at >= clock.now() - SENT_TWICE_WITHIN,
        )
    ):
        if _same_plan(inspection, plan):
            return inspection
    return None


def _same_plan(inspection: Inspection, plan: Any) -> bool:
    stored = inspection.plan
    levels = [(level["name"], level["ratio"]) for level in stored["levels"]]
    return (
        stored["period"]["start"] == plan.start.isoformat()
        and stored["period"]["end"] == plan.end.isoformat()
        and levels == list(plan.ratios.items())
        and inspection.witnesses == plan.witnesses
        and stored["inspectors_per_project"] == plan.inspectors
        and all(
            plan.risk.get(project, plan.default_risk) == level["name"]
            for level in stored["levels"]
            for project in level["projects"]
        )
    )


def sample_page(inspection_id: str, form: FormState | None = None, **extra: Any) -> str:
    """The page of one sample (also used to show errors and the replay verdict)."""
    inspection = sampling.get_inspection(inspection_id)
    user = _user()
    result = inspection.result or {}
    level_of = {p: t["level"] for t in result.get("targets", []) for p in t["projects"]}
    return render_template(
        "supervisor/sample.html",
        level_of=level_of,
        sample=inspection,
        plan=inspection.plan,
        result=inspection.result,
        entered=sampling.witness_count(inspection),
        mine=sampling.witnessed_by(inspection, user),
        me=user.pseudonym,
        form=form or FormState({}),
        **extra,
    )


@bp.get("/samples/<inspection_id>")
@roles_required(*SUPERVISE)
def sample(inspection_id: str) -> str:
    """Plan, commitment, witnesses and, once drawn, the seed and the sample."""
    return sample_page(inspection_id)


@bp.post("/samples/<inspection_id>/witness")
@roles_required("supervisor")
def sample_witness(inspection_id: str) -> Response | tuple[str, int]:
    """This supervisor's witness value; the last one draws the sample."""
    inspection = sampling.get_inspection(inspection_id)
    state = FormState(request.form, fields={"value"})
    try:
        inspection = sampling.add_witness(inspection, _user(), request.form.get("value", ""))
    except ServiceError as exc:
        state.fail(exc)
        if exc.code == "conflict:witness":
            state.general = [_("You have already entered your witness value for this sample.")]
        return sample_page(inspection_id, state), exc.http_status
    if inspection.state == "drawn":
        flash(_("The sample is drawn."), "success")
    else:
        flash(_("Your witness value is recorded."), "success")
    return redirect(url_for("supervisor.sample", inspection_id=inspection_id))


@bp.get("/samples/<inspection_id>/replay")
@roles_required(*SUPERVISE)
def sample_replay(inspection_id: str) -> str | tuple[str, int]:
    """Recompute the sample from its two ledger entries alone and show the verdict."""
    try:
        differences = sampling.replay(inspection_id)
    except ServiceError as exc:
        state = FormState({})
        state.fail(exc)
        return sample_page(inspection_id, state), exc.http_status
    return sample_page(inspection_id, replay={"ok": not differences, "differences": differences})


@bp.post("/samples/<inspection_id>/publish")
@roles_required("supervisor")
def sample_publish(inspection_id: str) -> Response | tuple[str, int]:
    """Publish the sampled projects and inspector roles (no people)."""
    inspection = sampling.get_inspection(inspection_id)
    try:
        sampling.publish(inspection, _user())
    except ServiceError as exc:
        state = FormState({})
        state.fail(exc)
        return sample_page(inspection_id, state), exc.http_status
    flash(_("The sample's project list is published."), "success")
    return redirect(url_for("supervisor.sample", inspection_id=inspection_id))
