"""The notice text says when, where, the seat, the check-in code and the specialty; no more."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone

import pytest

from expertdraw.domain.notice_text import (
    DEFAULT_WHAT_TO_BRING,
    NoticeContent,
    render,
    sms_text,
)

START = datetime(2026, 12, 3, 1, 0, tzinfo=UTC)  # 09:00 Beijing time, a Thursday


def _content(**changes: object) -> NoticeContent:
    base = NoticeContent(
        notice_id="NQ7K2001",
        window_start=START,
        window_end=START + timedelta(hours=8),
        venue_name="昭通市公共资源交易中心",
        venue_address="云南省昭通市昭阳区政务服务中心大楼5楼（评标区）",
        room_id="V530602-R01",
        workstation_id="V530602-R01-W03",
        check_in_code="K7M2P-Q9X4R",
        specialty_code="A01",
        specialty_name="房屋建筑工程",
        response_due=START - timedelta(hours=16, minutes=30),
    )
    return dataclasses.replace(base, **changes)


def test_a_notice_can_hold_only_the_fields_the_rules_allow():
    # Widening this list widens what every expert is told: rules.md "Notices and answers".
    assert [f.name for f in dataclasses.fields(NoticeContent)] == [
        "notice_id",
        "window_start",
        "window_end",
        "venue_name",
        "venue_address",
        "room_id",
        "workstation_id",
        "check_in_code",
        "specialty_code",
        "specialty_name",
        "response_due",
        "utc_offset",
        "what_to_bring",
    ]


def test_chinese_notice_shows_date_window_place_seat_code_specialty_and_deadline():
    subject, body = render(_content(), "zh")
    assert "NQ7K2001" in subject
    for expected in (
        "评标日期：2026年12月3日（星期四）",
        "评标时段：09:00–17:00（北京时间，UTC+08:00）",
        "评标场地：昭通市公共资源交易中心",
        "场地地址：云南省昭通市昭阳区政务服务中心大楼5楼（评标区）",
        "评标室：V530602-R01",
        "评标工位：V530602-R01-W03",
        "签到码：K7M2P-Q9X4R",
        "抽取专业：A01 房屋建筑工程",
        f"携带物品：{DEFAULT_WHAT_TO_BRING['zh']}",
        "答复截止：12月2日 16:30（北京时间，UTC+08:00）",
    ):
        assert expected in body


def test_english_notice_names_the_same_facts():
    subject, body = render(_content(), "en")
    assert subject == "Evaluation expert notice NQ7K2001"
    for expected in (
        "Evaluation date: Thursday 3 December 2026",
        "Evaluation window: 09:00–17:00 (Beijing time, UTC+08:00)",
        "Room: V530602-R01",
        "Workstation: V530602-R01-W03",
        "Check-in code: K7M2P-Q9X4R",
        "Specialty: A01 房屋建筑工程",
        "Answer by: 16:30 on 2 December 2026 (Beijing time, UTC+08:00)",
        DEFAULT_WHAT_TO_BRING["en"],
    ):
        assert expected in body


def test_a_window_over_midnight_names_both_days():
    content = _content(window_end=START + timedelta(days=1, hours=3))
    _, body = render(content, "zh")
    assert "2026年12月3日（星期四） 09:00 至 2026年12月4日（星期五） 12:00" in body
    _, body = render(content, "en")
    assert "Thursday 3 December 2026 09:00 to Friday 4 December 2026 12:00" in body


def test_times_follow_the_configured_offset():
    content = _content(utc_offset=timedelta(hours=5, minutes=30))
    _, body = render(content, "en")
    assert "06:30–14:30 (UTC+05:30)" in body
    assert "Beijing" not in body


def test_times_given_in_any_zone_show_in_the_notice_offset():
    local = START.astimezone(timezone(timedelta(hours=-5)))
    _, body = render(_content(window_start=local), "zh")
    assert "09:00–17:00" in body


def test_what_to_bring_can_be_set():
    _, body = render(_content(what_to_bring="笔记本电脑"), "zh")
    assert "携带物品：笔记本电脑" in body


@pytest.mark.parametrize(
    "changes",
    [
        {"window_start": datetime(2026, 12, 3, 9, 0)},
        {"response_due": datetime(2026, 12, 3, 9, 0)},
        {"window_end": START},
        {"check_in_code": " "},
        {"utc_offset": timedelta(hours=24)},
    ],
)
def test_invalid_content_is_refused(changes):
    with pytest.raises(ValueError):
        _content(**changes)


def test_an_unknown_language_is_refused():
    with pytest.raises(ValueError):
        render(_content(), "fr")
    with pytest.raises(ValueError):
        sms_text(_content(), "fr")


def test_chinese_sms_fits_140_characters_and_keeps_place_seat_and_code():
    text = sms_text(_content(), "zh")
    assert len(text) <= 140
    for expected in (
        "12月3日09:00-17:00",
        "云南省昭通市昭阳区政务服务中心大楼5楼（评标区）",
        "V530602-R01-W03",
        "签到码K7M2P-Q9X4R",
        "A01",
        "12月2日16:30前",
        "NQ7K2001",
    ):
        assert expected in text


def test_sms_drops_optional_details_before_the_place_or_the_code():
    long_address = "云南省昭通市昭阳区" + "某某路" * 30 + "1号"
    text = sms_text(_content(venue_address=long_address), "zh")
    assert long_address in text
    assert "K7M2P-Q9X4R" in text
    assert "昭通市公共资源交易中心" not in text  # the venue name went first


def test_english_sms_names_the_seat_and_code():
    text = sms_text(_content(), "en")
    assert "workstation V530602-R01-W03" in text
    assert "check-in code K7M2P-Q9X4R" in text
    assert "3 Dec 09:00-17:00" in text


def test_render_output_is_built_from_the_content_alone():
    # Same content, same text: nothing else (clock, locale, environment) enters the notice.
    assert render(_content(), "zh") == render(_content(), "zh")
    assert sms_text(_content(), "en") == sms_text(_content(), "en")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_withdrawal_names_the_notice_and_seat_and_voids_the_code(lang):
    """The withdrawal says which notice and seat, says not to come, and repeats neither the
    check-in code (void now) nor anything the notice did not say."""
    from expertdraw.domain.notice_text import render_withdrawal, sms_withdrawal

    content = _content()
    subject, body = render_withdrawal(content, lang)
    for shown in (content.notice_id, content.room_id, content.workstation_id):
        assert shown in body
    assert content.notice_id in subject
    assert content.check_in_code not in subject + body
    sms = sms_withdrawal(content, lang)
    assert content.notice_id in sms and content.check_in_code not in sms
    assert len(sms) <= (140 if lang == "zh" else 160)
    with pytest.raises(ValueError):
        render_withdrawal(content, "fr")
