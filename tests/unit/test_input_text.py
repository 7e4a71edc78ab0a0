"""What text bound for the ledger may carry: no identity number, mobile number or e-mail
address however it is written; dates, times and lottery issue numbers are no personal data."""

from __future__ import annotations

import re
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from expertdraw.input_text import carries_personal_data

SEPARATORS = st.sampled_from(["", " ", "-", ".", " - ", "·"])


def _spaced(digits: str, cuts: list[int], separator: str) -> str:
    """``digits`` with ``separator`` at the positions ``cuts``."""
    out, last = [], 0
    for cut in sorted(set(cuts)):
        out.append(digits[last:cut])
        last = cut
    out.append(digits[last:])
    return separator.join(part for part in out if part)


@given(
    st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),
    st.lists(st.integers(1, 10), max_size=3),
    SEPARATORS,
    st.sampled_from(["", "+86 ", "0086"]),
)
def test_a_mobile_number_is_found_however_it_is_spaced(number, cuts, separator, prefix):
    assert carries_personal_data(f"联系人 {prefix}{_spaced(number, cuts, separator)} 王")


@given(
    st.from_regex(r"[1-6][0-9]{16}[0-9X]", fullmatch=True),
    st.lists(st.integers(1, 17), max_size=3),
    SEPARATORS,
)
def test_an_identity_number_is_found_however_it_is_spaced(number, cuts, separator):
    assert carries_personal_data(_spaced(number, cuts, separator))


@given(
    st.integers(1, 9999999),
    st.dates(min_value=date(1900, 1, 1), max_value=date(2099, 12, 31)),
    st.sampled_from(["%Y-%m-%d", "%Y/%m/%d", "%Y年%m月%d日"]),
    st.sampled_from(["", " 21:30", " 20:30:00"]),
)
def test_a_lottery_issue_number_with_its_date_is_no_personal_data(issue, day, form, time):
    """draw.md §3.1: a source is "a description and a date"; an issue number next to a date
    would read as a 15-digit identity number if the date's separators were taken out."""
    when = day.strftime(form).replace("年0", "年").replace("月0", "月")
    assert not carries_personal_data(f"福利彩票 双色球 {issue} {when}{time}")
    assert not carries_personal_data(f"体育彩票 {when} 第{issue}期{time}")


@pytest.mark.parametrize(
    "text",
    ["witness@example.cn", "见证人：王伟 wangwei@gov.cn", "ID 530102197503120011", "13812345678"],
)
def test_addresses_and_numbers_written_plainly_are_found(text):
    assert carries_personal_data(text)


@given(
    st.from_regex(r"[1-6][0-9]{5}", fullmatch=True),
    st.dates(min_value=date(1930, 1, 1), max_value=date(2010, 12, 31)),
    st.from_regex(r"[0-9]{3}[0-9X]", fullmatch=True),
    st.sampled_from(["%Y-%m-%d", "%Y.%m.%d", "%Y/%m/%d", "%Y年%m月%d日"]),
    st.booleans(),
)
def test_an_identity_number_with_its_birth_date_written_as_a_date_is_found(
    region, born, rest, form, unpadded
):
    """An identity number is region, birth date and sequence: written in those three groups,
    the date punctuated, it is still found (a date beside a number is set apart only when it
    is not the number's own birth date)."""
    when = born.strftime(form)
    if unpadded:
        when = re.sub(r"(?<=[-./年月])0(?=[0-9])", "", when)
    assert carries_personal_data(f"见证 {region} {when} {rest}")


@given(
    st.from_regex(r"[1-6][0-9]{16}[0-9X]|1[3-9][0-9]{9}", fullmatch=True),
    st.lists(st.integers(1, 10), min_size=1, max_size=3),
    st.sampled_from(["\u200b", "\u00ad", "\u200d", "\u2060", "\ufeff", "\u202e", "\u0301"]),
)
def test_a_number_split_by_characters_nobody_sees_is_found(number, cuts, unseen):
    """A zero-width space, a soft hyphen or a combining mark between the digits shows the
    number as it is on every page; the ledger would keep it for ever."""
    assert carries_personal_data(f"理由 {_spaced(number, cuts, unseen)}")


@pytest.mark.parametrize(
    "text",
    [
        "联系 138 12:34 5678",  # a mobile number with a time of day in the middle
        "联系 1381-2-34 5678",  # no such date: its dashes are a number's
        "5306021980 05:17 0012",  # an identity number split by a time
    ],
)
def test_a_number_split_by_a_date_or_time_word_is_found(text):
    assert carries_personal_data(text)


@pytest.mark.parametrize(
    "text",
    [
        "联系 138–1234–5678",  # en dash
        "联系 138—1234—5678",  # em dash
        "联系 138‐1234‐5678",  # hyphen U+2010
        "联系 138/1234/5678",
        "联系 138_1234_5678",
        "联系 138,1234,5678",
        "联系 138、1234、5678",
        "身份证 110101–19900307–1234",
        "身份证 1101011990年3月7日1234",
        "联系 一三八一二三四五六七八",
        "张三 电话 壹叁捌壹贰叁肆伍陆柒捌",
        "邮箱 wangwei @ gov.cn",
        "邮箱 wangwei @ gov . cn",
        "联系 幺三八幺二三四五六七八",  # 幺: the 1 of a number read out
        "监督人手机 幺三八 幺二三四 五六七八",
    ],
)
def test_a_number_punctuated_or_written_otherwise_is_found(text):
    assert carries_personal_data(text)


@pytest.mark.parametrize(
    "text",
    ["张三 李四 王五 三人见证", "双色球 第2027053期 2027年5月3日 开奖号码 3,15,22,28,30,33"],
)
def test_names_with_numerals_and_lottery_numbers_are_no_personal_data(text):
    assert not carries_personal_data(text)
