"""RFC 3797 mode (draw.md §7): the RFC's own example from shared/vectors/rfc3797.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from expertdraw.domain import rfc3797
from expertdraw.domain.draw import DrawError, lottery_entropy


@pytest.fixture(scope="module")
def vector(shared_dir: Path) -> dict[str, Any]:
    return json.loads((shared_dir / "vectors" / "rfc3797.json").read_text("utf-8"))


def test_key_string_sorts_each_source_and_ends_it_with_a_slash(vector: dict[str, Any]) -> None:
    assert rfc3797.key_string(vector["sources"]) == vector["key_string"]
    assert rfc3797.key_string([[0, 7, 7], [10]]) == "0.7.7./10./"


def test_every_pick_of_the_rfc_example(vector: dict[str, Any]) -> None:
    picks = rfc3797.picks(vector["key_string"], vector["pool_size"], len(vector["picks"]))
    assert [p.as_dict() for p in picks] == vector["picks"]


def test_pick_digest_is_md5_of_index_key_index(vector: dict[str, Any]) -> None:
    first = vector["picks"][0]
    assert rfc3797.pick_digest(vector["key_string"], 0).hex().upper() == first["md5_hex"]


def test_selection_order_is_zero_based_and_stops_at_the_pool() -> None:
    key = "9319./2.5.8.10.12./9.18.26.34.41.45./"
    assert rfc3797.selection_order(key, 25, 3) == [16, 6, 1]
    assert sorted(rfc3797.selection_order(key, 4, 10)) == [0, 1, 2, 3]


def test_lottery_entropy_is_the_key_string_in_ascii(vector: dict[str, Any]) -> None:
    assert lottery_entropy(vector["key_string"]) == vector["key_string"].encode("ascii")


@pytest.mark.parametrize(
    "sources",
    [[], [[]], [[1, -2]], [[1.5]], [[True]], ["123"]],
)
def test_bad_sources_are_refused(sources: Any) -> None:
    with pytest.raises(DrawError) as caught:
        rfc3797.key_string(sources)
    assert caught.value.code == "invalid:lottery"


def test_a_well_formed_key_string_is_accepted() -> None:
    assert rfc3797.check_key_string("0.1.1./7./") == "0.1.1./7./"


@pytest.mark.parametrize("key", ["", "1.", "1.2", "01./", "3.2./", "1..2./", "a./", 5])
def test_malformed_key_strings_are_refused(key: Any) -> None:
    with pytest.raises(DrawError) as caught:
        rfc3797.check_key_string(key)
    assert caught.value.code == "invalid:lottery"


def test_the_pick_index_must_fit_sixteen_bits() -> None:
    with pytest.raises(DrawError):
        rfc3797.pick_digest("1./", 1 << 16)
