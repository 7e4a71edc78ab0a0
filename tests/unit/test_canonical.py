"""Canonical JSON (ledger.md §1): RFC 8785 for the values an entry may hold."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from expertdraw.domain.canonical import MAX_SAFE_INTEGER, CanonicalError, canonical

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER)
    | st.text(st.characters(exclude_categories=["Cs"])),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(st.characters(exclude_categories=["Cs"])), children, max_size=4)
    ),
    max_leaves=20,
)


def test_ascii_objects_equal_python_sorted_compact_json():
    value = {"b": [1, True, None, "x/y"], "a": {"z": -5, "é": "中文\n\u007f"}}
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert canonical(value) == expected.encode()


def test_keys_sort_by_utf16_code_units_as_rfc_8785_section_3_2_3():
    keys = ["\u20ac", "\r", "\ufb33", "1", "\U0001f600", "\u0080", "\u00f6"]
    value = {k: i for i, k in enumerate(keys)}
    order = [k for k, _ in json.loads(canonical(value)).items()]
    assert order == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


def test_control_characters_are_escaped_like_json_stringify():
    assert canonical(['\b\t\n\f\r\u0001\u001f"\\']) == b'["\\b\\t\\n\\f\\r\\u0001\\u001f\\"\\\\"]'


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ({"a": 1.0}, "$.a"),
        ({"a": [2**53]}, "$.a[0]"),
        ({"a": [-(2**53)]}, "$.a[0]"),
        ({1: 2}, "$"),
        ({"a": (1,)}, "$.a"),
        ({"a": {"b": float("nan")}}, "$.a.b"),
        ({"a": b"x"}, "$.a"),
    ],
)
def test_refuses_what_entries_may_not_hold_and_names_the_path(value, path):
    with pytest.raises(CanonicalError) as caught:
        canonical(value)
    assert str(caught.value).startswith(path + ":")
    assert caught.value.code == "canonical:invalid"


def test_refuses_lone_surrogates_and_values_that_contain_themselves():
    with pytest.raises(CanonicalError):
        canonical({"a": "\ud800"})
    loop: list = []
    loop.append(loop)
    with pytest.raises(CanonicalError):
        canonical(loop)


def test_shared_subvalues_and_safe_integer_limits_are_fine():
    shared = [1]
    assert canonical({"a": shared, "b": shared}) == b'{"a":[1],"b":[1]}'
    assert (
        canonical([MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER]) == b"[9007199254740991,-9007199254740991]"
    )


@given(json_values)
def test_round_trips_and_matches_sorted_dumps_for_bmp_keys(value):
    data = canonical(value)
    assert json.loads(data) == value
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if not any(ord(c) > 0xFFFF for c in text):  # else only the key order may differ
        assert data == text.encode()
