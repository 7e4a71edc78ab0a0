"""The draw record as a PDF: the same record as the page, in the user's language, behind the
same purpose form, and every download is a recorded opening of the sealed list."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from pypdf import PdfReader

from expertdraw.extensions import db
from expertdraw.models import LedgerEntry
from expertdraw.services import draws, projects

from ..integration import centre as c
from .conftest import PROJECT


def openings() -> list[dict[str, Any]]:
    """Bodies of the ``list.opened`` entries, in order."""
    records = db.session.scalars(
        sa.select(LedgerEntry.record)
        .where(LedgerEntry.type == "list.opened")
        .order_by(LedgerEntry.seq)
    )
    return [json.loads(record)["entry"]["body"] for record in records]


def pdf_text(data: bytes) -> str:
    """The text of every page, lines joined."""
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_the_record_pdf_holds_the_draw_and_its_opening_is_recorded(
    app, completed: dict[str, Any], login
):
    client = login("sup1")
    url = f"/supervisor/draws/{completed['draw']}/record.pdf"
    before = len(openings())
    form = client.get(url)
    assert form.status_code == 200 and f'action="{url}"' in form.get_data(as_text=True)
    assert len(openings()) == before  # asking for the purpose opens nothing

    response = client.post(url, data={"purpose": "archive the record"})
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF")
    assert "no-store" in response.headers["Cache-Control"]
    assert completed["draw"] in response.headers["Content-Disposition"]

    text = pdf_text(response.data)
    draw = draws.get_draw(completed["draw"])
    for value in (PROJECT, draw.id, draw.commitment, draw.seed, draw.snapshot_hash):
        assert value in text
    for label in ("抽取记录表", "承诺值", "成员及席位"):  # Chinese, the default language
        assert label in text
    codes = {s for s in completed["hidden"] if s.startswith("E")}
    assert all(code in text for code in codes)
    names = completed["hidden"] - codes
    assert [n for n in names if n in text] == []  # codes only, as on the page
    assert "archive the record" in text

    recorded = openings()
    assert len(recorded) == before + 1
    assert recorded[-1]["draw"] == completed["draw"]
    assert recorded[-1]["purpose"] == "archive the record"


def test_the_record_pdf_is_in_the_users_language(app, completed: dict[str, Any], login):
    client = login("sup2")
    response = client.post(
        f"/supervisor/draws/{completed['draw']}/record.pdf?lang=en", data={"purpose": "audit"}
    )
    text = pdf_text(response.data)
    assert "Draw record" in text and "Commitment" in text and "Witnesses: 2 of 2" in text
    assert "抽取记录表" not in text


def test_the_record_pdf_needs_a_purpose(app, completed: dict[str, Any], login):
    client = login("admin")
    before = len(openings())
    refused = client.post(f"/supervisor/draws/{completed['draw']}/record.pdf", data={"purpose": ""})
    assert refused.status_code == 422
    assert refused.mimetype == "text/html" and 'id="f-purpose-error"' in refused.get_data(
        as_text=True
    )
    assert len(openings()) == before


def test_a_project_manager_may_not_open_the_record_pdf(app, completed: dict[str, Any], login):
    client = login("pm")
    before = len(openings())
    url = f"/supervisor/draws/{completed['draw']}/record.pdf"
    assert client.get(url).status_code == 403
    refused = client.post(url, data={"purpose": "curious"})
    assert refused.status_code == 403 and not refused.data.startswith(b"%PDF")
    assert len(openings()) == before


def test_the_record_page_offers_its_pdf_with_the_same_purpose(
    app, completed: dict[str, Any], login
):
    client = login("sup1")
    html = client.post(
        f"/supervisor/draws/{completed['draw']}/record", data={"purpose": "hearing 7"}
    ).get_data(as_text=True)
    assert f'action="/supervisor/draws/{completed["draw"]}/record.pdf"' in html
    assert 'name="purpose" value="hearing 7"' in html


def test_witness_values_show_as_the_list_that_enters_the_seed(app, centre, login):
    """Witness values are shown as their canonical JSON list (``a, b`` is one value, not
    two), and a Chinese value prints in the PDF instead of a missing glyph."""
    from expertdraw.services import projects

    from .conftest import project_spec

    project = projects.create_project(project_spec(centre), centre.users["pm"])
    draw = draws.announce(project, centre.users["pm"], {"kind": "witness", "witnesses": 2})
    draws.add_witness(draw, centre.users["sup1"], "王五")
    draws.add_witness(draws.get_draw(draw.id), centre.users["sup2"], "a, b")
    client = login("sup1")
    room = client.get(f"/supervisor/draws/{draw.id}").get_data(as_text=True)
    assert "data-entropy-value>[&#34;王五&#34;,&#34;a, b&#34;]</code>" in room
    pdf = client.post(f"/supervisor/draws/{draw.id}/record.pdf", data={"purpose": "archive"})
    assert '["王五","a, b"]' in pdf_text(pdf.data).replace("\n", "")


def test_a_failed_draws_record_keeps_the_window_and_strata_it_was_drawn_for(app, centre, login):
    """A project corrected after its draw failed (window a week later, a bigger technical
    stratum): the failed draw's record, page and PDF, shows what that draw was made from."""
    project = projects.create_project(c.project_spec(centre, PROJECT), centre.users["pm"])
    first = draws.announce(project, centre.users["pm"], {"kind": "witness", "witnesses": 1})
    draws.fail(first, "timeout:entropy", None)
    moved = c.WINDOW + timedelta(days=7)
    strata = [
        projects.StratumSpec("technical", "A0101", "technical", 6, 3),
        projects.StratumSpec("economic", "C0301", "economic", 1, 1),
    ]
    projects.update_project(
        projects.get_project(PROJECT),
        c.project_spec(
            centre,
            PROJECT,
            window_start=moved,
            window_end=moved + timedelta(hours=8),
            strata=strata,
        ),
        centre.users["pm"],
    )
    client = login("sup1")
    page = client.post(
        f"/supervisor/draws/{first.id}/record?lang=en", data={"purpose": "audit the failed draw"}
    )
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "2027-03-01 09:00" in html and "2027-03-08" not in html
    assert "<td>4</td><td>2</td>" in html and "<td>6</td><td>3</td>" not in html
    document = client.post(
        f"/supervisor/draws/{first.id}/record.pdf?lang=en", data={"purpose": "audit"}
    )
    text = pdf_text(document.data)
    assert "2027-03-01 09:00" in text and "2027-03-08" not in text
