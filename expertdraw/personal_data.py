"""Encryption at rest for personal data, and keyed hashes for exact look-up.

One 32-byte master key per deployment, from ``EXPERTDRAW_DATA_KEY`` (base64) or generated on
first run into ``<instance>/data.key`` (mode 0600). Two sub-keys are derived with HKDF: one for
AES-256-GCM, one for HMAC-SHA256 look-up hashes. Values never appear in logs or exceptions.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from collections.abc import Callable
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import Flask, current_app

EXTENSION = "expertdraw.personal_data"
KEY_FILE = "data.key"


class PersonalDataError(Exception):
    """The data key is missing or wrong, or a ciphertext does not authenticate."""

    code = "personal-data"


def _derive(master: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(master)


class Protector:
    """Encrypts and hashes personal data with keys derived from one master key."""

    def __init__(self, master: bytes) -> None:
        if len(master) != 32:
            raise PersonalDataError("the data key must be 32 bytes")
        self._aead = AESGCM(_derive(master, b"expertdraw/personal-data/aes-gcm/v1"))
        self._mac_key = _derive(master, b"expertdraw/personal-data/lookup/v1")
        #: Keys the snapshot's group codes: without it, a code could be traced back to the
        #: employer by hashing every public USCC with the project's code.
        self.group_key = _derive(master, b"expertdraw/group-codes/v1")

    def encrypt(self, text: str) -> bytes:
        nonce = secrets.token_bytes(12)
        return nonce + self._aead.encrypt(nonce, text.encode("utf-8"), b"expertdraw/pd")

    def decrypt(self, blob: bytes) -> str:
        try:
            plain = self._aead.decrypt(blob[:12], blob[12:], b"expertdraw/pd")
        except InvalidTag:
            raise PersonalDataError("personal data does not decrypt with this key") from None
        return plain.decode("utf-8")

    def lookup_hash(self, text: str) -> str:
        """Keyed hash of a normalised value, so exact look-ups work without decrypting."""
        normalised = "".join(text.split()).upper()
        return hmac.new(self._mac_key, normalised.encode("utf-8"), hashlib.sha256).hexdigest()


def load_master_key(
    instance_path: str,
    configured: str | None,
    holds_personal_data: Callable[[], bool] | None = None,
) -> bytes:
    """The master key from configuration, or the instance file, created if missing.

    A new key is made only for a database without personal data yet (``holds_personal_data``):
    a process started elsewhere, without the deployment's instance folder, would otherwise
    encrypt with a key of its own, which no other process can read, and hash identities so
    that duplicates go unnoticed.
    """
    if configured:
        try:
            key = base64.b64decode(configured, validate=True)
        except ValueError:
            raise PersonalDataError("EXPERTDRAW_DATA_KEY must be base64") from None
        if len(key) != 32:
            raise PersonalDataError("EXPERTDRAW_DATA_KEY must decode to 32 bytes")
        return key
    path = Path(instance_path) / KEY_FILE
    if path.exists():
        try:
            key = base64.b64decode(path.read_text().strip(), validate=True)
        except (ValueError, OSError) as exc:  # a damaged or unreadable file
            raise PersonalDataError(
                f"{path} does not hold a base64 32-byte key ({type(exc).__name__})"
            ) from None
        if len(key) != 32:
            raise PersonalDataError(f"{path} does not hold a 32-byte key")
        return key
    if holds_personal_data is not None and holds_personal_data():
        raise PersonalDataError(
            f"no personal-data key at {path}, but the database holds data encrypted, or to be "
            "encrypted, with one: set EXPERTDRAW_DATA_KEY, or EXPERTDRAW_INSTANCE_PATH to the "
            "instance folder that holds data.key"
        )
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(base64.b64encode(key).decode() + "\n")
    return key


def init_app(app: Flask) -> None:
    """Load the data key (made for a database that needs none yet). In production, a key
    is made only for a database not initialised yet (no ledger, no experts), so that a
    process deployed without the instance's key stops instead of encrypting with a key of
    its own; and a key that does not open the database's personal data stops the process at
    start, naming the setting, instead of failing every page that decrypts."""
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    production = bool(app.config.get("PRODUCTION"))

    def holds_personal_data() -> bool:
        return _holds_personal_data(url, initialised=production)

    from .config import ConfigError

    try:
        master = load_master_key(app.instance_path, app.config.get("DATA_KEY"), holds_personal_data)
        protector = Protector(master)
        if production:
            _check_opens(protector, url)
    except PersonalDataError as exc:
        raise ConfigError(str(exc)) from None  # one line at start, naming what to set
    app.extensions[EXTENSION] = protector


def _check_opens(protector: Protector, url: str) -> None:
    """Decrypt one expert's identity number: the key must be the one the data was
    encrypted with (every process of a deployment shares it)."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("experts"):
                return
            blob = conn.execute(sa.text("SELECT id_number FROM experts LIMIT 1")).scalar()
    except sa.exc.DatabaseError:
        return  # unreachable or not yet a database: nothing to check against
    finally:
        engine.dispose()
    if blob is None:
        return
    try:
        protector.decrypt(bytes(blob))
    except PersonalDataError:
        raise PersonalDataError(
            "the personal-data key (EXPERTDRAW_DATA_KEY, or data.key in the instance folder) "
            "does not open the database's personal data: every process needs the key the "
            "data was encrypted with (see README, Production)"
        ) from None


def _holds_personal_data(url: str, *, initialised: bool = False) -> bool:
    """Whether the database has experts (whose identity numbers are encrypted), or, with
    ``initialised``, a ledger too (``flask init`` has run with a key). A database with no
    tables yet holds none; one that cannot be reached is not guessed about."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            tables = ("experts", "ledger_entries") if initialised else ("experts",)
            for table in tables:
                if not sa.inspect(conn).has_table(table):
                    continue
                if conn.execute(sa.text(f"SELECT 1 FROM {table} LIMIT 1")).first() is not None:
                    return True
            return False
    except sa.exc.DatabaseError as exc:
        if not isinstance(exc, sa.exc.OperationalError):  # reached, but not a database
            reason = str(exc.orig or exc).strip().splitlines()[0]
            raise PersonalDataError(
                f"cannot use the database (EXPERTDRAW_DATABASE_URL): {reason}"
            ) from None
        raise PersonalDataError(
            "no personal-data key in the instance folder, and the database cannot be reached "
            "to tell whether it holds personal data: start with the database up, or set "
            "EXPERTDRAW_DATA_KEY"
        ) from None
    finally:
        engine.dispose()


def protector() -> Protector:
    """The running app's protector."""
    return current_app.extensions[EXTENSION]
