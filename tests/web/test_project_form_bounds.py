"""The project form refuses text its columns cannot hold, beside the field, with nothing
written (on PostgreSQL it would otherwise be a 500; SQLite would store it)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from expertdraw.extensions import db
from expertdraw.models import LedgerEntry, Project

from .test_manager_pages import error_of, form


def _counts() -> tuple[int, int]:
    return (
        db.session.scalar(sa.select(sa.func.count(Project.id))),
        db.session.scalar(sa.select(sa.func.count(LedgerEntry.seq))),
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("code", "P" * 40),  # projects.code is String(32)
        ("name", "项" * 301),  # projects.name is String(300); the API refuses 301
        ("strata.0.name", "T" * 40),  # strata.name is String(32)
    ],
    ids=["code of 40", "name of 301", "stratum name of 40"],
)
def test_project_form_text_longer_than_its_column_is_refused_beside_it(
    app, centre, login, field, value
):
    before = _counts()
    page = login("pm").post("/manager/projects/new?lang=en", data=form(centre, **{field: value}))
    assert page.status_code == 422
    assert error_of(page.get_data(as_text=True), field), field
    assert _counts() == before
