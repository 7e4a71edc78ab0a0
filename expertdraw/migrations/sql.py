"""Dialect-specific DDL the ORM cannot express, shared by migrations.

- Append-only tables: UPDATE and DELETE (and TRUNCATE on PostgreSQL) are refused by triggers.
- Bookings: no two live bookings of one workstation, or of one expert, overlap in time;
  PostgreSQL uses exclusion constraints (btree_gist), SQLite triggers (SQLite serialises
  writers, so the check and the insert are atomic).
"""

from __future__ import annotations

from typing import Any

APPEND_ONLY = ("ledger_entries", "ledger_nodes", "checkpoints", "snapshots")


def _dialect(op: Any) -> str:
    return op.get_bind().dialect.name


def create_append_only(op: Any, tables: tuple[str, ...]) -> None:
    if _dialect(op) == "postgresql":
        op.execute(
            """
            CREATE OR REPLACE FUNCTION expertdraw_append_only() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'expertdraw: % is append-only (% refused)', TG_TABLE_NAME, TG_OP
                    USING ERRCODE = 'raise_exception';
            END $$;
            """
        )
        for table in tables:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION expertdraw_append_only()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION expertdraw_append_only()"
            )
    else:
        for table in tables:
            for action in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, 'expertdraw: {table} is append-only "
                    f"({action} refused)'); END"
                )


def drop_append_only(op: Any, tables: tuple[str, ...]) -> None:
    if _dialect(op) == "postgresql":
        for table in tables:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute("DROP FUNCTION IF EXISTS expertdraw_append_only()")
    else:
        for table in tables:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")


_SQLITE_OVERLAP = """
CREATE TRIGGER bookings_{column}_overlap_{event} BEFORE {event_sql} ON bookings
WHEN NEW.released_at IS NULL
BEGIN
    SELECT RAISE(ABORT, 'expertdraw: booking overlaps another booking of the same {what}')
    WHERE EXISTS (
        SELECT 1 FROM bookings b
        WHERE b.{column} = NEW.{column} AND b.released_at IS NULL AND b.id <> NEW.id
          AND b.start < NEW."end" AND NEW.start < b."end"
    );
END
"""


def create_booking_guards(op: Any) -> None:
    if _dialect(op) == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
        for column in ("workstation_id", "expert_id"):
            op.execute(
                f"ALTER TABLE bookings ADD CONSTRAINT ex_bookings_{column}_overlap "
                f'EXCLUDE USING gist ({column} WITH =, tsrange(start, "end") WITH &&) '
                "WHERE (released_at IS NULL)"
            )
    else:
        for column, what in (("workstation_id", "workstation"), ("expert_id", "expert")):
            for event, event_sql in (
                ("insert", "INSERT"),
                ("update", 'UPDATE OF start, "end", released_at, ' + column),
            ):
                op.execute(
                    _SQLITE_OVERLAP.format(
                        column=column, what=what, event=event, event_sql=event_sql
                    )
                )


def drop_booking_guards(op: Any) -> None:
    if _dialect(op) == "postgresql":
        for column in ("workstation_id", "expert_id"):
            op.execute(
                f"ALTER TABLE bookings DROP CONSTRAINT IF EXISTS ex_bookings_{column}_overlap"
            )
    else:
        for column in ("workstation_id", "expert_id"):
            for event in ("insert", "update"):
                op.execute(f"DROP TRIGGER IF EXISTS bookings_{column}_overlap_{event}")
