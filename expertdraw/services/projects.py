"""Projects: registration, parties, strata and the committee shape of rules.md."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from .. import clock
from ..domain.codes import CodeError, validate_id, validate_uscc
from ..domain.eligibility import REGION_POLICIES
from ..extensions import db
from ..input_text import carries_personal_data, visible_text
from ..models import (
    Expert,
    Organisation,
    Project,
    ProjectBidder,
    ProjectDrafter,
    Region,
    Specialty,
    Stratum,
    User,
)
from .errors import Conflict, Forbidden, NotFound, ServiceError

KINDS = ("technical", "economic")
#: The longest project code, project name and stratum name their columns hold.
CODE_LENGTH: int = Project.__table__.c.code.type.length
NAME_LENGTH: int = Project.__table__.c.name.type.length
#: Drafters a project lists at most (its documents' authors and consultants).
MAX_DRAFTERS = 50
STRATUM_NAME_LENGTH: int = Stratum.__table__.c.name.type.length


@dataclass(frozen=True)
class StratumSpec:
    """One line of a request."""

    name: str
    specialty: str
    kind: str
    count: int
    alternates: int | None = None


@dataclass(frozen=True)
class ProjectSpec:
    """What a project manager registers."""

    code: str
    name: str
    tenderer: str
    region: str
    window_start: datetime
    window_end: datetime
    strata: list[StratumSpec]
    agency: str | None = None
    authority: str | None = None
    bidders: tuple[str, ...] = ()
    #: Codes of the experts who drafted or consulted on the documents (rules.md ``drafting``).
    drafters: tuple[str, ...] = ()
    bid_deadline: datetime | None = None
    separation: str = "venue"
    max_per_group: int = 1
    #: None: the deployment's own (``[eligibility] region_policy``), fixed at registration.
    region_policy: str | None = None
    tenderer_representatives: int = 0
    allow_no_entropy: bool = False


def default_alternates(count: int) -> int:
    """rules.md: one alternate per stratum per two members, at least one."""
    return max(1, count // 2)


def check_committee(strata: list[StratumSpec], representatives: int = 0) -> None:
    """Committee shape: five or more, odd, technical and economic at least two thirds.

    Raises:
        ServiceError: ``committee:*`` naming the rule broken.
    """
    if not strata:
        raise ServiceError("committee:empty", "a draw needs at least one stratum", "strata")
    drawn = sum(s.count for s in strata)
    total = drawn + representatives
    if total < 5:
        raise ServiceError(
            "committee:size", f"a committee has 5 or more members, not {total}", "strata"
        )
    if total % 2 == 0:
        raise ServiceError(
            "committee:odd", f"a committee has an odd number of members, not {total}", "strata"
        )
    if 3 * drawn < 2 * total:
        raise ServiceError(
            "committee:experts",
            "technical and economic experts must be at least two thirds of the committee",
            "tenderer_representatives",
        )


def _organisation(uscc: str, field: str) -> Organisation:
    try:
        code = validate_uscc(uscc)
    except CodeError as exc:
        raise ServiceError(exc.code, str(exc), field) from None
    org = db.session.scalar(sa.select(Organisation).where(Organisation.uscc == code))
    if org is None:
        raise ServiceError("invalid:organisation", f"no organisation with code {code}", field)
    return org


def _check_strata(strata: list[StratumSpec]) -> None:
    names = set()
    for index, stratum in enumerate(strata):
        where = f"strata.{index}"
        try:
            validate_id(stratum.name, "stratum")
        except CodeError as exc:
            raise ServiceError(exc.code, str(exc), f"{where}.name") from None
        if len(stratum.name) > STRATUM_NAME_LENGTH:
            raise ServiceError(
                "invalid:stratum",
                f"a stratum's name is at most {STRATUM_NAME_LENGTH} characters",
                f"{where}.name",
            )
        if stratum.name in names:
            raise ServiceError(
                "invalid:stratum", f"stratum {stratum.name} repeats", f"{where}.name"
            )
        names.add(stratum.name)
        if stratum.kind not in KINDS:
            raise ServiceError("invalid:stratum", "kind is technical or economic", f"{where}.kind")
        if not 1 <= stratum.count <= 50:
            raise ServiceError("invalid:stratum", "count is 1 to 50", f"{where}.count")
        if stratum.alternates is not None and not 0 <= stratum.alternates <= 50:
            raise ServiceError("invalid:stratum", "alternates is 0 to 50", f"{where}.alternates")
        if db.session.get(Specialty, stratum.specialty) is None:
            raise ServiceError(
                "invalid:specialty", f"unknown specialty {stratum.specialty}", f"{where}.specialty"
            )


@dataclass(frozen=True)
class _Parties:
    tenderer: Organisation
    agency: Organisation | None
    authority: Organisation | None
    bidders: list[Organisation]
    drafters: list[int]


def with_region_policy(spec: ProjectSpec) -> ProjectSpec:
    """``spec`` with its region policy resolved: the deployment's where it names none."""
    if spec.region_policy is not None:
        return spec
    return replace(spec, region_policy=_centre_policy())


def _centre_policy() -> str:
    """The deployment's region policy (rules.md ``region``, changed by configuration)."""
    from .draws import rules

    return rules().region_policy


def _wider_region(policy: str, kept: str | None) -> bool:
    """Whether ``policy`` lets experts nearer the project than the deployment's rule does
    (remote evaluation is the centre's rule, so only an admin may relax it), other than the
    policy a project already ``kept``."""
    centre = _centre_policy()
    return policy != kept and REGION_POLICIES.index(policy) > REGION_POLICIES.index(centre)


def _checked(spec: ProjectSpec, user: User, now: datetime, kept: str | None = None) -> _Parties:
    """Every rule a project's fields keep, but its code's; its parties, resolved. ``spec``
    has its region policy resolved (:func:`with_region_policy`); ``kept`` is the policy the
    project has now, when it is corrected.

    Raises:
        ServiceError naming the first bad field; Forbidden ``forbidden:no-entropy`` or
        ``forbidden:region-policy``.
    """
    if not 1 <= len(spec.name) <= NAME_LENGTH or not visible_text(spec.name):
        raise ServiceError(
            "invalid:name",
            f"the name is 1 to {NAME_LENGTH} characters, not only spaces, with no invisible "
            "or direction-changing characters",
            "name",
        )
    if spec.window_start <= now:
        raise ServiceError(
            "invalid:window", "the evaluation window must be in the future", "window_start"
        )
    if spec.window_end <= spec.window_start:
        raise ServiceError("invalid:window", "the window must end after it starts", "window_end")
    if spec.bid_deadline is not None and spec.bid_deadline > spec.window_start:
        raise ServiceError("invalid:deadline", "bids close before the evaluation", "bid_deadline")
    if spec.separation not in ("venue", "room"):
        raise ServiceError("invalid:separation", "separation is venue or room", "separation")
    if not 1 <= spec.max_per_group <= 10:
        raise ServiceError("invalid:max_per_group", "max_per_group is 1 to 10", "max_per_group")
    if not 0 <= spec.tenderer_representatives <= 10:
        raise ServiceError(
            "invalid:tenderer_representatives",
            "tenderer_representatives is 0 to 10",
            "tenderer_representatives",
        )
    if spec.region_policy not in REGION_POLICIES:
        raise ServiceError("invalid:region_policy", "unknown region policy", "region_policy")
    if db.session.get(Region, spec.region) is None:
        raise ServiceError("invalid:region", f"unknown region {spec.region}", "region")
    _check_strata(spec.strata)
    check_committee(spec.strata, spec.tenderer_representatives)
    tenderer = _organisation(spec.tenderer, "tenderer")
    agency = _organisation(spec.agency, "agency") if spec.agency else None
    authority = _organisation(spec.authority, "authority") if spec.authority else None
    bidders = [_organisation(b, f"bidders.{i}") for i, b in enumerate(spec.bidders)]
    if len({b.id for b in bidders}) != len(bidders):
        raise ServiceError("invalid:bidders", "a bidder is listed twice", "bidders")
    _check_parties(tenderer, agency, bidders, authority)
    drafters = _drafters(spec.drafters)
    if spec.allow_no_entropy and user.role != "admin":
        raise Forbidden(
            "forbidden:no-entropy",
            "only an admin may allow a draw without outside entropy",
            "allow_no_entropy",
        )
    if _wider_region(spec.region_policy, kept) and user.role != "admin":
        raise Forbidden(
            "forbidden:region-policy",
            "only an admin may draw experts from nearer the project than the centre's "
            f"regional exclusion rule ({_centre_policy()}) allows",
            "region_policy",
        )
    return _Parties(tenderer, agency, authority, bidders, drafters)


def _drafters(codes: tuple[str, ...]) -> list[int]:
    """The ids of the experts the project names as its documents' drafters.

    Raises:
        ServiceError ``invalid:drafters`` naming the entry (``drafters.<i>``): not an
        expert's code, or listed twice.
    """
    if len(codes) > MAX_DRAFTERS:
        raise ServiceError(
            "invalid:drafters", f"at most {MAX_DRAFTERS} drafters are listed", "drafters"
        )
    ids = dict(
        db.session.execute(
            sa.select(Expert.code, Expert.id).where(Expert.code.in_(list(set(codes))))
        ).all()
    )
    found: list[int] = []
    for i, code in enumerate(codes):
        if code not in ids:
            raise ServiceError(
                "invalid:drafters", f"no expert has the code {code}", f"drafters.{i}"
            )
        if ids[code] in found:
            raise ServiceError("invalid:drafters", f"{code} is listed twice", f"drafters.{i}")
        found.append(ids[code])
    return found


def _apply(
    project: Project,
    spec: ProjectSpec,
    parties: _Parties,
    now: datetime,
    added: dict[int, datetime] | None = None,
) -> None:
    """Set the project's fields, strata and bidders from ``spec`` (its code aside); a bidder
    kept keeps when it was ``added``."""
    project.name = spec.name
    project.tenderer_id = parties.tenderer.id
    project.agency_id = parties.agency.id if parties.agency else None
    project.authority_id = parties.authority.id if parties.authority else None
    project.region_code = spec.region
    project.window_start, project.window_end = spec.window_start, spec.window_end
    project.bid_deadline = spec.bid_deadline
    project.separation = spec.separation
    project.max_per_group = spec.max_per_group
    project.region_policy = spec.region_policy
    project.tenderer_representatives = spec.tenderer_representatives
    project.strata = [
        Stratum(
            position=i,
            name=s.name,
            specialty_code=s.specialty,
            kind=s.kind,
            count=s.count,
            alternates=s.alternates if s.alternates is not None else default_alternates(s.count),
        )
        for i, s in enumerate(spec.strata)
    ]
    added = added or {}
    project.bidders = [
        ProjectBidder(organisation_id=b.id, added_at=added.get(b.id, now)) for b in parties.bidders
    ]
    project.drafters = [ProjectDrafter(expert_id=expert) for expert in parties.drafters]


def create_project(spec: ProjectSpec, user: User) -> Project:
    """Register a project with its parties and strata (commits).

    Raises:
        ServiceError: a field is invalid (the error names it); Conflict: the code exists.
    """
    now = clock.now()
    try:
        validate_id(spec.code, "project")
    except CodeError as exc:
        raise ServiceError(exc.code, str(exc), "code") from None
    if len(spec.code) > CODE_LENGTH:
        raise ServiceError(
            "invalid:project", f"a project's code is at most {CODE_LENGTH} characters", "code"
        )
    if db.session.scalar(sa.select(Project.id).where(Project.code == spec.code)):
        raise Conflict("conflict:project", f"project {spec.code} exists", "code")
    spec = with_region_policy(spec)
    parties = _checked(spec, user, now)
    project = Project(
        code=spec.code,
        allow_no_entropy=spec.allow_no_entropy,
        created_by=user.id,
        created_at=now,
    )
    _apply(project, spec, parties, now)
    db.session.add(project)
    db.session.commit()
    return project


def update_project(project: Project, spec: ProjectSpec, user: User) -> Project:
    """Correct a project before its draw (commits): every field by the same rules as at
    registration, but its code, which names it in the ledger, and whether it may be drawn
    without outside entropy, which only an admin decides. Once a draw is announced or
    completed the project is what that draw was made from, so it can no longer change.

    Raises:
        ServiceError as :func:`create_project`; Conflict ``conflict:project-drawn``.
    """
    from .draws import live_root_draw

    if spec.code != project.code:
        raise ServiceError("invalid:code", "a project's code cannot change", "code")
    lock_project(project)
    if live_root_draw(project) is not None:
        raise Conflict(
            "conflict:project-drawn", f"project {project.code} has a draw; it can no longer change"
        )
    now = clock.now()
    spec = with_region_policy(spec)
    parties = _checked(replace(spec, allow_no_entropy=False), user, now, project.region_policy)
    added = {b.organisation_id: b.added_at for b in project.bidders}
    # The old rows go first: new ones take the same positions and organisations.
    project.strata.clear()
    project.bidders.clear()
    project.drafters.clear()
    db.session.flush()
    _apply(project, spec, parties, now, added)
    db.session.commit()
    return project


def lock_project(project: Project) -> None:
    """Hold ``project``'s row until the transaction ends (PostgreSQL; SQLite has one writer)
    and read it afresh: a correction, a bidder added and a draw request of one project then
    happen one after the other, each seeing what the one before it committed (a draw built
    from the parties as they were, beside a correction committed meanwhile, would seat a
    new bidder's staff)."""
    db.session.execute(
        sa.select(Project.id).where(Project.id == project.id).with_for_update()
    ).scalar_one()
    db.session.expire(project)


def may_see(project: Project, user: User | None) -> bool:
    """Whether ``user`` may see and act on ``project``: a project manager only on the projects
    they registered; supervisors and admins on every project (``None``: the service itself)."""
    return user is None or user.role != "project_manager" or project.created_by == user.id


def get_project(code: str, user: User | None = None) -> Project:
    """A project by code, as ``user`` may see it (another manager's project is not found).

    Raises:
        NotFound
    """
    project = db.session.scalar(sa.select(Project).where(Project.code == code))
    if project is None or not may_see(project, user):
        raise NotFound("project", code)
    return project


def get_project_by_id(project_id: int, user: User | None = None) -> Project:
    """A project by database id, as ``user`` may see it. Raises NotFound."""
    project = db.session.get(Project, project_id)
    if project is None or not may_see(project, user):
        raise NotFound("project", project_id)
    return project


def list_projects(offset: int, limit: int, user: User | None = None) -> tuple[list[Project], int]:
    """A page of the projects ``user`` may see, newest first, and their total."""
    visible = sa.true()
    if user is not None and user.role == "project_manager":
        visible = Project.created_by == user.id
    total = db.session.scalar(sa.select(sa.func.count(Project.id)).where(visible)) or 0
    rows = db.session.scalars(
        sa.select(Project)
        .where(visible)
        .order_by(Project.created_at.desc(), Project.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return list(rows), total


def strata_request(project: Project) -> list[dict[str, Any]]:
    """The project's strata as the draw request lines."""
    return [
        {
            "name": s.name,
            "specialty": s.specialty_code,
            "count": s.count,
            "alternates": s.alternates,
        }
        for s in project.strata
    ]


def _check_parties(
    tenderer: Organisation,
    agency: Organisation | None,
    bidders: list[Organisation],
    authority: Organisation | None = None,
) -> None:
    """The tenderer, its agency, the bidders and the supervising authority are distinct: a
    tenderer does not bid on its own project, an agency acts for the tenderer, not for a
    bidder, and the authority supervises them all, being none of them."""
    if agency is not None and agency.id == tenderer.id:
        raise ServiceError("invalid:parties", "the agency is the tenderer itself", "agency")
    for i, bidder in enumerate(bidders):
        if bidder.id == tenderer.id:
            raise ServiceError("invalid:parties", "the tenderer cannot bid", f"bidders.{i}")
        if agency is not None and bidder.id == agency.id:
            raise ServiceError("invalid:parties", "the agency cannot bid", f"bidders.{i}")
    if authority is not None and authority.id in (
        tenderer.id,
        agency.id if agency is not None else None,
        *(bidder.id for bidder in bidders),
    ):
        raise ServiceError(
            "invalid:parties",
            "the supervising authority is none of the parties it supervises",
            "authority",
        )


def permit_no_entropy(project: Project, user: User) -> Project:
    """An admin allows the project's draws to take no outside entropy (draw.md §3.1 ``none``:
    the server's secret alone, which trusts the operator): a decision of the trading centre,
    never of the project manager who requests the draw (commits).

    Raises:
        Forbidden: anyone but an admin.
    """
    if user.role != "admin":
        raise Forbidden(
            "forbidden:no-entropy", "only an admin may allow a draw without outside entropy"
        )
    project.allow_no_entropy = True
    db.session.commit()
    return project


def add_bidder(project: Project, uscc: str) -> Organisation:
    """Add a bidder until the bid deadline (the caller re-checks drawn members; commits).

    Raises:
        ServiceError: after the deadline, unknown organisation; Conflict: already a bidder.
    """
    now = clock.now()
    if project.bid_deadline is not None and now > project.bid_deadline:
        raise ServiceError("invalid:deadline", "bids closed at the bid deadline", "uscc")
    org = _organisation(uscc, "uscc")
    if org.id in (project.tenderer_id, project.agency_id):
        raise ServiceError("invalid:parties", "the tenderer and its agency cannot bid", "uscc")
    if project.authority_id is not None and org.id == project.authority_id:
        raise ServiceError("invalid:parties", "the supervising authority cannot bid", "uscc")
    if any(b.organisation_id == org.id for b in project.bidders):
        raise Conflict("conflict:bidder", f"{org.uscc} is already a bidder", "uscc")
    project.bidders.append(ProjectBidder(organisation_id=org.id, added_at=now))
    db.session.flush()
    return org


#: Who may add a bidder once the project's draw is requested. A bidder added then takes every
#: member it conflicts with off the committee, so in a project manager's hands it would tell
#: the members' employers one organisation at a time and remove whom they chose.
AFTER_DRAW_ROLES = ("supervisor", "admin")


def add_bidder_and_recheck(
    project: Project, uscc: str, user: User, reason: str = ""
) -> tuple[Organisation, int]:
    """Add a bidder (commits), then replace the members of the project's completed draw who
    are now in conflict with it (each replacement commits). Returns the organisation and how
    many members were replaced.

    Before the project's draw is requested its manager adds bidders; after, only a supervisor
    or an admin, with a ``reason`` the ledger entry keeps (``AFTER_DRAW_ROLES``).

    Raises:
        as :func:`add_bidder`; Forbidden (``forbidden:after-draw``) for a project manager
        after the draw is requested; ServiceError (``invalid:bidder-reason``,
        ``invalid:purpose-personal``) for a missing or unfit reason then (nothing is changed).
    """
    from . import draws, ledger, replacements

    lock_project(project)  # a draw requested meanwhile is seen, or sees this bidder
    live = draws.live_root_draw(project)
    reason = reason.strip()
    if live is not None:
        if user.role not in AFTER_DRAW_ROLES:
            raise Forbidden(
                "forbidden:after-draw",
                "after the draw is requested, a supervisor adds bidders, with a reason",
            )
        if not reason or len(reason) > 300 or not visible_text(reason):
            raise ServiceError(
                "invalid:bidder-reason",
                "say why the bidder is added after the draw (at most 300 characters)",
                "reason",
            )
        if carries_personal_data(reason):
            raise ServiceError(
                "invalid:purpose-personal",
                "the reason is kept in the ledger for ever, which holds no personal data: "
                "write no identity number, phone number or e-mail address",
                "reason",
            )
    org = add_bidder(project, uscc)
    ledger.lock()
    body = {"project": project.code, "bidder": org.uscc, "after_draw": live is not None}
    if live is not None:
        body["reason"] = reason
    ledger.append(
        "project.bidder_added",
        body,
        draws.actor_of(user),
        draw_id=live.id if live is not None else None,
    )
    db.session.commit()
    replaced = 0
    if live is not None and live.state == "completed":
        replaced = len(replacements.recheck_members(live, draws.actor_of(user)))
    return org, replaced


def _drafter_codes(project: Project) -> list[str]:
    """The codes of the project's drafters, sorted (no statement when it has none)."""
    ids = [d.expert_id for d in project.drafters]
    if not ids:
        return []
    return sorted(db.session.scalars(sa.select(Expert.code).where(Expert.id.in_(ids))))


def summary(project: Project) -> dict[str, Any]:
    """What anyone allowed to see the project sees (no expert data)."""
    codes = dict(
        db.session.execute(
            sa.select(Organisation.id, Organisation.uscc).where(
                Organisation.id.in_(
                    [project.tenderer_id, project.agency_id, project.authority_id]
                    + [b.organisation_id for b in project.bidders]
                )
            )
        ).all()
    )
    return {
        "code": project.code,
        "name": project.name,
        "tenderer": codes.get(project.tenderer_id),
        "agency": codes.get(project.agency_id) if project.agency_id else None,
        "authority": codes.get(project.authority_id) if project.authority_id else None,
        "bidders": sorted(codes[b.organisation_id] for b in project.bidders),
        "drafters": _drafter_codes(project),
        "region": project.region_code,
        "window_start": project.window_start,
        "window_end": project.window_end,
        "bid_deadline": project.bid_deadline,
        "separation": project.separation,
        "max_per_group": project.max_per_group,
        "region_policy": project.region_policy,
        "tenderer_representatives": project.tenderer_representatives,
        "allow_no_entropy": project.allow_no_entropy,
        "awarded_at": project.awarded_at,
        "strata": [
            {
                "name": s.name,
                "specialty": s.specialty_code,
                "kind": s.kind,
                "count": s.count,
                "alternates": s.alternates,
            }
            for s in project.strata
        ],
    }
