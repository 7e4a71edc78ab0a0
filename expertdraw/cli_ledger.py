"""Ledger commands: export-ledger, keys (list, rotate), checkpoint."""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask

from .extensions import db


def init_app(app: Flask) -> None:
    app.cli.add_command(export_command)
    app.cli.add_command(keys_group)
    app.cli.add_command(checkpoint_command)


@click.command("export-ledger")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--to", "to_seq", type=click.IntRange(min=0), default=None, help="last seq")
def export_command(out: Path, to_seq: int | None) -> None:
    """Write the export bundle of ledger.md §5 to folder OUT (must not exist or be empty)."""
    from .services import export

    try:
        summary = export.write_bundle(out, to_seq)
    except export.ExportError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(
            f"cannot write the bundle into {out}: {exc.strerror or exc}; nothing was left behind"
        ) from None
    click.echo(
        f"exported entries 0..{summary.last_seq}, {summary.checkpoints} checkpoints, "
        f"{summary.snapshots} snapshots to {out}"
    )


@click.group("keys")
def keys_group() -> None:
    """The log's signing keys."""


@keys_group.command("list")
def keys_list() -> None:
    """Print keys.txt: every verifier key with its seq range."""
    from .services import keys

    click.echo(keys.keys_txt(), nl=False)


@keys_group.command("rotate")
@click.option("--reason", required=True, help="why the key is rotated (recorded in the ledger)")
def keys_rotate(reason: str) -> None:
    """Append key.rotated signed by the old key and switch to a new key."""
    from .services import ledger
    from .services.errors import ServiceError

    try:
        row = ledger.rotate_key(reason, {"role": "admin", "id": "cli"})
    except ServiceError as exc:
        raise click.BadParameter(str(exc), param_hint="--reason") from None
    db.session.commit()
    click.echo(f"rotated: new key {row.name} signs from seq {row.from_seq}")


@keys_group.command("repassphrase")
@click.option(
    "--new-passphrase",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    envvar="EXPERTDRAW_NEW_KEY_PASSPHRASE",
    help="the passphrase to encrypt the keys with (asked for when not given)",
)
def keys_repassphrase(new_passphrase: str) -> None:
    """Encrypt the ledger's private keys with a new passphrase (the current one is
    EXPERTDRAW_KEY_PASSPHRASE); then set EXPERTDRAW_KEY_PASSPHRASE to the new one."""
    from flask import current_app

    from .config import MIN_PASSPHRASE
    from .services import keys

    if len(new_passphrase) < MIN_PASSPHRASE:
        raise click.BadParameter(
            f"at least {MIN_PASSPHRASE} characters", param_hint="--new-passphrase"
        )
    try:
        count = keys.repassphrase(
            current_app.instance_path, current_app.config.get("KEY_PASSPHRASE"), new_passphrase
        )
    except keys.SigningKeyError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{count} key(s) encrypted with the new passphrase: set EXPERTDRAW_KEY_PASSPHRASE")


@click.command("checkpoint")
def checkpoint_command() -> None:
    """Issue a signed checkpoint of the whole log now."""
    from .services import ledger

    row = ledger.issue_checkpoint()
    db.session.commit()
    click.echo(f"checkpoint at size {row.size}, root {row.root}")
