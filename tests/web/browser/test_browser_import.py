"""Importing an XLSX file in the browser: a bad row is shown with its row number and column,
and nothing is imported."""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa
from openpyxl import Workbook

from expertdraw.domain.codes import id_check_char
from expertdraw.extensions import db
from expertdraw.models import Expert

from .conftest import release, screenshot

pytestmark = pytest.mark.browser
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def workbook(rows: list[list[str]]) -> bytes:
    """An XLSX file with the Chinese column labels and ``rows``."""
    book = Workbook()
    sheet = book.active
    sheet.append(
        ["专家编号", "姓名", "身份证号码", "常住地区划代码", "职称", "专家类别", "专业代码"]
    )
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def expert_count() -> int:
    count = db.session.scalar(sa.select(sa.func.count(Expert.id)))
    release()
    return count


def test_an_xlsx_with_a_bad_row_shows_the_row_error_and_imports_nothing(centre, open_as):
    good = "53010219850203001" + id_check_char("53010219850203001")
    rows = [
        ["E0200001", "甲专家", good, "530100", "高级工程师", "technical", "A0101"],
        ["E0200002", "乙专家", good, "530100", "高级工程师", "technical", "A0101"],
        ["E0200003", "丙专家", "53010219850203003X", "530100", "高级工程师", "unknown", "A0101"],
    ]
    before = expert_count()
    admin = open_as("admin", locale="en-US")
    admin.click("nav.mainnav a[href='/admin/import']")
    admin.select_option("#f-kind", "experts")
    admin.set_input_files(
        "#f-file", files=[{"name": "experts.xlsx", "mimeType": XLSX, "buffer": workbook(rows)}]
    )
    admin.click("form[action='/admin/import'] button[type=submit]")
    admin.wait_for_selector("[data-import=failed]")
    problems = admin.locator("[data-import-errors] tbody tr")
    cells = [problems.nth(i).locator("td").all_inner_texts() for i in range(problems.count())]
    assert ["3", "身份证号码"] in [c[:2] for c in cells]  # the same identity number twice
    assert ["4", "专家类别"] in [c[:2] for c in cells]  # kind is technical or economic
    assert all(c[0] != "2" for c in cells)  # the good row is not blamed
    assert "Nothing was imported" in admin.inner_text("[data-import=failed]")
    screenshot(admin, "admin-import-errors")
    assert expert_count() == before
