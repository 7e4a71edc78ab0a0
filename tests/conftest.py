"""Shared fixtures: an app per test on a fresh database, on SQLite and on PostgreSQL.

Each database is built once per session from the Alembic migrations (never ``create_all``)
and then copied per test: a file copy on SQLite, ``CREATE DATABASE ... TEMPLATE`` on
PostgreSQL. So every test starts from a clean, migrated schema, and services can commit.

PostgreSQL runs when ``EXPERTDRAW_TEST_DATABASE_URL`` names a server database; with
``CI=true`` a skipped PostgreSQL test fails the run.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from expertdraw import create_app

PG_ENV = "EXPERTDRAW_TEST_DATABASE_URL"
REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("EXPERTDRAW_SHARED") or REPO.parent / "shared")

_skipped_postgres: list[str] = []
_ran_postgres: list[str] = []


def _pg_url() -> str | None:
    url = os.environ.get(PG_ENV)
    if not url:
        return None
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def _admin_engine(url: str) -> sa.Engine:
    return sa.create_engine(
        make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT", poolclass=sa.NullPool
    )


def _migrate(url: str, instance: Path) -> None:
    from flask_migrate import upgrade

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "INSTANCE_PATH": str(instance)})
    with app.app_context():
        upgrade()
        from expertdraw.extensions import db

        db.engine.dispose()


@pytest.fixture(scope="session")
def template_databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Migrated template databases, one per engine, built once per session."""
    instance = tmp_path_factory.mktemp("template-instance")
    templates: dict[str, str] = {}
    sqlite_file = tmp_path_factory.mktemp("template") / "template.db"
    _migrate(f"sqlite:///{sqlite_file}", instance)
    templates["sqlite"] = str(sqlite_file)
    pg = _pg_url()
    template_name = None
    if pg:
        template_name = f"expertdraw_tmpl_{uuid.uuid4().hex[:10]}"
        admin = _admin_engine(pg)
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{template_name}"'))
        _migrate(make_url(pg).set(database=template_name).render_as_string(False), instance)
        templates["postgresql"] = template_name
    yield templates
    if pg and template_name:
        with _admin_engine(pg).connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{template_name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    """The database engine a test runs on; database tests run once per engine."""
    if request.param == "postgresql" and not _pg_url():
        pytest.skip(f"PostgreSQL tests need {PG_ENV}")
    return request.param


@pytest.fixture(scope="session")
def pg_cleaner(template_databases: dict[str, str]) -> Iterator[tuple[str, sa.Engine] | None]:
    """The session's PostgreSQL test database and an engine that empties it between tests.

    Creating a database per test costs about a second here; emptying every table costs a
    few milliseconds. The append-only triggers would refuse that, so the cleaner runs with
    ``session_replication_role = replica``, which only a superuser (the test role) may set.
    """
    pg = _pg_url()
    if not pg:
        yield None
        return
    url = make_url(pg).set(database=template_databases["postgresql"]).render_as_string(False)
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    yield url, engine
    engine.dispose()


_MIGRATED: set[str] = set()


def _empty(engine: sa.Engine) -> None:
    """Delete every row of the migrated tables; drop tables a test created itself."""
    with engine.begin() as conn:
        present = set(sa.inspect(conn).get_table_names())
        if not _MIGRATED:
            _MIGRATED.update(present)
        extra = sorted(present - _MIGRATED)
        tables = sorted(_MIGRATED - {"alembic_version", "pool_versions", "place_versions"})
        conn.exec_driver_sql(
            "SET LOCAL session_replication_role = replica; "
            + "".join(f'DROP TABLE IF EXISTS "{t}" CASCADE; ' for t in extra)
            + "".join(f'DELETE FROM "{t}"; ' for t in tables)
            # As a migrated database has it: one row, generation 0, a lineage of its own (put
            # back if a test deleted it).
            + "DELETE FROM pool_versions; "
            "INSERT INTO pool_versions (id, lineage, generation, kept_from) "
            "VALUES (1, gen_random_uuid()::text, 0, 0); "
            "DELETE FROM place_versions; INSERT INTO place_versions VALUES (1, 0); "
            + "DO $$ DECLARE s record; BEGIN FOR s IN SELECT c.oid::regclass AS seq "
            "FROM pg_class c WHERE c.relkind = 'S' LOOP "
            "PERFORM setval(s.seq, 1, false); END LOOP; END $$;"
        )


@pytest.fixture
def database_url(
    backend: str,
    template_databases: dict[str, str],
    pg_cleaner: tuple[str, sa.Engine] | None,
    tmp_path: Path,
) -> Iterator[str]:
    """A migrated, empty database for one test."""
    if backend == "sqlite":
        path = tmp_path / "test.db"
        shutil.copyfile(template_databases["sqlite"], path)
        yield f"sqlite:///{path}"
        return
    assert pg_cleaner is not None
    url, engine = pg_cleaner
    _empty(engine)
    yield url
    _empty(engine)


@pytest.fixture
def app_config(database_url: str, tmp_path: Path) -> dict[str, Any]:
    instance = tmp_path / "instance"
    instance.mkdir(exist_ok=True)
    return {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "INSTANCE_PATH": str(instance),
        "SECRET_KEY": "test-secret",
        "WTF_CSRF_ENABLED": False,
        "SCHEDULER_ENABLED": False,
        "PASSWORD_HASHING": "test",
        # The tests' business clock jumps months ahead of the real one, where tokens are
        # issued: tokens last ten years here; test_auth sets the default to test expiry.
        "API_TOKEN_DAYS": 3650,
        # A centre that offers beacon draws has the beacon's certificate (the published one).
        "BEACON_CERTIFICATE": str(SHARED / "vectors" / "nist-beacon" / "certificate-528943a5.pem"),
    }


@pytest.fixture
def app(app_config: dict[str, Any]) -> Iterator[Any]:
    application = create_app(app_config)
    with application.app_context():
        yield application
        from expertdraw.extensions import db

        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def pg_app(app: Any, backend: str) -> Any:
    """The app, for tests of what PostgreSQL's row locks order (concurrent writers): skipped
    on SQLite, which has a single writer."""
    if backend != "postgresql":
        pytest.skip("row locks order these writes (SQLite has a single writer)")
    return app


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def runner(app: Any) -> Any:
    return app.test_cli_runner()


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The published specs and vectors beside the repository."""
    if not (SHARED / "vectors").is_dir():
        pytest.fail(f"shared/ not found at {SHARED}; set EXPERTDRAW_SHARED")
    return SHARED


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if "[postgresql" not in report.nodeid and "-postgresql" not in report.nodeid:
        return
    if report.skipped:
        _skipped_postgres.append(report.nodeid)
    elif report.when == "call" and report.passed:
        _ran_postgres.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI, PostgreSQL tests must run: a skip, or none at all, fails the session."""
    if os.environ.get("CI", "").lower() != "true":
        return
    if _skipped_postgres or not _ran_postgres:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter:
            reporter.write_line(
                f"CI: {len(_skipped_postgres)} PostgreSQL tests skipped, "
                f"{len(_ran_postgres)} ran; PostgreSQL tests must run in CI",
                red=True,
            )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(autouse=True)
def responses_as_documented() -> Iterator[None]:
    """Every API answer of every test's client conforms to the OpenAPI document the app
    serves (tests/api/contract.py): the services' tests reach success answers the API tests
    do not, and those must be what the document says too."""
    from tests.api.contract import checked_responses

    with checked_responses() as found:
        yield
    assert found == [], "\n".join(found[:10])


@pytest.fixture(autouse=True)
def clock_left_running() -> Iterator[None]:
    """Every test leaves the process's clock as it found it: a clock left frozen (threads
    freezing it in turn, say) would give every later test a wrong time. The clock is restored
    and the test that left it frozen fails."""
    from expertdraw import clock

    yield
    left = clock.set_clock(None)
    assert left is clock.system_clock, "the test left the clock frozen (or replaced)"
