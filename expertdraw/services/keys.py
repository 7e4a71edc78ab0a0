"""The log's Ed25519 signing keys: generated into the instance folder, rotated, never deleted.

Private keys live in ``<instance>/ledger-keys/<key id>.pem`` (PKCS#8, encrypted with
``EXPERTDRAW_KEY_PASSPHRASE`` when set; production refuses to run without it). Public verifier
keys and their ``seq`` ranges are rows of ``signing_keys``.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import current_app

from ..domain.notes import NoteSigner, VerifierKey
from ..extensions import db
from ..models import SigningKey

KEY_DIR = "ledger-keys"


class SigningKeyError(Exception):
    """A signing key is missing, unreadable, or the passphrase is wrong."""

    code = "keys:unavailable"
    #: The service cannot sign, through no fault of the request: unavailable, not a conflict.
    http_status = 503


def _key_path(key_id_hex: str) -> Path:
    folder = Path(current_app.instance_path) / KEY_DIR
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder / f"{key_id_hex}.pem"


def _passphrase() -> bytes | None:
    value = current_app.config.get("KEY_PASSPHRASE")
    return value.encode("utf-8") if value else None


def check_signing_key(instance_path: str, passphrase: str | None, database_url: str) -> None:
    """Open the private key of the ledger's key in use (from the database), so that a process
    deployed without the instance's ``ledger-keys/``, or with a damaged key file or a wrong
    passphrase, stops at start with one line instead of failing every ledger write later.
    Without a reachable database, or before the log exists, the newest key file is opened
    (:func:`check_passphrase`).

    Raises:
        ConfigError: the key file is missing, damaged, or not opened by the passphrase.
    """
    from ..config import ConfigError

    row = _active_key_row(database_url)
    if row is None:
        check_passphrase(instance_path, passphrase)
        return
    name, key_id = row
    path = Path(instance_path) / KEY_DIR / f"{key_id}.pem"
    if not path.is_file():
        raise ConfigError(
            f"the ledger's signing key {name} has no private key file {path}: every process "
            "needs the instance folder's ledger-keys/ (see README, Production)"
        )
    try:
        serialization.load_pem_private_key(
            path.read_bytes(), password=passphrase.encode("utf-8") if passphrase else None
        )
    except (ValueError, TypeError):
        raise ConfigError(
            f"the ledger's signing key file {path} cannot be read: it is damaged, or "
            "EXPERTDRAW_KEY_PASSPHRASE does not open it"
            + ("" if passphrase else " (set the passphrase if the key is encrypted)")
        ) from None


def _active_key_row(database_url: str) -> tuple[str, str] | None:
    """The name and key id of the ledger's key in use; None when the database cannot be read
    (another check reports that), has no log yet, or is a SQLite file not yet made."""
    url = sa.engine.make_url(database_url)
    if url.get_backend_name() == "sqlite" and not (url.database and Path(url.database).is_file()):
        return None
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("signing_keys"):
                return None
            row = conn.execute(
                sa.text(
                    "SELECT name, key_id FROM signing_keys WHERE to_seq IS NULL "
                    "ORDER BY id DESC LIMIT 1"
                )
            ).first()
    except sa.exc.SQLAlchemyError:
        return None
    finally:
        engine.dispose()
    return (row[0], row[1]) if row else None


def repassphrase(instance_path: str, old: str | None, new: str) -> int:
    """Encrypt every private key of ``<instance>/ledger-keys`` with ``new`` instead of
    ``old``; returns how many. All are opened first, so a key ``old`` does not open changes
    nothing; each is then replaced whole (written beside it, then renamed over it).

    Raises:
        SigningKeyError: a key ``old`` does not open; ValueError: ``new`` is empty.
    """
    if not new:
        raise ValueError("the new passphrase is empty")
    files = sorted((Path(instance_path) / KEY_DIR).glob("*.pem"))
    opened = []
    for path in files:
        try:
            opened.append(
                (
                    path,
                    serialization.load_pem_private_key(
                        path.read_bytes(), password=old.encode("utf-8") if old else None
                    ),
                )
            )
        except (ValueError, TypeError):
            raise SigningKeyError(f"{path} does not open with the current passphrase") from None
    encryption = serialization.BestAvailableEncryption(new.encode("utf-8"))
    for path, private in opened:
        pem = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )
        temporary = path.with_suffix(".pem.new")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    _SIGNERS.clear()
    return len(opened)


def check_passphrase(instance_path: str, passphrase: str | None) -> None:
    """Open the newest private key of ``<instance>/ledger-keys`` with ``passphrase``, so that a
    wrong ``EXPERTDRAW_KEY_PASSPHRASE`` stops the process at start (with one line) rather than
    failing every ledger write later. No key yet: nothing to check.

    Raises:
        ConfigError: the passphrase does not open the key.
    """
    from ..config import ConfigError

    files = sorted((Path(instance_path) / KEY_DIR).glob("*.pem"), key=lambda p: p.stat().st_mtime)
    if not files:
        return
    try:
        serialization.load_pem_private_key(
            files[-1].read_bytes(), password=passphrase.encode("utf-8") if passphrase else None
        )
    except (ValueError, TypeError):
        raise ConfigError(
            f"EXPERTDRAW_KEY_PASSPHRASE does not open the ledger's signing key {files[-1]}"
            + ("" if passphrase else " (it is encrypted: set the passphrase)")
        ) from None


def _write_private(signer_key: Ed25519PrivateKey, key_id_hex: str) -> None:
    passphrase = _passphrase()
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    pem = signer_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    path = _key_path(key_id_hex)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)


def _next_name(now: datetime) -> str:
    """``<origin>/<year><letter>``: the first key of 2026 is ``.../2026a``."""
    origin = current_app.config["LOG_ORIGIN"]
    prefix = f"{origin}/{now.year}"
    taken = set(
        db.session.scalars(sa.select(SigningKey.name).where(SigningKey.name.startswith(prefix)))
    )
    for index in range(26 * 27):
        suffix = chr(97 + index % 26) * (1 + index // 26)
        if f"{prefix}{suffix}" not in taken:
            return f"{prefix}{suffix}"
    raise SigningKeyError("no free key name left this year")


def generate(now: datetime) -> NoteSigner:
    """A new signer with its private key written to the instance folder (not yet active)."""
    name = _next_name(now)
    private = Ed25519PrivateKey.generate()
    signer = NoteSigner(name, private)
    _write_private(private, signer.key_id.hex())
    return signer


def load_signer(row: SigningKey) -> NoteSigner:
    """The signer of a stored key, from its private key file."""
    path = _key_path(row.key_id)
    try:
        private = serialization.load_pem_private_key(path.read_bytes(), password=_passphrase())
    except FileNotFoundError:
        raise SigningKeyError(f"private key file for key {row.name} is missing") from None
    except (TypeError, ValueError):
        raise SigningKeyError(f"private key of {row.name} cannot be read (passphrase?)") from None
    if not isinstance(private, Ed25519PrivateKey):
        raise SigningKeyError(f"key {row.name} is not an Ed25519 key")
    signer = NoteSigner(row.name, private)
    if str(signer.verifier) != row.verifier:
        raise SigningKeyError(f"private key file of {row.name} does not match its public key")
    return signer


_SIGNERS: dict[tuple[str, str, bytes | None], NoteSigner] = {}


def cached_signer(row: SigningKey) -> NoteSigner:
    """``load_signer`` once per key, instance folder and passphrase in this process: reading
    (and, with a passphrase, decrypting) the key file on every append would dominate."""
    cache_key = (current_app.instance_path, row.verifier, _passphrase())
    signer = _SIGNERS.get(cache_key)
    if signer is None:
        signer = _SIGNERS[cache_key] = load_signer(row)
    return signer


def known_signer(verifier: str) -> NoteSigner | None:
    """The signer of ``verifier`` if this process has loaded it already, else None."""
    return _SIGNERS.get((current_app.instance_path, verifier, _passphrase()))


def current_row() -> SigningKey | None:
    """The key that signs new entries (its range is still open)."""
    return db.session.scalars(
        sa.select(SigningKey).where(SigningKey.to_seq.is_(None)).order_by(SigningKey.id.desc())
    ).first()


def register(signer: NoteSigner, from_seq: int, now: datetime) -> SigningKey:
    """Record a signer's public key as valid from ``from_seq``."""
    row = SigningKey(
        name=signer.name,
        key_id=signer.key_id.hex(),
        verifier=str(signer.verifier),
        from_seq=from_seq,
        to_seq=None,
        created_at=now,
    )
    db.session.add(row)
    return row


def trust_list() -> list[tuple[VerifierKey, int, int | None]]:
    """Every verifier key with its ``seq`` range, in order of ``from_seq``."""
    rows = db.session.scalars(sa.select(SigningKey).order_by(SigningKey.from_seq))
    return [(VerifierKey.parse(r.verifier), r.from_seq, r.to_seq) for r in rows]


def keys_txt(last_seq: int | None = None) -> str:
    """``keys.txt`` of ledger.md §5 for the log up to ``last_seq`` (default: all of it).

    The ranges are what the log says: in a bundle that ends at a ``key.rotated`` entry, the
    old key ends at that entry and the new key, which starts after it, is the last line (open).
    ledger.md §5 also calls the last key "the key valid at the bundle's last entry", which there
    is the old one; a verifier reading it so expects no new key, and this project's audit
    accepts both forms, but a trust list whose ranges differ from the log's would be refused by
    one reading §5 as a whole.
    """
    query = sa.select(SigningKey).order_by(SigningKey.from_seq)
    if last_seq is not None:
        query = query.where(SigningKey.from_seq <= last_seq + 1)
    rows = list(db.session.scalars(query))
    return "".join(
        f"{row.verifier} {row.from_seq}"
        + ("" if index == len(rows) - 1 or row.to_seq is None else f" {row.to_seq}")
        + "\n"
        for index, row in enumerate(rows)
    )
