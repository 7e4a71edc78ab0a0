"""Building the eligible pool of a request from the database.

The database narrows first (specialty, status, qualification, region), so that the
per-expert rules of ``domain.eligibility`` run only on the experts that can still be drawn;
of the relations, only those touching the project's parties are loaded, since the party rules
look at nothing else. Counts of the experts the database filtered out are taken by SQL under
the same reason codes, so the announcement's ``excluded`` map covers every expert considered.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from fractions import Fraction
from typing import Any

import sqlalchemy as sa

from ..domain import eligibility as el
from ..extensions import db
from ..models import (
    Booking,
    Draw,
    Employment,
    Expert,
    ExpertRelation,
    ExpertSpecialty,
    Leave,
    Member,
    Organisation,
    Penalty,
    Project,
    ProjectDrafter,
    Region,
    Room,
    Specialty,
    Venue,
    Workstation,
)


@dataclass
class StratumPool:
    """The candidates of one stratum, sorted by expert code, with their group codes."""

    name: str
    specialty: str
    count: int
    alternates: int
    candidates: list[dict[str, str]]
    considered: int
    stale_share: str = "0"


@dataclass
class Pool:
    """What a request may draw from, and why the others were excluded."""

    strata: list[StratumPool]
    excluded: dict[str, int]
    venues: list[dict[str, Any]]
    expert_ids: dict[str, int] = field(default_factory=dict)
    stale_blocked: list[str] = field(default_factory=list)


def group_code(family: str, employer: str | None, expert_code: str) -> str:
    """Opaque employer code, stable within a draw and its supplementary draws."""
    basis = f"employer:{employer}" if employer else f"expert:{expert_code}"
    return "G" + hashlib.sha256(f"{family}\x00{basis}".encode()).hexdigest()[:10]


def specialty_codes_under(code: str) -> list[str]:
    """A specialty code and every code below it in the tree (codes nest by prefix)."""
    rows = db.session.scalars(
        sa.select(Specialty.code).where(Specialty.code.startswith(code, autoescape=True))
    )
    return list(rows)


def project_facts(project: Project) -> el.ProjectFacts:
    """The plain facts of a project the eligibility rules read."""
    orgs = {project.tenderer_id, project.agency_id, project.authority_id}
    orgs |= {b.organisation_id for b in project.bidders}
    orgs.discard(None)
    rows = db.session.execute(
        sa.select(Organisation.id, Organisation.uscc, Organisation.parent_id).where(
            Organisation.id.in_(orgs)
        )
    ).all()
    parents = {r.parent_id for r in rows if r.parent_id}
    parent_codes = dict(
        db.session.execute(
            sa.select(Organisation.id, Organisation.uscc).where(Organisation.id.in_(parents))
        ).all()
    )
    code_of = {r.id: r.uscc for r in rows}
    related = {r.uscc: parent_codes[r.parent_id] for r in rows if r.parent_id}
    drafters = db.session.scalars(
        sa.select(Expert.code)
        .join(ProjectDrafter, ProjectDrafter.expert_id == Expert.id)
        .where(ProjectDrafter.project_id == project.id)
    )
    return el.ProjectFacts(
        code=project.code,
        region=project.region_code,
        tenderer=code_of[project.tenderer_id],
        agency=code_of.get(project.agency_id) if project.agency_id else None,
        bidders=tuple(sorted(code_of[b.organisation_id] for b in project.bidders)),
        authorities=(code_of[project.authority_id],) if project.authority_id else (),
        drafters=tuple(sorted(drafters)),
        window_start=project.window_start,
        window_end=project.window_end,
        related_orgs=related,
    )


def excluded_regions(project: el.ProjectFacts, rules: el.Rules) -> list[str]:
    """Home regions the region rule excludes, decided by the domain rule itself."""
    codes = db.session.scalars(sa.select(Region.code))
    return [
        code
        for code in codes
        if dict(el.RULES)["region"](
            el.ExpertFacts(code="probe", status="active", home_region=code), project, rules
        )
    ]


def _party_org_ids(project: Project) -> list[int]:
    ids = {project.tenderer_id, project.agency_id, project.authority_id}
    ids |= {b.organisation_id for b in project.bidders}
    ids.discard(None)
    return sorted(i for i in ids if i is not None)


def load_facts(
    expert_ids: Sequence[int],
    project: Project,
    facts: el.ProjectFacts,
    rules: el.Rules,
) -> dict[int, el.ExpertFacts]:
    """Eligibility facts of the given experts, limited to what the rules can look at."""
    if not expert_ids:
        return {}
    id_set = set(expert_ids)
    start, end = project.window_start, project.window_end
    parties = _party_org_ids(project)
    employer = sa.orm.aliased(Organisation)
    parent = sa.orm.aliased(Organisation)
    base = db.session.execute(
        sa.select(
            Expert.id,
            Expert.code,
            Expert.status,
            Expert.home_region,
            Expert.qualification_expiry,
            Expert.data_confirmed_on,
            employer.uscc,
            parent.uscc,
        )
        .outerjoin(employer, employer.id == Expert.employer_id)
        .outerjoin(parent, parent.id == employer.parent_id)
        .where(Expert.id.in_(id_set))
    ).all()

    history: dict[int, list[el.Employment]] = defaultdict(list)
    advising: dict[int, list[el.Employment]] = defaultdict(list)
    for expert_id, org, relation, since, until in db.session.execute(
        sa.select(
            Employment.expert_id,
            Organisation.uscc,
            Employment.relation,
            Employment.start,
            Employment.end,
        )
        .join(Organisation, Organisation.id == Employment.organisation_id)
        .where(Employment.organisation_id.in_(parties))
    ):
        if expert_id in id_set:
            target = advising if relation == "adviser" else history
            target[expert_id].append(el.Employment(org=org, start=since, end=until))

    relatives: dict[int, list[str]] = defaultdict(list)
    declared: dict[int, list[str]] = defaultdict(list)
    for expert_id, org, kind in db.session.execute(
        sa.select(ExpertRelation.expert_id, Organisation.uscc, ExpertRelation.kind)
        .join(Organisation, Organisation.id == ExpertRelation.organisation_id)
        .where(ExpertRelation.organisation_id.in_(parties))
    ):
        if expert_id in id_set:
            (relatives if kind == "relative" else declared)[expert_id].append(org)

    penalties: dict[int, list[el.Penalty]] = defaultdict(list)
    for expert_id, kind, since, until in db.session.execute(
        sa.select(Penalty.expert_id, Penalty.kind, Penalty.start, Penalty.end)
    ):
        if expert_id in id_set:
            penalties[expert_id].append(el.Penalty(kind=kind, start=since, end=until))

    leave: dict[int, list[el.Period]] = defaultdict(list)
    for expert_id, since, until in db.session.execute(
        sa.select(Leave.expert_id, Leave.start, Leave.end).where(
            Leave.start < end, Leave.end > start
        )
    ):
        if expert_id in id_set:
            leave[expert_id].append(el.Period(since, until))

    buffer = rules.travel_buffer
    bookings: dict[int, list[el.Period]] = defaultdict(list)
    for expert_id, since, until in db.session.execute(
        sa.select(Booking.expert_id, Booking.start, Booking.end).where(
            Booking.released_at.is_(None),
            Booking.start < end + buffer,
            Booking.end > start - buffer,
        )
    ):
        if expert_id in id_set:
            bookings[expert_id].append(el.Period(since, until))

    look_back = timedelta(days=max(rules.frequency_days, rules.same_tenderer_days))
    memberships: dict[int, list[el.Membership]] = defaultdict(list)
    for expert_id, joined, tenderer in db.session.execute(
        sa.select(Member.expert_id, Member.joined_at, Organisation.uscc)
        .join(Draw, Draw.id == Member.draw_id)
        .join(Project, Project.id == Draw.project_id)
        .join(Organisation, Organisation.id == Project.tenderer_id)
        .where(
            Draw.state == "completed",
            Member.joined_at >= start - look_back,
            Member.joined_at < start,
        )
    ):
        if expert_id in id_set:
            memberships[expert_id].append(el.Membership(time=joined, tenderer=tenderer))

    return {
        row[0]: el.ExpertFacts(
            code=row[1],
            status=row[2],
            home_region=row[3],
            qualification_expiry=row[4],
            data_confirmed_on=row[5],
            employer=row[6],
            employer_group=row[7],
            employment_history=tuple(history[row[0]]),
            advising=tuple(advising[row[0]]),
            relatives_orgs=tuple(relatives[row[0]]),
            declared_conflicts=tuple(declared[row[0]]),
            penalties=tuple(penalties[row[0]]),
            leave=tuple(leave[row[0]]),
            bookings=tuple(bookings[row[0]]),
            member_history=tuple(memberships[row[0]]),
        )
        for row in base
    }


def _universe(specialties: list[str]) -> sa.Select[Any]:
    return sa.select(ExpertSpecialty.expert_id).where(
        ExpertSpecialty.specialty_code.in_(specialties)
    )


def _sql_excluded(day: date, regions_out: list[str]) -> sa.ColumnElement[bool]:
    """What the database excludes itself: ``inactive`` and ``region`` (the cheap, common ones)."""
    return sa.or_(_sql_inactive(day), Expert.home_region.in_(regions_out))


def _sql_inactive(day: date) -> sa.ColumnElement[bool]:
    # Written NULL-safe: a NULL here would drop the expert from both sides of the split.
    expired = sa.and_(Expert.qualification_expiry.is_not(None), Expert.qualification_expiry < day)
    return sa.or_(Expert.status != "active", expired)


def _flagged(project: Project, rules: el.Rules, day: date, related_orgs: set[int]) -> set[int]:
    """Experts with any fact that some per-expert rule could act on.

    The set is a superset: the domain rules decide for these; everyone else in the narrowed
    set has no such fact, so no rule can exclude them.
    """
    start, end = project.window_start, project.window_end
    parties = _party_org_ids(project)
    look_back = timedelta(days=max(rules.frequency_days, rules.same_tenderer_days))
    queries = [
        sa.select(ExpertRelation.expert_id).where(ExpertRelation.organisation_id.in_(parties)),
        sa.select(Employment.expert_id).where(Employment.organisation_id.in_(parties)),
        sa.select(Expert.id).where(Expert.employer_id.in_(related_orgs)),
        sa.select(Penalty.expert_id),
        sa.select(ProjectDrafter.expert_id).where(ProjectDrafter.project_id == project.id),
        sa.select(Leave.expert_id).where(Leave.start < end, Leave.end > start),
        sa.select(Booking.expert_id).where(
            Booking.released_at.is_(None),
            Booking.start < end + rules.travel_buffer,
            Booking.end > start - rules.travel_buffer,
        ),
        sa.select(Member.expert_id).where(Member.joined_at >= start - look_back),
    ]
    flagged: set[int] = set()
    for query in queries:
        flagged.update(db.session.scalars(query))
    return flagged


def _related_org_ids(project: Project) -> set[int]:
    """Parties, the groups controlling them, and the units they control."""
    parties = _party_org_ids(project)
    parents = db.session.scalars(
        sa.select(Organisation.parent_id).where(
            Organisation.id.in_(parties), Organisation.parent_id.is_not(None)
        )
    )
    children = db.session.scalars(
        sa.select(Organisation.id).where(Organisation.parent_id.in_(parties))
    )
    return set(parties) | set(parents) | set(children)


def free_venues(
    start: datetime,
    end: datetime,
    province: str,
    exclude_rooms: Iterable[str] = (),
    exclude_venues: Iterable[str] = (),
) -> list[dict[str, Any]]:
    """Active venues of the province with the rooms and workstations free for the window."""
    booked = sa.select(Booking.workstation_id).where(
        Booking.released_at.is_(None), Booking.start < end, Booking.end > start
    )
    rows = db.session.execute(
        sa.select(Venue.id, Room.id, Workstation.id)
        .join(Room, Room.venue_id == Venue.id)
        .join(Workstation, Workstation.room_id == Room.id)
        .where(
            Venue.active.is_(True),
            Room.active.is_(True),
            Workstation.active.is_(True),
            Venue.region_code.startswith(province[:2]),
            Workstation.id.not_in(booked),
            Room.id.not_in(list(exclude_rooms)),
            Venue.id.not_in(list(exclude_venues)),
        )
    ).all()
    tree: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for venue, room, workstation in rows:
        tree[venue][room].append(workstation)
    return [
        {
            "id": venue,
            "rooms": [
                {"id": room, "workstations": sorted(tree[venue][room])}
                for room in sorted(tree[venue])
            ],
        }
        for venue in sorted(tree)
    ]


def build_pool(
    project: Project,
    strata: Sequence[dict[str, Any]],
    rules: el.Rules,
    family: str,
    exclude_experts: dict[str, str] | None = None,
) -> Pool:
    """Eligible candidates per stratum, exclusion counts and free venues for a request.

    ``strata`` are ``{"name", "specialty", "count", "alternates"}`` in request order;
    ``exclude_experts`` maps expert codes to a reason code the draw itself imposes
    (``taken``, ``group-full`` in supplementary draws). Each excluded expert is counted once,
    under the first reason in rules.md's order.
    """
    facts = project_facts(project)
    rules = _with_project_policy(rules, project)
    day = el.evaluation_date(facts, rules)
    regions_out = excluded_regions(facts, rules)
    exclude_experts = exclude_experts or {}
    universes = [_universe(specialty_codes_under(s["specialty"])) for s in strata]

    reason_of: dict[int, str | None] = {}
    everyone = sa.union(*universes).subquery()
    for expert_id, inactive in db.session.execute(
        sa.select(
            Expert.id,
            _sql_inactive(day),
        ).where(Expert.id.in_(sa.select(everyone.c[0])), _sql_excluded(day, regions_out))
    ):
        reason_of[expert_id] = "inactive" if inactive else "region"

    rows: dict[int, Any] = {}
    members_of: list[list[int]] = []
    considered: list[int] = []
    for universe in universes:
        considered.append(
            db.session.scalar(sa.select(sa.func.count(sa.distinct(universe.subquery().c[0]))))
        )
        ids = []
        for row in db.session.execute(
            sa.select(Expert.id, Expert.code, Expert.data_confirmed_on, Organisation.uscc)
            .outerjoin(Organisation, Organisation.id == Expert.employer_id)
            .where(Expert.id.in_(universe), sa.not_(_sql_excluded(day, regions_out)))
        ):
            rows[row.id] = row
            ids.append(row.id)
        members_of.append(ids)
        ids.extend(
            i
            for i in db.session.scalars(
                universe.where(ExpertSpecialty.expert_id.in_(list(reason_of)))
            )
        )

    flagged = _flagged(project, rules, day, _related_org_ids(project))
    to_check = [i for i in rows if i in flagged]
    checked = load_facts(to_check, project, facts, rules) if to_check else {}
    for expert_id, row in rows.items():
        fact = checked.get(expert_id)
        reason = exclude_experts.get(row.code)
        if reason is None and fact is not None:
            reason = el.first_exclusion(fact, facts, rules)
        elif reason is None and el.confirmation_is_stale(row.data_confirmed_on, rules, day):
            reason = "stale-data"  # unflagged: no earlier rule has a fact to act on
        reason_of[expert_id] = reason

    excluded: dict[str, int] = {}
    for code in [*el.REASON_CODES, "taken", "group-full"]:
        n = sum(1 for r in reason_of.values() if r == code)
        if n:
            excluded[code] = n

    by_employer: dict[str, str] = {}

    def groups(employer: str | None, code: str) -> str:
        if employer is None:
            return group_code(family, None, code)
        if employer not in by_employer:
            by_employer[employer] = group_code(family, employer, code)
        return by_employer[employer]

    pool = Pool(
        strata=[],
        excluded=excluded,
        venues=[],
        expert_ids={row.code: i for i, row in rows.items() if reason_of[i] is None},
    )
    for stratum, ids, seen in zip(strata, members_of, considered, strict=True):
        drawable = [rows[i] for i in ids if reason_of.get(i) is None]
        stale = sum(1 for i in ids if reason_of.get(i) == "stale-data")
        share = Fraction(stale, stale + len(drawable)) if stale + len(drawable) else Fraction(0)
        if share and share >= rules.stale_share_limit:
            pool.stale_blocked.append(stratum["name"])
        candidates = sorted(
            ({"id": r.code, "group": groups(r.uscc, r.code)} for r in drawable),
            key=lambda c: c["id"],
        )
        pool.strata.append(
            StratumPool(
                name=stratum["name"],
                specialty=stratum["specialty"],
                count=stratum["count"],
                alternates=stratum["alternates"],
                candidates=candidates,
                considered=seen,
                stale_share=f"{share.numerator}/{share.denominator}",
            )
        )
    pool.venues = free_venues(project.window_start, project.window_end, project.region_code)
    return pool


def explain_expert(project: Project, expert: Expert, rules: el.Rules) -> dict[str, Any]:
    """Why an expert is or is not eligible for a project: reason codes only."""
    facts = project_facts(project)
    rules = _with_project_policy(rules, project)
    expert_facts = load_facts([expert.id], project, facts, rules)[expert.id]
    return el.explain(expert_facts, facts, rules)


def _with_project_policy(rules: el.Rules, project: Project) -> el.Rules:
    mapping = rules.to_mapping()
    mapping["region_policy"] = project.region_policy
    return el.Rules.from_mapping(mapping)


def evaluation_day_of(project: Project, rules: el.Rules) -> date:
    """The evaluation date of a project under the rules' time zone."""
    return el.evaluation_date(project_facts(project), rules)
