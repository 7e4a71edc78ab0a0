"""Reports as XLSX (openpyxl) and CSV: one row per figure, ``metric, value``.

Nested sections become dotted metric names (``draws.failure_reasons.timeout:entropy``);
lists of codes become one space-separated cell; integers stay integers. Text that a
spreadsheet would take for a formula (starting with ``= + - @``, tab or carriage return) is
prefixed with ``'``. The first rows name the report, its period and its SHA-256.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from openpyxl import Workbook

from ..models.inspection import Report

Value = int | str | bool
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
HEADER = ("metric", "value")


def flatten(value: Any, prefix: str = "") -> list[tuple[str, Value]]:
    """``[(dotted metric, cell value)]`` of a report's content, in key order."""
    if isinstance(value, dict):
        out: list[tuple[str, Value]] = []
        for key in sorted(value):
            out += flatten(value[key], f"{prefix}.{key}" if prefix else str(key))
        return out
    if isinstance(value, list):
        return [(prefix, " ".join(str(item) for item in value))]
    if value is None:
        return [(prefix, "")]
    return [(prefix, value)]


def rows_of(report: Report) -> list[tuple[str, Value]]:
    """Every row of the export: the report's identity, then its figures."""
    meta: list[tuple[str, Value]] = [
        ("report.id", report.code),
        ("report.kind", report.kind),
        ("report.sha256", report.sha256),
        ("report.created_at", report.created_at.isoformat()),
    ]
    return meta + flatten(report.content)


def _safe(value: Value) -> Value:
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def to_csv(report: Report) -> bytes:
    """UTF-8 CSV with a byte-order mark (so spreadsheet programs read the Chinese right)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADER)
    for metric, value in rows_of(report):
        writer.writerow((metric, _safe(value)))
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def to_xlsx(report: Report) -> bytes:
    """An XLSX workbook with one sheet, ``report``: a header row, then ``metric, value``."""
    book = Workbook()
    sheet = book.active
    sheet.title = "report"
    sheet.append(HEADER)
    for metric, value in rows_of(report):
        sheet.append((metric, _safe(value)))
    sheet.column_dimensions["A"].width = 48
    sheet.column_dimensions["B"].width = 72
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
