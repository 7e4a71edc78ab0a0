"""Validation of unified social credit codes, identity numbers, regions and draw ids."""

from __future__ import annotations

import pytest

from expertdraw.domain.codes import (
    USCC_ALPHABET,
    CodeError,
    id_check_char,
    prefecture_of,
    province_of,
    uscc_check_char,
    validate_id,
    validate_id_number,
    validate_region,
    validate_uscc,
)

# Published codes: the example of GB 32100-2015 and a well-known company's code.
PUBLISHED_USCC = ("91350100M000100Y43", "91440300708461136T")
# The example of GB 11643-1999 (check character X) and a code ending in a digit.
PUBLISHED_ID = ("11010519491231002X", "440524188001010014")


@pytest.mark.parametrize("code", PUBLISHED_USCC)
def test_published_unified_social_credit_codes_are_accepted(code):
    assert uscc_check_char(code[:17]) == code[17]
    assert validate_uscc(code) == code


@pytest.mark.parametrize("code", PUBLISHED_USCC)
def test_every_other_check_character_is_refused(code):
    for wrong in USCC_ALPHABET:
        if wrong == code[17]:
            continue
        with pytest.raises(CodeError) as caught:
            validate_uscc(code[:17] + wrong)
        assert caught.value.code == "invalid:uscc"
        assert "check character" in str(caught.value)


def test_a_changed_body_character_is_caught_by_the_check_character():
    code = PUBLISHED_USCC[0]
    changed = code[:9] + ("1" if code[9] != "1" else "2") + code[10:]
    with pytest.raises(CodeError, match="check character"):
        validate_uscc(changed)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("91350100M000100Y4", "18 characters"),
        ("91350100M000100Y433", "18 characters"),
        ("91350100M0001O0Y43", "not allowed"),  # letter O is not in the alphabet
        ("91350100I000100Y43", "not allowed"),  # nor is I
    ],
)
def test_malformed_unified_social_credit_codes_are_refused(value, reason):
    with pytest.raises(CodeError, match=reason):
        validate_uscc(value)


def test_unified_social_credit_codes_are_normalised_to_upper_case():
    assert validate_uscc(" 91350100m000100y43 ") == "91350100M000100Y43"


@pytest.mark.parametrize("number", PUBLISHED_ID)
def test_published_identity_numbers_are_accepted(number):
    assert id_check_char(number[:17]) == number[17]
    assert validate_id_number(number) == number


@pytest.mark.parametrize("number", PUBLISHED_ID)
def test_identity_numbers_with_a_wrong_check_digit_are_refused(number):
    for wrong in "0123456789X":
        if wrong == number[17]:
            continue
        with pytest.raises(CodeError) as caught:
            validate_id_number(number[:17] + wrong)
        assert caught.value.code == "invalid:id-number"


def test_identity_numbers_accept_a_lower_case_x():
    assert validate_id_number("11010519491231002x") == "11010519491231002X"


@pytest.mark.parametrize("value", ["1101051949123100", "1101051949123100A2", "ABCDEFGHIJKLMNOPQR"])
def test_malformed_identity_numbers_are_refused(value):
    with pytest.raises(CodeError):
        validate_id_number(value)


def test_region_codes_are_six_digits_and_belong_to_a_prefecture_and_province():
    assert validate_region("530602") == "530602"
    assert prefecture_of("530602") == "530600"
    assert province_of("530602") == "530000"
    for bad in ("53060", "5306021", "053060", "53O602"):
        with pytest.raises(CodeError):
            validate_region(bad)


def test_draw_ids_allow_only_the_spec_characters():
    assert validate_id("V530602-R01-W01") == "V530602-R01-W01"
    for bad in ("", "V530602 R01", "评标室", "V/1"):
        with pytest.raises(CodeError):
            validate_id(bad)


FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


@pytest.mark.parametrize("number", PUBLISHED_ID)
def test_identity_numbers_take_ascii_digits_only(number):
    """The same person's number written in full-width or superscript digits is refused, not
    read as another number (it would hash differently and make one person two experts)."""
    with pytest.raises(CodeError):
        validate_id_number(number[:17].translate(FULL_WIDTH) + number[17])
    with pytest.raises(CodeError):
        validate_id_number(number[:16] + "²" + number[17])
    with pytest.raises(CodeError):
        validate_region("５３０６０２")
