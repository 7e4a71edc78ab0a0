"""The universe kept in memory between draws: its stamp changes with every change to the pool
data, whoever writes it, and a pool built from memory equals one built from the database."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from expertdraw import clock
from expertdraw.extensions import db
from expertdraw.models import Expert, ExpertSpecialty, Organisation, Project
from expertdraw.services import draws, pool, pool_universe
from expertdraw.services.projects import strata_request

from .test_pool import NOW, seeded_project  # noqa: F401 (the fixture)

# ruff: noqa: F811 (the tests take the imported fixture by name)


def _stamp() -> str:
    db.session.commit()  # a statement of its own, after what the test committed
    stamp = pool_universe.current_stamp()
    assert stamp
    return stamp


def _build(project: Project) -> pool.Pool:
    with clock.frozen(NOW):
        return pool.build_pool(project, strata_request(project), draws.rules(), "F")


def _candidates(built: pool.Pool) -> list[list[dict[str, str]]]:
    return [s.candidates for s in built.strata]


def _universe_reads(statements: list[str]) -> int:
    return sum(1 for s in statements if "bit_or" in s or "max(CASE" in s)


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
def test_every_change_to_the_pool_columns_changes_the_stamp(seeded_project, change):
    before = _stamp()
    CHANGES[change](_an_expert())
    db.session.commit()
    assert _stamp() != before


def test_other_changes_and_rolled_back_ones_keep_the_stamp(seeded_project):
    before = _stamp()
    expert = _an_expert()
    expert.name, expert.title, expert.email = "renamed", "senior engineer", "x@example.org"
    db.session.commit()
    assert _stamp() == before
    _an_expert().status = "retired"
    db.session.flush()
    db.session.rollback()
    assert _stamp() == before


def test_plain_sql_changes_the_stamp_too(seeded_project):
    """An administrator's SQL, or a bulk import, counts as much as the application's ORM."""
    before = _stamp()
    db.session.execute(sa.text("UPDATE experts SET status = 'retired' WHERE id = 1"))
    db.session.commit()
    middle = _stamp()
    db.session.execute(sa.text("DELETE FROM expert_specialties WHERE expert_id = 2"))
    db.session.commit()
    assert len({before, middle, _stamp()}) == 3


def test_postgresql_changes_the_stamp_once_per_transaction(seeded_project):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("a PostgreSQL trigger (SQLite changes it per row, with one writer)")
    counted = sa.text(
        "SELECT n_tup_upd FROM pg_stat_xact_user_tables WHERE relname = 'pool_versions'"
    )
    # Counts not yet reported from earlier transactions show here too: take the difference.
    before = db.session.scalar(counted)
    db.session.execute(sa.text("UPDATE experts SET data_confirmed_on = :d"), {"d": date.today()})
    db.session.execute(sa.text("SET CONSTRAINTS ALL IMMEDIATE"))  # run the deferred triggers now
    assert db.session.scalar(sa.select(sa.func.count(Expert.id))) > 1000
    assert db.session.scalar(counted) - before == 1
    db.session.rollback()


def test_postgresql_truncate_changes_the_stamp(seeded_project):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no TRUNCATE")
    before = _stamp()
    db.session.execute(sa.text("TRUNCATE expert_specialties"))
    db.session.commit()
    assert _stamp() != before


def test_an_unchanged_pool_is_not_read_again(seeded_project, statements):
    first = _build(seeded_project)
    assert _universe_reads(statements) == 1
    second = _build(seeded_project)
    assert _universe_reads(statements) == 1
    assert _candidates(second) == _candidates(first)


def test_a_change_committed_elsewhere_reaches_the_next_pool(seeded_project, statements):
    """Another instance (here another connection) suspends an eligible expert and moves
    another out of the strata: the next pool here reads the universe again and agrees."""
    first = _build(seeded_project)
    suspended = first.strata[0].candidates[0]["id"]
    moved = first.strata[1].candidates[-1]["id"]
    db.session.commit()  # SQLite: this session's read would keep the other writer waiting
    with db.engine.connect() as other:
        other.execute(
            sa.text("UPDATE experts SET status = 'suspended' WHERE code = :c"), {"c": suspended}
        )
        other.execute(
            sa.text(
                "DELETE FROM expert_specialties WHERE expert_id = "
                "(SELECT id FROM experts WHERE code = :c)"
            ),
            {"c": moved},
        )
        other.commit()
    db.session.commit()  # this session's next statements see what was committed
    second = _build(seeded_project)
    assert _universe_reads(statements) == 2
    drawable = {c["id"] for s in second.strata for c in s.candidates}
    assert suspended not in drawable and moved not in drawable
    assert second.excluded["inactive"] == first.excluded["inactive"] + 1
    assert second.strata[1].considered < first.strata[1].considered


def test_a_missing_stamp_reads_the_universe_every_time(seeded_project, statements):
    db.session.execute(sa.text("DELETE FROM pool_versions"))
    db.session.commit()
    first, second = _build(seeded_project), _build(seeded_project)
    assert _universe_reads(statements) == 2
    assert _candidates(first) == _candidates(second)


MUTATIONS = st.lists(
    st.tuples(
        st.sampled_from(["status", "region", "expiry", "confirmed", "specialty", "employer"]),
        st.integers(min_value=1, max_value=3000),
    ),
    min_size=1,
    max_size=6,
)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rounds=st.lists(MUTATIONS, min_size=1, max_size=3))
def test_a_pool_from_memory_equals_one_read_afresh(seeded_project, rounds):
    """Whatever changes between draws, the pool built with what this process keeps equals
    the pool built after forgetting it."""
    organisations = db.session.scalars(sa.select(Organisation.id)).all()
    for mutations in rounds:
        _build(seeded_project)  # keeps the universe
        for column, expert_id in mutations:
            expert = db.session.get(Expert, expert_id)
            if expert is None:
                continue
            if column == "status":
                expert.status = "active" if expert.status != "active" else "suspended"
            elif column == "region":
                expert.home_region = "530602" if expert.home_region != "530602" else "530102"
            elif column == "expiry":
                expert.qualification_expiry = NOW.date() - timedelta(days=expert_id % 3 - 1)
            elif column == "confirmed":
                expert.data_confirmed_on = None if expert.data_confirmed_on else NOW.date()
            elif column == "employer":
                expert.employer_id = organisations[expert_id % len(organisations)]
            elif expert.specialties:
                expert.specialties.pop()
            else:
                expert.specialties.append(ExpertSpecialty(specialty_code="A01"))
        db.session.commit()
        kept = _build(seeded_project)
        pool_universe.forget()
        fresh = _build(seeded_project)
        assert _candidates(kept) == _candidates(fresh)
        assert kept.excluded == fresh.excluded
        assert [s.considered for s in kept.strata] == [s.considered for s in fresh.strata]
