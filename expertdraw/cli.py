"""Flask commands: init, seed, create-user, import, export-ledger, verify, keys, scheduler."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app
from flask_migrate import upgrade

from .extensions import db


def init_app(app: Flask) -> None:
    from . import cli_ledger, jobs

    app.cli.add_command(init_command)
    app.cli.add_command(seed_command)
    app.cli.add_command(import_command)
    app.cli.add_command(demo_logins_command)
    app.cli.add_command(rules_command)
    app.cli.add_command(create_user_command)
    app.cli.add_command(jobs.scheduler_command)
    cli_ledger.init_app(app)
    for command in app.cli.commands.values():
        _database_errors_in_one_line(command)


def _database_errors_in_one_line(command: click.Command) -> None:
    """Make a database that cannot be reached, or a ledger key that cannot be used, a one-line
    ``Error:`` of ``command`` (and of a group's commands), naming what to fix, instead of a
    traceback."""
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _database_errors_in_one_line(sub)
        return
    callback = command.callback
    if callback is None or getattr(callback, "_one_line", False):
        return

    @functools.wraps(callback)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        from sqlalchemy.exc import DatabaseError, IntegrityError

        from .domain.ledger import LedgerError
        from .services.keys import SigningKeyError

        try:
            return callback(*args, **kwargs)
        except IntegrityError as exc:
            reason = str(exc.orig or exc).strip().splitlines()[0]
            raise click.ClickException(f"the database refused the change: {reason}") from None
        except DatabaseError as exc:  # unreachable, not a database, or tables missing
            reason = str(exc.orig or exc).strip().splitlines()[0]
            missing = "no such table" in reason or (
                reason.startswith("relation ") and reason.endswith("does not exist")
            )
            hint = "; run `flask --app expertdraw init` first" if missing else ""
            raise click.ClickException(
                f"cannot use the database (EXPERTDRAW_DATABASE_URL): {reason}{hint}"
            ) from None
        except SigningKeyError as exc:
            raise click.ClickException(f"cannot use the ledger's signing key: {exc}") from None
        except LedgerError as exc:  # e.g. EXPERTDRAW_LOG_ORIGIN changed since `init`
            raise click.ClickException(f"the ledger refuses: {exc}") from None

    wrapped._one_line = True  # type: ignore[attr-defined]
    command.callback = wrapped


#: Bounds of ``seed``'s generated data: ten times the provincial scale the benchmarks use.
SEED_MAX_EXPERTS = 1_000_000
SEED_MAX_CONFLICTS = 10_000_000


@click.command("init")
def init_command() -> None:
    """Create or upgrade the schema, and create the ledger (key, log.created) if new."""
    from .services import ledger

    upgrade()
    click.echo("database schema is up to date")
    if ledger.create_log():
        db.session.commit()
        click.echo(f"ledger created with key {ledger.keys.current_row().name}")
    else:
        # An existing log under another EXPERTDRAW_LOG_ORIGIN refuses every write: say so
        # here, the command run to check a setup, not at the first draw.
        ledger.origin()
    _record_rules()


def _record_rules() -> None:
    from .services import ledger, rules_record

    entry = rules_record.record_if_changed()
    if entry is None:
        db.session.rollback()
        click.echo("the rules in effect are those the ledger records")
        return
    ledger.issue_checkpoint()
    db.session.commit()
    changed = ", ".join(entry["body"]["changed"])
    click.echo(f"rules.changed recorded at seq {entry['seq']}: {changed}")


@click.command("rules")
@click.option("--record", is_flag=True, help="record them in the ledger if they changed")
def rules_command(record: bool) -> None:
    """Print the rules in effect (settings file over rules.md's defaults) as JSON, and
    whether the ledger records them; with --record, append rules.changed if it does not."""
    import json

    from .services import rules_record

    current = rules_record.in_effect()
    click.echo(json.dumps(current, ensure_ascii=False, indent=2, sort_keys=True))
    if record:
        _record_rules()
        return
    seq, previous = rules_record.recorded()
    changed = rules_record.changed_keys(previous, current)
    db.session.rollback()
    if changed:
        click.echo(f"not yet recorded; changed since the ledger's record: {', '.join(changed)}")
    elif seq is None:
        click.echo("these are rules.md's defaults; the ledger needs no record of them")
    else:
        click.echo(f"recorded in the ledger at seq {seq}")


@click.command("seed")
@click.option(
    "--experts",
    "extra_experts",
    type=click.IntRange(min=0, max=SEED_MAX_EXPERTS),
    default=0,
    help="Generate this many more experts after the seed pool (benchmarks).",
)
@click.option(
    "--conflicts",
    type=click.IntRange(min=0, max=SEED_MAX_CONFLICTS),
    default=0,
    help="Add this many declared-conflict / relative relations (benchmarks).",
)
@click.option(
    "--venues",
    type=click.IntRange(min=0, max=99_999),
    default=0,
    help="Generate this many more venues of 4 rooms of 5 workstations each (benchmarks).",
)
@click.option(
    "--into-production",
    is_flag=True,
    help="Load the demo's made-up experts into a production database all the same.",
)
def seed_command(extra_experts: int, conflicts: int, venues: int, into_production: bool) -> None:
    """Load the demo trading centre from seed_data/ (idempotent)."""
    from .services import seed

    if current_app.config.get("PRODUCTION") and not into_production:
        # Made-up experts in a production pool would be eligible for real draws.
        raise click.ClickException(
            "seed loads the demo's made-up experts, venues and organisations; this is a "
            "production database (EXPERTDRAW_ENV=production): import real data with "
            "import-data, or pass --into-production"
        )

    from .services.seed_pool import SeedError

    try:
        report = seed.seed(extra_experts=extra_experts, conflicts=conflicts, venues=venues)
    except SeedError as exc:  # seed_data/ unreadable, or more relations than exist
        raise click.ClickException(str(exc)) from None
    for table, count in report.inserted.items():
        click.echo(f"{table}: {count} inserted")
    steps = ", ".join(f"{step} {seconds:.1f}" for step, seconds in report.timings.items())
    click.echo(f"seed loaded in {report.seconds:.1f} s ({steps})")


@click.command("import-data")
@click.argument("kind", type=click.Choice(["experts", "organisations", "venues"]))
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_command(kind: str, file: Path) -> None:
    """Import experts, organisations or venues from a CSV or XLSX file (all or nothing)."""
    from .services import imports

    result = imports.import_file(kind, file)
    if result.errors:
        for error in result.errors:
            click.echo(f"line {error.line}, column {error.column}: {error.message}", err=True)
        shown = f" (the first {len(result.errors)} shown)" if result.unlisted else ""
        click.echo(f"{result.problems} error(s){shown}; nothing was imported", err=True)
        raise click.exceptions.Exit(1)
    for table, count in result.inserted.items():
        click.echo(f"{table}: {count} inserted, {result.updated.get(table, 0)} updated")


@click.command("create-user")
@click.argument("username")
@click.option(
    "--role",
    required=True,
    type=click.Choice(["admin", "project_manager", "supervisor", "venue_staff"]),
    help="The user's role (experts' users are created on the admin pages, linked to the expert).",
)
@click.option("--venue", "venue_id", default=None, help="The venue of a venue_staff user.")
@click.password_option(
    "--password",
    prompt="Password (10 to 256 characters)",
    help="Asked for when not given (and asked twice).",
)
def create_user_command(username: str, role: str, venue_id: str | None, password: str) -> None:
    """Create a user, e.g. the first administrator of a new production database."""
    from .services import auth as auth_service
    from .services.users import UserError

    try:
        user = auth_service.create_account(username, password, role, venue_id=venue_id)
    except UserError as exc:
        raise click.ClickException(f"{exc} [{exc.code}]") from None
    click.echo(f"user {user.username} created ({user.role})")


@click.command("demo-logins")
def demo_logins_command() -> None:
    """Print the demo users and their passwords (demo mode only)."""
    if not current_app.config.get("DEMO"):
        click.echo(
            "demo mode is off (set EXPERTDRAW_DEMO=1): the demo logins' published passwords "
            "are refused; an admin sets any demo account that should stay a new password"
        )
        return
    from .services import seed

    for login in seed.demo_logins():
        linked = login["expert_code"] or login["venue_id"] or ""
        state = "" if login["exists"] else "  (not created yet: run flask seed)"
        click.echo(
            f"{login['role']:<16} {login['username']:<12} {login['password']:<24} {linked}{state}"
        )
