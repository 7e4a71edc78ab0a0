"""Cells an import cannot take at face value: a spreadsheet error (``#N/A``), a formula the
workbook holds no value for, text with characters nobody sees, and a date whose employer
column is missing. Each is an error naming its line and column, and nothing is written."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa
from openpyxl import Workbook

from expertdraw.extensions import db
from expertdraw.models import Employment, Expert
from expertdraw.services import imports, seed
from tests.integration import test_import
from tests.integration.test_import import EXPERT_HEADER, expert_rows, write_csv


@pytest.fixture
def reference(app):
    """The seed's reference data and no experts (as in the import tests)."""
    return test_import.reference.__wrapped__(app)


MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def _xlsx_with(
    tmp_path: Path, rows: list[list[object]], cell: str, xml: str, prefix: str = ""
) -> Path:
    """An expert workbook whose ``cell`` is replaced by raw sheet XML, as a spreadsheet
    program or a script writes it (``prefix``: the main namespace also bound to it)."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(EXPERT_HEADER)
    for row in rows:
        sheet.append(row)
    sheet[cell] = "PLACEHOLDER"
    plain = tmp_path / "plain.xlsx"
    workbook.save(plain)
    out = tmp_path / "experts.xlsx"
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = re.sub(rf'<c r="{cell}"[^>]*>.*?</c>'.encode(), xml.encode(), data)
                if prefix:
                    declared = f'<worksheet xmlns:{prefix.rstrip(":")}="{MAIN}"'.encode()
                    data = data.replace(b"<worksheet", declared, 1)
            target.writestr(item, data)
    return out


def _names() -> list[str]:
    return [e.name for e in db.session.scalars(sa.select(Expert).order_by(Expert.code))]


def test_a_spreadsheet_error_cell_is_an_error_not_a_name(reference, tmp_path):
    before = _names()
    path = _xlsx_with(
        tmp_path,
        expert_rows(),
        "B2",
        '<c r="B2" t="e"><f>VLOOKUP(A2,Names!A:B,2,FALSE)</f><v>#N/A</v></c>',
    )
    result = imports.import_file("experts", path)
    assert [(e.line, e.column) for e in result.errors] == [(2, "name")]
    assert "#N/A" in result.errors[0].message
    assert _names() == before


@pytest.mark.parametrize("prefix", ["", "x:"])
def test_a_formula_without_a_value_leaves_the_employment_open(reference, tmp_path, prefix):
    """Read as empty, the cell would close the expert's employment (an empty employer)."""
    employer = seed.read_csv(seed.data_dir(), "organisations")[30]["uscc"]
    rows = expert_rows()
    rows[0][5] = employer
    first = imports.import_file("experts", write_csv(tmp_path / "e.csv", EXPERT_HEADER, rows))
    assert first.ok

    def open_jobs() -> int:
        return db.session.scalar(
            sa.select(sa.func.count(Employment.id)).where(Employment.end.is_(None))
        )

    before = open_jobs()
    formula = f"<{prefix}f>VLOOKUP(A2,Employers!A:B,2,FALSE)</{prefix}f>"
    xml = f'<c r="F2">{formula}</c>'
    path = _xlsx_with(tmp_path, rows, "F2", xml, prefix)
    result = imports.import_file("experts", path)
    assert [(e.line, e.column) for e in result.errors] == [(2, "employer_uscc")]
    assert "formula" in result.errors[0].message
    assert open_jobs() == before


def test_a_formula_with_its_value_is_read_as_the_value(reference, tmp_path):
    rows = expert_rows()
    name = rows[0][1]
    path = _xlsx_with(tmp_path, rows, "B2", f'<c r="B2" t="str"><f>"{name}"</f><v>{name}</v></c>')
    result = imports.import_file("experts", path)
    assert result.ok, result.as_dict()
    assert name in _names()


@pytest.mark.parametrize("name", ["\u200b", "\u202e芳王", "王\u00ad芳", "王\ue000芳"])
def test_a_name_with_characters_nobody_sees_is_an_error(reference, tmp_path, name):
    rows = expert_rows()
    rows[0][1] = name
    before = _names()
    result = imports.import_file("experts", write_csv(tmp_path / "e.csv", EXPERT_HEADER, rows))
    assert [(e.line, e.column) for e in result.errors] == [(2, "name")]
    assert _names() == before


def test_employer_since_without_the_employer_column_is_a_header_error(reference, tmp_path):
    header = [*EXPERT_HEADER[:5], "employer_since", *EXPERT_HEADER[6:]]
    rows = expert_rows()
    rows[0][5] = "2020-01-01"
    result = imports.import_file("experts", write_csv(tmp_path / "e.csv", header, rows))
    assert [(e.line, e.column) for e in result.errors] == [(1, "employer_since")]
    assert "employer_uscc" in result.errors[0].message


@pytest.mark.parametrize("cell", ["I3", "G9"])  # an optional column; a row below the data
def test_a_formula_computed_to_empty_text_is_empty(reference, tmp_path, cell):
    """``<v></v>``: computed, to empty text (``IF(A3="","",…)``, a template filled down); only
    a formula with no value at all is one the file cannot give."""
    row = cell[1:]
    xml = f'<c r="{cell}" t="str"><f>IF(A{row}="","",A{row})</f><v></v></c>'
    result = imports.import_file("experts", _xlsx_with(tmp_path, expert_rows(), cell, xml))
    assert result.ok, result.as_dict()


def test_a_workbook_written_by_a_program_has_its_uncomputed_formulas_found(app, monkeypatch):
    """openpyxl writes a formula's value as ``<v/>``: never computed. The sheet is scanned for
    them once, and every row's is found (each row looks its own up)."""
    import io

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(EXPERT_HEADER)
    for i in range(3000):  # openpyxl writes formulas without computed values
        sheet.append([f"X{i:07d}", "名", "", "", "", "", f"=A{i + 2}"])
    data = io.BytesIO()
    workbook.save(data)
    calls = []
    real = imports._uncomputed

    def counted(*args):
        found = real(*args)
        calls.append(found)
        return found

    monkeypatch.setattr(imports, "_uncomputed", counted)
    _, rows = imports._read_xlsx(data.getvalue())
    assert len(calls) == 1 and len(calls[0]) == 3000
    assert all(str(r.cells[6]) == "=" for r in rows) and len(rows) == 3000


def test_a_name_in_an_ideograph_newer_than_this_python_is_imported(reference, tmp_path):
    """CJK Extension H (Unicode 15) holds rare name characters this Python does not know."""
    rows = expert_rows()
    rows[0][1] = "王\U00031350"
    result = imports.import_file("experts", write_csv(tmp_path / "e.csv", EXPERT_HEADER, rows))
    assert result.ok, result.as_dict()
    assert "王\U00031350" in _names()
