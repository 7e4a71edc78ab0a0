"""Building the eligible pool of a request from the database.

``build_pool`` judges all the experts of a request: the rules on an expert's own row
(``inactive``, ``region``, ``stale-data``) over the universe's columns, which
``pool_universe`` keeps in memory while the pool data is unchanged; the other exclusion rules
of ``domain.eligibility`` in one query, in set-based form (the experts some fact of theirs
excludes), with the bounds the domain computes. Each excluded expert is counted under its
first reason in rules.md's order, so the announcement's ``excluded`` map covers every expert
considered. Where a rule turns on organisations or regions (``party-employer``,
``authority``, ``region``) the domain rule itself decides, once per organisation or region.

``load_facts`` gives the domain's plain facts of given experts, for explanations and for the
tests that hold ``build_pool`` equal to the domain rules run on every expert.
"""

from __future__ import annotations

import functools
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from itertools import compress, filterfalse, groupby, repeat
from operator import is_not, itemgetter
from typing import Any

import sqlalchemy as sa

from .. import clock
from ..domain import draw as engine
from ..domain import eligibility as el
from ..domain.draw_seed import short_sha256
from ..extensions import db
from ..models import (
    Booking,
    Draw,
    Employment,
    Expert,
    ExpertRelation,
    Leave,
    Member,
    Organisation,
    Penalty,
    Project,
    ProjectBidder,
    ProjectDrafter,
    Region,
    Specialty,
    Stratum,
)
from ..models.periods import overlapping
from ..personal_data import protector
from . import control, pool_universe, seat_map
from .sql_lists import as_list, list_of


@dataclass
class StratumPool:
    """The candidates of one stratum: their expert codes in code order, and (shared by the
    strata of a pool) each candidate's group code."""

    name: str
    specialty: str
    count: int
    alternates: int
    ids: tuple[str, ...]
    group_of: dict[str, str]
    considered: int
    stale_share: str = "0"

    @property
    def candidates(self) -> list[dict[str, str]]:
        """The snapshot's ``candidates`` (draw.md §2): ``{"id", "group"}`` per candidate."""
        group_of = self.group_of
        return [{"id": cid, "group": group_of[cid]} for cid in self.ids]


@dataclass
class Pool:
    """What a request may draw from, and why the others were excluded. ``venues`` are the
    snapshot's venues as the domain's view (``seat_map.free_seats``)."""

    strata: list[StratumPool]
    excluded: dict[str, int]
    venues: tuple[engine.Venue, ...]
    stale_blocked: list[str] = field(default_factory=list)
    #: The stale share a stratum must stay below (the rules the pool was built with).
    stale_limit: Fraction = Fraction(1)

    def stale_record(self, names: set[str] | None = None) -> dict[str, Any]:
        """What an announcement records of stale data (rules.md): each stratum's share of
        stale experts (``"2/24"`` reduced), of the strata ``names`` (all by default), and the
        limit they were judged against, as exact fractions."""
        limit = self.stale_limit
        return {
            "stale_share": {
                s.name: s.stale_share for s in self.strata if names is None or s.name in names
            },
            "stale_share_limit": f"{limit.numerator}/{limit.denominator}",
        }


def group_key(project: Project | None) -> bytes | None:
    """The key of a project's group codes: the deployment's (derived from the personal-data
    key, it never leaves the service), or None for the plain codes of a project drawn before
    group codes were keyed (migration 0015), so that its supplementary draws give an employer
    the code its first draw gave (draw.md §2)."""
    if project is not None and project.group_codes == "plain":
        return None
    return protector().group_key


def _group_prefix(family: str, kind: str, key: bytes | None) -> Any:
    """The SHA-256 state after the key, the family and the basis kind.

    Keyed, because the project code and the organisations' USCCs are public: an unkeyed hash
    of them would let anyone holding a snapshot name every candidate's employer."""
    if key is None:
        return short_sha256(f"{family}\x00{kind}:".encode())
    return short_sha256(key + f"\x00{family}\x00{kind}:".encode())


def group_code(family: str, employer: str | None, expert_code: str, key: bytes | None) -> str:
    """Opaque employer code for one ``family`` (a draw's project code): the same within a draw
    and its supplementary draws, as draw.md §2 requires, and unrelated across projects. It
    does not depend on the draw id, so a pool can be built before the id is numbered.
    ``key``: :func:`group_key` of the project."""
    digest = _group_prefix(family, "employer" if employer else "expert", key)
    digest.update((employer or expert_code).encode())
    return "G" + digest.hexdigest()[:10]


def _own_group_codes(family: str, expert_codes: Iterable[str], key: bytes | None) -> list[str]:
    """``group_code(family, None, code, key)`` for each code (an expert without an employer is
    a group of one), from one hashed prefix: thousands of them in a provincial pool."""
    prefix = _group_prefix(family, "expert", key)
    codes = []
    for code in expert_codes:
        digest = prefix.copy()
        digest.update(code.encode())
        codes.append("G" + digest.hexdigest()[:10])
    return codes


def specialty_codes_under(code: str) -> list[str]:
    """A specialty code and every code below it in the tree (codes nest by prefix)."""
    return specialty_universes([code])[0]


def _awaiting(now: datetime) -> sa.Select[Any]:
    """The projects awaiting their draw: window still ahead, no announced or completed root
    draw; the earliest window first."""
    drawn = sa.select(Draw.project_id).where(Draw.live_root())
    return (
        sa.select(Project)
        .where(Project.window_start > now, Project.id.not_in(drawn))
        .order_by(Project.window_start, Project.id)
    )


def likeliest_next() -> Project | None:
    """The project most likely drawn next: the earliest window awaiting its draw."""
    return db.session.scalars(_awaiting(clock.now()).limit(1)).first()


def warm_universes(limit: int = pool_universe.KEPT) -> int:
    """Keep in memory the experts of the strata most likely drawn next (at most ``limit``
    distinct strata sets), and the seats of their provinces, so that a new process's first
    draws on them do not read them in full (about 345 ms for a provincial universe).

    Most likely next: the projects awaiting their draw (window still ahead, no announced or
    completed draw; the earliest window first), then the projects drawn most recently.
    Returns how many strata sets it read.
    """
    now = clock.now()
    awaiting = db.session.execute(
        _awaiting(now).with_only_columns(Project.id, Project.region_code).limit(10 * limit)
    ).all()
    recent = db.session.execute(
        sa.select(Draw.project_id, Project.region_code)
        .join(Project, Project.id == Draw.project_id)
        .where(Draw.root_id.is_(None))
        .order_by(Draw.announced_at.desc())
        .limit(10 * limit)
    ).all()
    likeliest = dict.fromkeys([*awaiting, *recent])
    strata: dict[int, tuple[str, ...]] = {
        project_id: tuple(code for _, code in rows)
        for project_id, rows in groupby(
            db.session.execute(
                sa.select(Stratum.project_id, Stratum.specialty_code)
                .where(Stratum.project_id.in_({project_id for project_id, _ in likeliest}))
                .order_by(Stratum.project_id, Stratum.position)
            ),
            itemgetter(0),
        )
    }
    wanted: list[tuple[str, ...]] = []
    provinces: list[str] = []
    for project_id, region in likeliest:
        if len(wanted) == limit:
            break
        codes = strata.get(project_id, ())
        if codes and codes not in wanted:
            wanted.append(codes)
            if region[:2] not in provinces:
                provinces.append(region[:2])
    for codes in reversed(wanted):  # the likeliest last, so kept the longest
        pool_universe.universe_of(specialty_universes(codes))
    for province in provinces[: seat_map.KEPT]:
        seat_map.free_seats(now, now + timedelta(seconds=1), province)
    db.session.rollback()  # reads only: end the transaction
    return len(wanted)


def specialty_universes(codes: Sequence[str]) -> list[list[str]]:
    """For each specialty code, it and every code below it in the tree (codes nest by
    prefix), in code order: the universes of a request's strata, in one query."""
    if not codes:
        return []
    below = [Specialty.code.startswith(code, autoescape=True) for code in dict.fromkeys(codes)]
    found = list(db.session.scalars(sa.select(Specialty.code).where(sa.or_(*below))))
    found.sort()
    return [[s for s in found if s.startswith(code)] for code in codes]


@dataclass(frozen=True)
class Parties:
    """What pool building reads of a project's parties (:func:`_project_reads`).

    ``links`` are the parties and the organisations above and below them, at any depth
    (:mod:`.control`); ``controllers`` maps each of them to the USCCs above it, nearest
    first; ``ids`` are the parties' ids."""

    ids: list[int]
    links: dict[int, control.Link]
    controllers: dict[int, tuple[str, ...]]


def project_facts(project: Project) -> el.ProjectFacts:
    """The plain facts of a project the eligibility rules read."""
    return _project_reads(project)[0]


def _project_reads(project: Project) -> tuple[el.ProjectFacts, Parties]:
    """The project's facts, and its parties as the fact rules need them: one statement for
    the parties and the drafters (it was five), and the walk of control up and down from the
    parties."""
    named = sorted({project.tenderer_id, project.agency_id, project.authority_id} - {None})
    parties = db.session.execute(_parties(), {"named": named, "project": project.id}).all()
    code_of = {row.id: row.uscc for row in parties}
    read = {row.id: control.Link(row.uscc, row.parent_id) for row in parties}
    links = control.walk(up_from=code_of, down_from=code_of, known=read)
    above = control.chains(links)
    drafters = as_list(parties[0].drafters) if parties else []
    facts = el.ProjectFacts(
        code=project.code,
        region=project.region_code,
        tenderer=code_of[project.tenderer_id],
        agency=code_of.get(project.agency_id) if project.agency_id else None,
        bidders=tuple(sorted(row.uscc for row in parties if row.bidder)),
        authorities=(code_of[project.authority_id],) if project.authority_id else (),
        drafters=tuple(sorted(drafters)),
        window_start=project.window_start,
        window_end=project.window_end,
        related_orgs={row.uscc: above[row.id] for row in parties if above[row.id]},
    )
    return facts, Parties(ids=sorted(code_of), links=links, controllers=above)


@functools.cache
def _parties() -> sa.Select[Any]:
    """The parties (``:named`` and the bidders of ``:project``): id, USCC, parent's id,
    whether a bidder; and on each row the project's drafters' codes (built once: an alias
    costs a millisecond)."""
    named = sa.bindparam("named", expanding=True)
    project = sa.bindparam("project")
    bidders = sa.select(ProjectBidder.organisation_id).where(ProjectBidder.project_id == project)
    drafters = (
        sa.select(list_of(Expert.code))
        .join(ProjectDrafter, ProjectDrafter.expert_id == Expert.id)
        .where(ProjectDrafter.project_id == project)
        .scalar_subquery()
    )
    return sa.select(
        Organisation.id,
        Organisation.uscc,
        Organisation.parent_id,
        Organisation.id.in_(bidders).label("bidder"),
        drafters.label("drafters"),
    ).where(
        # One list of ids, not "named OR a bidder": PostgreSQL reads the OR of two lists by
        # scanning every organisation, this by the primary key.
        Organisation.id.in_(
            sa.union(sa.select(Organisation.id).where(Organisation.id.in_(named)), bidders)
        )
    )


def excluded_regions(
    project: el.ProjectFacts, rules: el.Rules, codes: Iterable[str] | None = None
) -> list[str]:
    """Home regions the region rule excludes, decided by the domain rule itself, among
    ``codes`` (default: every region)."""
    if codes is None:
        codes = db.session.scalars(sa.select(Region.code))
    return [
        code
        for code in codes
        if dict(el.RULES)["region"](
            el.ExpertFacts(code="probe", status="active", home_region=code), project, rules
        )
    ]


def load_facts(
    expert_ids: Sequence[int],
    project: Project,
    facts: el.ProjectFacts,
    rules: el.Rules,
    apart_from: Sequence[str] = (),
) -> dict[int, el.ExpertFacts]:
    """Eligibility facts of the given experts, limited to what the rules can look at; the
    bookings and memberships of the draws ``apart_from`` are set aside (a draw's own seats do
    not make its members busy for it)."""
    if not expert_ids:
        return {}
    id_set = set(expert_ids)
    start, end = project.window_start, project.window_end
    parties = _project_reads(project)[1].ids
    employer = sa.orm.aliased(Organisation)
    base = db.session.execute(
        sa.select(
            Expert.id,
            Expert.code,
            Expert.status,
            Expert.home_region,
            Expert.qualification_expiry,
            Expert.data_confirmed_on,
            employer.uscc,
            Expert.employer_id,
        )
        .outerjoin(employer, employer.id == Expert.employer_id)
        .where(Expert.id.in_(id_set))
    ).all()
    above = control.controllers(row[7] for row in base if row[7] is not None)

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
            overlapping(Booking.start, Booking.end, start - buffer, end + buffer),
            Booking.draw_id.not_in(apart_from),
        )
    ):
        if expert_id in id_set:
            bookings[expert_id].append(el.Period(since, until))

    since, until = el.recent_span(start, max(rules.frequency_days, rules.same_tenderer_days))
    memberships: dict[int, list[el.Membership]] = defaultdict(list)
    for expert_id, sits, tenderer in db.session.execute(
        sa.select(Member.expert_id, Project.window_start, Organisation.uscc)
        .join(Draw, Draw.id == Member.draw_id)
        .join(Project, Project.id == Draw.project_id)
        .join(Organisation, Organisation.id == Project.tenderer_id)
        .where(
            Draw.state == "completed",
            Member.state == "active",  # see _recent_members
            Project.window_start > since,
            Project.window_start < until,
            Member.draw_id.not_in(apart_from),
        )
    ):
        if expert_id in id_set:
            memberships[expert_id].append(el.Membership(time=sits, tenderer=tenderer))

    return {
        row[0]: el.ExpertFacts(
            code=row[1],
            status=row[2],
            home_region=row[3],
            qualification_expiry=row[4],
            data_confirmed_on=row[5],
            employer=row[6],
            employer_groups=above.get(row[7], ()),
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


def _employers_excluded(
    parties: Parties, facts: el.ProjectFacts, rules: el.Rules
) -> dict[str, list[int]]:
    """Employers that ``party-employer`` and ``authority`` exclude, decided by those rules.

    Both rules read only the employer and the organisations controlling it, so each is run
    once per organisation, on a probe expert employed there (as ``excluded_regions`` does for
    home regions). Only a party, an organisation above a party or one below it can be related
    to a party, so only those organisations are probed.
    """
    checks = dict(el.RULES)
    hits: dict[str, list[int]] = {"party-employer": [], "authority": []}
    for org_id, link in parties.links.items():
        probe = el.ExpertFacts(
            code="probe",
            status="active",
            home_region=facts.region,
            employer=link.uscc,
            employer_groups=parties.controllers[org_id],
        )
        for code, found in hits.items():
            if checks[code](probe, facts, rules):
                found.append(org_id)
    return hits


def _recent_members(rule: str) -> sa.Select[Any]:
    """Memberships in completed draws whose evaluations start after ``:<rule>_since`` and
    before ``:<rule>_until`` (:func:`el.recent_span`), joined to their projects.

    Only members who stayed on their committee count: one who declined, did not answer or was
    taken off never sat, and rules.md counts times an expert "was a member" (the refusal-rate
    alert watches declines).
    """
    return (
        sa.select(Member.expert_id)
        .join(Draw, Draw.id == Member.draw_id)
        .join(Project, Project.id == Draw.project_id)
        .where(
            Draw.state == "completed",
            Member.state == "active",
            Project.window_start > sa.bindparam(f"{rule}_since"),
            Project.window_start < sa.bindparam(f"{rule}_until"),
        )
    )


_NEVER = datetime(1970, 1, 1, tzinfo=UTC)


def _fact_rules(
    project: Project,
    facts: el.ProjectFacts,
    parties: Parties,
    rules: el.Rules,
    other_committees: bool = True,
) -> tuple[sa.Select[Any], dict[str, Any]]:
    """The statement of :func:`_fact_rules_statement` and its values for this request;
    without ``other_committees``, values under which the rules that turn on other
    committees (``busy``, ``frequency``, ``same-tenderer``) find no one."""
    day = el.evaluation_date(facts, rules)
    employers = _employers_excluded(parties, facts, rules)
    busy_start, busy_end = el.busy_span(facts, rules)
    start = project.window_start
    frequency_since, frequency_until = el.recent_span(start, rules.frequency_days)
    same_tenderer_since, same_tenderer_until = el.recent_span(start, rules.same_tenderer_days)
    if not other_committees:
        busy_start = busy_end = _NEVER  # an empty period: no booking overlaps it
        # Empty spans: no evaluation starts after the start and before _NEVER.
        frequency_until = same_tenderer_until = _NEVER
    return _fact_rules_statement(), {
        "day": day,
        "penalty_cutoff": el.penalty_cutoff(facts, rules),
        "former_cutoff": el.former_role_cutoff(facts, rules),
        "parties": parties.ids,
        "party_employers": employers["party-employer"],
        "authority_employers": employers["authority"],
        "project": project.id,
        "busy_start": busy_start,
        "busy_end": busy_end,
        "window_start": start,
        "window_end": project.window_end,
        "frequency_since": frequency_since,
        "frequency_until": frequency_until,
        "frequency_limit": rules.frequency_limit,
        "same_tenderer_since": same_tenderer_since,
        "same_tenderer_until": same_tenderer_until,
        "tenderer": project.tenderer_id,
    }


@functools.cache
def _fact_rules_statement() -> sa.Select[Any]:
    """Two lists, ``(expert_id, rank)``: per expert with a fact that some rule acts on, the
    position in ``el.REASON_CODES`` of the first such rule.

    Each part is the set-based form of one domain rule over the rows ``load_facts`` gives
    that rule (same filters, same bounds, from ``eligibility_rules``, passed as the values
    :func:`_fact_rules` names), so the rank is the rule ``el.first_exclusion`` would name,
    ``inactive``, ``region`` and ``stale-data`` aside; tests/integration/test_pool.py holds
    the two equal, bounds included. Built once: building it took longer than running it.
    """
    day = sa.bindparam("day")
    parties = sa.bindparam("parties", expanding=True)
    penalty = sa.or_(
        sa.and_(
            Penalty.kind == "blacklist",
            Penalty.start <= day,
            sa.or_(Penalty.end.is_(None), Penalty.end > day),
        ),
        sa.and_(
            Penalty.kind != "blacklist",
            sa.or_(
                Penalty.start >= sa.bindparam("penalty_cutoff"),
                sa.and_(Penalty.end.is_not(None), Penalty.end > day),
            ),
        ),
    )
    excluded_by = {  # rule -> the experts it excludes
        "party-employer": sa.select(Expert.id).where(
            Expert.employer_id.in_(sa.bindparam("party_employers", expanding=True))
        ),
        "party-former": sa.select(Employment.expert_id).where(
            Employment.organisation_id.in_(parties),
            sa.or_(Employment.end.is_(None), Employment.end >= sa.bindparam("former_cutoff")),
        ),
        "authority": sa.select(Expert.id).where(
            Expert.employer_id.in_(sa.bindparam("authority_employers", expanding=True))
        ),
        "penalty": sa.select(Penalty.expert_id).where(penalty),
        "drafting": sa.select(ProjectDrafter.expert_id).where(
            ProjectDrafter.project_id == sa.bindparam("project")
        ),
        "busy": sa.select(Booking.expert_id).where(
            Booking.released_at.is_(None),
            overlapping(
                Booking.start, Booking.end, sa.bindparam("busy_start"), sa.bindparam("busy_end")
            ),
        ),
        "unavailable": sa.select(Leave.expert_id).where(
            Leave.start < sa.bindparam("window_end"), Leave.end > sa.bindparam("window_start")
        ),
        "frequency": _recent_members("frequency")
        .group_by(Member.expert_id)
        .having(sa.func.count() >= sa.bindparam("frequency_limit", type_=sa.Integer)),
        "same-tenderer": _recent_members("same_tenderer").where(
            Project.tenderer_id == sa.bindparam("tenderer")
        ),
    }
    rank = {code: i for i, code in enumerate(el.REASON_CODES)}
    # party-relative and party-declared in one pass over the relations with the parties.
    relations = sa.select(
        ExpertRelation.expert_id,
        sa.case(
            (ExpertRelation.kind == "relative", rank["party-relative"]),
            else_=rank["party-declared"],
        ).label("rank"),
    ).where(ExpertRelation.organisation_id.in_(parties))
    # The rules on the expert's own row (inactive, region, stale-data) are in pool_universe.
    in_sql = {*excluded_by, "party-relative", "party-declared", "inactive", "region", "stale-data"}
    assert in_sql == set(el.REASON_CODES), "a rule of the domain is missing from pool building"
    everything = sa.union_all(
        relations,
        *(q.add_columns(sa.literal(rank[code]).label("rank")) for code, q in excluded_by.items()),
    ).subquery("facts")
    expert_id = everything.c[0]
    fact_rules = (
        sa.select(expert_id.label("expert_id"), sa.func.min(everything.c.rank).label("rank"))
        .group_by(expert_id)
        .subquery("fact_rules")
    )
    return sa.select(list_of(fact_rules.c.expert_id), list_of(fact_rules.c.rank))


def _employer_groups(family: str, usccs: Iterable[str], key: bytes | None) -> dict[str, str]:
    """``group_code(family, uscc, "", key)`` for each employer's USCC, from one hashed
    prefix."""
    prefix = _group_prefix(family, "employer", key)
    groups = {}
    for uscc in usccs:
        digest = prefix.copy()
        digest.update(uscc.encode())
        groups[uscc] = "G" + digest.hexdigest()[:10]
    return groups


def build_pool(
    project: Project,
    strata: Sequence[dict[str, Any]],
    rules: el.Rules,
    family: str,
    exclude_experts: dict[str, str] | None = None,
    *,
    other_committees: bool = True,
) -> Pool:
    """Eligible candidates per stratum, exclusion counts and free venues for a request.

    Without ``other_committees`` the rules that turn on other committees (``busy``,
    ``frequency``, ``same-tenderer``) exclude no one: the figures a project manager may see,
    which must not move with who sits where (a draw always applies them).

    ``strata`` are ``{"name", "specialty", "count", "alternates"}`` in request order;
    ``exclude_experts`` maps expert codes to a reason code the draw itself imposes
    (``taken``, ``group-full`` in supplementary draws). Each excluded expert is counted once,
    under the first reason in rules.md's order (the draw's own reasons come after ``inactive``
    and ``region``).

    The experts of the strata's universes and the verdicts of the rules on their own rows
    come from :mod:`.pool_universe` (in memory while the pool data is unchanged); one query
    (:func:`_fact_rules`) gives the experts some other fact of theirs excludes.
    """
    facts, parties = _project_reads(project)
    rules = rules_for(project, rules)
    exclude_experts = exclude_experts or {}
    universes = specialty_universes([s["specialty"] for s in strata])
    universe = pool_universe.universe_of(universes)
    day = el.evaluation_date(facts, rules)
    outside = frozenset(excluded_regions(facts, rules, universe.regions()))
    verdicts = pool_universe.own_rows(universe, day, outside, el.stale_before(rules, day))
    # The first reason of each open expert that one has, in rules.md's order after inactive
    # and region: the draw's own reasons, the fact rules, then stale-data.
    reasons: dict[int, str] = {}
    closed = verdicts.closed
    for code, reason in exclude_experts.items():
        at = universe.position_of_code(code)
        if at is not None and at not in closed:
            reasons[at] = reason
    position_of_id = universe.position_of_id
    statement, values = _fact_rules(project, facts, parties, rules, other_committees)
    with pool_universe.planned_for_values():
        ids, ranks = db.session.execute(statement, values).one()
    # The fact rules name each expert once, with the first rule's rank; most of them (every
    # expert related to a party) are outside the universe, so they are placed at C speed.
    places = list(map(position_of_id.get, as_list(ids)))
    ranked = dict(
        compress(zip(places, as_list(ranks), strict=True), map(is_not, places, repeat(None)))
    )
    fresh = list(ranked.keys() - closed.keys() - reasons.keys())
    rules_of = map(el.REASON_CODES.__getitem__, map(ranked.__getitem__, fresh))
    reasons.update(zip(fresh, rules_of, strict=True))
    for at in verdicts.stale:
        reasons.setdefault(at, "stale-data")
    removed = set(closed)
    removed.update(reasons)
    chosen = [list(filterfalse(removed.__contains__, members)) for members in universe.members]
    eligible = list(set().union(*chosen))

    # Each candidate's group: its employer's code (every organisation has a USCC: the schema
    # says so), or a group of its own without an employer. Every position of the universe is
    # in some stratum, so the candidates without an employer are the universe's not removed.
    codes, employers = universe.codes, universe.employers
    usccs, unemployed = universe.employed()
    key = group_key(project)
    groups = _employer_groups(family, usccs, key)
    group_list = map(groups.get, map(employers.__getitem__, eligible))
    group_of = dict(zip(map(codes.__getitem__, eligible), group_list, strict=True))
    alone = [codes[at] for at in unemployed if at not in removed]
    group_of.update(zip(alone, _own_group_codes(family, alone, key), strict=True))
    counted = Counter(reasons.values())
    counted.update(verdicts.closed_counts)
    pool = Pool(
        stale_limit=rules.stale_share_limit,
        strata=[],
        excluded={
            code: counted[code]
            for code in [*el.REASON_CODES, "taken", "group-full"]
            if counted.get(code)
        },
        venues=(),
    )
    stale = [at for at, reason in reasons.items() if reason == "stale-data"]
    for i, stratum in enumerate(strata):
        bit = 1 << i
        ids = tuple(map(codes.__getitem__, chosen[i]))
        stale_here = sum(1 for at in stale if universe.strata[at] & bit)
        total = stale_here + len(ids)
        share = Fraction(stale_here, total) if total else Fraction(0)
        if share and share >= rules.stale_share_limit:
            pool.stale_blocked.append(stratum["name"])
        pool.strata.append(
            StratumPool(
                name=stratum["name"],
                specialty=stratum["specialty"],
                count=stratum["count"],
                alternates=stratum["alternates"],
                ids=ids,
                group_of=group_of,
                considered=len(universe.members[i]),
                stale_share=f"{share.numerator}/{share.denominator}",
            )
        )
    pool.venues = seat_map.free_seats(
        project.window_start,
        project.window_end,
        project.region_code,
        other_committees=other_committees,
    )
    return pool


def explain_expert(project: Project, expert: Expert, rules: el.Rules) -> dict[str, Any]:
    """Why an expert is or is not eligible for a project: reason codes only, judged on
    today's facts. Where the project has a draw, its own seats and memberships (its
    supplementary draws' too) are set aside: a member is not ``busy`` by the seat the draw
    gave them, nor ``same-tenderer`` by the membership itself; ``draw`` names that draw."""
    facts = project_facts(project)
    rules = rules_for(project, rules)
    root = db.session.scalar(
        sa.select(Draw.id).where(Draw.project_id == project.id, Draw.live_root())
    )
    family = []
    if root is not None:
        family = [root, *db.session.scalars(sa.select(Draw.id).where(Draw.root_id == root))]
    expert_facts = load_facts([expert.id], project, facts, rules, family)[expert.id]
    return {**el.explain(expert_facts, facts, rules), "draw": root}


def rules_for(project: Project, rules: el.Rules) -> el.Rules:
    """The rules ``project`` is judged by: the deployment's, with the project's own region
    policy. Every judgement of the project goes through here (its draws, supplementary draws,
    replacements, re-checks and explanations), so that none applies another region rule."""
    if rules.region_policy == project.region_policy:
        return rules
    mapping = rules.to_mapping()
    mapping["region_policy"] = project.region_policy
    return el.Rules.from_mapping(mapping)


def evaluation_day_of(project: Project, rules: el.Rules) -> date:
    """The evaluation date of a project under the rules' time zone."""
    return el.evaluation_date(project_facts(project), rules)
