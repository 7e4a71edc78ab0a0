"""Receipts (ledger.md §5): one entry, proven to someone who holds only a checkpoint.

``{"entry", "sig", "key", "index", "tree_size", "inclusion", "checkpoint"}``: the entry, its
signature and hex key id, its leaf index, the size of the checkpoint's tree, the RFC 9162
inclusion proof (hex hashes) and the whole signed checkpoint note.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from expertdraw.domain.checkpoint import parse_checkpoint
from expertdraw.domain.ledger import LedgerError, leaf_of, validate_entry, verify_entry_signature
from expertdraw.domain.ledger_files import TrustList
from expertdraw.domain.merkle import verify_inclusion
from expertdraw.domain.notes import (
    NoteError,
    VerifierKey,
    b64decode_strict,
    b64encode,
    check_signatures,
    parse_note,
)

RECEIPT_KEYS = frozenset({"entry", "sig", "key", "index", "tree_size", "inclusion", "checkpoint"})
_HEX64 = re.compile(r"[0-9a-f]{64}")


class ReceiptError(ValueError):
    """A receipt that does not prove its entry.

    Codes: ``receipt:format``, ``receipt:entry``, ``receipt:key`` (no trusted key for it),
    ``receipt:signature`` (entry signature), ``receipt:checkpoint`` (note, signatures, size
    or origin), ``receipt:inclusion`` (the proof does not lead to the checkpoint's root).
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ReceiptCheck:
    """What a valid receipt proves."""

    seq: int
    type: str
    tree_size: int
    signed_by: str
    checkpoint_signed_by: tuple[str, ...]
    #: Whether the keys came with their seq ranges (keys.txt): bare keys are taken as valid
    #: for every entry, a retired key's after its rotation too.
    ranges_checked: bool = True


def make_receipt(
    entry: Mapping[str, Any],
    key_id: bytes,
    signature: bytes,
    tree_size: int,
    inclusion: Sequence[bytes],
    checkpoint: str,
) -> dict[str, Any]:
    """Assemble a receipt for ``entry`` (its ``seq`` is the index)."""
    return {
        "entry": dict(entry),
        "sig": b64encode(signature),
        "key": key_id.hex(),
        "index": entry["seq"],
        "tree_size": tree_size,
        "inclusion": [h.hex() for h in inclusion],
        "checkpoint": checkpoint,
    }


def _log_keys(trust: TrustList | Iterable[VerifierKey], seq: int) -> list[VerifierKey]:
    if isinstance(trust, TrustList):
        found = trust.key_at(seq)
        return [found.key] if found else []
    return list(trust)


def _entry(receipt: Mapping[str, Any]) -> tuple[dict[str, Any], bytes, int, int]:
    if not isinstance(receipt, Mapping) or set(receipt) != RECEIPT_KEYS:
        raise ReceiptError("receipt:format", f"a receipt has exactly {sorted(RECEIPT_KEYS)}")
    index, size = receipt["index"], receipt["tree_size"]
    if type(index) is not int or type(size) is not int or not 0 <= index < size:
        raise ReceiptError("receipt:format", "index and tree_size must be 0 <= index < size")
    try:
        leaf = leaf_of(validate_entry(receipt["entry"]))
    except LedgerError as exc:
        raise ReceiptError("receipt:entry", str(exc)) from None
    if receipt["entry"]["seq"] != index:
        raise ReceiptError("receipt:entry", "index is not the entry's seq")
    return receipt["entry"], leaf, index, size


def verify_receipt(
    receipt: Mapping[str, Any], trust: TrustList | Iterable[VerifierKey]
) -> ReceiptCheck:
    """Check a receipt against trusted keys (a trust list with ranges, or bare keys).

    Raises:
        ReceiptError: with the code of the first check that fails (see the class).
    """
    entry, leaf, index, size = _entry(receipt)
    if isinstance(trust, TrustList):
        known = trust.known_keys()
    else:
        known = trust = list(trust)
    by_id = {k.key_id.hex(): k for k in _log_keys(trust, index)}
    key = by_id.get(receipt["key"]) if isinstance(receipt["key"], str) else None
    if key is None:
        raise ReceiptError("receipt:key", f"no trusted key {receipt['key']!r} for seq {index}")
    try:
        signature = (
            b64decode_strict(receipt["sig"], "sig") if isinstance(receipt["sig"], str) else b""
        )
    except NoteError:
        signature = b""
    if not verify_entry_signature(key, leaf, signature):
        raise ReceiptError("receipt:signature", "the entry signature does not verify")
    try:
        note = parse_note(receipt["checkpoint"])
        cp = parse_checkpoint(note.text)
    except (NoteError, TypeError, AttributeError) as exc:
        raise ReceiptError("receipt:checkpoint", f"checkpoint: {exc}") from None
    outcome = check_signatures(note, known)
    required = _log_keys(trust, size - 1)
    if outcome.failed or not any(k in outcome.verified for k in required):
        raise ReceiptError("receipt:checkpoint", "checkpoint is not signed by a trusted log key")
    if cp.size != size or cp.origin != entry["log"]:
        raise ReceiptError("receipt:checkpoint", "checkpoint size or origin does not match")
    # ledger.md §4: a checkpoint's time is entry size-1's; entry times never decrease (both
    # in the one fixed format, so they compare as text).
    if cp.time < entry["time"] or (index == size - 1 and cp.time != entry["time"]):
        raise ReceiptError(
            "receipt:checkpoint",
            f"checkpoint time {cp.time} cannot be the time of entry {size - 1} "
            f"(entry {index} is of {entry['time']})",
        )
    proof = receipt["inclusion"]
    if not isinstance(proof, list) or not all(
        isinstance(h, str) and _HEX64.fullmatch(h) for h in proof
    ):
        raise ReceiptError("receipt:format", "inclusion must be a list of hex hashes")
    if not verify_inclusion(leaf, index, size, [bytes.fromhex(h) for h in proof], cp.root):
        raise ReceiptError("receipt:inclusion", "the inclusion proof does not reach the root")
    return ReceiptCheck(
        index,
        entry["type"],
        size,
        key.name,
        tuple(k.name for k in outcome.verified),
        ranges_checked=isinstance(trust, TrustList),
    )
