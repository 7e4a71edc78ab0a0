"""Random supervision samples (双随机、一公开): announce, witness, replay, publish, and the
public list of published samples (projects and inspector roles, no people)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from .. import auth
from ..services import sampling
from .blueprint import bp
from .framework import PUBLIC, api_route
from .pagination import Page, PageQuery, page_of
from .schemas import ApiModel, Code, Day, OutModel

SUPERVISE = {"supervisor", "admin"}
Level = Annotated[str, StringConstraints(min_length=1, max_length=16, pattern=r"^[a-z][a-z0-9-]*$")]
Ratio = Annotated[
    str, StringConstraints(max_length=19, pattern=r"^(0|[1-9][0-9]{0,8})/[1-9][0-9]{0,8}$")
]
WitnessValue = Annotated[str, StringConstraints(min_length=1, max_length=200)]


def _user() -> Any:
    user = auth.current_user()
    assert user is not None
    return user


class InspectionIn(ApiModel):
    start: Day
    end: Day
    ratios: dict[Level, Ratio] = Field(min_length=1, max_length=5)
    risk: dict[Code, Level] = Field(default_factory=dict, max_length=5000)
    default_risk: Level = "low"
    witnesses: int = Field(2, ge=1, le=9)
    inspectors_per_project: int = Field(2, ge=1, le=10)


class InspectionOut(OutModel):
    id: str
    state: str
    plan: dict[str, Any]
    plan_hash: str
    commitment: str
    witnesses: int
    witnessed: int
    seed: str | None
    result: dict[str, Any] | None
    announced_at: datetime
    drawn_at: datetime | None
    published_at: datetime | None


def _inspection_out(inspection: Any) -> InspectionOut:
    return InspectionOut.model_validate(
        {
            **{
                name: getattr(inspection, name)
                for name in InspectionOut.model_fields
                if name != "witnessed"
            },
            "witnessed": sampling.witness_count(inspection),
        }
    )


@api_route(
    bp,
    "POST",
    "/inspections",
    roles={"supervisor"},
    body=InspectionIn,
    response=InspectionOut,
    status=201,
    summary="Announce a supervision sample",
)
def announce_inspection(body: InspectionIn) -> InspectionOut:
    """Fixes the plan (projects completed in the period, by risk level) and publishes the
    commitment; witnesses then type their values."""
    inspection = sampling.announce(
        _user(),
        start=body.start,
        end=body.end,
        ratios=dict(body.ratios),
        risk=dict(body.risk),
        default_risk=body.default_risk,
        witnesses=body.witnesses,
        inspectors_per_project=body.inspectors_per_project,
    )
    return _inspection_out(inspection)


class InspectionSummaryOut(OutModel):
    id: str
    state: str
    commitment: str
    announced_at: datetime
    published_at: datetime | None


@api_route(
    bp,
    "GET",
    "/inspections",
    roles=SUPERVISE,
    query=PageQuery,
    response=Page[InspectionSummaryOut],
    summary="Supervision samples",
)
def list_inspections(query: PageQuery) -> dict[str, Any]:
    """Newest first."""
    items, total = sampling.list_inspections(page=query.page, per_page=query.per_page)
    return page_of(items, total, query)


@api_route(
    bp,
    "GET",
    "/inspections/<inspection_id>",
    roles=SUPERVISE,
    response=InspectionOut,
    summary="A supervision sample",
)
def get_inspection(inspection_id: str) -> InspectionOut:
    """Plan, commitment and, once drawn, seed and sample."""
    return _inspection_out(sampling.get_inspection(inspection_id))


class WitnessIn(ApiModel):
    value: WitnessValue


@api_route(
    bp,
    "POST",
    "/inspections/<inspection_id>/witnesses",
    roles={"supervisor"},
    body=WitnessIn,
    response=InspectionOut,
    status=201,
    summary="Enter a witness value for a sample",
)
def witness_inspection(inspection_id: str, body: WitnessIn) -> InspectionOut:
    """Each supervisor once; the last value draws the sample."""
    inspection = sampling.get_inspection(inspection_id)
    return _inspection_out(sampling.add_witness(inspection, _user(), body.value))


class ReplayOut(OutModel):
    inspection: str
    ok: bool
    differences: list[str]


@api_route(
    bp,
    "GET",
    "/inspections/<inspection_id>/replay",
    roles=SUPERVISE,
    response=ReplayOut,
    summary="Replay a sample from the ledger",
    errors=(409,),  # conflict:inspection-state: not drawn yet
)
def replay_inspection(inspection_id: str) -> dict[str, Any]:
    """Recomputed from the ``inspection.announced`` and ``inspection.drawn`` entries alone."""
    differences = sampling.replay(inspection_id)
    return {"inspection": inspection_id, "ok": not differences, "differences": differences}


@api_route(
    bp,
    "POST",
    "/inspections/<inspection_id>/publish",
    roles={"supervisor"},
    response=InspectionOut,
    summary="Publish a sample's project list",
)
def publish_inspection(inspection_id: str) -> InspectionOut:
    """Makes the public list available at ``/public/inspections/<id>``."""
    inspection = sampling.get_inspection(inspection_id)
    return _inspection_out(sampling.publish(inspection, _user()))


class PublicTargetOut(OutModel):
    project: str
    level: str
    inspectors: list[str]


class PublicLevelOut(OutModel):
    level: str
    ratio: str
    projects: int


class PublicInspectionOut(OutModel):
    inspection: str
    period: dict[str, str]
    commitment: str
    plan_hash: str
    seed: str | None
    published_at: str
    levels: list[PublicLevelOut]
    targets: list[PublicTargetOut]


@api_route(
    bp,
    "GET",
    "/public/inspections",
    roles=PUBLIC,
    query=PageQuery,
    response=Page[PublicInspectionOut],
    summary="Published supervision samples",
)
def public_inspections(query: PageQuery) -> dict[str, Any]:
    """Projects sampled and inspector roles; no names, no pseudonyms."""
    items, total = sampling.published(page=query.page, per_page=query.per_page)
    return page_of([sampling.public_list(i) for i in items], total, query)


@api_route(
    bp,
    "GET",
    "/public/inspections/<inspection_id>",
    roles=PUBLIC,
    response=PublicInspectionOut,
    summary="A published supervision sample",
)
def public_inspection(inspection_id: str) -> dict[str, Any]:
    """404 until the sample is published."""
    return sampling.public_list(sampling.get_inspection(inspection_id))
