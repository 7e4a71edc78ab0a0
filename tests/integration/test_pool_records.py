"""What admins change in the pool is on the record and stays within its rules: the status
switch keeps retired and removed experts out, an imported confirmation date is a
``pool.changed`` like the expert's own, and the longest e-mail address the import accepts
fits its encrypted column."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from expertdraw import clock
from expertdraw.extensions import db
from expertdraw.models import Expert, LedgerEntry, Member, Organisation
from expertdraw.personal_data import protector
from expertdraw.services import draws, experts, imports, places, projects
from expertdraw.services.errors import Conflict

from . import centre as c
from .test_import import ID_1


def _csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


@pytest.mark.parametrize("status", ["removed", "retired"])
def test_the_status_switch_does_not_bring_back_a_retired_or_removed_expert(app, status):
    with clock.frozen(c.NOW):
        centre = c.build()
        code = centre.experts[0]
        expert = db.session.scalar(sa.select(Expert).where(Expert.code == code))
        expert.status = status
        db.session.commit()
        with pytest.raises(Conflict, match=f"is {status}: only an import changes that"):
            experts.set_status(code, "active", "other", centre.users["admin"])
    db.session.rollback()
    assert db.session.scalar(sa.select(Expert.status).where(Expert.code == code)) == status


def test_an_imported_confirmation_date_is_recorded_as_the_experts_own_is(app, tmp_path):
    """Stale data excludes (rules.md): the date it is judged by is a fact of the ledger."""
    with clock.frozen(c.NOW):
        centre = c.build()
        code = centre.experts[0]
        expert = db.session.scalar(sa.select(Expert).where(Expert.code == code))
        expert.id_number, expert.id_number_hash = ID_1, protector().lookup_hash(ID_1)
        db.session.commit()
        before = expert.data_confirmed_on.isoformat() if expert.data_confirmed_on else ""
        employer = db.session.get(Organisation, expert.employer_id).uscc
        head = ["code", "name", "id_number", "home_region", "employer_uscc", "title", "kind"]
        row = [code, expert.name, ID_1, expert.home_region, employer, expert.title, expert.kind]
        path = _csv(
            tmp_path / "experts.csv",
            [
                [*head, "specialties", "data_confirmed_on"],
                [*row, "A0101", "2020-01-01"],
            ],
        )
        result = imports.import_file("experts", path)
        assert result.ok, result.errors
    records = db.session.scalars(
        sa.select(LedgerEntry.record).where(LedgerEntry.type == "pool.changed")
    )
    bodies = [json.loads(record)["entry"]["body"] for record in records]
    confirmed = [b for b in bodies if b["field"] == "data-confirmed"]
    assert [(b["expert"], b["from"], b["to"]) for b in confirmed] == [(code, before, "2020-01-01")]


def test_the_longest_address_the_import_takes_is_stored(app, tmp_path):
    """200 characters of up to four bytes each, encrypted: the column holds them (a shorter
    column made PostgreSQL refuse the write after the file had passed its checks)."""
    email = "专" * 150 + "@例子.中国"
    with clock.frozen(c.NOW):
        c.build()
        head = ["code", "name", "id_number", "home_region", "title", "kind", "specialties"]
        path = _csv(
            tmp_path / "experts.csv",
            [
                [*head, "email"],
                ["E9999999", "新专家", ID_1, "530100", "高级工程师", "technical", "A0101", email],
            ],
        )
        result = imports.import_file("experts", path)
    assert result.ok, result.errors
    stored = db.session.scalar(sa.select(Expert.email).where(Expert.code == "E9999999"))
    assert stored == email


def _seated(centre: c.Centre) -> tuple[Member, Expert]:
    project = projects.create_project(c.project_spec(centre, "P-LATER"), centre.users["pm"])
    draw = draws.announce(project, centre.users["pm"], {"kind": "witness", "witnesses": 1})
    draw = draws.add_witness(draw, centre.users["sup1"], "w")
    member = db.session.scalars(
        sa.select(Member)
        .where(Member.draw_id == draw.id, Member.state == "active")
        .order_by(Member.id)
    ).first()
    return member, db.session.get(Expert, member.expert_id)


@pytest.mark.parametrize("way", ["page", "import"])
def test_an_employer_put_under_a_bidder_takes_its_seated_employee_off(app, tmp_path, way):
    """rules.md party-employer: an employer that controls or is controlled by a party. A new
    controlling organisation, set on the page or by an import, is a later-found conflict for
    the employees on a committee of that party, who are replaced."""
    with clock.frozen(c.NOW):
        centre = c.build()
        member, expert = _seated(centre)
        employer = db.session.get(Organisation, expert.employer_id)
        if way == "page":
            places.save_organisation(
                employer.uscc,
                employer.name,
                employer.kind,
                employer.region_code,
                parent_uscc=centre.bidders[0],
                new=False,
                actor={"role": "admin", "id": centre.users["admin"].pseudonym},
            )
        else:
            head = ["uscc", "name", "kind", "region_code", "parent_uscc"]
            row = [employer.uscc, employer.name, employer.kind, employer.region_code]
            path = _csv(tmp_path / "orgs.csv", [head, [*row, centre.bidders[0]]])
            assert imports.import_file("organisations", path).ok
    db.session.refresh(member)
    assert (member.state, member.left_reason) == ("replaced", "conflict")
    replaced = db.session.scalars(
        sa.select(LedgerEntry.record).where(LedgerEntry.type == "draw.replaced")
    ).all()
    assert len(replaced) == 1
