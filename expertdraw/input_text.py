"""Text that people type or import: no control characters.

A NUL, a stray escape or a lone UTF-16 surrogate is never meant in a name, a code or a
witness value: PostgreSQL refuses NUL in text (a server error if it gets that far), SQLite
stores it, and either way such text cannot be read back by the people who must check it.
So every request value and imported cell is refused with the field named. Tabs and line
breaks stay allowed: multi-line fields use them, and single-line fields are trimmed or
checked by their own patterns.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

#: C0 controls but tab, line feed and carriage return; DEL and the C1 controls; surrogates.
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


#: What an e-mail address may hold outside its one ``@``: no space, and none of the characters
#: that would make a header value a list of addresses or a display name (``a@b.cn,postmaster``
#: would send a check-in code to two mailboxes). The domain may be Unicode (sent as IDNA).
_ADDRESS_PART = r"[^@\s,;:<>()\[\]\\\"]+"
EMAIL_ADDRESS = re.compile(rf"{_ADDRESS_PART}@{_ADDRESS_PART}\.{_ADDRESS_PART}")


def has_control(text: str) -> bool:
    """True if ``text`` holds a character :data:`CONTROL` refuses."""
    return CONTROL.search(text) is not None


#: What text kept in the ledger must not carry (rules.md: the ledger holds no personal data),
#: matched in :func:`comparable` text: an identity number (18 or the old 15 digits), a mobile
#: number (with or without the country code), an e-mail address.
PERSONAL_DATA = re.compile(
    r"(?<![0-9])[0-9]{17}[0-9Xx](?![0-9])"
    r"|(?<![0-9])[0-9]{15}(?![0-9])"
    r"|(?<![0-9])(?:\+?86|0086)?1[3-9][0-9]{9}(?![0-9])"
    r"|[^@\s]+\s*@\s*[^@\s.]+(?:\s*\.\s*[^@\s.]+)+"
)
#: Spaces, dashes of every kind (:func:`_folded` makes them ``-``), dots, slashes, underscores,
#: commas and brackets people put between the digits of a number.
_DIGIT_BREAKS = re.compile(r"(?<=[0-9])[\s\-.·・()/_,、]+(?=[0-9Xx])")
#: Chinese numerals, plain and financial, as the digits they stand for: a number written in
#: them is the same number.
#: 幺 is the 1 people say when they read out a phone number.
_CHINESE_DIGITS = str.maketrans(
    "〇零一二三四五六七八九壹贰叁肆伍陆柒捌玖幺", "001234567891234567891"
)


#: A word that is a date or a time of day (``2027-02-21``, ``2027/2/21``, ``2027年2月21日``,
#: ``21:30``): a lottery draw is named by its issue number and date, and the two read as
#: one long number once the spaces between them are taken out.
_DATE_OR_TIME = re.compile(
    r"[0-9]{4}[-/.年][0-9]{1,2}[-/.月][0-9]{1,2}日?|[0-9]{1,2}:[0-9]{2}(?::[0-9]{2})?"
)


#: Characters nobody sees: format characters (zero-width space, soft hyphen, direction marks)
#: and combining marks. Put between the digits of a number they hide it from a plain match.
_UNSEEN = frozenset({"Cf", "Mn", "Me"})


def _folded(text: str) -> str:
    """Full-width forms folded (NFKC), unseen characters taken out, every dash read as
    ``-``, the ideographic full stop as a dot."""
    folded = unicodedata.normalize("NFKC", text)
    folded = "".join(
        "-" if unicodedata.category(ch) == "Pd" else ch
        for ch in folded
        if unicodedata.category(ch) not in _UNSEEN
    )
    return folded.replace("。", ".").replace("．", ".")


def _real_date_or_time(word: str) -> bool:
    """Whether ``word`` is a date or a time of day that exists (``1381-2-34`` is no date: its
    separators are a number's)."""
    if _DATE_OR_TIME.fullmatch(word) is None:
        return False
    parts = [int(part) for part in re.findall(r"[0-9]+", word)]
    if ":" in word:
        return parts[0] < 24 and all(p < 60 for p in parts[1:])
    return 1 <= parts[1] <= 12 and 1 <= parts[2] <= 31


def comparable(text: str, *, dates_apart: bool = True) -> str:
    """``text`` as the personal-data check reads it: folded, words that are dates or times
    set apart (``dates_apart``), and what separates the digits of a number removed
    (``138 1234-5678`` reads ``13812345678``)."""
    folded = _folded(text)
    if dates_apart:
        words = re.split(r"(\s+)", folded)
        folded = "".join("|" if _real_date_or_time(word) else word for word in words)
    return _DIGIT_BREAKS.sub("", folded)


def _is_date(word: str) -> bool:
    return _real_date_or_time(word) and ":" not in word


def _between_numbers(words: list[str]) -> str:
    """The words, a date or time word between two plain numbers read as its digits: a lottery
    source has its date beside words (``第2027053期``, a time), ``138 12:34 5678`` a number."""
    plain = [w.isdigit() for w in words]
    out = list(words)
    for i in range(2, len(words) - 2, 2):  # words at even places, the spaces between
        if plain[i - 2] and plain[i + 2] and _real_date_or_time(words[i]):
            out[i] = "".join(re.findall(r"[0-9]+", words[i]))
    return "".join(out)


def _date_digits(word: str) -> str:
    """A date word as the eight digits ``YYYYMMDD`` an identity number would hold."""
    year, month, day = (int(part) for part in re.findall(r"[0-9]+", word))
    return f"{year:04d}{month:02d}{day:02d}"


def carries_personal_data(text: str) -> bool:
    """Whether ``text`` holds something that looks like an identity or mobile number or an
    e-mail address, however it is spaced or written (a stated purpose, reason or witness
    value goes into the ledger for ever).

    A date written beside a number (a lottery's issue and date) is no identity number; an
    identity number whose birth date is written as a date (``530602 1980-05-17 0012``) is.
    A number written in Chinese numerals is the same number (read apart from the text as
    written: a name such as 张三 beside a number must not hide it).
    """
    return _carries(text) or _carries(text.translate(_CHINESE_DIGITS))


def _carries(text: str) -> bool:
    if PERSONAL_DATA.search(comparable(text)) is not None:
        return True
    words = re.split(r"(\s+)", _folded(text))
    if PERSONAL_DATA.search(comparable(_between_numbers(words))) is not None:
        return True
    dates: set[str] = set()

    def as_eight_digits(found: re.Match[str]) -> str:
        if not _is_date(found.group()):
            return found.group()
        dates.add(_date_digits(found.group()))
        return _date_digits(found.group())

    # Dates anywhere, a word of their own or inside one (``1101011990年3月7日1234``).
    as_digits = _DATE_OR_TIME.sub(as_eight_digits, "".join(words))
    for found in PERSONAL_DATA.finditer(comparable(as_digits, dates_apart=False)):
        digits = found.group()  # an identity number: region, birth date, sequence
        long_form = len(digits) == 18
        born = digits[6:14] if long_form else digits[6:12]  # the old form has YYMMDD
        if any((day if long_form else day[2:]) == born for day in dates):
            return True
    return False


def has_unseen(text: str) -> bool:
    """True if ``text`` holds a format (zero-width, direction override) or private-use
    character: nobody reading a name or an address sees it, yet it makes two records that
    look the same differ, or turns the text around on the page. (Characters this Python's
    Unicode does not know yet, such as CJK Extension H ideographs of rare names, are taken.)"""
    return any(unicodedata.category(ch) in {"Cf", "Co"} for ch in text)


def visible_text(text: str) -> bool:
    """Text people read out and check character by character (a witness value): no control,
    format (zero-width, direction overrides), private-use, unassigned or surrogate
    characters, and at least one character that is not a space."""
    categories = {unicodedata.category(ch) for ch in text}
    return not categories & {"Cc", "Cf", "Co", "Cn", "Cs"} and any(not ch.isspace() for ch in text)


def first_bad_field(data: Any, path: str = "") -> str | None:
    """The dotted path of the first string (value or key) in JSON-like ``data`` that holds a
    control character (``$`` for the top level), or None."""
    if isinstance(data, str):
        return (path or "$") if has_control(data) else None
    if isinstance(data, dict):
        for key, value in data.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and has_control(key):
                return path or "$"
            found = first_bad_field(value, where)
            if found is not None:
                return found
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found = first_bad_field(value, f"{path}.{index}" if path else str(index))
            if found is not None:
                return found
    return None
