"""keys.txt and checkpoints.txt (ledger.md §5)."""

from __future__ import annotations

import pytest

from expertdraw.domain.ledger import LedgerError
from expertdraw.domain.ledger_files import (
    KeyRange,
    TrustList,
    format_checkpoints,
    format_keys_txt,
    parse_keys_txt,
    read_keys_txt,
    split_checkpoints,
)
from expertdraw.domain.notes import NoteSigner

A = NoteSigner.from_seed("log.example/a", bytes(32)).verifier
B = NoteSigner.from_seed("log.example/b", bytes([1]) * 32).verifier
C = NoteSigner.from_seed("log.example/c", bytes([2]) * 32).verifier


def test_keys_txt_round_trips_and_the_trust_list_finds_the_key_for_each_seq():
    ranges = [KeyRange(A, 0, 41), KeyRange(B, 42, 99), KeyRange(C, 100)]
    text = format_keys_txt(ranges)
    assert text == f"{A} 0 41\n{B} 42 99\n{C} 100\n"
    assert parse_keys_txt(text) == ranges
    trust = TrustList(ranges)
    assert trust.key_at(0).key == A and trust.key_at(41).key == A
    assert trust.key_at(42).key == B and trust.key_at(10**9).key == C
    assert trust.known_keys() == [A, B, C]


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (f"{A} 1\n", 1),  # must start at 0
        (f"{A} 0 41\n{B} 43\n", 2),  # gap
        (f"{A} 0 41\n{B} 41\n", 2),  # overlap
        (f"{A} 0\n{B} 1\n", 1),  # only the last may be open
        (f"{A} 0 5\n", 1),  # the last must be open
        (f"{A} 0 5\n{B} 6", 2),  # no final newline
        (f"{A}  0\n", 1),  # two spaces
        (f"{A} 00\n", 1),  # leading zero
        (f"{A} 5 3\n{B} 4\n", 1),  # ends before it starts
        (f"{str(A).replace('+', '-', 1)} 0\n", 1),
    ],
)
def test_bad_keys_txt_names_the_line(text, line):
    _, problems = read_keys_txt(text)
    assert problems and problems[0][0] == line
    with pytest.raises(LedgerError) as caught:
        parse_keys_txt(text)
    assert caught.value.code == "ledger:keys"


def test_checkpoints_txt_separates_notes_with_a_dash_line_and_ends_with_a_newline():
    notes = ["a\n\n— k AAAA\n", "b\n\n— k BBBB\n", "c\n\n— k CCCC\n"]
    data = format_checkpoints(notes).encode()
    expected = b"a\n\n\xe2\x80\x94 k AAAA\n---\nb\n\n\xe2\x80\x94 k BBBB\n---\n"
    assert data == expected + b"c\n\n\xe2\x80\x94 k CCCC\n"
    assert split_checkpoints(data) == ([n.encode() for n in notes], True)
    assert split_checkpoints(data[:-1]) == ([n.encode() for n in notes], False)
    assert split_checkpoints(b"") == ([], True)
