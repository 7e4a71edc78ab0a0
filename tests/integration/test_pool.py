"""The pool the database narrows equals the pool the domain rules give on every expert."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from expertdraw import clock
from expertdraw.domain import eligibility as el
from expertdraw.extensions import db
from expertdraw.models import (
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
    ProjectBidder,
    ProjectDrafter,
    Region,
    Room,
    Stratum,
    Workstation,
)
from expertdraw.personal_data import protector
from expertdraw.services import draws, pool, seed
from expertdraw.services.projects import strata_request

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


@pytest.fixture
def seeded_project(app):
    seed.seed(with_users=False)
    orgs = db.session.scalars(sa.select(Organisation).order_by(Organisation.id)).all()
    tenderer = next(o for o in orgs if o.kind == "tenderer")
    agency = next(o for o in orgs if o.kind == "agency")
    bidders = [o for o in orgs if o.kind == "bidder"][:6]
    window = NOW + timedelta(days=14)
    project = Project(
        code="P-POOL",
        name="pool",
        tenderer_id=tenderer.id,
        agency_id=agency.id,
        region_code="530602",
        window_start=window,
        window_end=window + timedelta(hours=8),
        created_at=NOW,
    )
    project.strata = [
        Stratum(
            position=0,
            name="technical",
            specialty_code="A01",
            kind="technical",
            count=4,
            alternates=2,
        ),
        Stratum(
            position=1,
            name="economic",
            specialty_code="C03",
            kind="economic",
            count=1,
            alternates=1,
        ),
    ]
    project.bidders = [ProjectBidder(organisation_id=b.id, added_at=NOW) for b in bidders]
    db.session.add(project)
    db.session.commit()
    return project


def _naive(project: Project) -> tuple[list[list[str]], dict[str, int]]:
    """Every expert of each stratum through the domain rules, no database narrowing."""
    rules = draws.rules()
    facts = pool.project_facts(project)
    per_stratum, everyone = [], set()
    for stratum in strata_request(project):
        codes = pool.specialty_codes_under(stratum["specialty"])
        ids = set(
            db.session.scalars(
                sa.select(ExpertSpecialty.expert_id).where(
                    ExpertSpecialty.specialty_code.in_(codes)
                )
            )
        )
        per_stratum.append(ids)
        everyone |= ids
    loaded = pool.load_facts(sorted(everyone), project, facts, rules)
    eligible, counts = el.partition(loaded.values(), facts, rules)
    ok = {f.code for f in eligible}
    code_of = dict(db.session.execute(sa.select(Expert.id, Expert.code)).all())
    return [sorted(code_of[i] for i in ids if code_of[i] in ok) for ids in per_stratum], counts


def test_database_narrowing_gives_exactly_the_domain_result(seeded_project):
    with clock.frozen(NOW):
        built = pool.build_pool(seeded_project, strata_request(seeded_project), draws.rules(), "F")
        expected, counts = _naive(seeded_project)
    assert [[c["id"] for c in s.candidates] for s in built.strata] == expected
    assert built.excluded == counts
    assert {"inactive", "region", "penalty", "stale-data"} <= set(counts)
    assert all(len(s.candidates) > 100 for s in built.strata)


def test_explanation_agrees_with_the_pool(seeded_project):
    with clock.frozen(NOW):
        built = pool.build_pool(seeded_project, strata_request(seeded_project), draws.rules(), "F")
        drawn = {c["id"] for s in built.strata for c in s.candidates}
        experts = db.session.scalars(sa.select(Expert).order_by(Expert.id).limit(60)).all()
        for expert in experts:
            answer = pool.explain_expert(seeded_project, expert, draws.rules())
            if expert.code in drawn:
                assert answer["eligible"], answer


class _Facts:
    """Experts of the technical stratum, each with facts at or just past one rule's bound."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.rules = draws.rules()
        self.day = el.evaluation_date(pool.project_facts(project), self.rules)
        self.n = 0
        self.live_roots: dict[int, str] = {}  # project id -> its live root draw
        self.home = db.session.scalar(
            sa.select(Region.code).where(Region.code.not_like("5306%"), Region.level == "county")
        )
        self.seats = iter(
            db.session.execute(
                sa.select(Workstation.id, Room.id, Room.venue_id)
                .join(Room, Room.id == Workstation.room_id)
                .order_by(Workstation.id)
            ).all()
        )

    def org(self, kind: str, parent: Organisation | None = None) -> Organisation:
        self.n += 1
        org = Organisation(
            uscc=f"91539999{self.n:010d}",
            name=f"bounds {self.n}",
            kind=kind,
            parent_id=parent.id if parent else None,
        )
        db.session.add(org)
        db.session.flush()
        return org

    def expert(self, **columns: object) -> Expert:
        self.n += 1
        values = {
            "status": "active",
            "home_region": self.home,
            "data_confirmed_on": self.day,
            **columns,
        }
        number = f"53999919800101{self.n:04d}"
        expert = Expert(
            code=f"EB{self.n:06d}",
            name=f"bounds {self.n}",
            id_number=number,
            id_number_hash=protector().lookup_hash(number),
            title="engineer",
            kind="technical",
            **values,
        )
        expert.specialties = [ExpertSpecialty(specialty_code="A01")]
        db.session.add(expert)
        db.session.flush()
        return expert

    def draw(self, project: Project, state: str = "completed") -> Draw:
        """A draw of ``project``: its root draw, or once it has a live one (a project has
        one at most), a supplementary draw of that one."""
        self.n += 1
        at = self.project.created_at
        live = state in ("announced", "completed")
        root = self.live_roots.get(project.id) if live else None
        draw = Draw(
            id=f"D-BOUNDS-{self.n}",
            project_id=project.id,
            root_id=root,
            state=state,
            algorithm="expertdraw-v1",
            snapshot_hash="0" * 64,
            commitment="1" * 64,
            secret="2" * 64,
            entropy={},
            announced_at=at,
            deadline_at=at,
        )
        db.session.add(draw)
        db.session.flush()
        if live and root is None:
            self.live_roots[project.id] = draw.id
        return draw

    def member(self, expert: Expert, draw: Draw, joined: datetime) -> None:
        workstation, room, venue = next(self.seats)
        db.session.add(
            Member(
                draw_id=draw.id,
                source_draw_id=draw.id,
                expert_id=expert.id,
                stratum="technical",
                venue_id=venue,
                room_id=room,
                workstation_id=workstation,
                joined_at=joined,
            )
        )

    def sits(
        self, expert: Expert, start: datetime, tenderer: Organisation, state: str = "completed"
    ) -> None:
        """``expert`` a member of a draw in ``state`` of a project of ``tenderer`` evaluated
        from ``start``, drawn long before."""
        self.n += 1
        project = Project(
            code=f"P-BOUNDS-{self.n}",
            name="bounds",
            tenderer_id=tenderer.id,
            region_code="530602",
            window_start=start,
            window_end=start + timedelta(hours=4),
            created_at=self.project.created_at,
        )
        db.session.add(project)
        db.session.flush()
        self.member(expert, self.draw(project, state=state), self.project.created_at)

    def booking(self, expert: Expert, draw: Draw, start: datetime, end: datetime, **kw) -> None:
        workstation, _, _ = next(self.seats)
        db.session.add(
            Booking(
                workstation_id=workstation,
                expert_id=expert.id,
                draw_id=draw.id,
                start=start,
                end=end,
                **kw,
            )
        )


def _with_facts_at_every_bound(project: Project) -> dict[str, str | None]:
    """Add experts on both sides of every rule's bounds; their codes and domain reasons."""
    f = _Facts(project)
    day, rules = f.day, f.rules
    start, end = project.window_start, project.window_end
    second = timedelta(seconds=1)
    orgs = {o.id: o for o in db.session.scalars(sa.select(Organisation))}
    tenderer, agency = orgs[project.tenderer_id], orgs[project.agency_id]
    bidder = orgs[project.bidders[0].organisation_id]
    # Control, at any depth each way: a group above the agency and a holding above the group,
    # a unit under a bidder and its own sub-unit, a unit under the authority and its own
    # sub-unit; a sibling of the agency, or a cousin under the holding, is not related to it.
    holding = f.org("employer")
    group = f.org("employer", holding)
    agency.parent_id = group.id
    authority = f.org("authority")
    project.authority_id = authority.id
    unit_of_bidder, unit_of_authority = f.org("employer", bidder), f.org("employer", authority)
    sub_unit_of_bidder = f.org("employer", unit_of_bidder)
    sub_unit_of_authority = f.org("employer", unit_of_authority)
    sibling, stranger = f.org("employer", group), f.org("employer")
    cousin = f.org("employer", f.org("employer", holding))
    db.session.flush()
    facts = pool.project_facts(project)
    former = el.former_role_cutoff(facts, rules)
    penalty = el.penalty_cutoff(facts, rules)
    busy_start, busy_end = el.busy_span(facts, rules)
    third_project = Project(
        code="P-THIRD",
        name="third",
        tenderer_id=stranger.id,
        region_code="530602",
        window_start=start - timedelta(days=200),
        window_end=start - timedelta(days=199),
        created_at=start - timedelta(days=300),
    )
    db.session.add(third_project)
    db.session.flush()
    booked_draw = f.draw(third_project)

    e = f.expert
    e(qualification_expiry=day)
    e(qualification_expiry=day - timedelta(days=1))
    e(status="suspended", employer_id=tenderer.id)
    for employer in (
        *(tenderer, agency, bidder, group, holding, unit_of_bidder, sub_unit_of_bidder),
        *(sibling, cousin, authority, sub_unit_of_authority),
    ):
        e(employer_id=employer.id)
    e(employer_id=unit_of_authority.id)
    e(employer_id=unit_of_authority.id, data_confirmed_on=None)
    e(employer_id=stranger.id)
    for org, relation, last_day in (
        (tenderer, "employee", former),
        (tenderer, "employee", former - timedelta(days=1)),
        (bidder, "adviser", former),
        (agency, "adviser", None),
        (authority, "employee", former),
        (stranger, "employee", None),
    ):
        x = e()
        db.session.add(
            Employment(
                expert_id=x.id,
                organisation_id=org.id,
                relation=relation,
                start=date(2000, 1, 1),
                end=last_day,
            )
        )
    for org, kind in (
        (tenderer, "relative"),
        (bidder, "declared"),
        (authority, "declared"),
        (stranger, "relative"),
        (unit_of_bidder, "declared"),
    ):
        x = e()
        db.session.add(
            ExpertRelation(expert_id=x.id, organisation_id=org.id, kind=kind, declared_at=NOW)
        )
    x = e()  # relative and declared: party-relative comes first
    for kind in ("relative", "declared"):
        db.session.add(
            ExpertRelation(expert_id=x.id, organisation_id=agency.id, kind=kind, declared_at=NOW)
        )
    one = timedelta(days=1)
    for kind, since, until in (
        ("administrative", penalty, None),
        ("administrative", penalty - one, None),
        ("criminal", penalty - one, day + one),
        ("criminal", penalty - one, day),
        ("blacklist", day, None),
        ("blacklist", day + one, None),
        ("blacklist", date(2000, 1, 1), day),
        ("blacklist", date(2000, 1, 1), day + one),
    ):
        x = e()
        db.session.add(Penalty(expert_id=x.id, kind=kind, start=since, end=until))
    x = e()  # a declared relative outranks a penalty, which outranks stale data
    db.session.add(Penalty(expert_id=x.id, kind="blacklist", start=day, end=None))
    db.session.add(
        ExpertRelation(expert_id=x.id, organisation_id=bidder.id, kind="relative", declared_at=NOW)
    )
    x.data_confirmed_on = None
    x = e()
    db.session.add(ProjectDrafter(project_id=project.id, expert_id=x.id))
    for since, until, released in (
        (busy_end - timedelta(hours=1), busy_end + timedelta(hours=1), None),
        (busy_end, busy_end + timedelta(hours=1), None),
        (busy_start - timedelta(hours=1), busy_start, None),
        (busy_start - timedelta(hours=1), busy_start + second, None),
        (start, end, NOW),
    ):
        x = e()
        f.booking(x, booked_draw, since, until, released_at=released)
    for since, until in (
        (end - second, end + one),
        (end, end + one),
        (start - one, start),
        (start - one, start + second),
    ):
        x = e()
        db.session.add(Leave(expert_id=x.id, start=since, end=until))
    x = e(data_confirmed_on=None)  # leave outranks stale data
    db.session.add(Leave(expert_id=x.id, start=start, end=end))
    # frequency and same-tenderer count the evaluations a member sits on within their spans
    # of this window, before or after it, whenever the draws were made.
    limit = rules.frequency_limit
    early, late = el.recent_span(start, rules.frequency_days)
    near = start - second
    for first, state in (
        (early + second, "completed"),
        (early, "completed"),
        (late - second, "completed"),
        (late, "completed"),
        (near, "failed"),
    ):
        x = e()
        f.sits(x, first, stranger, state)
        for _ in range(limit - 1):
            f.sits(x, near, stranger)
    same_early, same_late = el.recent_span(start, rules.same_tenderer_days)
    for at, org in (
        (same_early + second, tenderer),
        (same_early, tenderer),
        (same_late - second, tenderer),
        (same_late, tenderer),
        (same_early + second, stranger),  # the same time for another tenderer
    ):
        f.sits(e(), at, org)
    # Frequent and with the tenderer is frequency (first in rules.md); with the tenderer
    # outside the frequency span, and enough memberships in all but not in that span, is
    # same-tenderer; so is one membership with the tenderer. The two counts differ, so a pool
    # that swapped the two reasons would not match the domain's counts.
    inside = second
    for first_at, others in (
        (near, limit - 1),
        (same_late - inside, limit - 1),
        (same_early + inside, 0),
    ):
        x = e()
        f.sits(x, first_at, tenderer)
        for _ in range(others):
            f.sits(x, near, stranger)
    for confirmed in (
        day - timedelta(days=rules.stale_days),
        day - timedelta(days=rules.stale_days + 1),
        None,
    ):
        e(data_confirmed_on=confirmed)
    db.session.commit()

    added = db.session.scalars(sa.select(Expert.id).where(Expert.code.like("EB%"))).all()
    facts = pool.project_facts(project)  # with the drafter now
    loaded = pool.load_facts(added, project, facts, rules).values()
    return {x.code: el.first_exclusion(x, facts, rules) for x in loaded}


def test_every_rule_at_its_bounds_gives_the_domain_result(seeded_project):
    with clock.frozen(NOW):
        reasons = _with_facts_at_every_bound(seeded_project)
        built = pool.build_pool(seeded_project, strata_request(seeded_project), draws.rules(), "F")
        expected, counts = _naive(seeded_project)
    assert set(el.REASON_CODES) <= set(counts)  # every rule excludes someone here
    assert None in reasons.values()  # and some experts just past a bound stay eligible
    assert [[c["id"] for c in s.candidates] for s in built.strata] == expected
    assert built.excluded == counts
    drawn = {c["id"] for c in built.strata[0].candidates}
    assert {code for code, reason in reasons.items() if reason is None} <= drawn
    assert not drawn & {code for code, reason in reasons.items() if reason is not None}


def test_reasons_the_draw_imposes_come_after_inactive_and_region(seeded_project):
    with clock.frozen(NOW):
        reasons = _with_facts_at_every_bound(seeded_project)
        codes = sorted(reasons)
        imposed = {code: ("taken" if i % 2 else "group-full") for i, code in enumerate(codes)}
        built = pool.build_pool(
            seeded_project, strata_request(seeded_project), draws.rules(), "F", imposed
        )
        plain = pool.build_pool(seeded_project, strata_request(seeded_project), draws.rules(), "F")
    expected = dict(plain.excluded)
    for code, reason in reasons.items():
        if reason not in ("inactive", "region"):
            if reason is not None:
                expected[reason] -= 1
            expected[imposed[code]] = expected.get(imposed[code], 0) + 1
    order = [*el.REASON_CODES, "taken", "group-full"]
    assert built.excluded == {c: expected[c] for c in order if expected.get(c)}
    assert not set(reasons) & {c["id"] for s in built.strata for c in s.candidates}
    assert [s.considered for s in built.strata] == [s.considered for s in plain.strata]
