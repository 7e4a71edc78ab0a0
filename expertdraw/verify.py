"""Offline verifier for supervisors: ``python -m expertdraw.verify``.

    python -m expertdraw.verify BUNDLE [--replay] [--entry-signatures] [--keys FILE]
                                       [--cosigner KEY]... [--beacon-cert PEM] [--workers N]
    python -m expertdraw.verify verify-receipt RECEIPT --key KEY [--key KEY]...

Prints one line per problem, then a summary. Exit status: 0 clean, 1 problems, 2 usage
errors. Uses nothing but ``expertdraw.domain`` (standard library and ``cryptography``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from expertdraw.domain.bundle import audit_bundle
from expertdraw.domain.ledger import LedgerError
from expertdraw.domain.ledger_files import TrustList, parse_keys_txt
from expertdraw.domain.notes import NoteError, VerifierKey
from expertdraw.domain.receipt import ReceiptError, verify_receipt

PROG = "python -m expertdraw.verify"
USAGE = 2
# Worker processes for entries.jsonl: more than a few per CPU only costs memory.
MAX_WORKERS = 64


def _bundle_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Audit an expertdraw ledger export bundle (ledger.md §5).",
        epilog=f"To check a single receipt: {PROG} verify-receipt RECEIPT --key KEY",
    )
    parser.add_argument("bundle", metavar="BUNDLE", type=Path, help="the bundle folder")
    parser.add_argument("--replay", action="store_true", help="replay every draw (draw.md §8)")
    parser.add_argument(
        "--entry-signatures", action="store_true", help="verify every entry signature (slow)"
    )
    parser.add_argument("--keys", type=Path, help="your own trust list (keys.txt format)")
    parser.add_argument(
        "--cosigner",
        action="append",
        default=[],
        metavar="KEY",
        help="a supervisor's verifier key whose checkpoint cosignatures must verify",
    )
    parser.add_argument("--beacon-cert", type=Path, help="NIST beacon certificate(s), PEM")
    parser.add_argument("--workers", type=int, help="processes for entries.jsonl")
    parser.add_argument("--max-problems", type=int, default=1000, help="problems to list")
    return parser


def _receipt_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"{PROG} verify-receipt", description="Check a receipt (ledger.md §5)."
    )
    parser.add_argument("receipt", metavar="RECEIPT", type=Path, help="the receipt JSON file")
    parser.add_argument(
        "--key",
        action="append",
        required=True,
        metavar="KEY",
        help="a verifier key string, a file of them, or a keys.txt trust list",
    )
    return parser


def _usage(parser: argparse.ArgumentParser, message: str) -> int:
    parser.print_usage(sys.stderr)
    print(f"{parser.prog}: error: {message}", file=sys.stderr)
    return USAGE


def _keys(values: Sequence[str]) -> TrustList | list[VerifierKey]:
    """Bare keys, or one keys.txt trust list. Raises NoteError/LedgerError/ValueError."""
    bare: list[VerifierKey] = []
    lists: list[TrustList] = []
    for value in values:
        path = Path(value)
        if not path.is_file():
            bare.append(VerifierKey.parse(value))
            continue
        text = path.read_text(encoding="utf-8")
        if any(" " in line for line in text.splitlines()):
            lists.append(TrustList(parse_keys_txt(text)))
        else:
            bare += [VerifierKey.parse(line) for line in text.splitlines() if line]
    if lists and (bare or len(lists) > 1):
        raise ValueError("give either one keys.txt trust list or verifier keys, not both")
    return lists[0] if lists else bare


def verify_receipt_command(argv: Sequence[str]) -> int:
    """``verify-receipt RECEIPT --key KEY...``; returns the exit status."""
    parser = _receipt_parser()
    args = parser.parse_args(argv)
    try:
        trust = _keys(args.key)
    except (NoteError, LedgerError, ValueError) as exc:
        return _usage(parser, f"bad --key: {exc}")
    if not args.receipt.is_file():
        return _usage(parser, f"no such file: {args.receipt}")
    try:
        receipt = json.loads(args.receipt.read_bytes())
        check = verify_receipt(receipt, trust)
    except (ValueError, RecursionError) as exc:  # ReceiptError, or JSON that does not parse
        code = exc.code if isinstance(exc, ReceiptError) else "receipt:format"
        print(f"FAILED: {exc!s:.300} [{code}]")
        return 1
    print(
        f"OK: the receipt proves seq {check.seq} ({check.type}), signed by {check.signed_by}, "
        f"in the tree of size {check.tree_size} signed by {', '.join(check.checkpoint_signed_by)}"
    )
    if not check.ranges_checked:
        print(
            "NOTE: the keys were given without their seq ranges, so whether the key was in use "
            "at that seq was not checked (a retired key signs nothing after its rotation); "
            "give the log's keys.txt to check it"
        )
    return 0


def verify_bundle_command(argv: Sequence[str]) -> int:
    """``BUNDLE [options]``; returns the exit status."""
    parser = _bundle_parser()
    args = parser.parse_args(argv)
    if not args.bundle.is_dir():
        return _usage(parser, f"no such folder: {args.bundle}")
    try:
        cosigners = [VerifierKey.parse(k) for k in args.cosigner]
    except NoteError as exc:
        return _usage(parser, f"bad --cosigner: {exc}")
    for option in (args.keys, args.beacon_cert):
        if option is not None and not option.is_file():
            return _usage(parser, f"no such file: {option}")
    if args.workers is not None and not 1 <= args.workers <= MAX_WORKERS:
        return _usage(parser, f"--workers must be 1 to {MAX_WORKERS}, got {args.workers}")
    if args.max_problems < 0:
        return _usage(parser, f"--max-problems must be 0 or more, got {args.max_problems}")
    try:
        report = audit_bundle(
            args.bundle,
            replay=args.replay,
            entry_signatures=args.entry_signatures,
            keys_file=args.keys,
            cosigners=cosigners,
            beacon_certificates=args.beacon_cert.read_bytes() if args.beacon_cert else None,
            workers=args.workers,
            max_problems=args.max_problems,
        )
    except OSError as exc:  # a file of the bundle that cannot be read (permissions, I/O)
        print(f"PROBLEM [bundle:file] {exc.filename or args.bundle}: {exc.strerror or exc}")
        print("FAILED: the bundle cannot be read whole")
        return 1
    for problem in report.problems:
        print(f"PROBLEM {problem}")
    s = report.summary
    facts = (
        f"{s.get('entries', 0)} entries, {s.get('checkpoints', 0)} checkpoints, "
        f"{s.get('keys', 0)} keys, {s.get('draws_announced', 0)} draws, "
        f"root {s.get('root', '')}, {s.get('seconds', 0)} s"
    )
    if s.get("uncovered_tail"):
        print(f"NOTE the last {s['uncovered_tail']} entries are covered by no checkpoint")
    for name, seen in (s.get("cosigned") or {}).items():
        # The cosigner compares these with their own records: the bundle cannot show what
        # was removed from it.
        print(
            f"COSIGNED {name}: {seen['checkpoints']} checkpoints, "
            f"the largest of size {seen['latest_size']}"
        )
    if report.ok:
        unchecked = (
            ""
            if s.get("entry_signatures")
            else " (entry signatures not checked: add --entry-signatures)"
        )
        print(f"OK: {facts}{unchecked}")
        return 0
    print(
        f"FAILED: {s.get('problems', len(report.problems))} problems; "
        f"first bad place: {report.first.where}; {facts}"
    )
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch to the bundle audit or ``verify-receipt``; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "verify-receipt":
        return verify_receipt_command(args[1:])
    return verify_bundle_command(args)


if __name__ == "__main__":
    sys.exit(main())
