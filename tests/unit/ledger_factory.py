"""Helpers for ledger tests: small bundles, byte-level tampering, receipts from a bundle."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from expertdraw.domain.bundle import AuditReport, audit_bundle
from expertdraw.domain.bundle_synth import BundleInfo, build_bundle
from expertdraw.domain.checkpoint import parse_checkpoint
from expertdraw.domain.ledger import record_line, sign_entry
from expertdraw.domain.ledger_files import split_checkpoints
from expertdraw.domain.merkle import inclusion_proof
from expertdraw.domain.merkle_range import ArrayStore
from expertdraw.domain.notes import NoteSigner, b64decode_strict, parse_note
from expertdraw.domain.receipt import make_receipt

LEVEL = 4  # 16-line chunks, so small bundles still cross chunk edges


def small_bundle(folder: Path, entries: int = 120, **options: Any) -> BundleInfo:
    """A valid bundle with frequent draws and checkpoints."""
    options.setdefault("draw_every", 12)
    options.setdefault("checkpoint_every", 16)
    return build_bundle(folder, entries, **options)


def audit(folder: Path, info: BundleInfo | None = None, **options: Any) -> AuditReport:
    """Audit with small chunks, the bundle's cosigner known."""
    options.setdefault("level", LEVEL)
    if info is not None and info.cosigner is not None:
        options.setdefault("cosigners", [info.cosigner.verifier])
    return audit_bundle(folder, **options)


def copy_bundle(source: Path, target: Path) -> Path:
    """A fresh copy of a bundle folder."""
    shutil.copytree(source, target)
    return target


def lines(folder: Path) -> list[bytes]:
    """entries.jsonl as lines, each with its newline."""
    return (folder / "entries.jsonl").read_bytes().splitlines(keepends=True)


def write_lines(folder: Path, new: list[bytes]) -> None:
    """Replace entries.jsonl."""
    (folder / "entries.jsonl").write_bytes(b"".join(new))


def record(line: bytes) -> dict[str, Any]:
    """The parsed record of a line."""
    return json.loads(line)


def resign(line: bytes, signer: NoteSigner, key_id: bytes | None = None) -> bytes:
    """The same record signed by ``signer`` (and naming ``key_id``, default the signer's)."""
    rec = record(line)
    leaf = bytes.fromhex(rec["leaf"])
    data = line[len(b'{"entry":') : -190]
    return record_line(data, key_id or signer.key_id, leaf, sign_entry(signer, leaf))


def note_spans(data: bytes) -> list[tuple[int, int]]:
    """Byte span of each note in checkpoints.txt, the separator after it included."""
    spans, start = [], 0
    for note in split_checkpoints(data)[0]:
        end = start + len(note)
        spans.append((start, min(end + 4, len(data))))
        start = end + 4
    return spans


def checkpoint_sizes(folder: Path) -> list[int]:
    """Tree size of each checkpoint, in file order."""
    notes, _ = split_checkpoints((folder / "checkpoints.txt").read_bytes())
    return [parse_checkpoint(parse_note(n).text).size for n in notes]


def receipt_for(folder: Path, seq: int, note_index: int = -1) -> dict[str, Any]:
    """A receipt for entry ``seq`` against one of the bundle's checkpoints."""
    notes, _ = split_checkpoints((folder / "checkpoints.txt").read_bytes())
    note = notes[note_index].decode()
    size = parse_checkpoint(parse_note(note).text).size
    store = ArrayStore()
    for line in lines(folder)[:size]:
        store.append(bytes.fromhex(record(line)["leaf"]))
    rec = record(lines(folder)[seq])
    return make_receipt(
        rec["entry"],
        bytes.fromhex(rec["key"]),
        b64decode_strict(rec["sig"]),
        size,
        inclusion_proof(seq, size, store.get_node),
        note,
    )
