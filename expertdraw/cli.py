"""Flask commands: init, seed, import, export-ledger, verify, keys, scheduler."""

from __future__ import annotations

import click
from flask import Flask
from flask_migrate import upgrade


def init_app(app: Flask) -> None:
    app.cli.add_command(init_command)


@click.command("init")
def init_command() -> None:
    """Create or upgrade the schema to the latest migration."""
    upgrade()
    click.echo("database schema is up to date")
