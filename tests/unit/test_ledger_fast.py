"""The audit's fast path (bundle_fast) only ever confirms what the line-by-line check finds."""

from __future__ import annotations

import base64
import hashlib
import json
import random
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from expertdraw.domain.bundle_fast import scan_fast
from expertdraw.domain.bundle_scan import ScanContext, scan_chunk
from expertdraw.domain.canonical import canonical
from expertdraw.domain.ledger import ZERO_PREV, record_line
from tests.unit.ledger_factory import audit, lines, small_bundle, write_lines

ORIGIN = "ledger.example"
KEY_ID = bytes.fromhex("0a0b0c0d")
CTX = ScanContext(ORIGIN, ((0, None, KEY_ID, bytes(32)),), level=4)
SIG = base64.b64decode("A" * 86 + "==")
values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
extras = st.dictionaries(st.text(min_size=1, max_size=5), values, max_size=3)
BODIES = [
    (
        "pool.changed",
        {"expert": "E0000001", "field": "status", "from": "a", "to": "b", "reason": "x"},
    ),
    ("notice.sent", {"draw": "D2026-000001", "notice": "N1", "expert": "E1", "channel": "sms"}),
    (
        "inspection.drawn",
        {"inspection": "I1", "targets": ["E1"], "inspectors": ["U7"], "seed": "ab"},
    ),
    ("list.opened", {"draw": "D2026-000001", "by": "U0009", "purpose": "evaluation"}),
]


def chunk(start: int, bodies: list[tuple[str, dict]], prev: str = ZERO_PREV) -> list[bytes]:
    """Valid lines from ``start``: the chain of leaves, one key, a well-formed signature."""
    out = []
    for seq, (kind, body) in enumerate(bodies, start):
        entry = {
            "v": 1,
            "log": ORIGIN,
            "seq": seq,
            "time": f"2026-11-27T09:{seq // 60 % 60:02d}:{seq % 60:02d}.000Z",
            "type": "log.created" if seq == 0 else kind,
            "actor": {"role": "system", "id": "scheduler"},
            "prev": prev,
            "body": {"origin": ORIGIN, "key": "k"} if seq == 0 else body,
        }
        data = canonical(entry)
        leaf = hashlib.sha256(b"\x00" + data).digest()
        out.append(record_line(data, KEY_ID, leaf, SIG))
        prev = leaf.hex()
    return out


def relink(lines_: list[bytes], start: int = 0) -> list[bytes]:
    """Recompute each line's leaf and the next line's prev (a forger's chain)."""
    out, prev = [], None
    for line in lines_:
        if prev is not None and b'"prev":"' in line:
            i = line.index(b'"prev":"') + 8
            line = line[:i] + prev + line[i + 64 :]
        if line.startswith(b'{"entry":') and line[-164:-100].isalnum() and len(line) > 200:
            leaf = hashlib.sha256(b"\x00" + line[9:-190]).hexdigest().encode()
            line = line[:-164] + leaf + line[-100:]
            prev = leaf
        out.append(line)
    return out


def agree(start: int, data: bytes, sizes: frozenset[int] = frozenset()) -> None:
    """The fast path declines, or gives exactly the line-by-line result of a clean chunk."""
    fast, slow = scan_fast(CTX, start, data, sizes), scan_chunk(CTX, start, data, sizes)
    assert fast is None or (fast == slow and not slow.problems and not slow.broken)


@settings(max_examples=150, deadline=None)
@given(st.lists(extras, min_size=1, max_size=16), st.sampled_from([0, 16, 4096]))
def test_valid_chunks_with_any_extra_members_agree(extra, start):
    bodies = [(kind, {**body, **e}) for (kind, body), e in zip(BODIES * 4, extra, strict=False)]
    data = b"".join(chunk(start, bodies))
    sizes = frozenset(range(start + 1, start + len(bodies) + 1, 3))
    agree(start, data, sizes)
    if all(json.dumps(e, ensure_ascii=False).isascii() for e in extra):
        assert scan_fast(CTX, start, data, sizes) is not None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_changed_byte_with_the_chain_rewritten_is_never_confirmed_wrongly(data):
    start = data.draw(st.sampled_from([0, 16]))
    good = chunk(start, BODIES * 4)
    k = data.draw(st.integers(0, len(good) - 1))
    line = bytearray(good[k])
    line[data.draw(st.integers(0, len(line) - 2))] ^= data.draw(st.integers(1, 255))
    changed = [*good[:k], bytes(line), *good[k + 1 :]]
    if data.draw(st.booleans()):
        changed = relink(changed)
    agree(start, b"".join(changed))


EDITS = [
    (b'"to":"b"', b'"to": "b"'),  # a blank
    (b'"to":"b"', b'"to":"\\u0062"'),  # an escape that is not canonical
    (b'"to":"b"', b'"to":"b","a":1'),  # keys out of order
    (b'"to":"b"', b'"to":"b","to":"b"'),  # a key twice
    (b'"to":"b"', b'"to":1.0'),  # a float
    (b'"to":"b"', b'"to":9007199254740992'),  # beyond 2^53-1
    (b'"to":"b"', b'"to":-0'),
    (b'"to":"b"', b'"to":"b","\xef\xbf\xbf":1,"\xf0\x9f\x98\x80":2'),  # not in UTF-16 order
    (b'"to":"b"', b'"to":{"b":1,"a":2}'),  # inner keys out of order
    (b'"reason":"x"', b'"reason":"x\\"y"'),  # an escaped quote, canonical: compared encoded
    (b'"field":"status",', b""),  # a required member missing
    (b'"expert":"E0000001",', b'"expert":"E0000001","extra":[{"b":1,"a":2}],'),
    (b'.000Z"', b'.000z"'),
    (b"T09:00:20", b"T24:00:20"),
    (b'"sig":"A', b'"sig":"='),
    (b'"key":"0a0b0c0d"', b'"key":"0a0b0c0e"'),
    (b'"v":1', b'"v":2'),
    (b'"v":1', b'"v":true'),
    (b'"role":"system"', b'"role":"sys\\u0074em"'),
    (b'"type":"pool.changed"', b'"type":"pool.Changed"'),
    (b'"seq":20', b'"seq":020'),
]


@pytest.mark.parametrize(("old", "new"), EDITS)
def test_edited_lines_go_to_the_line_by_line_check(old, new):
    good = chunk(16, BODIES * 4)
    assert old in good[4], old
    changed = relink([*good[:4], good[4].replace(old, new, 1), *good[5:]])
    fast = scan_fast(CTX, 16, b"".join(changed))
    slow = scan_chunk(CTX, 16, b"".join(changed))
    if new == b'"reason":"x\\"y"':  # canonical after all: escapes are compared encoded
        assert fast == slow and not slow.problems
    else:
        assert fast is None and slow.problems


def test_the_first_line_of_a_chunk_must_hold_a_leaf_hash_as_prev():
    good = chunk(16, BODIES * 4, prev="0" * 64)
    bad = relink([good[0].replace(b'"prev":"' + b"0" * 64, b'"prev":"' + b"G" * 64), *good[1:]])
    assert scan_fast(CTX, 16, b"".join(bad)) is None
    assert scan_chunk(CTX, 16, b"".join(bad)).problems


@pytest.mark.parametrize("level", [2, 4, 6])
def test_a_misleading_seq_sends_the_pass_back_to_reading_lines(tmp_path, level):
    """The workers' chunks are found by their seq: a forged seq must not shift them."""
    small_bundle(tmp_path / "a", 200)
    old = lines(tmp_path / "a")
    rng = random.Random(level)
    for _ in range(4):
        folder = tmp_path / f"b{rng.random()}"
        shutil.copytree(tmp_path / "a", folder)
        k = rng.randrange(20, 190)
        forged = old[k].replace(b'"seq":%d,' % k, b'"seq":%d,' % rng.choice([k + 1, k - 1, 64]))
        edit = relink([*old[:k], forged, *old[k + 1 :]])
        if rng.random() < 0.5:  # and a line missing further on
            edit = [*edit[: k + 5], *edit[k + 6 :]]
        write_lines(folder, edit)
        serial = audit(folder, workers=1, level=level)
        parallel = audit(folder, workers=2, level=level)
        assert not serial.ok and serial.first.seq is not None
        assert [str(p) for p in serial.problems] == [str(p) for p in parallel.problems]
        assert serial.summary["entries"] == parallel.summary["entries"]
