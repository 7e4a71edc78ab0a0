"""Importing experts, organisations and venues from CSV and XLSX: all or nothing."""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from openpyxl import Workbook

from expertdraw.domain.codes import id_check_char, uscc_check_char
from expertdraw.extensions import db
from expertdraw.models import Employment, Expert, Organisation, Room, Venue, Workstation
from expertdraw.services import imports, places, seed

TODAY = date(2026, 11, 27)
ORG_HEADER = ["uscc", "name", "kind", "region_code", "parent_uscc"]
EXPERT_HEADER = [
    "code",
    "name",
    "id_number",
    "phone",
    "home_region",
    "employer_uscc",
    "title",
    "kind",
    "status",
    "qualification_expiry",
    "specialties",
]
VENUE_HEADER = [
    "venue_id",
    "venue_name",
    "region_code",
    "address",
    "room_id",
    "room_name",
    "workstation_id",
]


def uscc(body: str) -> str:
    """A valid code from 17 characters."""
    return body + uscc_check_char(body)


def wrong_check(code: str) -> str:
    return code[:17] + ("1" if code[17] != "1" else "2")


def id_number(first17: str) -> str:
    return first17 + id_check_char(first17)


ORG_A = uscc("91530602MA6K00001")
ORG_B = uscc("91530102MA6K00002")
ID_1 = id_number("53010219750312001")
ID_2 = id_number("53290119820704002")


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_xlsx(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    workbook.save(path)
    return path


def count(model: type) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


@pytest.fixture
def reference(app):
    """Regions, specialties, organisations and venues of the seed, no experts; the ledger
    created (``flask init``)."""
    from expertdraw.services import ledger

    ledger.create_log()
    db.session.commit()
    seed.seed_reference()
    return app


def org_rows() -> list[list[object]]:
    return [
        [ORG_A, "昭通示例建设工程有限公司", "bidder", "530602", ""],
        [ORG_B, "云南示例工程咨询有限公司", "agency", "530102", ORG_A],
    ]


def expert_rows() -> list[list[object]]:
    return [
        ["X0000001", "李明", ID_1, "13987012345", "530102", "", "高级工程师", "technical",
         "active", "2029-12-31", "A010101;A0101"],
        ["X0000002", "王芳", ID_2, "13887054321", "532901", "", "高级经济师", "economic",
         "", "", "C030101"],
    ]  # fmt: skip


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_organisations_import_inserts_rows_and_links_parents(reference, tmp_path, fmt):
    rows = org_rows()
    if fmt == "xlsx":  # a region code typed as a number is fine (it has no leading zero)
        rows = [[*row[:3], int(row[3]), row[4]] for row in rows]
    writer = write_csv if fmt == "csv" else write_xlsx
    path = writer(tmp_path / f"orgs.{fmt}", ORG_HEADER, rows)
    before = count(Organisation)

    result = imports.import_file("organisations", path)

    assert result.errors == []
    assert result.inserted == {"organisations": 2}
    assert count(Organisation) == before + 2
    a, b = (
        db.session.scalars(sa.select(Organisation).where(Organisation.uscc == c)).one()
        for c in (ORG_A, ORG_B)
    )
    assert b.parent_id == a.id and a.kind == "bidder"


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_one_bad_credit_code_writes_nothing_and_names_its_line_and_column(reference, tmp_path, fmt):
    rows = [
        *org_rows(),
        [wrong_check(uscc("91530621MA6K00003")), "鲁甸示例公司", "bidder", "530621", ""],
    ]
    writer = write_csv if fmt == "csv" else write_xlsx
    path = writer(tmp_path / f"orgs.{fmt}", ORG_HEADER, rows)
    before = count(Organisation)

    result = imports.import_file("organisations", path)

    assert not result.ok
    assert [(e.line, e.column) for e in result.errors] == [(4, "uscc")]
    assert "check character" in result.errors[0].message
    assert result.inserted == {}
    assert count(Organisation) == before


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_experts_import_inserts_and_encrypts_personal_data(reference, tmp_path, fmt):
    rows = expert_rows()
    rows[0][5] = seed.read_csv(seed.data_dir(), "organisations")[30]["uscc"]
    writer = write_csv if fmt == "csv" else write_xlsx
    path = writer(tmp_path / f"experts.{fmt}", EXPERT_HEADER, rows)

    result = imports.import_file("experts", path, today=TODAY)

    assert result.errors == []
    assert result.inserted["experts"] == 2
    assert result.inserted["expert_specialties"] == 3
    assert result.inserted["employments"] == 1
    db.session.expire_all()
    first = db.session.scalars(sa.select(Expert).where(Expert.code == "X0000001")).one()
    assert first.id_number == ID_1 and first.phone == "13987012345"
    assert first.qualification_expiry == date(2029, 12, 31)
    assert {s.specialty_code for s in first.specialties} == {"A010101", "A0101"}
    job = db.session.scalars(sa.select(Employment).where(Employment.expert_id == first.id)).one()
    assert job.organisation_id == first.employer_id and job.start == TODAY and job.end is None
    second = db.session.scalars(sa.select(Expert).where(Expert.code == "X0000002")).one()
    assert second.status == "active" and second.employer_id is None
    for raw_id, raw_phone in db.session.execute(sa.text("SELECT id_number, phone FROM experts")):
        assert ID_1.encode() not in bytes(raw_id) and ID_2.encode() not in bytes(raw_id)
        assert b"13987012345" not in bytes(raw_phone)


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_one_bad_identity_number_writes_nothing_and_names_its_line_and_column(
    reference, tmp_path, fmt
):
    rows = expert_rows()
    rows.insert(1, ["X0000003", "赵强", ID_2[:17] + ("0" if ID_2[17] != "0" else "1"), "",
                    "530102", "", "高级工程师", "technical", "", "", "A010101"])  # fmt: skip
    writer = write_csv if fmt == "csv" else write_xlsx
    path = writer(tmp_path / f"experts.{fmt}", EXPERT_HEADER, rows)

    result = imports.import_file("experts", path, today=TODAY)

    assert [(e.line, e.column) for e in result.errors] == [(3, "id_number")]
    assert "check digit" in result.errors[0].message
    assert count(Expert) == 0


def test_every_problem_is_reported_with_line_and_column(reference, tmp_path):
    rows = expert_rows()
    rows.append(["X0000001", "", ID_1, "12345", "999999", wrong_check(ORG_A), "工程师",
                 "manager", "asleep", "31/12/2029", "Z99"])  # fmt: skip
    path = write_csv(tmp_path / "experts.csv", EXPERT_HEADER, rows)

    result = imports.import_file("experts", path, today=TODAY)

    found = {(e.line, e.column) for e in result.errors}
    assert found == {
        (4, "code"),  # repeats line 2
        (4, "name"),
        (4, "id_number"),  # repeats line 2
        (4, "phone"),
        (4, "home_region"),
        (4, "employer_uscc"),
        (4, "kind"),
        (4, "status"),
        (4, "qualification_expiry"),
        (4, "specialties"),
    }
    assert count(Expert) == 0


def test_reimport_updates_by_expert_code_and_refuses_a_taken_identity_number(reference, tmp_path):
    path = write_csv(tmp_path / "experts.csv", EXPERT_HEADER, expert_rows())
    assert imports.import_file("experts", path, today=TODAY).ok
    rows = expert_rows()
    rows[0][6] = "正高级工程师"
    rows[0][10] = "A020101"
    again = imports.import_file(
        "experts", write_csv(tmp_path / "again.csv", EXPERT_HEADER, rows), today=TODAY
    )
    assert again.ok and again.inserted["experts"] == 0 and again.updated == {"experts": 2}
    db.session.expire_all()
    first = db.session.scalars(sa.select(Expert).where(Expert.code == "X0000001")).one()
    assert first.title == "正高级工程师"
    assert {s.specialty_code for s in first.specialties} == {"A020101"}
    # The specialty decides eligibility, so its change is on the record, as on the admin page;
    # the title does not.
    assert _pool_changes() == [
        {
            "expert": "X0000001",
            "field": "specialty",
            "from": "A0101,A010101",
            "to": "A020101",
            "reason": "imported",
        }
    ]
    rows[0][8] = "suspended"
    rows[1][4] = "530102"
    suspend = imports.import_file(
        "experts", write_csv(tmp_path / "suspend.csv", EXPERT_HEADER, rows), today=TODAY
    )
    assert suspend.ok
    assert [(c["expert"], c["field"], c["from"], c["to"]) for c in _pool_changes()[1:]] == [
        ("X0000001", "status", "active", "suspended"),
        ("X0000002", "region", "532901", "530102"),
    ]

    thief = [["X0000009", "钱七", ID_2, "", "530102", "", "高级工程师", "technical", "", "",
              "A010101"]]  # fmt: skip
    result = imports.import_file("experts", write_csv(tmp_path / "t.csv", EXPERT_HEADER, thief))
    assert [(e.line, e.column) for e in result.errors] == [(2, "id_number")]
    assert "X0000002" in result.errors[0].message
    assert count(Expert) == 2


def _pool_changes() -> list[dict]:
    import json

    from expertdraw.models import LedgerEntry

    records = db.session.scalars(
        sa.select(LedgerEntry.record)
        .where(LedgerEntry.type == "pool.changed")
        .order_by(LedgerEntry.seq)
    )
    return [json.loads(r)["entry"]["body"] for r in records]


def test_missing_and_unknown_columns_are_reported_on_the_header_line(reference, tmp_path):
    header = [c for c in EXPERT_HEADER if c != "title"] + ["colour"]
    rows = [[*r[:6], *r[7:], "red"] for r in expert_rows()]
    result = imports.import_file("experts", write_csv(tmp_path / "e.csv", header, rows))
    assert {(e.line, e.column) for e in result.errors} == {(1, "title"), (1, "colour")}


def test_chinese_headers_and_gb18030_csv_are_accepted(reference, tmp_path):
    header = ["统一社会信用代码", "单位名称", "单位类型", "行政区划代码"]
    text = io.StringIO()
    csv.writer(text).writerows([header, [ORG_A, "昭通示例建设工程有限公司", "bidder", "530602"]])
    path = tmp_path / "orgs.csv"
    path.write_bytes(text.getvalue().encode("gb18030"))
    result = imports.import_file("organisations", path)
    assert result.ok and result.inserted == {"organisations": 1}


def test_an_identity_number_typed_as_a_number_in_excel_is_refused(reference, tmp_path):
    rows = expert_rows()
    rows[1][2] = 532901198207040020  # what Excel makes of an unquoted ID number
    result = imports.import_file("experts", write_xlsx(tmp_path / "e.xlsx", EXPERT_HEADER, rows))
    assert [(e.line, e.column) for e in result.errors] == [(3, "id_number")]
    assert "text cell" in result.errors[0].message


def test_xlsx_rows_are_numbered_as_in_the_sheet_even_after_a_blank_row(reference, tmp_path):
    rows = [*org_rows(), [None] * 5, ["91530602MA6K0000X", "坏", "bidder", "530602", ""]]
    result = imports.import_file("organisations", write_xlsx(tmp_path / "o.xlsx", ORG_HEADER, rows))
    assert [(e.line, e.column) for e in result.errors] == [(5, "uscc")]


def venue_rows() -> list[list[object]]:
    rows = []
    for room, seats in (("V530699-R01", 3), ("V530699-R02", 2)):
        for n in range(1, seats + 1):
            rows.append(["V530699", "示例评标场地", "530602", "昭阳区示例路1号", room,
                         f"评标室{room[-2:]}", f"{room}-W{n:02d}"])  # fmt: skip
    return rows


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_venues_import_creates_venue_rooms_and_workstations(reference, tmp_path, fmt):
    writer = write_csv if fmt == "csv" else write_xlsx
    result = imports.import_file(
        "venues", writer(tmp_path / f"v.{fmt}", VENUE_HEADER, venue_rows())
    )
    assert result.errors == []
    assert result.inserted == {"venues": 1, "rooms": 2, "workstations": 5}
    venue = db.session.get(Venue, "V530699")
    assert [len(r.workstations) for r in venue.rooms] == [3, 2]


def test_venue_rows_must_agree_and_must_not_move_seeded_rooms(reference, tmp_path):
    rows = venue_rows()
    rows[2][1] = "另一个名字"  # venue name differs from line 2
    rows[3][6] = rows[0][6]  # workstation repeats line 2
    rows.append(
        [
            "V530699",
            "示例评标场地",
            "530602",
            "昭阳区示例路1号",
            "V530602-R01",
            "评标室01",
            "V530699-X",
        ]
    )
    before = (count(Venue), count(Room), count(Workstation))

    result = imports.import_file("venues", write_csv(tmp_path / "v.csv", VENUE_HEADER, rows))

    assert {(e.line, e.column) for e in result.errors} == {
        (4, "venue_name"),
        (5, "workstation_id"),
        (7, "room_id"),  # V530602-R01 belongs to the seeded V530602
    }
    assert (count(Venue), count(Room), count(Workstation)) == before


def test_cli_import_reports_errors_and_exits_non_zero(reference, runner, tmp_path):
    rows = [*org_rows(), [wrong_check(ORG_A), "坏", "bidder", "530602", ""]]
    bad = write_csv(tmp_path / "bad.csv", ORG_HEADER, rows)
    result = runner.invoke(args=["import-data", "organisations", str(bad)])
    assert result.exit_code == 1
    assert "line 4, column uscc" in result.output
    good = write_csv(tmp_path / "good.csv", ORG_HEADER, org_rows())
    result = runner.invoke(args=["import-data", "organisations", str(good)])
    assert result.exit_code == 0, result.output
    assert "organisations: 2 inserted" in result.output


def test_the_seed_pool_imports_as_one_file(reference, tmp_path):
    """3,000 experts (COPY on PostgreSQL) in one all-or-nothing import."""
    data = seed.data_dir()
    held: dict[str, list[str]] = {}
    for row in seed.read_csv(data, "expert_specialties"):
        held.setdefault(row["expert_code"], []).append(row["specialty_code"])
    experts = seed.read_csv(data, "experts")
    header = [*experts[0].keys(), "specialties"]
    rows = [[*e.values(), ";".join(held[e["code"]])] for e in experts]
    path = write_csv(tmp_path / "pool.csv", header, rows)

    result = imports.import_file("experts", path, today=TODAY)

    assert result.errors == []
    assert result.inserted["experts"] == len(experts) == count(Expert)
    employed = sum(1 for e in experts if e["employer_uscc"])
    assert result.inserted["employments"] == employed
    last = db.session.scalars(sa.select(Expert).where(Expert.code == experts[-1]["code"])).one()
    assert last.id_number == experts[-1]["id_number"]
    assert {s.specialty_code for s in last.specialties} == set(held[last.code])


def test_an_xlsx_whose_sheet_is_damaged_is_refused_as_unreadable(reference, tmp_path):
    """The zip opens but its sheet's XML is cut short: read-only mode parses it while the rows
    are read, and that damage is an unreadable file too, with nothing written."""
    import zipfile

    good = write_xlsx(tmp_path / "o.xlsx", ORG_HEADER, org_rows())
    damaged = tmp_path / "damaged.xlsx"
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(damaged, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = data[:-40]
            target.writestr(item, data)
    before = db.session.scalar(sa.select(sa.func.count(Organisation.id)))
    result = imports.import_file("organisations", damaged)
    assert [e.line for e in result.errors] == [1]
    assert "cannot be read" in result.errors[0].message
    assert db.session.scalar(sa.select(sa.func.count(Organisation.id))) == before


def test_unreadable_or_ambiguous_cells_are_refused_naming_line_and_column(reference, tmp_path):
    """A NUL or escape in a cell, a TRUE/FALSE cell, a phone or identity number in
    full-width digits: each an error at its line and column, and nothing written."""
    full_width = str.maketrans("0123456789", "０１２３４５６７８９")
    rows = expert_rows()
    rows[0][1] = "李\x00明"
    rows[1][3] = "13887054321".translate(full_width)
    result = imports.import_file("experts", write_csv(tmp_path / "e.csv", EXPERT_HEADER, rows))
    assert [(e.line, e.column) for e in result.errors] == [(2, "name"), (3, "phone")]
    rows = expert_rows()
    rows[0][0] = True
    rows[1][2] = ID_2[:17].translate(full_width) + ID_2[17]
    result = imports.import_file("experts", write_xlsx(tmp_path / "e.xlsx", EXPERT_HEADER, rows))
    assert [(e.line, e.column) for e in result.errors] == [(2, "code"), (3, "id_number")]
    assert "TRUE/FALSE" in result.errors[0].message
    assert db.session.scalar(sa.select(sa.func.count(Expert.id)).where(Expert.code.like("X%"))) == 0


def test_values_the_import_would_drop_or_misread_are_errors(reference, tmp_path):
    """A value beyond the header's columns, a date not written YYYY-MM-DD, an empty file:
    each named, nothing written."""
    rows = [[*org_rows()[0], "多出的值"], org_rows()[1]]
    result = imports.import_file("organisations", write_csv(tmp_path / "o.csv", ORG_HEADER, rows))
    assert [(e.line, e.column) for e in result.errors] == [(2, "#6")]
    rows = expert_rows()
    rows[0][9] = "20291231"
    rows[1][9] = "2030-W01-1"
    result = imports.import_file("experts", write_csv(tmp_path / "e.csv", EXPERT_HEADER, rows))
    assert [(e.line, e.column) for e in result.errors] == [
        (2, "qualification_expiry"),
        (3, "qualification_expiry"),
    ]
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    result = imports.import_file("experts", empty)
    assert [(e.line, e.message) for e in result.errors] == [
        (1, "the file is empty: the first line names the columns")
    ]
    assert db.session.scalar(sa.select(sa.func.count(Expert.id)).where(Expert.code.like("X%"))) == 0


def test_a_file_with_more_problems_than_are_listed_says_how_many(reference, tmp_path, runner):
    """The problems listed stop at MAX_ERRORS; the count says how many there are in all."""
    bad = [[f"X{n:07d}", "某", "123", "", "530102", "", "工程师", "technical", "", "", "A0101"]
           for n in range(imports.MAX_ERRORS + 5)]  # fmt: skip
    path = write_csv(tmp_path / "bad.csv", EXPERT_HEADER, bad)
    result = imports.import_file("experts", path)
    assert len(result.errors) == imports.MAX_ERRORS
    assert result.problems == imports.MAX_ERRORS + 5 == result.as_dict()["problems"]
    done = runner.invoke(args=["import-data", "experts", str(path)])
    assert done.exit_code == 1
    assert f"{imports.MAX_ERRORS + 5} error(s) (the first {imports.MAX_ERRORS} shown)" in (
        done.output
    )
    assert count(Expert) == 0


def test_an_expert_removed_by_import_can_sign_in_no_more(reference, tmp_path):
    """Removal from the pool closes the expert's account: tokens revoked, no new sign-in."""
    from expertdraw.models import ApiToken
    from expertdraw.services import auth as auth_service
    from expertdraw.services.users import create_user

    assert imports.import_file(
        "experts", write_csv(tmp_path / "e.csv", EXPERT_HEADER, expert_rows()), today=TODAY
    ).ok
    expert_id = db.session.scalar(sa.select(Expert.id).where(Expert.code == "X0000001"))
    user = create_user("x1-user", "a long password", "expert", expert_id=expert_id)
    db.session.commit()
    auth_service.issue_token(user, "phone")
    rows = expert_rows()
    rows[0][8] = "removed"
    assert imports.import_file(
        "experts", write_csv(tmp_path / "r.csv", EXPERT_HEADER, rows), today=TODAY
    ).ok
    db.session.expire_all()
    assert db.session.get(type(user), user.id).active is False
    assert db.session.scalar(sa.select(ApiToken.revoked_at)) is not None
    with pytest.raises(auth_service.BadCredentials):
        auth_service.authenticate("x1-user", "a long password")


def test_a_blank_status_keeps_a_known_experts_status_and_makes_a_new_one_active(
    reference, tmp_path
):
    """A blank status cell states nothing: re-importing the pool file does not lift a
    suspension made since (on the admin page, say), while a new expert starts active and a
    stated status still changes it."""
    from expertdraw.services import experts
    from expertdraw.services.users import create_user

    rows = expert_rows()
    rows[0][8] = ""
    assert imports.import_file(
        "experts", write_csv(tmp_path / "e.csv", EXPERT_HEADER, rows), today=TODAY
    ).ok
    admin = create_user("pool-admin", "a long password", "admin")
    experts.set_status("X0000001", "suspended", "penalty", admin)
    changes = len(_pool_changes())

    again = imports.import_file(
        "experts", write_csv(tmp_path / "again.csv", EXPERT_HEADER, rows), today=TODAY
    )

    assert again.ok
    db.session.expire_all()
    status = dict(db.session.execute(sa.select(Expert.code, Expert.status)).all())
    assert (status["X0000001"], status["X0000002"]) == ("suspended", "active")
    assert len(_pool_changes()) == changes
    rows[0][8] = "active"
    stated = imports.import_file(
        "experts", write_csv(tmp_path / "stated.csv", EXPERT_HEADER, rows), today=TODAY
    )
    assert stated.ok
    assert _pool_changes()[-1]["to"] == "active"


def test_a_blank_active_cell_keeps_a_workstation_out_of_service(reference, tmp_path):
    """A venues file with an ``active`` column that one row leaves blank: that row's
    workstation, taken out of service meanwhile, stays out (a blank cell states nothing); a
    stated 0 or 1 still sets it, and a new workstation with a blank cell is in service."""
    header = [*VENUE_HEADER, "active"]
    rows = [[*row, ""] for row in venue_rows()]
    rows[0][-1] = "1"
    assert imports.import_file("venues", write_csv(tmp_path / "v.csv", header, rows)).ok
    blank, stated = rows[1][6], rows[0][6]
    assert db.session.get(Workstation, blank).active is True
    places.set_in_service("workstation", blank, False)
    places.set_in_service("workstation", stated, False)
    again = imports.import_file("venues", write_csv(tmp_path / "again.csv", header, rows))
    assert again.ok
    db.session.expire_all()
    assert db.session.get(Workstation, blank).active is False
    assert db.session.get(Workstation, stated).active is True


def test_an_expert_code_that_is_an_identity_or_mobile_number_is_refused(reference, tmp_path):
    """The code names the expert in the ledger for ever: a centre that numbered its experts
    by identity or mobile number is told to give them codes of its own, and nothing is
    imported."""
    for number in (ID_1, "13812345678"):
        rows = expert_rows()[:1]
        rows[0][0] = number
        result = imports.import_file("experts", write_csv(tmp_path / "a.csv", EXPERT_HEADER, rows))
        assert not result.ok
        assert [(e.line, e.column) for e in result.errors] == [(2, "code")]
        assert db.session.scalar(sa.select(sa.func.count(Expert.id))) == 0
