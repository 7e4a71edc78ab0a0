"""The schema is built by migrations and enforces its invariants at the database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from expertdraw.extensions import db
from expertdraw.migrations.sql import APPEND_ONLY, HELD_PERIOD_INDEX, include_name
from expertdraw.models import APPEND_ONLY_TABLES

T0 = datetime(2026, 12, 3, 1, 0, tzinfo=UTC)


def test_migrations_build_every_table_of_the_models(app):
    tables = set(sa.inspect(db.engine).get_table_names())
    assert set(db.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_migrated_schema_matches_the_models(app):
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_name": include_name})
        diff = compare_metadata(context, db.metadata)
    assert diff == []


def test_append_only_table_lists_agree():
    assert set(APPEND_ONLY) == set(APPEND_ONLY_TABLES)


def _insert_ledger_rows(conn: sa.Connection) -> None:
    conn.execute(
        sa.text(
            "INSERT INTO ledger_entries (seq, type, time, leaf, key_id, record) "
            "VALUES (0, 'log.created', '2026-11-27T00:00:00.000Z', :leaf, 'abcd0123', '{}')"
        ),
        {"leaf": "00" * 32},
    )
    conn.execute(
        sa.text('INSERT INTO ledger_nodes (level, "index", hash) VALUES (0, 0, :h)'),
        {"h": b"\x00" * 32},
    )
    conn.execute(
        sa.text(
            "INSERT INTO checkpoints (size, root, note, issued_at) VALUES (1, :root, 'note', :at)"
        ),
        {"root": "00" * 32, "at": datetime(2026, 11, 27)},
    )
    conn.execute(
        sa.text("INSERT INTO snapshots (draw_id, hash, canonical) VALUES ('D1', :h, '{}')"),
        {"h": "00" * 32},
    )


@pytest.mark.parametrize(
    ("table", "statement"),
    [
        ("ledger_entries", "UPDATE ledger_entries SET type = 'x'"),
        ("ledger_entries", "DELETE FROM ledger_entries"),
        ("ledger_nodes", "UPDATE ledger_nodes SET hash = :blank"),
        ("ledger_nodes", "DELETE FROM ledger_nodes"),
        ("checkpoints", "UPDATE checkpoints SET note = 'forged'"),
        ("checkpoints", "DELETE FROM checkpoints"),
        ("snapshots", "UPDATE snapshots SET canonical = '[]'"),
        ("snapshots", "DELETE FROM snapshots"),
    ],
)
def test_database_refuses_update_and_delete_on_append_only_tables(app, table, statement):
    with db.engine.begin() as conn:
        _insert_ledger_rows(conn)
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), db.engine.begin() as conn:
        conn.execute(sa.text(statement), {"blank": b"\x01" * 32})
    with db.engine.connect() as conn:
        assert conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one() == 1


def _booking_fixture(conn: sa.Connection) -> None:
    conn.execute(
        sa.text("INSERT INTO regions (code, name, level) VALUES ('530000', '云南省', 'province')")
    )
    conn.execute(
        sa.text(
            "INSERT INTO venues (id, name, region_code, address, active) "
            "VALUES ('V1', 'Venue', '530000', 'Addr', :t)"
        ),
        {"t": True},
    )
    conn.execute(
        sa.text("INSERT INTO rooms (id, venue_id, name, active) VALUES ('V1-R01', 'V1', 'R', :t)"),
        {"t": True},
    )
    for ws in ("V1-R01-W01", "V1-R01-W02"):
        conn.execute(
            sa.text("INSERT INTO workstations (id, room_id, active) VALUES (:w, 'V1-R01', :t)"),
            {"w": ws, "t": True},
        )
    for expert_id in (1, 2):
        conn.execute(
            sa.text(
                "INSERT INTO experts (id, code, name, id_number, id_number_hash, home_region, "
                "title, kind, status) VALUES (:id, :code, 'x', :blob, :h, '530000', 't', "
                "'technical', 'active')"
            ),
            {"id": expert_id, "code": f"E{expert_id}", "blob": b"x", "h": f"h{expert_id}"},
        )
    conn.execute(
        sa.text(
            "INSERT INTO organisations (id, uscc, name, kind) "
            "VALUES (1, '91530600MA6K000000', 'T', 'tenderer')"
        )
    )
    conn.execute(
        sa.text(
            "INSERT INTO projects (id, code, name, tenderer_id, region_code, window_start, "
            "window_end, separation, max_per_group, region_policy, allow_no_entropy, created_at) "
            "VALUES (1, 'P1', 'p', 1, '530000', :s, :e, 'venue', 1, 'exclude-prefecture', :f, :s)"
        ),
        {"s": datetime(2026, 12, 3, 1), "e": datetime(2026, 12, 3, 9), "f": False},
    )
    conn.execute(
        sa.text(
            "INSERT INTO draws (id, project_id, state, algorithm, snapshot_hash, commitment, "
            "secret, entropy, announced_at, deadline_at) VALUES ('D1', 1, 'completed', "
            "'expertdraw-score-v1', 'h', 'c', :b, '{}', :s, :s)"
        ),
        {"b": b"x", "s": datetime(2026, 11, 27)},
    )


def _book(conn: sa.Connection, ws: str, expert: int, start: datetime, hours: int) -> None:
    conn.execute(
        sa.text(
            'INSERT INTO bookings (workstation_id, expert_id, draw_id, start, "end") '
            "VALUES (:ws, :e, 'D1', :s, :end)"
        ),
        {
            "ws": ws,
            "e": expert,
            "s": start.replace(tzinfo=None),
            "end": (start + timedelta(hours=hours)).replace(tzinfo=None),
        },
    )


def test_database_refuses_double_booking_of_a_workstation(app):
    with db.engine.begin() as conn:
        _booking_fixture(conn)
        _book(conn, "V1-R01-W01", 1, T0, 8)
    with pytest.raises(sa.exc.DatabaseError), db.engine.begin() as conn:
        _book(conn, "V1-R01-W01", 2, T0 + timedelta(hours=7), 4)
    with db.engine.begin() as conn:  # adjacent windows do not overlap
        _book(conn, "V1-R01-W01", 2, T0 + timedelta(hours=8), 4)
        assert conn.execute(sa.text("SELECT count(*) FROM bookings")).scalar_one() == 2


def test_database_refuses_seating_an_expert_twice_at_once(app):
    with db.engine.begin() as conn:
        _booking_fixture(conn)
        _book(conn, "V1-R01-W01", 1, T0, 8)
    with pytest.raises(sa.exc.DatabaseError), db.engine.begin() as conn:
        _book(conn, "V1-R01-W02", 1, T0 + timedelta(hours=2), 1)


def test_a_released_booking_frees_the_workstation(app):
    with db.engine.begin() as conn:
        _booking_fixture(conn)
        _book(conn, "V1-R01-W01", 1, T0, 8)
        conn.execute(sa.text("UPDATE bookings SET released_at = :t"), {"t": datetime(2026, 12, 1)})
        _book(conn, "V1-R01-W01", 2, T0, 8)
    with pytest.raises(sa.exc.DatabaseError), db.engine.begin() as conn:
        # un-releasing the first booking would overlap the second
        conn.execute(sa.text("UPDATE bookings SET released_at = NULL WHERE expert_id = 1"))


def test_expert_is_at_most_once_a_member_of_a_draw(app):
    with db.engine.begin() as conn:
        _booking_fixture(conn)
        row = {
            "d": "D1",
            "e": 1,
            "t": datetime(2026, 11, 27),
        }
        insert = sa.text(
            "INSERT INTO members (draw_id, source_draw_id, expert_id, stratum, venue_id, "
            "room_id, workstation_id, state, joined_at) VALUES (:d, :d, :e, 'technical', 'V1', "
            "'V1-R01', 'V1-R01-W01', 'active', :t)"
        )
        conn.execute(insert, row)
    with pytest.raises(sa.exc.IntegrityError), db.engine.begin() as conn:
        conn.execute(insert, row)


def test_snapshots_are_compressed_with_lz4_where_the_server_can(app):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("a PostgreSQL storage setting (SQLite does not compress)")
    with db.engine.connect() as conn:
        try:
            with conn.begin_nested():
                conn.execute(sa.text("CREATE TEMP TABLE lz4_probe (t text COMPRESSION lz4)"))
            supported = True
        except sa.exc.DBAPIError:
            supported = False
        method = conn.scalar(
            sa.text(
                "SELECT attcompression FROM pg_attribute "
                "WHERE attrelid = 'snapshots'::regclass AND attname = 'canonical'"
            )
        )
    assert method == ("l" if supported else "")


def test_the_latest_migrations_go_down_and_up_again(app):
    """From 0008 up again (place versions, history indexes built concurrently on PostgreSQL,
    employer codes, the held bookings' periods), the schema matches the models, and the
    triggers and the PostgreSQL-only index are back."""
    from flask_migrate import downgrade, upgrade

    db.session.remove()  # no transaction of ours for a concurrent index build to wait for
    downgrade(revision="0008")
    tables = set(sa.inspect(db.engine).get_table_names())
    assert "place_versions" not in tables
    upgrade()
    db.engine.dispose()
    test_migrated_schema_matches_the_models(app)
    with db.engine.connect() as conn:
        version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one()
        if conn.dialect.name == "postgresql":
            names = "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
            invalid = conn.execute(sa.text("SELECT count(*) FROM pg_index WHERE NOT indisvalid"))
            assert invalid.scalar_one() == 0
            index = sa.text("SELECT indexdef FROM pg_indexes WHERE indexname = :name")
            definition = conn.execute(index, {"name": HELD_PERIOD_INDEX}).scalar_one()
            assert 'gist (tsrange(start, "end"))' in definition
            assert "released_at IS NULL" in definition
        else:
            names = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
        triggers = set(conn.execute(sa.text(names)).scalars())
    assert version == "0026"
    assert {"organisations_pool_changed", "organisations_pool_updated"} & triggers
    assert any(name.startswith("workstations_place") for name in triggers)


def test_projects_drawn_before_keyed_group_codes_keep_plain_ones(app):
    """Migration 0015: a project with a draw keeps the plain group codes of its first draw (its
    supplementary draws must compare groups with it); one without a draw is keyed."""
    from flask_migrate import downgrade, upgrade

    db.session.remove()
    downgrade(revision="0014")
    with db.engine.begin() as conn:
        _booking_fixture(conn)
        conn.execute(
            sa.text(
                "INSERT INTO projects (id, code, name, tenderer_id, region_code, window_start, "
                "window_end, separation, max_per_group, region_policy, allow_no_entropy, "
                "created_at) VALUES (2, 'P2', 'p', 1, '530000', :s, :e, 'venue', 1, "
                "'exclude-prefecture', :f, :s)"
            ),
            {"s": datetime(2026, 12, 3, 1), "e": datetime(2026, 12, 3, 9), "f": False},
        )
    upgrade()
    db.engine.dispose()
    with db.engine.connect() as conn:
        schemes = dict(conn.execute(sa.text("SELECT code, group_codes FROM projects")).all())
    assert schemes == {"P1": "plain", "P2": "keyed"}


def test_names_and_penalty_notes_are_encrypted_by_0020_and_decrypted_going_down(app):
    """Stored names and notes are rewritten in place both ways, and read the same after."""
    from datetime import date

    from flask_migrate import downgrade, upgrade

    from expertdraw.models import Expert, Penalty, Region

    from .test_personal_data import _expert

    db.session.add(Region(code="530602", name="昭阳区", level="county"))
    db.session.flush()
    expert = _expert()  # 张三
    db.session.add(expert)
    db.session.flush()
    db.session.add(
        Penalty(expert_id=expert.id, kind="blacklist", start=date(2026, 1, 5), note="私下接触")
    )
    db.session.commit()
    db.session.remove()
    downgrade(revision="0019")
    with db.engine.connect() as conn:
        plain = conn.execute(
            sa.text("SELECT e.name, p.note FROM experts e JOIN penalties p ON p.expert_id = e.id")
        )
        assert plain.one() == ("张三", "私下接触")
    upgrade()
    db.engine.dispose()
    with db.engine.connect() as conn:
        raw_name = conn.execute(sa.text("SELECT name FROM experts")).scalar_one()
    assert "张" not in raw_name
    assert db.session.scalars(sa.select(Expert.name)).one() == "张三"
    assert db.session.scalars(sa.select(Penalty.note)).one() == "私下接触"
    db.session.remove()  # SQLite: its transaction holds the one writer's lock
    test_migrated_schema_matches_the_models(app)


def test_0023_counts_earlier_attempts_as_they_were_counted(app):
    """What attempts before 0023 did is not known: a delivery tried more than once, or
    delivered, may have reached the expert (a withdrawal follows it, as it did before)."""
    from flask_migrate import downgrade, upgrade

    from expertdraw.models import Delivery

    from .factories import make_notice

    rows = make_notice(members=3, deliveries=("sms",), deliveries_for_all=True)
    assert len(rows.deliveries) == 3
    tried = [(2, "retrying"), (1, "failed"), (1, "delivered")]
    outcomes = {d.id: o for d, o in zip(rows.deliveries, tried, strict=True)}
    for delivery_id, (attempts, status) in outcomes.items():
        db.session.execute(
            sa.update(Delivery)
            .where(Delivery.id == delivery_id)
            .values(attempts=attempts, status=status)
        )
    db.session.commit()
    db.session.remove()
    downgrade(revision="0022")
    upgrade()
    db.engine.dispose()
    taken = dict(db.session.execute(sa.select(Delivery.id, Delivery.maybe_taken)).all())
    assert [taken[i] for i in outcomes] == [True, False, True]
    db.session.remove()
