"""The draws of a period as XLSX: for those who may see the draw record, one row per draw,
no member identities, and a period form that names the wrong field and changes nothing."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from expertdraw.extensions import db
from expertdraw.models import Checkpoint, LedgerEntry
from expertdraw.services import draws

from .conftest import PROJECT

URL = "/supervisor/export/draws"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def sheets(data: bytes) -> dict[str, list[tuple[Any, ...]]]:
    book = load_workbook(io.BytesIO(data))
    return {sheet.title: list(sheet.iter_rows(values_only=True)) for sheet in book.worksheets}


def ledger_size() -> int:
    return db.session.scalar(sa.select(sa.func.count(LedgerEntry.seq)))


def test_the_export_has_one_row_per_draw_of_the_period(app, completed: dict[str, Any], login):
    client = login("sup1")
    before = ledger_size()
    response = client.get(f"{URL}?from=2027-02-01&to=2027-02-28&lang=en")
    assert response.status_code == 200 and response.mimetype == XLSX
    assert "draws-2027-02-01-2027-02-28.xlsx" in response.headers["Content-Disposition"]
    book = sheets(response.data)
    header, *rows = book["draws"]
    assert header[:4] == (
        "Draw",
        "Supplementary draw of",
        "Project code",
        "Requested and announced",
    )
    assert header[-3:] == ("Commitment", "Seed", "Covering checkpoint (size)")
    assert len(rows) == 1
    row = dict(zip(header, rows[0], strict=True))
    draw = draws.get_draw(completed["draw"])
    assert row["Draw"] == draw.id and row["Project code"] == PROJECT
    assert row["Commitment"] == draw.commitment and row["Seed"] == draw.seed
    assert row["State"] == "Completed" and row["Entropy"] == "Witness values"
    assert row["Requested and announced"] == datetime(2027, 2, 20, 10, 0)  # China Standard Time
    assert row["Members"] == 5
    assert "technical A0101: 4 + " in row["Strata (name specialty: members + alternates)"]
    completed_seq = db.session.scalar(
        sa.select(LedgerEntry.seq).where(
            LedgerEntry.draw_id == draw.id, LedgerEntry.type == "draw.completed"
        )
    )
    covering = db.session.scalar(
        sa.select(sa.func.min(Checkpoint.size)).where(Checkpoint.size > completed_seq)
    )
    assert row["Covering checkpoint (size)"] == covering
    cells = {str(value) for sheet in book.values() for line in sheet for value in line}
    assert [s for s in completed["hidden"] if any(s in cell for cell in cells)] == []
    assert ledger_size() == before  # no identities, so no opening of the sealed list


def test_the_export_headers_are_in_the_users_language(app, completed: dict[str, Any], login):
    response = login("admin").get(f"{URL}?from=2027-02-20&to=2027-02-20")
    header = sheets(response.data)["draws"][0]
    assert header[0] == "抽取" and "承诺值" in header


def test_a_period_without_draws_gives_only_the_header(app, completed: dict[str, Any], login):
    response = login("sup1").get(f"{URL}?from=2026-01-01&to=2026-12-31")
    assert response.mimetype == XLSX
    assert len(sheets(response.data)["draws"]) == 1


def test_the_form_is_shown_without_a_period(app, completed: dict[str, Any], login):
    page = login("sup1").get(URL)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'name="from"' in html and 'name="to"' in html
    assert "error-summary" not in html


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("to=2027-02-28", "from"),
        ("from=2027-02-01", "to"),
        ("from=2027-02-30&to=2027-03-05", "from"),
        ("from=2027-02-01&to=tomorrow", "to"),
        ("from=2027-02-10&to=2027-02-09", "to"),
        ("from=2026-01-01&to=2027-01-02", "to"),
    ],
)
def test_a_bad_period_is_refused_beside_its_field(
    app, completed: dict[str, Any], login, query: str, field: str
):
    page = login("sup1").get(f"{URL}?{query}")
    html = page.get_data(as_text=True)
    assert page.status_code == 422 and page.mimetype == "text/html"
    assert f'id="f-{field}-error"' in html
    other = ({"from", "to"} - {field}).pop()
    assert f'id="f-{other}-error"' not in html


def test_a_leap_year_is_the_longest_period(app, completed: dict[str, Any], login):
    response = login("sup1").get(f"{URL}?from=2028-01-01&to=2028-12-31")
    assert response.status_code == 200 and response.mimetype == XLSX


def test_a_project_manager_may_not_export_draws(app, completed: dict[str, Any], login):
    client = login("pm")
    assert client.get(URL).status_code == 403
    assert client.get(f"{URL}?from=2027-02-01&to=2027-02-28").status_code == 403


def test_the_draws_list_links_to_the_export(app, completed: dict[str, Any], login):
    html = login("sup1").get("/supervisor/draws").get_data(as_text=True)
    assert f'href="{URL}"' in html
