"""Column types shared by the tables: UTC timestamps and personal data encrypted at rest."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, LargeBinary, String
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime, stored naive in UTC so SQLite and PostgreSQL agree."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; expertdraw stores only aware UTC times")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


class EncryptedText(TypeDecorator[str]):
    """Personal data (ID and phone numbers): AES-GCM ciphertext in the table, text in Python.

    The key belongs to the running app (``personal_data.protector()``); the raw column holds
    nonce || ciphertext and is unreadable without it.
    """

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> bytes | None:
        if value is None:
            return None
        from ..personal_data import protector

        return protector().encrypt(value)

    def process_result_value(self, value: bytes | None, dialect: Any) -> str | None:
        if value is None:
            return None
        from ..personal_data import protector

        return protector().decrypt(bytes(value))


class EncryptedString(TypeDecorator[str]):
    """Personal data kept in a text column (e-mail addresses): AES-GCM as for
    :class:`EncryptedText`, base64 in the column (``length`` holds a 200-character value)."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        if value is None:
            return None
        from ..personal_data import protector

        return base64.b64encode(protector().encrypt(value)).decode("ascii")

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        if value is None:
            return None
        from ..personal_data import protector

        return protector().decrypt(base64.b64decode(value))


def code(length: int = 64) -> String:
    """A code column (ids of the spec: ``[A-Za-z0-9._-]``)."""
    return String(length)
