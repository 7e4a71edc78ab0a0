"""Entries (ledger.md §1-§3, §6): exact shape, leaf hash, signature, bundle line."""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from expertdraw.domain.canonical import canonical
from expertdraw.domain.ledger import (
    ZERO_PREV,
    LedgerError,
    entry_leaf,
    format_time,
    make_entry,
    parse_time,
    record_line,
    sign,
    signing_message,
    validate_entry,
    verify_entry_signature,
)
from expertdraw.domain.notes import NoteSigner

SIGNER = NoteSigner.from_seed("ledger.example/2026a", bytes(range(32)))


def entry(**changes):
    base = {
        "v": 1,
        "log": "ledger.example",
        "seq": 3,
        "time": "2026-11-27T09:30:00.123Z",
        "type": "notice.sent",
        "actor": {"role": "system", "id": "scheduler"},
        "prev": "ab" * 32,
        "body": {"draw": "D2026-000123", "notice": "N1", "expert": "E0000012", "channel": "sms"},
    }
    base.update(changes)
    return base


def test_a_well_formed_entry_is_accepted_and_make_entry_builds_the_same():
    e = entry()
    assert validate_entry(e) == canonical(e)
    built = make_entry(
        log="ledger.example",
        seq=3,
        time=e["time"],
        type="notice.sent",
        actor=e["actor"],
        prev=e["prev"],
        body=e["body"],
    )
    assert built == e


@pytest.mark.parametrize(
    "bad",
    [
        {"extra": 1},
        {"v": 2},
        {"v": True},
        {"seq": -1},
        {"seq": True},
        {"seq": 2**53},
        {"log": ""},
        {"time": "2026-11-27T09:30:00.12Z"},
        {"time": "2026-11-27T09:30:00.1234Z"},
        {"time": "2026-11-27T09:30:00.123+00:00"},
        {"time": "2026-02-30T09:30:00.123Z"},
        {"time": "2026-11-27t09:30:00.123z"},
        {"type": "Notice.Sent"},
        {"type": "notice"},
        {"type": "notice.unknown"},
        {"actor": {"role": "system"}},
        {"actor": {"role": "system", "id": "scheduler", "name": "Zhang"}},
        {"actor": {"role": "system", "id": 7}},
        {"prev": "AB" * 32},
        {"prev": "ab" * 31},
        {"body": []},
        {"body": {"draw": "D1", "notice": "N1", "expert": "E1"}},
        {"body": {"draw": "D1", "notice": "N1", "expert": "E1", "channel": "sms", "x": 1.5}},
        {"body": {"draw": "../x", "notice": "N1", "expert": "E1", "channel": "sms"}},
    ],
)
def test_entries_that_break_section_1_or_6_are_refused(bad):
    e = entry(**bad)
    if "extra" in bad:
        e = {**entry(), "extra": 1}
    with pytest.raises(LedgerError) as caught:
        validate_entry(e)
    assert caught.value.code == "ledger:entry"


def test_missing_member_is_refused():
    e = entry()
    del e["prev"]
    with pytest.raises(LedgerError):
        validate_entry(e)


def test_type_specific_body_rules():
    failed = {"draw": "D1", "reason": "insufficient:technical", "secret": "00", "seed": "aa"}
    with pytest.raises(LedgerError):  # entropy_value and seed go together
        validate_entry(entry(type="draw.failed", body=failed))
    replaced = {
        "draw": "D1",
        "out": "E1",
        "in": None,
        "seat": None,
        "reason": "declined",
        "skipped": [],
        "unavailable": [],
    }
    with pytest.raises(LedgerError):  # in null needs supplementary
        validate_entry(entry(type="draw.replaced", body=replaced))
    validate_entry(entry(type="draw.replaced", body={**replaced, "supplementary": "D1-R1"}))
    answered = {"draw": "D1", "notice": "N1", "expert": "E1", "answer": "maybe", "reason": ""}
    with pytest.raises(LedgerError):
        validate_entry(entry(type="notice.answered", body=answered))


def test_leaf_is_h_of_0x00_and_canonical_bytes_and_signature_covers_the_context():
    e = entry()
    leaf = entry_leaf(e)
    assert leaf == hashlib.sha256(b"\x00" + canonical(e)).digest()
    assert signing_message(leaf) == b"expertdraw/entry/v1\x00" + leaf
    signed = sign(e, SIGNER)
    assert SIGNER.verifier.verify(b"expertdraw/entry/v1\x00" + leaf, signed.signature)
    assert verify_entry_signature(SIGNER.verifier, leaf, signed.signature)
    assert not verify_entry_signature(SIGNER.verifier, bytes(32), signed.signature)


def test_record_line_is_canonical_json_of_the_record_and_a_newline():
    e = entry()
    signed = sign(e, SIGNER)
    line = signed.line()
    record = {
        "entry": e,
        "key": SIGNER.key_id.hex(),
        "leaf": signed.leaf.hex(),
        "sig": json.loads(line)["sig"],
    }
    assert line == canonical(record) + b"\n"
    assert record_line(canonical(e), SIGNER.key_id, signed.leaf, signed.signature) == line


def test_times_format_and_parse_with_three_fraction_digits_in_utc():
    moment = datetime(2026, 11, 27, 17, 30, 0, 123999, tzinfo=timezone(timedelta(hours=8)))
    assert format_time(moment) == "2026-11-27T09:30:00.123Z"
    assert parse_time("2026-11-27T09:30:00.123Z") == datetime(
        2026, 11, 27, 9, 30, 0, 123000, tzinfo=UTC
    )
    with pytest.raises(LedgerError):
        format_time(datetime(2026, 11, 27))
    with pytest.raises(LedgerError):
        parse_time("2026-11-27T09:30:00Z")


def test_seq_zero_prev_and_copy_safety():
    e = entry(
        seq=0,
        prev=ZERO_PREV,
        type="log.created",
        body={"origin": "ledger.example", "key": str(SIGNER.verifier)},
    )
    original = copy.deepcopy(e)
    validate_entry(e)
    assert e == original
