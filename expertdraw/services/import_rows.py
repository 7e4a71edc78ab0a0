"""Rows of an import file: the columns of each kind, and the checks of single cells.

Columns (English name, or the Chinese label in brackets):

- experts: code (专家编号), name (姓名), id_number (身份证号码), home_region (常住地区划代码),
  title (职称), kind (专家类别: technical|economic), specialties (专业代码, separated by ``;``);
  optional phone (手机号码), email (电子邮箱), employer_uscc (工作单位统一社会信用代码),
  employer_since (入职日期), status (状态: active|suspended|retired|removed),
  qualification_expiry (资格有效期至), data_confirmed_on (信息确认日期).
- organisations: uscc (统一社会信用代码), name (单位名称), kind (单位类型:
  tenderer|agency|bidder|authority|employer); optional region_code (行政区划代码),
  parent_uscc (上级单位统一社会信用代码).
- venues, one row per workstation: venue_id (场地编号), venue_name (场地名称),
  region_code (行政区划代码), address (地址), room_id (评标室编号), room_name (评标室名称),
  workstation_id (工位编号); optional active (启用, 1/0).

On update only the columns present in the file change.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

import sqlalchemy as sa

from ..domain.codes import CodeError, validate_id
from ..input_text import EMAIL_ADDRESS, has_control, has_unseen

KINDS = ("experts", "organisations", "venues")
REQUIRED = {
    "experts": ("code", "name", "id_number", "home_region", "title", "kind", "specialties"),
    "organisations": ("uscc", "name", "kind"),
    "venues": (
        "venue_id",
        "venue_name",
        "region_code",
        "address",
        "room_id",
        "room_name",
        "workstation_id",
    ),
}
OPTIONAL = {
    "experts": (
        "phone",
        "email",
        "employer_uscc",
        "employer_since",
        "status",
        "qualification_expiry",
        "data_confirmed_on",
    ),
    "organisations": ("region_code", "parent_uscc"),
    "venues": ("active",),
}
ALIASES = {
    "experts": {
        "专家编号": "code",
        "姓名": "name",
        "身份证号码": "id_number",
        "身份证号": "id_number",
        "常住地区划代码": "home_region",
        "职称": "title",
        "专家类别": "kind",
        "专业代码": "specialties",
        "手机号码": "phone",
        "电子邮箱": "email",
        "工作单位统一社会信用代码": "employer_uscc",
        "入职日期": "employer_since",
        "状态": "status",
        "资格有效期至": "qualification_expiry",
        "信息确认日期": "data_confirmed_on",
    },
    "organisations": {
        "统一社会信用代码": "uscc",
        "单位名称": "name",
        "单位类型": "kind",
        "行政区划代码": "region_code",
        "上级单位统一社会信用代码": "parent_uscc",
    },
    "venues": {
        "场地编号": "venue_id",
        "场地名称": "venue_name",
        "行政区划代码": "region_code",
        "地址": "address",
        "评标室编号": "room_id",
        "评标室名称": "room_name",
        "工位编号": "workstation_id",
        "启用": "active",
    },
}
PHONE = re.compile(r"1[3-9][0-9]{9}")
EMAIL = EMAIL_ADDRESS
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
#: The years an imported date may have: an employment since 1900, a qualification to 2099.
FIRST_YEAR, LAST_YEAR = 1900, 2099
LIST_SEPARATORS = re.compile(r"[;；,，、\s]+")
_IN_CHUNK = 500


@dataclass
class Row:
    """One data row: its line (CSV) or row number (XLSX), and its cells in header order."""

    line: int
    cells: list[Any]


@dataclass(frozen=True)
class Unreadable:
    """A worksheet cell whose value the file does not hold: a spreadsheet error (``#N/A``
    of a failed look-up...), or a formula never computed (``error`` None: a workbook written
    by a program and not opened since). Read as empty it would clear what it stands for."""

    error: str | None

    def __str__(self) -> str:
        return self.error or "="


@dataclass(frozen=True)
class Problem:
    """One problem: line (or worksheet row), column header as written, what is wrong.

    ``message`` is English (the CLI and the API); ``template`` and ``params`` are the same
    sentence as a ``%(name)s`` template and its values, so the pages can translate it."""

    line: int
    column: str
    message: str
    template: str = ""
    params: tuple[tuple[str, str], ...] = ()

    @property
    def values(self) -> dict[str, str]:
        """The template's values, by name."""
        return dict(self.params)

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "column": self.column, "message": self.message}


class Checker:
    """Maps the header to column names and collects problems while rows are checked."""

    def __init__(self, kind: str, header: list[Any]) -> None:
        self.kind = kind
        self.errors: list[Problem] = []
        self.index: dict[str, int] = {}
        self.label: dict[str, str] = {}
        known = set(REQUIRED[kind]) | set(OPTIONAL[kind])
        for position, cell in enumerate(header):
            written = "" if cell is None else str(cell).strip()
            if not written:
                continue
            name = ALIASES[kind].get(written, written.lower())
            if name not in known:
                self.error(
                    1,
                    written,
                    "unknown column %(column)s for %(kind)s",
                    column=repr(written),
                    kind=kind,
                )
            elif name in self.index:
                self.error(1, written, "column %(column)s appears twice", column=name)
            else:
                self.index[name] = position
                self.label[name] = written
        for name in REQUIRED[kind]:
            if name not in self.index:
                self.error(1, name, "required column %(column)s is missing", column=name)

    def stray_cells(self, rows: Iterable[Row]) -> None:
        """A filled cell under no column (beyond the header, or under an empty header cell)
        is an error: its value would otherwise be dropped without a word."""
        columns = set(self.index.values())
        for row in rows:
            for position, value in enumerate(row.cells):
                filled = value is not None and str(value).strip() != ""
                if filled and position not in columns:
                    self.error(
                        row.line,
                        f"#{position + 1}",
                        "cell %(n)s holds a value but is under no known column",
                        n=position + 1,
                    )
                    break

    def unreadable_cells(self, rows: Iterable[Row]) -> None:
        """A cell under a known column whose value the workbook does not hold is an error
        naming it (see :class:`Unreadable`)."""
        for row in rows:
            for name, position in self.index.items():
                value = row.cells[position] if position < len(row.cells) else None
                if not isinstance(value, Unreadable):
                    continue
                if value.error is None:
                    self.error(
                        row.line,
                        name,
                        "%(column)s is a formula the file holds no computed value for: open "
                        "the file in a spreadsheet program and save it again",
                        column=name,
                    )
                else:
                    self.error(
                        row.line,
                        name,
                        "%(column)s holds the spreadsheet error %(value)s",
                        column=name,
                        value=value.error,
                    )

    def error(self, line: int, column: str, template: str, /, **params: Any) -> None:
        """Record a problem; ``template`` is an English ``%(name)s`` sentence of ``params``
        (a plain sentence without them), translated where the problem is shown."""
        values = {name: str(value) for name, value in params.items()}
        if values.get("column") in self.label:  # the column as the file's header names it
            values["column"] = self.label[values["column"]]
        message = template % values if values else template
        self.errors.append(
            Problem(
                line,
                self.label.get(column, column),
                message,
                template,
                tuple(sorted(values.items())),
            )
        )

    def has(self, name: str) -> bool:
        return name in self.index

    def raw(self, row: Row, name: str) -> Any:
        position = self.index.get(name)
        if position is None or position >= len(row.cells):
            return None
        value = row.cells[position]
        if isinstance(value, str):
            value = value.strip()
            return value or None
        return value

    def text(self, row: Row, name: str, *, required: bool = False, max_len: int = 200) -> Any:
        value = self.raw(row, name)
        if value is None:
            if required:
                self.error(row.line, name, "%(column)s is required", column=name)
            return None
        if isinstance(value, (bool, time)):
            kind = "TRUE/FALSE" if isinstance(value, bool) else "time"
            self.error(
                row.line,
                name,
                "%(column)s must be text, not a %(kind)s cell",
                column=name,
                kind=kind,
            )
            return None
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, (datetime, date)):
            value = value.isoformat()
        value = str(value)
        if len(value) > max_len:
            self.error(
                row.line, name, "%(column)s is longer than %(n)s characters", column=name, n=max_len
            )
            return None
        if has_control(value):
            self.error(row.line, name, "%(column)s contains control characters", column=name)
            return None
        if has_unseen(value):
            self.error(
                row.line,
                name,
                "%(column)s contains invisible or direction-changing characters",
                column=name,
            )
            return None
        return value

    def code_text(self, row: Row, name: str, *, required: bool = True, max_len: int = 64) -> Any:
        """Codes must be text cells: a number cell loses leading zeros, digits or the X."""
        value = self.raw(row, name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            self.error(row.line, name, "%(column)s must be a text cell, not a number", column=name)
            return None
        return self.text(row, name, required=required, max_len=max_len)

    def draw_id(self, row: Row, name: str, max_len: int) -> str | None:
        value = self.code_text(row, name, max_len=max_len)
        if value is None:
            return None
        try:
            return validate_id(value, name)
        except CodeError as exc:
            self.error(row.line, name, exc.template, **exc.params)
            return None

    def code(
        self,
        row: Row,
        name: str,
        validator: Any,
        *,
        required: bool = True,
        number_ok: bool = False,
    ) -> Any:
        """A code checked by ``validator``; ``number_ok`` accepts a whole-number cell (regions)."""
        if number_ok:
            value = self.text(row, name, required=required, max_len=64)
        else:
            value = self.code_text(row, name, required=required)
        if value is None:
            return None
        try:
            return validator(value)
        except CodeError as exc:
            self.error(row.line, name, exc.template, **exc.params)
            return None

    def date(self, row: Row, name: str) -> date | None:
        value = self.raw(row, name)
        if value is None:
            return None
        if isinstance(value, datetime):
            return self._in_years(row, name, value.date())
        if isinstance(value, date):
            return self._in_years(row, name, value)
        text = str(value).replace("/", "-")
        try:
            # fromisoformat alone would also take 20301231 and week dates like 2030-W01-1.
            if not _DAY.fullmatch(text):
                raise ValueError(text)
            day = date.fromisoformat(text)
        except ValueError:
            self.error(
                row.line,
                name,
                "%(column)s must be a date YYYY-MM-DD, got %(value)s",
                column=name,
                value=repr(value),
            )
            return None
        return self._in_years(row, name, day)

    def _in_years(self, row: Row, name: str, day: date) -> date | None:
        """``day`` when its year is one a pool's record can have, else a problem: a year
        typed wrong (0001, 2999) would otherwise pass as a date and break the arithmetic
        done on it later."""
        if FIRST_YEAR <= day.year <= LAST_YEAR:
            return day
        self.error(
            row.line,
            name,
            "%(column)s must be a date in the years %(first)s to %(last)s, got %(value)s",
            column=name,
            first=FIRST_YEAR,
            last=LAST_YEAR,
            value=day.isoformat(),
        )
        return None

    def choice(
        self, row: Row, name: str, allowed: Iterable[str], *, default: str | None = None
    ) -> str | None:
        value = self.text(row, name, required=default is None)
        if value is None:
            return default
        allowed = tuple(allowed)
        if value not in allowed:
            self.error(
                row.line,
                name,
                "%(column)s must be one of %(allowed)s",
                column=name,
                allowed=", ".join(allowed),
            )
            return None
        return value

    def flag(self, row: Row, name: str, default: bool | None = True) -> bool | None:
        value = self.raw(row, name)
        if value is None:
            return default
        text = str(value).strip().lower()
        if text in {"1", "true", "yes", "是", "1.0"}:
            return True
        if text in {"0", "false", "no", "否", "0.0"}:
            return False
        self.error(row.line, name, "%(column)s must be 1 or 0", column=name)
        return default

    def unique(self, seen: dict[Any, int], value: Any, row: Row, name: str) -> None:
        if value is None:
            return
        if value in seen:
            self.error(
                row.line,
                name,
                "%(column)s %(value)s repeats line %(line)s",
                column=name,
                value=value,
                line=seen[value],
            )
        else:
            seen[value] = row.line


def lookup(conn: sa.Connection, key: Any, value: Any, wanted: Iterable[Any]) -> dict[Any, Any]:
    """``{key: value}`` of the rows whose ``key`` is in ``wanted`` (chunked IN queries)."""
    wanted = sorted({w for w in wanted if w is not None})
    out: dict[Any, Any] = {}
    for i in range(0, len(wanted), _IN_CHUNK):
        chunk = wanted[i : i + _IN_CHUNK]
        out.update(conn.execute(sa.select(key, value).where(key.in_(chunk))).all())
    return out


def all_codes(conn: sa.Connection, column: Any) -> set[str]:
    return set(conn.execute(sa.select(column)).scalars())
