"""The text of a notice to a member, in Chinese and English, from plain data.

A notice is anonymous (rules.md, "Notices and answers"): it says when (date and window), where
(venue, address, room and workstation codes), the check-in code, the specialty drawn, what to
bring and by when to answer; nothing else. ``NoticeContent`` holds exactly those fields, so the
renderer cannot name the project, the tenderer, the agency, a bidder or another member: it is
never given them. Adding a field here widens what every expert is told, and
``tests/unit/test_notice_text.py`` pins the field list for that reason.

Times are aware datetimes shown in the trading centre's local offset (default UTC+08:00,
Beijing time). Pure: standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime, timedelta, timezone

LANGUAGES = ("zh", "en")
BEIJING = timedelta(hours=8)
SMS_LIMITS = {"zh": 140, "en": 160}

DEFAULT_WHAT_TO_BRING = {
    "zh": (
        "本人有效居民身份证原件、评标专家证（如有）；手机等通讯工具在签到时交场地工作人员统一保管。"
    ),
    "en": (
        "Your original resident identity card and your expert certificate (if any); phones "
        "and other communication devices are handed to venue staff at check-in."
    ),
}
_WEEKDAYS_ZH = "一二三四五六日"
# English names spelled out here: strftime's %A and %B follow the process locale.
_WEEKDAYS_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS_EN = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


@dataclass(frozen=True)
class NoticeContent:
    """Everything a notice may say, and nothing more.

    Raises ValueError when a time is naive, the window is empty, or a text field is blank.
    ``what_to_bring`` of ``None`` means the default text in the notice's language.
    """

    notice_id: str
    window_start: datetime
    window_end: datetime
    venue_name: str
    venue_address: str
    room_id: str
    workstation_id: str
    check_in_code: str
    specialty_code: str
    specialty_name: str
    response_due: datetime
    utc_offset: timedelta = BEIJING
    what_to_bring: str | None = None

    def __post_init__(self) -> None:
        for name in ("window_start", "window_end", "response_due"):
            value = getattr(self, name)
            if value.tzinfo is None or value.utcoffset() is None:
                raise ValueError(f"{name} must be an aware datetime")
        if self.window_end <= self.window_start:
            raise ValueError("window_end must be after window_start")
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, str) and not value.strip():
                raise ValueError(f"{field.name} must not be blank")
        if abs(self.utc_offset) >= timedelta(hours=24):
            raise ValueError("utc_offset must be less than 24 hours")

    def local(self, value: datetime) -> datetime:
        """``value`` in the notice's local offset."""
        return value.astimezone(timezone(self.utc_offset))

    def bring(self, lang: str) -> str:
        """What to bring, in ``lang`` when it is the default text."""
        return self.what_to_bring or DEFAULT_WHAT_TO_BRING[_check(lang)]


def _check(lang: str) -> str:
    if lang not in LANGUAGES:
        raise ValueError(f"unsupported notice language {lang!r}; use one of {LANGUAGES}")
    return lang


def _offset_label(offset: timedelta, lang: str) -> str:
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    hours, mins = divmod(abs(minutes), 60)
    utc = f"UTC{sign}{hours:02d}:{mins:02d}"
    if offset == BEIJING:
        return f"北京时间，{utc}" if lang == "zh" else f"Beijing time, {utc}"
    return utc


def _date_zh(value: datetime) -> str:
    return f"{value.year}年{value.month}月{value.day}日（星期{_WEEKDAYS_ZH[value.weekday()]}）"


def _date_en(value: datetime) -> str:
    return f"{_WEEKDAYS_EN[value.weekday()]} {_day_month_en(value)} {value.year}"


def _day_month_en(value: datetime, short: bool = False) -> str:
    month = _MONTHS_EN[value.month - 1]
    return f"{value.day} {month[:3] if short else month}"


def _window(content: NoticeContent, lang: str) -> tuple[str, str]:
    """The date line and the time-window line."""
    start, end = content.local(content.window_start), content.local(content.window_end)
    date = _date_zh if lang == "zh" else _date_en
    if start.date() == end.date():
        span = f"{start:%H:%M}–{end:%H:%M}"
    else:
        joiner = " 至 " if lang == "zh" else " to "
        span = f"{date(start)} {start:%H:%M}{joiner}{date(end)} {end:%H:%M}"
    label = _offset_label(content.utc_offset, lang)
    return date(start), f"{span}（{label}）" if lang == "zh" else f"{span} ({label})"


def _due(content: NoticeContent, lang: str) -> str:
    due = content.local(content.response_due)
    label = _offset_label(content.utc_offset, lang)
    if lang == "zh":
        return f"{due.month}月{due.day}日 {due:%H:%M}（{label}）"
    return f"{due:%H:%M} on {_day_month_en(due)} {due.year} ({label})"


def render(content: NoticeContent, lang: str = "zh") -> tuple[str, str]:
    """The notice as ``(subject, body)`` in ``lang`` ("zh" or "en").

    Raises ValueError for another language.
    """
    _check(lang)
    date, window = _window(content, lang)
    due = _due(content, lang)
    if lang == "zh":
        subject = f"评标抽取通知（编号 {content.notice_id}）"
        lines = [
            "您好：",
            "",
            "您已被随机抽取为评标专家。请在答复截止时间前登录专家端，确认参加或说明不能参加的原因；"
            "逾期未答复的，将另行确定评标专家。",
            "",
            f"通知编号：{content.notice_id}",
            f"评标日期：{date}",
            f"评标时段：{window}",
            f"评标场地：{content.venue_name}",
            f"场地地址：{content.venue_address}",
            f"评标室：{content.room_id}",
            f"评标工位：{content.workstation_id}",
            f"签到码：{content.check_in_code}",
            f"抽取专业：{content.specialty_code} {content.specialty_name}",
            f"携带物品：{content.bring(lang)}",
            f"答复截止：{due}",
            "",
            "签到码仅供本人在场地签到时使用，请勿告知他人。",
            "本通知不含项目信息；项目情况在评标开始后于评标工位查看。",
            "如与项目有利害关系，请在答复时声明并回避。",
        ]
    else:
        subject = f"Evaluation expert notice {content.notice_id}"
        lines = [
            "Hello,",
            "",
            "You have been drawn at random as an evaluation expert. Please sign in to the "
            "expert pages before the answer deadline and accept, or decline with a reason; "
            "without an answer by the deadline, another expert takes the place.",
            "",
            f"Notice: {content.notice_id}",
            f"Evaluation date: {date}",
            f"Evaluation window: {window}",
            f"Venue: {content.venue_name}",
            f"Address: {content.venue_address}",
            f"Room: {content.room_id}",
            f"Workstation: {content.workstation_id}",
            f"Check-in code: {content.check_in_code}",
            f"Specialty: {content.specialty_code} {content.specialty_name}",
            f"What to bring: {content.bring(lang)}",
            f"Answer by: {due}",
            "",
            "The check-in code is for your own check-in at the venue; do not share it.",
            "This notice holds no project information; you see the project at your "
            "workstation when the evaluation starts.",
            "If you have a conflict of interest with the project, declare it when you answer.",
        ]
    return subject, "\n".join(lines) + "\n"


def _sms_variants(content: NoticeContent, lang: str) -> list[str]:
    """Candidate short texts, longest first; each drops one optional detail more."""
    start, end = content.local(content.window_start), content.local(content.window_end)
    due = content.local(content.response_due)
    same_day = start.date() == end.date()
    if lang == "zh":
        when = f"{start.month}月{start.day}日{start:%H:%M}-" + (
            f"{end:%H:%M}" if same_day else f"{end.month}月{end.day}日{end:%H:%M}"
        )
        answer = f"请于{due.month}月{due.day}日{due:%H:%M}前登录专家端答复"
        seat = f"评标室{content.room_id}工位{content.workstation_id}"
        code = f"签到码{content.check_in_code}"
        specialty = f"专业{content.specialty_code}"
        place = f"{content.venue_name}（{content.venue_address}）"
        full = (
            f"【评标抽取】{when}，{place}{seat}，{code}，{specialty}{content.specialty_name}。"
            f"{answer}。编号{content.notice_id}"
        )
        no_venue_name = (
            f"【评标抽取】{when}，{content.venue_address}{seat}，{code}，"
            f"{specialty}{content.specialty_name}。{answer}。编号{content.notice_id}"
        )
        shortest = (
            f"【评标抽取】{when}，{content.venue_address}{seat}，{code}，{specialty}。"
            f"{answer}。编号{content.notice_id}"
        )
        return [full, no_venue_name, shortest]
    when = f"{_day_month_en(start, True)} {start:%H:%M}-" + (
        f"{end:%H:%M}" if same_day else f"{_day_month_en(end, True)} {end:%H:%M}"
    )
    answer = f"Answer in the expert pages by {_day_month_en(due, True)} {due:%H:%M}"
    core = (
        f"room {content.room_id}, workstation {content.workstation_id}, check-in code "
        f"{content.check_in_code}, specialty {content.specialty_code}"
    )
    full = (
        f"[Expert draw] {when} at {content.venue_name}, {content.venue_address}, {core} "
        f"{content.specialty_name}. {answer}. Notice {content.notice_id}"
    )
    shortest = (
        f"[Expert draw] {when} at {content.venue_address}, {core}. {answer}. "
        f"Notice {content.notice_id}"
    )
    return [full, shortest]


def sms_text(content: NoticeContent, lang: str = "zh", limit: int | None = None) -> str:
    """A short notice for SMS or voice: when, where, the seat, the check-in code, by when.

    The longest variant that fits ``limit`` characters (default 140 for Chinese, 160 for
    English); when none fits (a very long address), the shortest, since the place and the
    code must never be cut. What to bring is left to the inbox and e-mail.
    Raises ValueError for another language.
    """
    variants = _sms_variants(content, _check(lang))
    limit = SMS_LIMITS[lang] if limit is None else limit
    for text in variants:
        if len(text) <= limit:
            return text
    return variants[-1]


def render_withdrawal(content: NoticeContent, lang: str = "zh") -> tuple[str, str]:
    """The message that withdraws a notice's seat, as ``(subject, body)``: which notice, when
    and where it was, that the expert need not come and the check-in code no longer works.
    It says no more than the notice did (no project, no reason).

    Raises ValueError for another language.
    """
    _check(lang)
    date, window = _window(content, lang)
    if lang == "zh":
        subject = f"评标安排撤销通知（编号 {content.notice_id}）"
        lines = [
            "您好：",
            "",
            "以下评标安排已撤销，您无需前往，原签到码作废。如已接受，无需再作答复。",
            "",
            f"通知编号：{content.notice_id}",
            f"评标日期：{date}",
            f"评标时段：{window}",
            f"评标场地：{content.venue_name}",
            f"评标室：{content.room_id}",
            f"评标工位：{content.workstation_id}",
            "",
            "详情请登录专家端查看。",
        ]
    else:
        subject = f"Evaluation withdrawn: notice {content.notice_id}"
        lines = [
            "Hello,",
            "",
            "The evaluation below is withdrawn: you need not come, and its check-in code no "
            "longer works. If you had accepted, there is nothing more to answer.",
            "",
            f"Notice: {content.notice_id}",
            f"Evaluation date: {date}",
            f"Evaluation window: {window}",
            f"Venue: {content.venue_name}",
            f"Room: {content.room_id}",
            f"Workstation: {content.workstation_id}",
            "",
            "See the expert pages for details.",
        ]
    return subject, "\n".join(lines) + "\n"


def sms_withdrawal(content: NoticeContent, lang: str = "zh") -> str:
    """The withdrawal for SMS or voice: which notice, when, and that the seat is withdrawn."""
    start = content.local(content.window_start)
    if _check(lang) == "zh":
        return (
            f"【评标撤销】编号{content.notice_id}，{start.month}月{start.day}日{start:%H:%M}"
            f"的评标安排已撤销，无需前往，签到码作废。"
        )
    return (
        f"[Expert draw] Notice {content.notice_id} for {_day_month_en(start, True)} "
        f"{start:%H:%M} is withdrawn: do not come; its check-in code no longer works."
    )
