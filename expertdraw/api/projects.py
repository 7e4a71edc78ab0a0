"""Projects: registration, parties, award, dry run and draw requests."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from .. import auth
from ..services import draws, projects, sealed
from ..services.projects import CODE_LENGTH, NAME_LENGTH, STRATUM_NAME_LENGTH
from .blueprint import bp
from .framework import api_route
from .pagination import Page, PageQuery, page_of
from .schemas import ApiModel, Moment, OutModel, ShortText

MANAGE = {"project_manager", "admin"}
VIEW = {"project_manager", "supervisor", "admin"}
Uscc = Annotated[str, StringConstraints(min_length=18, max_length=18, pattern=r"^[0-9A-Za-z]+$")]
Region = Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]{5}$", max_length=6)]
Specialty = Annotated[str, StringConstraints(pattern=r"^[A-Z][0-9]{0,8}$", max_length=9)]


def _id_of(length: int) -> Any:
    """An id of draw.md §1 (a project's code, a stratum's name) its column holds."""
    return Annotated[
        str, StringConstraints(min_length=1, max_length=length, pattern=r"^[A-Za-z0-9._-]+$")
    ]


ProjectCode = _id_of(CODE_LENGTH)
ExpertCode = _id_of(32)
StratumName = _id_of(STRATUM_NAME_LENGTH)


class StratumIn(ApiModel):
    name: StratumName
    specialty: Specialty
    kind: Literal["technical", "economic"]
    count: int = Field(ge=1, le=50)
    alternates: int | None = Field(None, ge=0, le=50)


class ProjectIn(ApiModel):
    code: ProjectCode
    name: Annotated[str, StringConstraints(min_length=1, max_length=NAME_LENGTH)]
    tenderer: Uscc
    agency: Uscc | None = None
    authority: Uscc | None = None
    bidders: list[Uscc] = Field(default_factory=list, max_length=200)
    drafters: list[ExpertCode] = Field(
        default_factory=list,
        max_length=projects.MAX_DRAFTERS,
        description="Codes of the experts who drafted or consulted on the project's "
        "documents: never drawn for it (rules.md `drafting`).",
    )
    region: Region
    window_start: Moment
    window_end: Moment
    bid_deadline: Moment | None = None
    strata: list[StratumIn] = Field(min_length=1, max_length=10)
    separation: Literal["venue", "room"] = "venue"
    max_per_group: int = Field(1, ge=1, le=10)
    region_policy: Literal["exclude-prefecture", "exclude-county", "none"] | None = Field(
        None,
        description="Whose home region is excluded; left out, the centre's rule. A rule "
        "nearer the project than the centre's is for an admin to set.",
    )
    tenderer_representatives: int = Field(0, ge=0, le=10)
    allow_no_entropy: bool = False


class StratumOut(OutModel):
    name: str
    specialty: str
    kind: str
    count: int
    alternates: int


class ProjectOut(OutModel):
    code: str
    name: str
    tenderer: str
    agency: str | None
    authority: str | None
    bidders: list[str]
    drafters: list[str]
    region: str
    window_start: datetime
    window_end: datetime
    bid_deadline: datetime | None
    separation: str
    max_per_group: int
    region_policy: str
    tenderer_representatives: int
    allow_no_entropy: bool
    awarded_at: datetime | None
    strata: list[StratumOut]


class BidderIn(ApiModel):
    uscc: Uscc
    #: Needed once the project's draw is requested (kept in the ledger; no personal data).
    reason: Annotated[str, StringConstraints(max_length=300)] = ""


class DryRunStratum(OutModel):
    name: str
    specialty: str
    count: int
    alternates: int
    considered: int
    eligible: int
    groups: int
    stale_share: str


class DryRunOut(OutModel):
    strata: list[DryRunStratum]
    excluded: dict[str, int]
    feasible: bool
    reason: str | None
    venues: int
    workstations: int
    other_committees: bool = Field(
        description="Whether the figures count the experts other committees keep (busy, "
        "frequency, same-tenderer); false for a project manager: the draw applies them."
    )


class EntropyIn(ApiModel):
    kind: Literal["witness", "beacon", "public-lottery", "none"] = "witness"
    witnesses: int | None = Field(None, ge=1, le=9)
    not_before: Moment | None = None
    sources: list[ShortText] | None = Field(None, max_length=10)


class DrawRequestIn(ApiModel):
    entropy: EntropyIn = Field(default_factory=EntropyIn)
    algorithm: Literal["expertdraw-score-v1", "rfc3797"] = "expertdraw-score-v1"


class DrawOut(OutModel):
    id: str
    project: str
    state: str
    algorithm: str
    commitment: str
    snapshot_hash: str
    entropy: dict[str, Any]
    witnesses_entered: int
    seed: str | None
    reason: str | None
    announced_at: datetime
    deadline_at: datetime
    finished_at: datetime | None


def draw_out(draw: Any) -> DrawOut:
    """A draw as every allowed role sees it: no member identities."""
    project = projects.get_project_by_id(draw.project_id)
    return DrawOut(
        id=draw.id,
        project=project.code,
        state=draw.state,
        algorithm=draw.algorithm,
        commitment=draw.commitment,
        snapshot_hash=draw.snapshot_hash,
        entropy=draw.entropy,
        witnesses_entered=(
            len(draws.witnesses_of(draw)) if (draw.entropy or {}).get("kind") == "witness" else 0
        ),
        seed=draw.seed,
        reason=draw.reason,
        announced_at=draw.announced_at,
        deadline_at=draw.deadline_at,
        finished_at=draw.finished_at,
    )


def _user() -> Any:
    user = auth.current_user()
    assert user is not None  # api_route has authenticated
    return user


@api_route(
    bp,
    "POST",
    "/projects",
    roles=MANAGE,
    body=ProjectIn,
    response=ProjectOut,
    status=201,
    summary="Register a project",
)
def create_project(body: ProjectIn) -> dict[str, Any]:
    """Parties by unified social credit code; the committee shape of rules.md is enforced."""
    return projects.summary(projects.create_project(_spec(body), _user()))


@api_route(
    bp,
    "PUT",
    "/projects/<code>",
    roles=MANAGE,
    body=ProjectIn,
    response=ProjectOut,
    summary="Correct a project before its draw",
)
def update_project(code: str, body: ProjectIn) -> dict[str, Any]:
    """The whole project as at registration; its code stays, and no project with an
    announced or completed draw changes (409 ``conflict:project-drawn``)."""
    project = projects.get_project(code, _user())
    return projects.summary(projects.update_project(project, _spec(body), _user()))


def _spec(body: ProjectIn) -> projects.ProjectSpec:
    return projects.ProjectSpec(
        code=body.code,
        name=body.name,
        tenderer=body.tenderer,
        agency=body.agency,
        authority=body.authority,
        bidders=tuple(body.bidders),
        drafters=tuple(body.drafters),
        region=body.region,
        window_start=body.window_start,
        window_end=body.window_end,
        bid_deadline=body.bid_deadline,
        strata=[projects.StratumSpec(**s.model_dump()) for s in body.strata],
        separation=body.separation,
        max_per_group=body.max_per_group,
        region_policy=body.region_policy,
        tenderer_representatives=body.tenderer_representatives,
        allow_no_entropy=body.allow_no_entropy,
    )


@api_route(
    bp,
    "GET",
    "/projects",
    roles=VIEW,
    query=PageQuery,
    response=Page[ProjectOut],
    summary="List projects",
)
def list_projects(query: PageQuery) -> dict[str, Any]:
    """Newest first."""
    rows, total = projects.list_projects(query.offset, query.per_page, _user())
    return page_of([projects.summary(p) for p in rows], total, query)


@api_route(bp, "GET", "/projects/<code>", roles=VIEW, response=ProjectOut, summary="A project")
def get_project(code: str) -> dict[str, Any]:
    return projects.summary(projects.get_project(code, _user()))


@api_route(
    bp,
    "POST",
    "/projects/<code>/bidders",
    roles=VIEW,
    body=BidderIn,
    response=ProjectOut,
    status=201,
    summary="Add a bidder",
)
def add_bidder(code: str, body: BidderIn) -> dict[str, Any]:
    """Until the bid deadline. Before the project's draw is requested, its project manager
    adds bidders; after, a supervisor or an admin, with a ``reason`` (403
    ``forbidden:after-draw`` for the project manager). Members of a completed draw now in
    conflict are replaced."""
    project = projects.get_project(code, _user())
    projects.add_bidder_and_recheck(project, body.uscc, _user(), body.reason)
    return projects.summary(project)


@api_route(
    bp,
    "POST",
    "/projects/<code>/award",
    roles=MANAGE,
    response=ProjectOut,
    summary="Record the award",
)
def record_award(code: str) -> dict[str, Any]:
    """After the award the project manager may open the sealed list."""
    project = projects.get_project(code, _user())
    return projects.summary(sealed.record_award(project, _user()))


@api_route(
    bp,
    "POST",
    "/projects/<code>/no-entropy",
    roles={"admin"},
    response=ProjectOut,
    summary="Allow draws without outside entropy",
)
def permit_no_entropy(code: str) -> dict[str, Any]:
    """The trading centre (an admin) allows the project's draws to take the server's secret
    alone (entropy kind ``none``); a project manager cannot grant it to their own project."""
    project = projects.get_project(code, _user())
    return projects.summary(projects.permit_no_entropy(project, _user()))


@api_route(
    bp,
    "POST",
    "/projects/<code>/dry-run",
    roles=VIEW,
    response=DryRunOut,
    summary="Dry run of a draw request",
)
def dry_run(code: str) -> Any:
    """Eligible counts per stratum, exclusion counts per reason, feasibility; writes nothing."""
    user = _user()
    return draws.dry_run(projects.get_project(code, user), user=user).__dict__


@api_route(
    bp,
    "POST",
    "/projects/<code>/draws",
    roles=MANAGE,
    body=DrawRequestIn,
    response=DrawOut,
    status=201,
    idempotency="optional",
    rate_limited=True,
    summary="Request (announce) a draw",
)
def request_draw(code: str, body: DrawRequestIn, idempotency_key: str | None) -> DrawOut:
    """Announces the draw with its commitment. With ``none`` entropy (only where the project
    allows it) the draw completes at once. A retried request with the same ``Idempotency-Key``
    returns the same draw and never draws twice. A project manager's request refused as not
    feasible names the rule, not the counts; after five such refusals in a day, 429
    ``rate-limited:draw-requests``."""
    project = projects.get_project(code, _user())
    entropy = body.entropy.model_dump(exclude_none=True)
    with draws.kept_after_commit():
        draw = draws.announce(
            project, _user(), entropy, algorithm=body.algorithm, idempotency_key=idempotency_key
        )
        return draw_out(draws.complete_at_once(draw, _user()))
