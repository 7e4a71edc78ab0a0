"""Ledger entries (ledger.md §1-§3, §6): shape, leaf hash, signature, bundle record line.

An entry is exactly ``{v, log, seq, time, type, actor, prev, body}``; its leaf hash is
``H(0x00 || C(entry))`` and its signature is Ed25519 over
``"expertdraw/entry/v1" || 0x00 || leaf``. In an export bundle each entry is one line,
``C({"entry", "key", "leaf", "sig"}) + "\\n"``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from expertdraw.domain.canonical import CanonicalError, canonical
from expertdraw.domain.notes import NoteSigner, VerifierKey, b64encode

VERSION = 1
ZERO_PREV = "0" * 64
ENTRY_KEYS = frozenset({"v", "log", "seq", "time", "type", "actor", "prev", "body"})
ENTRY_SIGNATURE_CONTEXT = b"expertdraw/entry/v1\x00"
SYSTEM_ACTOR = {"role": "system", "id": "scheduler"}

#: body members a verifier relies on, per v1 type (section 6); bodies may carry more.
BODY_MEMBERS: dict[str, frozenset[str]] = {
    "log.created": frozenset({"origin", "key"}),
    "key.rotated": frozenset({"old_key", "new_key", "reason"}),
    "pool.changed": frozenset({"expert", "field", "from", "to", "reason"}),
    "draw.announced": frozenset(
        {"draw", "project", "algorithm", "request", "snapshot_hash", "excluded"}
        | {"commitment", "entropy"}
    ),
    "draw.completed": frozenset(
        {"draw", "secret", "entropy_value", "seed", "members", "alternates"}
    ),
    "draw.failed": frozenset({"draw", "reason", "secret"}),
    "notice.sent": frozenset({"draw", "notice", "expert", "channel"}),
    "notice.answered": frozenset({"draw", "notice", "expert", "answer", "reason"}),
    "draw.replaced": frozenset({"draw", "out", "in", "seat", "reason", "skipped", "unavailable"}),
    "list.opened": frozenset({"draw", "by", "purpose"}),
    "inspection.drawn": frozenset({"inspection", "targets", "inspectors", "seed"}),
    # Beyond ledger.md §6's list: a supervision sample's commitment, a report's hash, and the
    # rules in effect whenever the configuration changes them (rules.md).
    "inspection.announced": frozenset({"inspection", "plan", "plan_hash", "commitment"}),
    "report.issued": frozenset({"report", "kind", "period", "sha256"}),
    "rules.changed": frozenset({"rules", "changed", "previous"}),
    # The acts that open the list to the project manager, or change the parties a committee
    # is checked against, are on the record too.
    "project.awarded": frozenset({"project", "by"}),
    "project.bidder_added": frozenset({"project", "bidder", "after_draw"}),
}
ANSWERS = frozenset({"accepted", "declined", "timeout"})

_TIME = re.compile(
    r"([0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01]))"
    r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]\.[0-9]{3}Z"
).fullmatch
_TYPE = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+").fullmatch
_HEX64 = re.compile(r"[0-9a-f]{64}").fullmatch
_ID = re.compile(r"[A-Za-z0-9._-]+").fullmatch


class LedgerError(ValueError):
    """An entry, record or bundle file that breaks ledger.md.

    Codes: ``ledger:entry`` (shape or values of an entry), ``ledger:record`` (a bundle line),
    ``ledger:keys`` (keys.txt), ``ledger:checkpoints`` (checkpoints.txt).
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@lru_cache(maxsize=4096)
def real_date(day: str) -> bool:
    """True if ``YYYY-MM-DD`` names a day of the Gregorian calendar."""
    try:
        datetime.strptime(day, "%Y-%m-%d")
    except ValueError:
        return False
    return True


def is_time(value: object) -> bool:
    """True for an RFC 3339 UTC time with exactly 3 fraction digits and ``Z``."""
    match = _TIME(value) if type(value) is str else None
    return match is not None and real_date(match.group(1))


def format_time(moment: datetime) -> str:
    """``2026-11-27T09:30:00.123Z`` for an aware datetime (converted to UTC, truncated to ms).

    Raises:
        LedgerError: ``ledger:entry`` for a naive datetime.
    """
    if moment.tzinfo is None:
        raise LedgerError("ledger:entry", "ledger times must be timezone-aware")
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_time(value: str) -> datetime:
    """The aware UTC datetime of a ledger time string.

    Raises:
        LedgerError: ``ledger:entry`` if ``value`` is not a ledger time.
    """
    if not is_time(value):
        raise LedgerError("ledger:entry", f"bad time {value!r}")
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def is_id(value: object) -> bool:
    """True for a draw.md §1 id (non-empty ``[A-Za-z0-9._-]``, not ``.`` or ``..``)."""
    return type(value) is str and _ID(value) is not None and value not in (".", "..")


def body_problem(kind: str, body: dict[str, Any]) -> str | None:
    """Describe the first way ``body`` breaks section 6 for ``kind``, or None."""
    required = BODY_MEMBERS.get(kind)
    if required is None:
        return f"type {kind!r} is not a v1 entry type"
    if not required <= body.keys():
        return f"{kind} body lacks {', '.join(sorted(required - body.keys()))}"
    if "draw" in required and not is_id(body["draw"]):
        return f"{kind} body has a bad draw id"
    if kind == "draw.failed" and ("entropy_value" in body) != ("seed" in body):
        return "draw.failed body must carry both entropy_value and seed, or neither"
    if kind == "draw.replaced" and body["in"] is None and "supplementary" not in body:
        return "draw.replaced body with in null lacks supplementary"
    if kind == "notice.answered" and body["answer"] not in ANSWERS:
        return "notice.answered answer must be accepted, declined or timeout"
    return None


def entry_problem(entry: object) -> str | None:
    """Describe the first way ``entry`` breaks ledger.md §1/§6, or None if it is well formed.

    Values inside the entry (floats, unsafe integers) are canonical JSON's concern.
    """
    if type(entry) is not dict:
        return "entry is not an object"
    if entry.keys() != ENTRY_KEYS:
        extra, missing = entry.keys() - ENTRY_KEYS, ENTRY_KEYS - entry.keys()
        return f"entry members wrong (extra {sorted(extra)}, missing {sorted(missing)})"
    if type(entry["v"]) is not int or entry["v"] != VERSION:
        return f"v must be {VERSION}"
    log, seq, kind, prev = entry["log"], entry["seq"], entry["type"], entry["prev"]
    if type(log) is not str or not log:
        return "log must be a non-empty string"
    if type(seq) is not int or seq < 0:
        return "seq must be a non-negative integer"
    if not is_time(entry["time"]):
        return f"time {entry['time']!r} is not YYYY-MM-DDTHH:MM:SS.mmmZ"
    if type(kind) is not str or not _TYPE(kind):
        return f"type {kind!r} is not dotted lower case"
    actor = entry["actor"]
    if (
        type(actor) is not dict
        or actor.keys() != {"role", "id"}
        or type(actor["role"]) is not str
        or type(actor["id"]) is not str
    ):
        return "actor must be exactly {role, id} strings"
    if type(prev) is not str or not _HEX64(prev):
        return "prev must be 64 lowercase hex digits"
    body = entry["body"]
    if type(body) is not dict:
        return "body must be an object"
    return body_problem(kind, body)


def validate_entry(entry: Mapping[str, Any]) -> bytes:
    """Check an entry completely and return ``C(entry)``.

    Raises:
        LedgerError: ``ledger:entry`` naming the first problem (shape, members, values).
    """
    problem = entry_problem(entry)
    if problem:
        raise LedgerError("ledger:entry", problem)
    try:
        return canonical(entry)
    except CanonicalError as exc:
        raise LedgerError("ledger:entry", str(exc)) from None


def make_entry(
    *,
    log: str,
    seq: int,
    time: str,
    type: str,
    actor: Mapping[str, str],
    prev: str,
    body: Mapping[str, Any],
) -> dict[str, Any]:
    """Build and validate an entry.

    Raises:
        LedgerError: ``ledger:entry``, as :func:`validate_entry`.
    """
    entry = _entry(log=log, seq=seq, time=time, type=type, actor=actor, prev=prev, body=body)
    validate_entry(entry)
    return entry


def _entry(
    *,
    log: str,
    seq: int,
    time: str,
    type: str,
    actor: Mapping[str, str],
    prev: str,
    body: Mapping[str, Any],
) -> dict[str, Any]:
    return {
        "v": VERSION,
        "log": log,
        "seq": seq,
        "time": time,
        "type": type,
        "actor": dict(actor),
        "prev": prev,
        "body": dict(body),
    }


def leaf_of(entry_bytes: bytes) -> bytes:
    """``H(0x00 || C(entry))`` given ``C(entry)``."""
    return hashlib.sha256(b"\x00" + entry_bytes).digest()


def entry_leaf(entry: Mapping[str, Any]) -> bytes:
    """The leaf hash of an entry (validated first).

    Raises:
        LedgerError: ``ledger:entry``.
    """
    return leaf_of(validate_entry(entry))


def signing_message(leaf: bytes) -> bytes:
    """``"expertdraw/entry/v1" || 0x00 || leaf``: what an entry signature covers."""
    return ENTRY_SIGNATURE_CONTEXT + leaf


def sign_entry(signer: NoteSigner, leaf: bytes) -> bytes:
    """The log key's 64-byte Ed25519 signature of a leaf hash."""
    return signer.sign(signing_message(leaf))


def verify_entry_signature(key: VerifierKey, leaf: bytes, signature: bytes) -> bool:
    """True if ``signature`` is ``key``'s entry signature over ``leaf``."""
    return len(signature) == 64 and key.verify(signing_message(leaf), signature)


def record_line(entry_bytes: bytes, key_id: bytes, leaf: bytes, signature: bytes) -> bytes:
    """The bundle line ``C({"entry", "key", "leaf", "sig"}) + "\\n"`` given ``C(entry)``.

    Sorted keys put ``entry`` first, so the line embeds ``C(entry)`` verbatim.
    """
    return b"".join(
        (
            b'{"entry":',
            entry_bytes,
            b',"key":"',
            key_id.hex().encode(),
            b'","leaf":"',
            leaf.hex().encode(),
            b'","sig":"',
            b64encode(signature).encode(),
            b'"}\n',
        )
    )


@dataclass(frozen=True)
class SignedEntry:
    """An entry with its leaf hash, signing key id and signature (a bundle record)."""

    entry: dict[str, Any]
    entry_bytes: bytes
    leaf: bytes
    key_id: bytes
    signature: bytes

    @property
    def seq(self) -> int:
        """The entry's ``seq``."""
        return self.entry["seq"]

    def line(self) -> bytes:
        """The bundle line of this record."""
        return record_line(self.entry_bytes, self.key_id, self.leaf, self.signature)


def sign(entry: Mapping[str, Any], signer: NoteSigner) -> SignedEntry:
    """Validate, hash and sign an entry with the log's current key.

    Raises:
        LedgerError: ``ledger:entry``.
    """
    return _signed(dict(entry), validate_entry(entry), signer)


def sign_new(signer: NoteSigner, **fields: Any) -> SignedEntry:
    """:func:`make_entry` and :func:`sign` in one, validating and encoding the entry once
    (appending is on the ledger lock's critical path).

    Raises:
        LedgerError: ``ledger:entry``.
    """
    entry = _entry(**fields)
    return _signed(entry, validate_entry(entry), signer)


def _signed(entry: dict[str, Any], data: bytes, signer: NoteSigner) -> SignedEntry:
    leaf = leaf_of(data)
    return SignedEntry(entry, data, leaf, signer.key_id, sign_entry(signer, leaf))
