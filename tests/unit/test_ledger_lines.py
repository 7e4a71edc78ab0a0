"""Bundle lines (§5): the fast parser agrees with re-encoding, and only C(record) passes."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from expertdraw.domain.bundle_lines import parse_fast, parse_line
from expertdraw.domain.canonical import canonical
from expertdraw.domain.ledger import entry_problem, record_line

KEY_ID, LEAF, SIG = bytes(range(4)), bytes(range(32)), bytes(range(64))
values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
extras = st.dictionaries(st.text(min_size=1, max_size=6), values, max_size=4)


def entry(extra: dict) -> dict:
    body = {"draw": "D1", "notice": "N1", "expert": "E1", "channel": "sms", **extra}
    return {
        "v": 1,
        "log": "ledger.example",
        "seq": 7,
        "time": "2026-11-27T09:30:00.123Z",
        "type": "notice.sent",
        "actor": {"role": "system", "id": "scheduler"},
        "prev": "ab" * 32,
        "body": body,
    }


def line_of(e: dict) -> bytes:
    return record_line(canonical(e), KEY_ID, LEAF, SIG)


@settings(max_examples=300)
@given(extras)
def test_canonical_lines_parse_to_their_entry_by_either_path(extra):
    e = entry(extra)
    line = line_of(e)[:-1]
    parsed = parse_line(line)
    assert parsed[0] == 7 and parsed[5] == e["body"] and parsed[6] == canonical(e)
    assert parsed[10] == entry_problem(e)
    fast = parse_fast(line)
    assert fast is None or fast == parsed


@settings(max_examples=300)
@given(extras, st.randoms(use_true_random=False))
def test_any_other_encoding_of_the_same_record_is_flagged(extra, rng: random.Random):
    e = entry(extra)
    canonical_line = line_of(e)[:-1]
    record = json.loads(canonical_line)
    variant = json.dumps(
        record,
        sort_keys=rng.random() < 0.5,
        separators=rng.choice([(",", ":"), (", ", ":"), (",", ": ")]),
        ensure_ascii=rng.random() < 0.5,
    ).encode()
    if variant != canonical_line:
        assert parse_line(variant)[10] is not None


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b'"channel":"sms"', b'"channel":"sms","channel":"sms"'),  # duplicate key
        (b'"channel":"sms"', b'"channel":"\\u0073ms"'),  # needless escape
        (b'"channel":"sms"', b'"channel": "sms"'),  # blank between tokens
        (b'"channel":"sms"', b'"channel":"sms","zz":1.0'),  # float
        (b'"channel":"sms"', b'"channel":"sms","zz":-0'),  # minus zero
        (b'"channel":"sms"', b'"channel":"sms","zz":1e2'),  # exponent
        (b'"channel":"sms"', b'"channel":"sms","zz":9007199254740992'),  # unsafe integer
        (b'"channel":"sms","draw"', b'"draw":"D1","channel":"sms","draw"'),  # order, dup
    ],
)
def test_non_canonical_or_non_ledger_json_never_passes(old, new):
    line = line_of(entry({}))[:-1]
    changed = line.replace(old, new, 1)
    assert changed != line
    try:
        problem = parse_line(changed)[10]
    except ValueError:
        return  # refused while parsing: also a finding at this line
    assert problem is not None


def test_plain_lines_take_the_fast_path_and_others_the_exact_one():
    plain = line_of(entry({"reason": "no answer in time", "n": [1, {"a": None}]}))[:-1]
    assert parse_fast(plain) is not None
    for extra in ({"reason": "中文"}, {"reason": 'say "hi"'}, {"reason": "a\tb"}):
        line = line_of(entry(extra))[:-1]
        assert parse_fast(line) is None and parse_line(line)[10] is None
