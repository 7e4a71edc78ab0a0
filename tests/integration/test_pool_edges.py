"""Pool building at its edges: free venues seat by seat; strata with no (eligible) expert."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.engine.interfaces import CacheStats

from expertdraw import clock
from expertdraw.domain import eligibility as el
from expertdraw.extensions import db
from expertdraw.models import (
    Booking,
    Expert,
    ExpertSpecialty,
    Organisation,
    Project,
    ProjectDrafter,
    Room,
    Specialty,
    Venue,
    Workstation,
)
from expertdraw.services import draws, pool, seat_map
from expertdraw.services.projects import strata_request

from .test_pool import NOW, _Facts, _naive, seeded_project  # noqa: F401 (the fixture)


def _naive_venues(
    start: datetime,
    end: datetime,
    province: str,
    exclude_rooms: Iterable[str] = (),
    exclude_venues: Iterable[str] = (),
) -> list[dict]:
    """Every workstation through the rules, one Python object at a time."""
    booked = {
        b.workstation_id
        for b in db.session.scalars(sa.select(Booking))
        if b.released_at is None and b.start < end and b.end > start
    }
    tree: dict[str, dict[str, list[str]]] = {}
    for venue in db.session.scalars(sa.select(Venue)):
        if not venue.active or not venue.region_code.startswith(province[:2]):
            continue
        if venue.id in exclude_venues:
            continue
        for room in venue.rooms:
            if not room.active or room.id in exclude_rooms:
                continue
            for seat in room.workstations:
                if seat.active and seat.id not in booked:
                    tree.setdefault(venue.id, {}).setdefault(room.id, []).append(seat.id)
    return [
        {
            "id": venue,
            "rooms": [
                {"id": room, "workstations": sorted(seats)} for room, seats in sorted(rooms.items())
            ],
        }
        for venue, rooms in sorted(tree.items())
    ]


def test_free_venues_equal_the_rows_seat_by_seat(seeded_project: Project):  # noqa: F811
    project = seeded_project
    start, end = project.window_start, project.window_end
    f = _Facts(project)
    draw = f.draw(project, state="announced")
    experts = db.session.scalars(sa.select(Expert.id).order_by(Expert.id).limit(5)).all()
    seats = db.session.scalars(
        sa.select(Workstation.id)
        .join(Room, Room.id == Workstation.room_id)
        .where(Room.venue_id == "V530602")
        .order_by(Workstation.id)
    ).all()
    second = timedelta(seconds=1)
    for expert_id, (seat, since, until, released) in zip(
        experts,
        (
            (seats[0], start - second, start + second, None),  # overlaps: taken
            (seats[1], start, end, NOW),  # released: free
            (seats[2], start - timedelta(hours=2), start, None),  # ends at the start: free
            (seats[3], end, end + timedelta(hours=2), None),  # starts at the end: free
            (seats[4], end - second, end + second, None),  # overlaps the end: taken
        ),
        strict=True,
    ):
        db.session.add(
            Booking(
                workstation_id=seat,
                expert_id=expert_id,
                draw_id=draw.id,
                start=since,
                end=until,
                released_at=released,
            )
        )
    db.session.get(Workstation, seats[5]).active = False
    rooms = db.session.scalars(sa.select(Room).order_by(Room.id)).all()
    rooms[-1].active = False
    venues = db.session.scalars(sa.select(Venue).order_by(Venue.id)).all()
    venues[-1].active = False
    db.session.commit()

    built = seat_map.free_venues(start, end, project.region_code)
    assert built == _naive_venues(start, end, project.region_code)
    held = {seats[0], seats[4], seats[5]}
    listed = {w for v in built for r in v["rooms"] for w in r["workstations"]}
    assert not held & listed and set(seats[1:4]) <= listed
    assert rooms[-1].id not in {r["id"] for v in built for r in v["rooms"]}
    assert venues[-1].id not in {v["id"] for v in built}

    out_rooms, out_venues = [rooms[0].id, rooms[3].id], [venues[1].id]
    assert seat_map.free_venues(
        start, end, project.region_code, out_rooms, out_venues
    ) == _naive_venues(start, end, project.region_code, out_rooms, out_venues)
    assert seat_map.free_venues(start, end, "110101") == []  # no venue in that province


def test_a_stratum_without_experts_and_one_without_eligible_experts(seeded_project: Project):  # noqa: F811
    project = seeded_project
    db.session.add(Specialty(code="Z9", name="nobody", level=1))
    db.session.commit()
    request = strata_request(project)
    empty = {"name": "nobody", "specialty": "Z9", "count": 1, "alternates": 1}
    with clock.frozen(NOW):
        built = pool.build_pool(project, [*request, empty], draws.rules(), "F")
        expected, counts = _naive(project)
        assert [[c["id"] for c in s.candidates] for s in built.strata] == [*expected, []]
        assert built.excluded == counts
        nobody = built.strata[-1]
        assert (nobody.considered, nobody.stale_share, nobody.candidates) == (0, "0/1", [])

        # Every eligible expert of the first stratum taken: it keeps its experts, none drawable.
        first = request[:1]
        plain = pool.build_pool(project, first, draws.rules(), "F")
        taken = {c["id"]: "taken" for c in plain.strata[0].candidates}
        built = pool.build_pool(project, first, draws.rules(), "F", taken)
    assert built.strata[0].candidates == []
    assert built.strata[0].considered == plain.strata[0].considered
    assert built.excluded == {**plain.excluded, "taken": len(taken)}


def test_overlapping_strata_and_a_specialty_without_codes(seeded_project: Project):  # noqa: F811
    """A stratum whose universe lies inside another's (A0101 inside A01): its experts are
    candidates of both, each counted once. A specialty the tree does not know has no universe."""
    project = seeded_project
    request = strata_request(project)
    inner = {"name": "inner", "specialty": "A0101", "count": 1, "alternates": 0}
    unknown = {"name": "unknown", "specialty": "Q77", "count": 1, "alternates": 0}
    with clock.frozen(NOW):
        built = pool.build_pool(project, [*request, inner], draws.rules(), "F")
        expected, counts = _naive(project)
        codes_a0101 = set(pool.specialty_codes_under("A0101"))
        in_a0101 = set(
            db.session.scalars(
                sa.select(Expert.code)
                .join(ExpertSpecialty, ExpertSpecialty.expert_id == Expert.id)
                .where(ExpertSpecialty.specialty_code.in_(codes_a0101))
            )
        )
        lonely = pool.build_pool(project, [unknown], draws.rules(), "F")
    technical, economic, nested = ([c["id"] for c in s.candidates] for s in built.strata)
    assert [technical, economic] == expected
    assert nested == [code for code in technical if code in in_a0101] and nested
    assert built.excluded == counts  # the nested stratum's experts are counted once
    assert (lonely.strata[0].candidates, lonely.strata[0].considered, lonely.excluded) == (
        [],
        0,
        {},
    )


@given(
    family=st.text(min_size=1, max_size=20),
    codes=st.lists(st.from_regex(r"E[0-9]{7}", fullmatch=True), max_size=20),
)
def test_groups_of_experts_without_employer_are_their_own(family, codes):
    """The batch form gives each expert without an employer exactly ``group_code``'s group."""
    key = bytes(range(32))
    assert pool._own_group_codes(family, codes, key) == [
        pool.group_code(family, None, code, key) for code in codes
    ]


def test_every_pool_statement_has_a_cache_key(seeded_project: Project):  # noqa: F811
    """SQLAlchemy compiles a statement without a cache key anew on every run: the pool query
    is the largest a draw sends, so every statement of pool building must be cacheable."""
    request = strata_request(seeded_project)
    stats: list[tuple[CacheStats, str]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        stats.append((context.cache_hit, " ".join(statement.split())[:80]))

    with clock.frozen(NOW):
        pool.build_pool(seeded_project, request, draws.rules(), "F")  # compiles and caches
        sa.event.listen(db.engine, "after_cursor_execute", record)
        try:
            pool.build_pool(seeded_project, request, draws.rules(), "F")
        finally:
            sa.event.remove(db.engine, "after_cursor_execute", record)
    assert len(stats) >= 5
    assert [text for hit, text in stats if hit is CacheStats.NO_CACHE_KEY] == []


def test_employer_groups_are_group_code_of_each_uscc(seeded_project: Project):  # noqa: F811
    """The batch form (one hashed prefix) gives each employer exactly ``group_code``'s group."""
    usccs = db.session.scalars(sa.select(Organisation.uscc)).all()
    key = pool.group_key(seeded_project)
    groups = pool._employer_groups("P-FAMILY", usccs, key)
    assert groups == {uscc: pool.group_code("P-FAMILY", uscc, "", key) for uscc in usccs}
    assert len(groups) > 100


def test_every_candidate_has_its_employers_group_or_its_own(seeded_project: Project):  # noqa: F811
    """Through pool building: a candidate with an employer has ``group_code`` of its USCC,
    one without has a group of its own; kept universes give the same."""
    request = strata_request(seeded_project)
    with clock.frozen(NOW):
        first = pool.build_pool(seeded_project, request, draws.rules(), "P-FAMILY")
    loner = first.strata[0].ids[0]
    db.session.execute(sa.update(Expert).where(Expert.code == loner).values(employer_id=None))
    db.session.commit()
    with clock.frozen(NOW):
        built = pool.build_pool(seeded_project, request, draws.rules(), "P-FAMILY")
    employer = sa.orm.aliased(Organisation)
    uscc_of = dict(
        db.session.execute(
            sa.select(Expert.code, employer.uscc).outerjoin(
                employer, employer.id == Expert.employer_id
            )
        ).all()
    )
    candidates = {cid for s in built.strata for cid in s.ids}
    assert loner in candidates and uscc_of[loner] is None
    group_of = built.strata[0].group_of
    assert set(group_of) == candidates
    assert group_of == {
        code: pool.group_code("P-FAMILY", uscc_of[code], code, pool.group_key(seeded_project))
        for code in candidates
    }


def test_project_facts_name_the_parties_their_groups_and_the_drafters(
    seeded_project: Project,  # noqa: F811
):
    """The one statement of the project's reads gives what the ORM's relationships give: the
    parties' codes, the organisations above each party, the drafters; and the organisations
    the employer rules probe are the parties and those above and below them, at any depth."""
    project = seeded_project
    orgs = db.session.scalars(sa.select(Organisation).order_by(Organisation.id)).all()
    bidder = db.session.get(Organisation, project.bidders[0].organisation_id)
    holding, group, unit, subunit = orgs[-4], orgs[-1], orgs[-2], orgs[-3]
    group.parent_id = holding.id
    bidder.parent_id = group.id
    unit.parent_id = bidder.id
    subunit.parent_id = unit.id
    drafters = db.session.scalars(sa.select(Expert).order_by(Expert.id).limit(2)).all()
    for expert in drafters:
        db.session.add(ProjectDrafter(project_id=project.id, expert_id=expert.id))
    db.session.commit()

    def uscc(org_id: int | None) -> str | None:
        org = db.session.get(Organisation, org_id) if org_id else None
        return org.uscc if org else None

    def above(org_id: int) -> tuple[str, ...]:
        parent = db.session.get(Organisation, org_id).parent_id
        return (uscc(parent), *above(parent)) if parent else ()

    party_ids = {project.tenderer_id, project.agency_id, project.authority_id} - {None}
    party_ids |= {b.organisation_id for b in project.bidders}
    facts, parties = pool._project_reads(project)
    assert facts == el.ProjectFacts(
        code=project.code,
        region=project.region_code,
        tenderer=uscc(project.tenderer_id),
        agency=uscc(project.agency_id),
        bidders=tuple(sorted(uscc(b.organisation_id) for b in project.bidders)),
        authorities=(uscc(project.authority_id),) if project.authority_id else (),
        drafters=tuple(sorted(e.code for e in drafters)),
        window_start=project.window_start,
        window_end=project.window_end,
        related_orgs={uscc(i): above(i) for i in party_ids if above(i)},
    )
    assert facts.related_orgs[bidder.uscc] == (group.uscc, holding.uscc)
    assert parties.ids == sorted(party_ids)
    assert parties.controllers[subunit.id] == (unit.uscc, bidder.uscc, group.uscc, holding.uscc)
    probed = set(parties.links)
    assert probed == party_ids | {holding.id, group.id, unit.id, subunit.id} | {
        o.id for o in orgs if o.parent_id in party_ids
    } | {db.session.get(Organisation, i).parent_id for i in party_ids} - {None}


def test_group_codes_are_keyed_by_the_deployment(app):
    """Group codes name no employer to someone holding a snapshot: the project code and the
    USCCs are public, so the code must not be their plain hash; and another deployment (another
    key) gives other codes for the same employer and project."""
    import hashlib

    from expertdraw.personal_data import Protector

    uscc = "91530602MA6K00000X"
    key = pool.group_key(None)
    code = pool.group_code("P-FAMILY", uscc, "", key)
    for basis in (f"P-FAMILY\x00employer:{uscc}", f"\x00P-FAMILY\x00employer:{uscc}"):
        assert code != "G" + hashlib.sha256(basis.encode()).hexdigest()[:10]
    assert code == pool.group_code("P-FAMILY", uscc, "E0000001", key)  # the employer decides
    assert code != pool.group_code("P-OTHER", uscc, "", key)
    assert pool.group_code("P-FAMILY", None, "E1", key) != pool.group_code(
        "P-FAMILY", None, "E2", key
    )
    other = Protector(bytes(range(32))).group_key
    assert pool.group_code("P-FAMILY", uscc, "", other) != code


def test_a_project_drawn_before_keyed_codes_keeps_its_plain_codes(app):
    """Migration 0015 marks the projects already drawn ``plain``: their supplementary draws
    must give an employer the code their first draw gave, or group limits would not compare."""
    import hashlib

    from expertdraw.models import Project as ProjectModel

    uscc = "91530602MA6K00000X"
    plain = ProjectModel(code="P-OLD", group_codes="plain")
    assert pool.group_key(plain) is None
    assert pool.group_code("P-OLD", uscc, "", None) == (
        "G" + hashlib.sha256(f"P-OLD\x00employer:{uscc}".encode()).hexdigest()[:10]
    )
    assert pool.group_key(ProjectModel(code="P-NEW", group_codes="keyed")) is not None
