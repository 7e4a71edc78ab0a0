"""The four entropy kinds of draw.md §3: announcement objects, supplied values, E and the value
recorded in the ledger, checked against the shared vectors."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from expertdraw.domain.beacon import BeaconError
from expertdraw.domain.canonical import canonical
from expertdraw.domain.draw_seed import entropy_bytes
from expertdraw.domain.entropy import (
    Entropy,
    EntropyError,
    announce_beacon,
    announce_none,
    announce_public_lottery,
    announce_witness,
    check_announced,
    format_time,
    lottery_key,
    next_beacon_time,
    parse_time,
    take_beacon,
    take_entropy,
    take_none,
    take_public_lottery,
    take_witness,
)

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
EXAMPLE = json.loads((SHARED / "vectors" / "draw-example.json").read_text(encoding="utf-8"))
RFC3797 = json.loads((SHARED / "vectors" / "rfc3797.json").read_text(encoding="utf-8"))
BEACON = SHARED / "vectors" / "nist-beacon"
PULSE = (BEACON / "pulse-2-1921300.json").read_bytes()
CERT = (BEACON / "certificate-528943a5.pem").read_bytes()
OUTPUT = json.loads(PULSE)["pulse"]["outputValue"]

ANNOUNCED_AT = datetime(2026, 8, 31, 19, 2, 41, 250000, tzinfo=UTC)
WITNESS_2 = {"kind": "witness", "witnesses": 2}
BEACON_SPEC = {
    "kind": "beacon",
    "source": "nist-beacon-2.0",
    "not_before": "2026-08-31T19:04:00.000Z",
}
LOTTERY_SPEC = EXAMPLE["rfc3797_example"]["announced"]["entropy"]


def code_of(call) -> str:
    with pytest.raises(EntropyError) as caught:
        call()
    return caught.value.code


# ------------------------------------------------------------------ announcements


def test_announcement_objects_have_the_shapes_of_draw_md():
    assert announce_witness(2) == WITNESS_2
    assert announce_none() == {"kind": "none"}
    sources = ["Shanghai composite index close, 2026-12-02", "福利彩票 双色球, 2026-12-02"]
    assert announce_public_lottery(sources) == {"kind": "public-lottery", "sources": sources}
    not_before = next_beacon_time(ANNOUNCED_AT)
    assert announce_beacon(not_before, announced_at=ANNOUNCED_AT) == BEACON_SPEC
    for entropy in (WITNESS_2, BEACON_SPEC, LOTTERY_SPEC, {"kind": "none"}):
        assert check_announced(entropy, ANNOUNCED_AT) == entropy["kind"]
        assert canonical(entropy)  # a JSON value the ledger accepts


def test_the_example_announcements_are_valid():
    assert check_announced(EXAMPLE["announced"]["entropy"]) == "witness"
    assert check_announced(LOTTERY_SPEC) == "public-lottery"


@pytest.mark.parametrize(
    ("announced_at", "delay", "expected"),
    [
        (ANNOUNCED_AT, timedelta(minutes=1), datetime(2026, 8, 31, 19, 4, tzinfo=UTC)),
        (
            datetime(2026, 8, 31, 19, 3, tzinfo=UTC),
            timedelta(minutes=1),
            datetime(2026, 8, 31, 19, 4, tzinfo=UTC),
        ),
        (
            datetime(2026, 12, 3, 9, 0, tzinfo=timezone(timedelta(hours=8))),
            timedelta(seconds=1),
            datetime(2026, 12, 3, 1, 1, tzinfo=UTC),
        ),
    ],
)
def test_next_beacon_time_is_a_whole_minute_after_the_delay(announced_at, delay, expected):
    assert next_beacon_time(announced_at, delay) == expected
    assert next_beacon_time(announced_at, delay) > announced_at


@pytest.mark.parametrize(
    "not_before",
    [ANNOUNCED_AT, ANNOUNCED_AT - timedelta(minutes=1), ANNOUNCED_AT + timedelta(microseconds=500)],
    ids=["same time", "earlier", "same millisecond"],
)
def test_beacon_not_before_must_be_later_than_the_announcement(not_before):
    assert code_of(lambda: announce_beacon(not_before, announced_at=ANNOUNCED_AT)) == (
        "entropy:not-before"
    )
    spec = {**BEACON_SPEC, "not_before": format_time(not_before)}
    assert code_of(lambda: check_announced(spec, ANNOUNCED_AT)) == "entropy:not-before"


def test_naive_times_are_refused():
    naive = datetime(2026, 8, 31, 19, 4)
    assert code_of(lambda: announce_beacon(naive, announced_at=ANNOUNCED_AT)) == "entropy:time"
    assert code_of(lambda: next_beacon_time(naive)) == "entropy:time"
    assert code_of(lambda: next_beacon_time(ANNOUNCED_AT, timedelta(0))) == "entropy:format"


@pytest.mark.parametrize(
    ("entropy", "code"),
    [
        (None, "entropy:format"),
        ({"kind": "dice"}, "entropy:kind"),
        ({"witnesses": 2}, "entropy:kind"),
        ({"kind": "witness"}, "entropy:format"),
        ({"kind": "witness", "witnesses": 0}, "entropy:format"),
        ({"kind": "witness", "witnesses": True}, "entropy:format"),
        ({"kind": "witness", "witnesses": "2"}, "entropy:format"),
        ({"kind": "witness", "witnesses": 2, "names": ["x"]}, "entropy:format"),
        ({**BEACON_SPEC, "source": "drand"}, "entropy:format"),
        ({**BEACON_SPEC, "not_before": "2026-08-31T19:04:00Z"}, "entropy:time"),
        ({**BEACON_SPEC, "not_before": "2026-08-31T19:04:00.000+08:00"}, "entropy:time"),
        ({**BEACON_SPEC, "not_before": "2026-02-30T19:04:00.000Z"}, "entropy:time"),
        ({**BEACON_SPEC, "not_before": 1788203040000}, "entropy:time"),
        ({"kind": "public-lottery", "sources": []}, "entropy:format"),
        ({"kind": "public-lottery", "sources": ["ok", " "]}, "entropy:format"),
        ({"kind": "public-lottery", "sources": "one"}, "entropy:format"),
        ({"kind": "none", "value": ""}, "entropy:format"),
    ],
)
def test_a_malformed_announcement_is_refused(entropy, code):
    assert code_of(lambda: check_announced(entropy)) == code


def test_announce_helpers_validate_their_input():
    assert code_of(lambda: announce_witness(0)) == "entropy:format"
    assert code_of(lambda: announce_public_lottery([])) == "entropy:format"
    assert code_of(lambda: announce_public_lottery([""])) == "entropy:format"


def test_times_are_written_as_ledger_times():
    local = datetime(2026, 12, 3, 9, 0, 0, 123456, tzinfo=timezone(timedelta(hours=8)))
    assert format_time(local) == "2026-12-03T01:00:00.123Z"
    assert parse_time("2026-12-03T01:00:00.123Z") == datetime(2026, 12, 3, 1, 0, 0, 123000, UTC)


# ------------------------------------------------------------------------ witness


def test_witness_values_give_the_canonical_list_in_the_order_entered():
    values = EXAMPLE["witness_values"]
    result = take_witness(WITNESS_2, [("sup-7", values[0]), ("sup-2", values[1])])
    assert result == Entropy(canonical(values), values)
    assert result.e.hex() == EXAMPLE["intermediate"]["E_hex"]
    assert EXAMPLE["intermediate"]["seed_preimage_hex"].endswith(result.e.hex())
    assert result.value == EXAMPLE["completed"]["entropy_value"]
    e, value = result
    assert (e, value) == (result.e, result.value)


def test_witness_values_are_used_as_typed():
    result = take_witness(
        {"kind": "witness", "witnesses": 3}, [("a", " 7 "), ("b", "见证"), ("c", "7")]
    )
    assert result.value == [" 7 ", "见证", "7"]
    assert result.e == '[" 7 ","见证","7"]'.encode()


@pytest.mark.parametrize(
    ("entries", "code"),
    [
        ([("sup-1", "31415")], "entropy:witness-count"),
        ([("sup-1", "1"), ("sup-2", "2"), ("sup-3", "3")], "entropy:witness-count"),
        ([("sup-1", "31415"), ("sup-1", "27182")], "entropy:witness-duplicate"),
        ([("sup-1", "31415"), ("", "27182")], "entropy:witness-id"),
        ([("sup-1", "31415"), (None, "27182")], "entropy:witness-id"),
        ([("sup-1", "31415"), ("sup-2", "")], "entropy:witness-empty"),
        ([("sup-1", " \t"), ("sup-2", "27182")], "entropy:witness-empty"),
        ([("sup-1", 31415), ("sup-2", "27182")], "entropy:witness-value"),
        ([("sup-1", "x" * 1001), ("sup-2", "27182")], "entropy:witness-value"),
        ([("sup-1", "\ud800"), ("sup-2", "27182")], "entropy:witness-value"),
        ([("sup-1",), ("sup-2", "27182")], "entropy:format"),
        ("31415, 27182", "entropy:format"),
    ],
)
def test_bad_witness_values_are_refused(entries, code):
    assert code_of(lambda: take_witness(WITNESS_2, entries)) == code


# ------------------------------------------------------------------------- beacon


def test_a_verified_pulse_gives_its_output_value():
    result = take_beacon(BEACON_SPEC, PULSE, CERT)
    assert result.e == bytes.fromhex(OUTPUT)
    assert len(result.e) == 64
    assert result.value == OUTPUT.lower()
    assert len(result.value) == 128


@pytest.mark.parametrize(
    ("not_before", "code"),
    [
        ("2026-08-31T19:04:00.001Z", "entropy:beacon-too-early"),
        ("2026-08-31T19:03:00.000Z", "entropy:beacon-not-first"),
        ("2026-08-31T18:00:00.000Z", "entropy:beacon-not-first"),
    ],
)
def test_the_pulse_must_be_the_first_at_or_after_not_before(not_before, code):
    spec = {**BEACON_SPEC, "not_before": not_before}
    assert code_of(lambda: take_beacon(spec, PULSE, CERT)) == code


def test_a_pulse_that_does_not_verify_is_refused_with_the_beacon_reason():
    obj = json.loads(PULSE)
    obj["pulse"]["localRandomValue"] = "0" + obj["pulse"]["localRandomValue"][1:]
    with pytest.raises(EntropyError) as caught:
        take_beacon(BEACON_SPEC, obj, CERT)
    assert caught.value.code == "entropy:beacon-signature"
    assert isinstance(caught.value.__cause__, BeaconError)
    assert code_of(lambda: take_beacon(BEACON_SPEC, b"{}", CERT)) == "entropy:beacon-format"
    assert code_of(lambda: take_beacon(BEACON_SPEC, PULSE, b"")) == "entropy:beacon-certificate"


# ---------------------------------------------------------------- public lottery


def test_the_rfc3797_key_string_of_the_rfc_example():
    assert lottery_key(RFC3797["sources"]) == RFC3797["key_string"]
    result = take_public_lottery(LOTTERY_SPEC, EXAMPLE["rfc3797_example"]["sources"])
    assert result.value == EXAMPLE["rfc3797_example"]["completed"]["entropy_value"]
    assert result.e == RFC3797["key_string"].encode("ascii")
    assert result.e.hex() == EXAMPLE["rfc3797_example"]["intermediate"]["E_hex"]


@pytest.mark.parametrize(
    ("sources", "key"),
    [
        ([[3, 1, 2]], "1.2.3./"),
        ([[0], [10, 9]], "0./9.10./"),
        ([[5, 5, 1]], "1.5.5./"),
        ([(2**70,)], f"{2**70}./"),
    ],
)
def test_key_strings_sort_each_source_and_keep_repeats(sources, key):
    assert lottery_key(sources) == key


@pytest.mark.parametrize(
    ("sources", "code"),
    [
        ([[9319], [2, 5]], "entropy:lottery-count"),
        ([[9319], [2], [9], [1]], "entropy:lottery-count"),
        ("9319./2./9./", "entropy:lottery-count"),
        ([[9319], [], [9]], "entropy:lottery-empty"),
        ([[9319], "25", [9]], "entropy:lottery-empty"),
        ([[9319], [-2], [9]], "entropy:lottery-number"),
        ([[9319], [True], [9]], "entropy:lottery-number"),
        ([[9319], [2.0], [9]], "entropy:lottery-number"),
        ([[9319], ["02"], [9]], "entropy:lottery-number"),
    ],
)
def test_bad_lottery_numbers_are_refused(sources, code):
    assert code_of(lambda: take_public_lottery(LOTTERY_SPEC, sources)) == code


# ------------------------------------------------------------------- none, dispatch


def test_none_is_empty():
    assert take_none({"kind": "none"}) == Entropy(b"", "")


def test_take_entropy_dispatches_on_the_announced_kind():
    pairs = [("s1", "31415"), ("s2", "zt-2026-12-03-A")]
    assert take_entropy(WITNESS_2, pairs) == take_witness(WITNESS_2, pairs)
    assert take_entropy(BEACON_SPEC, PULSE, certificate_pem=CERT) == take_beacon(
        BEACON_SPEC, PULSE, CERT
    )
    assert take_entropy(LOTTERY_SPEC, RFC3797["sources"]).value == RFC3797["key_string"]
    assert take_entropy({"kind": "none"}, None) == Entropy(b"", "")


def test_take_entropy_refusals():
    assert code_of(lambda: take_entropy(BEACON_SPEC, PULSE)) == "entropy:beacon-certificate"
    assert code_of(lambda: take_entropy({"kind": "none"}, "31415")) == "entropy:none-value"
    assert code_of(lambda: take_entropy({"kind": "coin"}, None)) == "entropy:kind"


def test_a_value_for_another_kind_is_refused():
    assert code_of(lambda: take_witness(BEACON_SPEC, [])) == "entropy:kind"
    assert code_of(lambda: take_beacon(WITNESS_2, PULSE, CERT)) == "entropy:kind"
    assert code_of(lambda: take_public_lottery(WITNESS_2, [[1]])) == "entropy:kind"
    assert code_of(lambda: take_none(WITNESS_2)) == "entropy:kind"


def test_e_agrees_with_what_the_draw_replays_from_the_recorded_value():
    cases = [
        (WITNESS_2, take_witness(WITNESS_2, [("s1", "31415"), ("s2", "zt-2026-12-03-A")])),
        (BEACON_SPEC, take_beacon(BEACON_SPEC, PULSE, CERT)),
        (LOTTERY_SPEC, take_public_lottery(LOTTERY_SPEC, RFC3797["sources"])),
        ({"kind": "none"}, take_none({"kind": "none"})),
    ]
    for entropy, result in cases:
        assert entropy_bytes(entropy, result.value) == result.e
