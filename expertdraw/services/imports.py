"""Import experts, organisations and venues from CSV or XLSX files, all or nothing.

The whole file is read and checked first: columns, types, codes (USCC and ID-number check
characters, region and specialty codes), dates, enumerations, duplicates within the file, and
clashes with the database by natural key (expert code, USCC, venue / room / workstation id).
If any row is wrong, nothing is written and the result lists every problem as
``{line, column, message}``: ``line`` is the file's line number (CSV, header = line 1) or the
worksheet row number (XLSX), ``column`` the header as written in the file. Otherwise good rows
are inserted, or update the row with the same natural key, in one transaction.

File formats: CSV in UTF-8 (with or without BOM) or GB 18030 (what Excel writes on Chinese
Windows); XLSX (first worksheet). Headers are the English column names of ``seed_data`` or
their Chinese labels (see ``import_kinds``).
"""

from __future__ import annotations

import csv
import io
import warnings
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from .. import clock
from ..extensions import db
from ..models import Organisation
from . import ledger, pool_changes, reports_periods, steps
from .import_experts import validate_experts, write_experts
from .import_places import (
    validate_organisations,
    validate_venues,
    write_organisations,
    write_venues,
)
from .import_rows import KINDS, Checker, Row, Unreadable
from .import_rows import Problem as ImportProblem

MAX_ERRORS = 1000
# Work units of an import for progress: read, check, write.
STAGES = 3


@dataclass
class ImportResult:
    """Rows read, rows inserted and updated per table, or the problems (then nothing written)."""

    kind: str
    rows: int = 0
    inserted: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    errors: list[ImportProblem] = field(default_factory=list)
    #: Problems past the first ``MAX_ERRORS``, which ``errors`` does not list.
    unlisted: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def problems(self) -> int:
        """How many problems the file has, listed or not."""
        return len(self.errors) + self.unlisted

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "rows": self.rows,
            "inserted": dict(self.inserted),
            "updated": dict(self.updated),
            "errors": [e.as_dict() for e in self.errors],
            "problems": self.problems,
        }


class ImportKindError(ValueError):
    """The kind is not one of experts, organisations, venues (``import:kind``)."""

    code = "import:kind"


#: The ledger's actor of an import run from the command line (no user is logged in there).
COMMAND_LINE = {"role": "system", "id": "command-line"}


def import_file(
    kind: str, path: Path, *, today: date | None = None, actor: dict[str, str] | None = None
) -> ImportResult:
    """Import ``path`` (``.csv`` or ``.xlsx``) as ``kind``; see the module docstring.

    ``today`` (default: the local date) starts employments opened without ``employer_since``;
    ``actor`` is who the ledger's ``pool.changed`` entries name (default: the command line).

    Raises:
        ImportKindError: ``kind`` is unknown.
    """
    return import_bytes(kind, Path(path).read_bytes(), Path(path).name, today=today, actor=actor)


def import_bytes(
    kind: str,
    data: bytes,
    filename: str,
    *,
    today: date | None = None,
    actor: dict[str, str] | None = None,
) -> ImportResult:
    """Import file content; ``filename`` only tells CSV from XLSX.

    Raises:
        ImportKindError: ``kind`` is unknown.
    """
    return steps.run(import_steps(kind, data, filename, today=today, actor=actor))


EMPTY = "the file is empty: the first line names the columns"


def import_steps(
    kind: str,
    data: bytes,
    filename: str,
    *,
    today: date | None = None,
    actor: dict[str, str] | None = None,
) -> steps.Steps[ImportResult]:
    """:func:`import_bytes` step by step: yields ``read``, ``check`` (``of`` = data rows) and,
    when every row is right, ``write``, then returns the result.

    Closing the generator before it finishes rolls back: nothing is imported.

    Raises:
        ImportKindError: ``kind`` is unknown.
    """
    if kind not in KINDS:
        raise ImportKindError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    result = ImportResult(kind)
    yield steps.Step("read", 0, STAGES)
    try:
        header, rows = read_table(data, filename)
    except UnreadableFile as exc:
        result.errors.append(ImportProblem(1, "", str(exc), exc.template, exc.params))
        return result
    result.rows = len(rows)
    yield steps.Step("check", 1, STAGES, of=len(rows))
    if not any(cell is not None and str(cell).strip() for cell in header):
        result.errors = [ImportProblem(1, "", EMPTY, EMPTY)]
        return result
    checker = Checker(kind, header)
    if not checker.errors and not rows:
        checker.error(2, "", "the file has no data rows")
    if not checker.errors:
        checker.stray_cells(rows)
        checker.unreadable_cells(rows)
    try:
        conn = db.session.connection()
        plan = None if checker.errors else _validate(kind, conn, checker, rows, today)
        if checker.errors:
            db.session.rollback()
            result.errors = sorted(checker.errors, key=lambda e: e.line)[:MAX_ERRORS]
            result.unlisted = len(checker.errors) - len(result.errors)
            return result
        yield steps.Step("write", 2, STAGES, of=len(rows))
        if kind == "experts":
            # An update that changes who is eligible is on the record, as on the admin page.
            ledger.lock()
            before = pool_changes.facts_of(conn, [r.code for r in plan.records])
        parents = _parents(conn) if kind == "organisations" else None
        result.inserted, result.updated = _write(kind, conn, plan)
        moved: list[int] = []
        if parents is not None:  # a new controlling organisation may make conflicts
            moved = [i for i, up in _parents(conn).items() if i in parents and parents[i] != up]
        changed: list[str] = []
        if kind == "experts":
            after = pool_changes.facts_of(conn, list(before))
            changed = pool_changes.record(before, after, actor or COMMAND_LINE, "imported")
            pool_changes.close_accounts_of_removed(before, after)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    pool_changes.recheck(changed, actor or COMMAND_LINE)
    pool_changes.recheck_organisations(moved, actor or COMMAND_LINE)
    return result


def _parents(conn: sa.Connection) -> dict[int, int | None]:
    """Each organisation's controlling organisation (an import may change it)."""
    table = Organisation.__table__
    return dict(conn.execute(sa.select(table.c.id, table.c.parent_id)).all())


def local_today() -> date:
    """Today at the trading centre (its zone, China Standard Time by default), from the
    app's clock."""
    return clock.now().astimezone(reports_periods.zone()).date()


def _validate(
    kind: str, conn: sa.Connection, checker: Checker, rows: list[Row], today: date | None
) -> Any:
    if kind == "experts":
        return validate_experts(conn, checker, rows, today or local_today())
    if kind == "organisations":
        return validate_organisations(conn, checker, rows)
    return validate_venues(conn, checker, rows)


def _write(kind: str, conn: sa.Connection, plan: Any) -> tuple[dict[str, int], dict[str, int]]:
    if kind == "experts":
        return write_experts(conn, plan)
    if kind == "organisations":
        return write_organisations(conn, plan)
    return write_venues(conn, plan)


class UnreadableFile(ValueError):
    """The file cannot be read as CSV or XLSX. The message is an English ``%(name)s``
    ``template`` filled with ``params`` (name, value pairs), so pages can translate it."""

    def __init__(self, template: str, **params: object) -> None:
        self.template = template
        self.params = tuple(sorted((name, str(value)) for name, value in params.items()))
        super().__init__(template % dict(self.params) if self.params else template)


def read_table(data: bytes, filename: str) -> tuple[list[Any], list[Row]]:
    """The header cells and the non-empty data rows, each with its line / row number.

    Raises:
        UnreadableFile: the file cannot be read as CSV or XLSX.
    """
    suffix = Path(filename).suffix.lower()
    if suffix == ".xlsx" or data[:4] == b"PK\x03\x04":
        return _read_xlsx(data)
    if suffix not in {".csv", ".txt", ""}:
        raise UnreadableFile(
            "unsupported file type %(suffix)s: use .csv or .xlsx", suffix=repr(suffix)
        )
    return _read_csv(data)


#: UTF-8 characters per byte that is not UTF-8 above which a file is UTF-8 with stray bytes.
STRAY_BYTES_RATIO = 10


def _decode(data: bytes) -> str:
    """UTF-8 text (with or without a BOM), else GB 18030 (as Chinese offices save CSV).

    A file that is mostly UTF-8 multi-byte text with a few bytes that are not is UTF-8 with
    stray bytes (pasted from another program): read as GB 18030 it would decode, every
    Chinese name turned into other characters, so it is refused, naming the line. (GB 18030
    text read as UTF-8 fails at most of its characters.)
    """
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        loose = data.decode("utf-8", errors="replace")
        invalid = loose.count("\ufffd")
        multibyte = sum(1 for ch in loose if ch > "\x7f") - invalid
        if multibyte >= STRAY_BYTES_RATIO * invalid:
            raise UnreadableFile(
                "line %(line)s: the file is UTF-8 text but for byte %(byte)s, which is not; "
                "correct that line or save the file again as UTF-8",
                line=data[: exc.start].count(b"\n") + 1,
                byte=f"0x{data[exc.start]:02X}",
            ) from None
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError:
        raise UnreadableFile("the CSV file is neither UTF-8 nor GB 18030 text") from None


def _read_csv(data: bytes) -> tuple[list[Any], list[Row]]:
    reader = csv.reader(io.StringIO(_decode(data), newline=""))
    try:
        header = next(reader, [])
        rows: list[Row] = []
        previous = reader.line_num
        for record in reader:
            start = previous + 1
            previous = reader.line_num
            if any(cell.strip() for cell in record):
                rows.append(Row(start, list(record)))
    except csv.Error as exc:
        raise UnreadableFile(
            "line %(line)s: the CSV file is malformed (%(detail)s)",
            line=reader.line_num,
            detail=exc,
        ) from None
    return header, rows


#: Columns read past an XLSX header's last named column, where a filled cell is a problem.
STRAY_MARGIN = 50


#: What an XLSX may unpack to, in all and per member's compression: a pool's workbook is a
#: few megabytes; a small upload that unpacks to gigabytes would take the worker's memory.
MAX_UNPACKED = 200 * 1024 * 1024
MAX_RATIO = 200


def _check_unpacked_size(data: bytes) -> None:
    """Refuse a workbook whose parts would unpack beyond :data:`MAX_UNPACKED`, or compress
    beyond :data:`MAX_RATIO` (a zip bomb), before anything is unpacked."""
    import zipfile

    try:
        members = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except (zipfile.BadZipFile, ValueError) as exc:
        raise UnreadableFile(
            "the XLSX file cannot be read (%(error)s)", error=type(exc).__name__
        ) from None
    unpacked = sum(member.file_size for member in members)
    squeezed = any(
        member.file_size > 1024 * 1024
        and member.file_size > MAX_RATIO * max(1, member.compress_size)
        for member in members
    )
    if unpacked > MAX_UNPACKED or squeezed:
        raise UnreadableFile(
            "the XLSX file would unpack to %(size)s MB, more than a workbook of this kind "
            "holds: save it again from the spreadsheet program, or upload it as CSV",
            size=unpacked // (1024 * 1024),
        )


def _watch_cells(sheet: Any) -> dict[int, int]:
    """Watch the rows ``sheet`` parses: mark spreadsheet error cells :class:`Unreadable`, and
    note values beyond the columns asked for (the first such column of each row, by row
    number, fills the returned mapping as the rows are read).

    The parser reads every cell of a row anyway; the columns asked for only bound what is
    padded and returned. Without this, a value far right of the header would be dropped
    without a word, and ``#N/A`` read as text (openpyxl's read-only rows: ``_get_row``
    receives the parsed cells).
    """
    found: dict[int, int] = {}
    rows_of = sheet._get_row

    def get_row(row: Any, min_col: int = 1, max_col: int | None = None, values_only: bool = False):
        for cell in row:
            if cell["data_type"] == "e":
                cell["value"] = Unreadable(str(cell["value"]))
        if max_col is not None:
            for cell in row:
                value = cell["value"]
                if cell["column"] > max_col and value is not None and str(value).strip():
                    found.setdefault(cell["row"], cell["column"])
                    break
        return rows_of(row, min_col, max_col, values_only)

    sheet._get_row = get_row
    return found


_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"


def _uncomputed(workbook: Any, sheet: Any) -> dict[int, list[int]]:
    """The columns, by row, of the formula cells of ``sheet`` that hold no computed value.

    Read with ``data_only`` such a cell is empty, which an import reads as "clear this"; the
    sheet's XML is scanned for them only when it holds a formula at all.
    """
    from xml.etree.ElementTree import iterparse

    from openpyxl.utils.cell import coordinate_to_tuple

    path = sheet._worksheet_path
    with workbook._archive.open(path) as source:
        xml = source.read()
    # A formula is <f>, or <x:f> where the writer gave the namespace a prefix.
    if not any(tag in xml for tag in (b"<f>", b"<f ", b":f>", b":f ")):
        return {}
    found: dict[int, list[int]] = {}
    for _, element in iterparse(io.BytesIO(xml)):
        if element.tag == f"{_MAIN}c":
            where = element.get("r")
            # Never computed: no value, or an empty one where a text result is not said
            # (openpyxl writes <v/>); an empty text result is <v></v> of type str.
            value = element.find(f"{_MAIN}v")
            uncomputed = element.find(f"{_MAIN}f") is not None and (
                value is None
                or (not value.text and element.get("t") not in ("str", "s", "inlineStr"))
            )
            if where and uncomputed:
                row, column = coordinate_to_tuple(where)
                found.setdefault(row, []).append(column)
        elif element.tag == f"{_MAIN}row":
            element.clear()
    return found


def _read_xlsx(data: bytes) -> tuple[list[Any], list[Row]]:
    from openpyxl import load_workbook

    _check_unpacked_size(data)

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a damaged file
        raise UnreadableFile(
            "the XLSX file cannot be read (%(error)s)", error=type(exc).__name__
        ) from None
    header: list[Any] = []
    rows: list[Row] = []
    number = 0
    try:
        # In read-only mode the sheet's XML is parsed here, row by row: damage shows now.
        # The first sheet a person sees: a hidden one (a template's notes, a lookup list)
        # is not the table.
        sheet = next(
            (ws for ws in workbook.worksheets if ws.sheet_state == "visible"),
            workbook.worksheets[0],
        )
        header = list(next(sheet.iter_rows(max_row=1, values_only=True), ()))
        # The header's columns and a margin are read (a value there is a stray cell, named):
        # a formatted, empty cell far to the right would otherwise have every row, up to the
        # sheet's last, read as thousands of cells (minutes for a file of a few kilobytes).
        width = max((i + 1 for i, v in enumerate(header) if v is not None), default=1)
        header = header[: width + STRAY_MARGIN]
        far = _watch_cells(sheet)
        uncomputed = _uncomputed(workbook, sheet)
        values_of = sheet.iter_rows(min_row=2, max_col=width + STRAY_MARGIN, values_only=True)
        for number, values in enumerate(values_of, start=2):
            cells = list(values)
            if number in far:  # a value beyond the margin, placed where stray_cells names it
                cells += [None] * (far[number] - 1 - len(cells)) + ["…"]
            for column in uncomputed.get(number, ()):
                if column <= len(cells):
                    cells[column - 1] = Unreadable(None)
            if any(v is not None and str(v).strip() for v in cells):
                rows.append(Row(number, cells))
    except Exception as exc:  # a damaged sheet raises XML, zip or value errors
        raise UnreadableFile(
            "the XLSX file cannot be read after row %(row)s (%(error)s)",
            row=number,
            error=type(exc).__name__,
        ) from None
    finally:
        workbook.close()
    return header, rows
