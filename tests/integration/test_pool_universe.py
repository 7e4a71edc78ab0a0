"""The universe kept in memory between draws: every change to the pool data, whoever writes
it, takes a generation that names the experts it changed; a process reads again only those,
and a pool built from memory equals one built from the database."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from expertdraw import clock, ops
from expertdraw.domain import eligibility as el
from expertdraw.extensions import db
from expertdraw.models import (
    Expert,
    ExpertSpecialty,
    Organisation,
    PoolChange,
    Project,
    Stratum,
)
from expertdraw.services import draws, pool, pool_universe, seat_map
from expertdraw.services.projects import strata_request

from .test_pool import NOW, _Facts, seeded_project  # noqa: F401 (the fixture)

# ruff: noqa: F811 (the tests take the imported fixture by name)


def _version() -> pool_universe.Version:
    db.session.commit()  # a statement of its own, after what the test committed
    version = pool_universe.current_version()
    assert version is not None
    return version


def _changed_since(generation: int) -> set[int]:
    return set(
        db.session.scalars(
            sa.select(PoolChange.expert_id).where(PoolChange.generation > generation)
        )
    )


def _build(project: Project) -> pool.Pool:
    with clock.frozen(NOW):
        return pool.build_pool(project, strata_request(project), draws.rules(), "F")


def _candidates(built: pool.Pool) -> list[list[dict[str, str]]]:
    return [s.candidates for s in built.strata]


def _universe_reads(statements: list[str]) -> list[str]:
    """``full`` or ``changed`` for each read of a universe's experts."""
    return [
        "changed" if "expert_specialties.expert_id IN" in s else "full"
        for s in statements
        if "bit_or" in s or "max(CASE" in s
    ]


@pytest.fixture
def statements(app):
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    sa.event.listen(db.engine, "after_cursor_execute", record)
    yield seen
    sa.event.remove(db.engine, "after_cursor_execute", record)


def _an_expert() -> Expert:
    return db.session.scalars(sa.select(Expert).order_by(Expert.id).limit(1)).one()


CHANGES = {
    "status": lambda e: setattr(e, "status", "suspended"),
    "home_region": lambda e: setattr(e, "home_region", "530621"),
    "qualification_expiry": lambda e: setattr(e, "qualification_expiry", date(2020, 1, 1)),
    "data_confirmed_on": lambda e: setattr(e, "data_confirmed_on", date(2019, 1, 1)),
    "employer": lambda e: setattr(
        e, "employer_id", db.session.scalar(sa.select(sa.func.max(Organisation.id)))
    ),
    "code": lambda e: setattr(e, "code", e.code + "X"),
    "specialty added": lambda e: e.specialties.append(
        ExpertSpecialty(specialty_code="C03" if e.specialties[0].specialty_code != "C03" else "A01")
    ),
    "specialty removed": lambda e: e.specialties.pop(),
    "deleted": lambda e: db.session.delete(e),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_every_change_to_the_pool_columns_is_a_new_generation(seeded_project, change):
    before = _version()
    expert = _an_expert()
    expert_id = expert.id
    CHANGES[change](expert)
    db.session.commit()
    after = _version()
    assert after.generation > before.generation and after.lineage == before.lineage
    assert _changed_since(before.generation) == {expert_id}


def test_other_changes_and_rolled_back_ones_are_no_new_generation(seeded_project):
    before = _version()
    expert = _an_expert()
    expert.name, expert.title, expert.email = "renamed", "senior engineer", "x@example.org"
    db.session.commit()
    assert _version() == before
    _an_expert().status = "retired"
    db.session.flush()
    db.session.rollback()
    assert _version() == before
    assert _changed_since(before.generation) == set()


def test_plain_sql_changes_count_too(seeded_project):
    """An administrator's SQL, or a bulk import, counts as much as the application's ORM."""
    before = _version()
    db.session.execute(sa.text("UPDATE experts SET status = 'retired' WHERE id IN (1, 3)"))
    db.session.commit()
    middle = _version()
    db.session.execute(sa.text("DELETE FROM expert_specialties WHERE expert_id = 2"))
    db.session.commit()
    assert before.generation < middle.generation < _version().generation
    assert _changed_since(before.generation) == {1, 2, 3}
    assert _changed_since(middle.generation) == {2}


@pytest.mark.parametrize("writer", ["orm", "sql"])
def test_an_employers_new_uscc_changes_its_employees(seeded_project, statements, writer):
    """The group codes come from the employers' USCCs kept with the experts: a changed USCC
    (which only an administrator's SQL makes) is a new generation naming the employees, and
    the next pool reads them again and gives them the new group; other changes to an
    organisation are none."""
    first = _build(seeded_project)
    candidate = first.strata[0].ids[0]
    expert = db.session.scalars(sa.select(Expert).where(Expert.code == candidate)).one()
    employer = db.session.get(Organisation, expert.employer_id)
    employees = set(
        db.session.scalars(sa.select(Expert.id).where(Expert.employer_id == employer.id))
    )
    before = _version()
    employer.name = "renamed"
    db.session.commit()
    assert _version() == before
    old, uscc = employer.uscc, employer.uscc[:-4] + "9Z9Z"
    if writer == "orm":
        employer.uscc = uscc
    else:
        db.session.execute(
            sa.text("UPDATE organisations SET uscc = :uscc WHERE id = :id"),
            {"uscc": uscc, "id": employer.id},
        )
    db.session.commit()
    assert _version().generation > before.generation
    assert _changed_since(before.generation) == employees
    statements.clear()
    built = _build(seeded_project)
    assert _universe_reads(statements) == ["changed"]
    key = pool.group_key(seeded_project)
    assert built.strata[0].group_of[candidate] == pool.group_code("F", uscc, "", key)
    assert first.strata[0].group_of[candidate] == pool.group_code("F", old, "", key)
    pool_universe.forget()
    assert _candidates(_build(seeded_project)) == _candidates(built)


def test_postgresql_takes_one_generation_per_transaction(seeded_project):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("a PostgreSQL trigger (SQLite takes one per row, with one writer)")
    before = _version()
    db.session.execute(sa.text("UPDATE experts SET data_confirmed_on = :d"), {"d": date.today()})
    db.session.commit()
    after = _version()
    everyone = set(db.session.scalars(sa.select(Expert.id)))
    assert len(everyone) > 1000
    assert after.generation == before.generation + 1
    assert _changed_since(before.generation) == everyone


def test_postgresql_truncate_makes_every_process_read_again(seeded_project):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no TRUNCATE")
    before = _version()
    db.session.execute(sa.text("TRUNCATE expert_specialties"))
    db.session.commit()
    after = _version()
    assert after.generation > before.generation and after.kept_from == after.generation


def test_old_generations_are_pruned(seeded_project):
    """Only the last generations' changes are kept; the seed alone took more than that on
    SQLite (a generation per row), and each new one prunes the oldest."""
    kept = _version()
    oldest = db.session.scalar(sa.select(sa.func.min(PoolChange.generation)))
    if db.engine.dialect.name == "sqlite":
        assert kept.kept_from == kept.generation - 1000
        assert oldest == kept.kept_from + 1
    for expert_id in range(1, 6):
        db.session.execute(
            sa.text("UPDATE experts SET status = 'retired' WHERE id = :i"), {"i": expert_id}
        )
        db.session.commit()
    after = _version()
    assert after.generation == kept.generation + 5
    assert after.kept_from == max(kept.kept_from, after.generation - 1000)
    assert db.session.scalar(sa.select(sa.func.min(PoolChange.generation))) > after.kept_from


def test_an_unchanged_pool_is_not_read_again(seeded_project, statements):
    first = _build(seeded_project)
    second = _build(seeded_project)
    assert _universe_reads(statements) == ["full"]
    assert _candidates(second) == _candidates(first)


def test_a_change_committed_elsewhere_reaches_the_next_pool(seeded_project, statements):
    """Another instance (here another connection) suspends an eligible expert and moves
    another out of the strata: the next pool here reads those two again, and agrees."""
    first = _build(seeded_project)
    suspended = first.strata[0].candidates[0]["id"]
    moved = first.strata[1].candidates[-1]["id"]
    db.session.commit()  # SQLite: this session's read would keep the other writer waiting
    with db.engine.connect() as other:
        other.execute(
            sa.text("UPDATE experts SET status = 'suspended' WHERE code = :c"), {"c": suspended}
        )
        other.commit()
    db.session.commit()  # this session's next statements see what was committed
    second = _build(seeded_project)
    db.session.commit()
    with db.engine.connect() as other:
        other.execute(
            sa.text(
                "DELETE FROM expert_specialties WHERE expert_id = "
                "(SELECT id FROM experts WHERE code = :c)"
            ),
            {"c": moved},
        )
        other.commit()
    db.session.commit()
    third = _build(seeded_project)
    assert _universe_reads(statements) == ["full", "changed", "changed"]
    assert suspended not in {c["id"] for s in second.strata for c in s.candidates}
    assert second.excluded["inactive"] == first.excluded["inactive"] + 1
    assert moved not in {c["id"] for s in third.strata for c in s.candidates}
    assert third.strata[1].considered == first.strata[1].considered - 1


def test_many_changes_or_pruned_ones_read_the_universe_again(
    seeded_project, statements, monkeypatch
):
    first = _build(seeded_project)
    monkeypatch.setattr(pool_universe, "MOST_CHANGES", 2)
    db.session.execute(sa.text("UPDATE experts SET status = 'retired' WHERE id IN (1, 2, 3)"))
    db.session.commit()
    _build(seeded_project)
    assert _universe_reads(statements) == ["full", "full"]
    db.session.execute(sa.text("UPDATE experts SET status = 'retired' WHERE id = 4"))
    db.session.commit()
    _build(seeded_project)
    assert _universe_reads(statements) == ["full", "full", "changed"]
    # The changes since the kept generation pruned: nothing tells what changed.
    db.session.execute(sa.text("UPDATE experts SET status = 'retired' WHERE id = 5"))
    db.session.commit()
    db.session.execute(sa.text("UPDATE pool_versions SET kept_from = generation"))
    db.session.commit()
    last = _build(seeded_project)
    assert _universe_reads(statements) == ["full", "full", "changed", "full"]
    assert last.excluded["inactive"] >= first.excluded["inactive"]


def test_a_generation_gone_back_reads_the_universe_again(seeded_project, statements):
    """A database whose generation is older than what a process kept (restored from a
    backup) is read in full, and the newer set is dropped rather than trusted later."""
    _build(seeded_project)
    db.session.execute(sa.text("UPDATE pool_versions SET generation = generation - 1"))
    db.session.commit()
    for _ in range(3):
        _build(seeded_project)
    assert _universe_reads(statements) == ["full", "full", "full"]


def test_a_missing_version_reads_the_universe_every_time(seeded_project, statements):
    db.session.execute(sa.text("DELETE FROM pool_versions"))
    db.session.commit()
    first, second = _build(seeded_project), _build(seeded_project)
    assert _universe_reads(statements) == ["full", "full"]
    assert _candidates(first) == _candidates(second)


MUTATIONS = st.lists(
    st.tuples(
        st.sampled_from(["status", "region", "expiry", "confirmed", "specialty", "employer"]),
        st.integers(min_value=0, max_value=10**6),  # which expert of the strata
        st.integers(min_value=0, max_value=3),  # which value
    ),
    min_size=1,
    max_size=6,
)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rounds=st.lists(MUTATIONS, min_size=1, max_size=3))
def test_a_pool_from_memory_equals_one_read_afresh(seeded_project, rounds):
    """Whatever changes between draws, the pool built with what this process keeps equals
    the pool built after forgetting it: dates on both sides of the rules' bounds, experts
    joining and leaving strata, several changes to one expert."""
    organisations = db.session.scalars(sa.select(Organisation.id)).all()
    rules = draws.rules()
    with clock.frozen(NOW):
        day = pool.evaluation_day_of(seeded_project, rules)
    stale_before = el.stale_before(rules, day)
    expiries = [None, day - timedelta(days=1), day, day + timedelta(days=30)]
    confirmations = [None, stale_before - timedelta(days=1), stale_before, day]
    in_strata = sorted(
        db.session.scalars(
            sa.select(ExpertSpecialty.expert_id)
            .where(
                ExpertSpecialty.specialty_code.like("A01%")
                | ExpertSpecialty.specialty_code.like("C03%")
            )
            .distinct()
        )
    )
    for mutations in rounds:
        _build(seeded_project)  # keeps the universe
        for column, which, value in mutations:
            expert = db.session.get(Expert, in_strata[which % len(in_strata)])
            if expert is None:
                continue
            if column == "status":
                expert.status = ["active", "suspended", "active", "retired"][value]
            elif column == "region":
                expert.home_region = ["530602", "530102", "530621", "530602"][value]
            elif column == "expiry":
                expert.qualification_expiry = expiries[value]
            elif column == "confirmed":
                expert.data_confirmed_on = confirmations[value]
            elif column == "employer":
                expert.employer_id = organisations[(which + value) % len(organisations)]
            elif expert.specialties and value < 2:
                expert.specialties.pop()
            elif not any(s.specialty_code == "A01" for s in expert.specialties):
                expert.specialties.append(ExpertSpecialty(specialty_code="A01"))
        db.session.commit()
        kept = _build(seeded_project)
        pool_universe.forget()
        fresh = _build(seeded_project)
        assert _candidates(kept) == _candidates(fresh)
        assert kept.excluded == fresh.excluded
        assert [s.considered for s in kept.strata] == [s.considered for s in fresh.strata]


def _drawn_once(project: Project) -> None:
    """A (failed) root draw of ``project``, committed: what a warm-up looks back on."""
    _Facts(project).draw(project, state="failed")
    db.session.commit()


def test_a_warm_up_reads_the_strata_of_the_projects_drawn_last(seeded_project, statements):
    _drawn_once(seeded_project)
    pool_universe.forget()
    statements.clear()

    assert pool.warm_universes() == 1
    assert _universe_reads(statements) == ["full"]
    statements.clear()
    _build(seeded_project)
    assert _universe_reads(statements) == []


def _seat_reads(statements: list[str]) -> int:
    """How many statements read the active seats (the join of the three place tables)."""
    return sum(1 for s in statements if "JOIN workstations" in s)


def test_a_warm_up_reads_the_strata_and_seats_of_a_project_awaiting_its_draw(
    seeded_project, statements
):
    """A project registered for a window still ahead, not drawn yet, is the likeliest next."""
    pool_universe.forget()
    seat_map.forget()
    statements.clear()

    with clock.frozen(NOW):
        assert pool.warm_universes() == 1
    assert _universe_reads(statements) == ["full"]
    assert _seat_reads(statements) == 1
    statements.clear()
    _build(seeded_project)
    assert _universe_reads(statements) == []
    assert _seat_reads(statements) == 0


def test_a_warm_up_passes_over_projects_past(seeded_project):
    _Facts(seeded_project).draw(seeded_project, state="completed")
    db.session.commit()
    _another_project(seeded_project, "P-PAST", ["B01"], days=-1)
    pool_universe.forget()

    # The completed draw's project is looked at as drawn last; the past project not at all.
    with clock.frozen(NOW):
        assert pool.warm_universes() == 1
    (key,) = pool_universe._KEPT
    assert key[2] == tuple(tuple(codes) for codes in pool.specialty_universes(["A01", "C03"]))


def test_a_warm_up_reads_the_earliest_awaiting_window_first(seeded_project):
    later = _another_project(seeded_project, "P-LATER", ["B01"], days=30)
    sooner = _another_project(seeded_project, "P-SOONER", ["B02"], days=3)
    pool_universe.forget()

    with clock.frozen(NOW):
        assert pool.warm_universes(limit=1) == 1
    (key,) = pool_universe._KEPT
    assert key[2] == tuple(tuple(codes) for codes in pool.specialty_universes(["B02"]))
    assert sooner.window_start < seeded_project.window_start < later.window_start
    with clock.frozen(NOW):
        assert pool.likeliest_next() == sooner


def test_nothing_awaits_a_draw_when_every_window_has_passed_or_is_drawn(seeded_project):
    _Facts(seeded_project).draw(seeded_project, state="announced")
    db.session.commit()
    _another_project(seeded_project, "P-PAST", ["B01"], days=-1)
    with clock.frozen(NOW):
        assert pool.likeliest_next() is None


def _another_project(like: Project, code: str, specialties: list[str], days: int) -> Project:
    """A project of ``like``'s parties with other strata, its window ``days`` after NOW."""
    start = NOW + timedelta(days=days)
    project = Project(
        code=code,
        name=code,
        tenderer_id=like.tenderer_id,
        agency_id=like.agency_id,
        region_code=like.region_code,
        window_start=start,
        window_end=start + timedelta(hours=8),
        created_at=NOW,
    )
    project.strata = [
        Stratum(
            position=i,
            name=f"s{i}",
            specialty_code=code_,
            kind="technical",
            count=1,
            alternates=0,
        )
        for i, code_ in enumerate(specialties)
    ]
    db.session.add(project)
    db.session.commit()
    return project


def test_a_server_process_warms_up_in_the_background_on_postgresql(app, seeded_project):
    _drawn_once(seeded_project)
    pool_universe.forget()

    with clock.frozen(NOW):  # the clock is the process's: the thread reads it too
        thread = ops.warm_in_background(app)
        assert thread is not None
        thread.join(60)

    assert not thread.is_alive()
    # SQLite (one writer, readers hold it back) is not warmed: a small centre needs no warm-up.
    assert len(pool_universe._KEPT) == (1 if db.engine.dialect.name == "postgresql" else 0)
    if db.engine.dialect.name == "postgresql":
        # The likeliest next project was dry-run: its day's verdicts are judged already.
        ((_, universe),) = pool_universe._KEPT.values()
        assert universe.own_rows
