"""Bad input that once got past the checks: each is refused with the field or line named,
changes nothing, and never reaches the database as a 500."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from openpyxl import Workbook
from openpyxl.styles import Font

from expertdraw import clock, create_app
from expertdraw.config import ConfigError
from expertdraw.extensions import db
from expertdraw.models import Expert, Project
from expertdraw.services import imports, ledger, projects, seed
from expertdraw.settings_file import read as read_settings
from tests.integration import centre as c
from tests.integration.test_import import EXPERT_HEADER, ID_1, ID_2, id_number, write_csv
from tests.web.conftest import csrf_of

HUGE = "99999999999999999999"


def test_a_page_request_body_is_limited_to_16_mb(app, client):
    assert app.config["MAX_CONTENT_LENGTH"] == 16 * 1024 * 1024
    body = b"username=a&password=b&filler=" + b"x" * (16 * 1024 * 1024)
    response = client.post(
        "/login?lang=en", data=body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 413
    assert "The file is too large" in response.get_data(as_text=True)


def test_numbers_beyond_the_databases_integers_are_refused_beside_their_field(centre, login):
    sup = login("sup1")
    receipt = sup.get(f"/supervisor/ledger/receipt?seq={HUGE}&lang=en")
    assert receipt.status_code == 422
    assert "Enter an entry number" in receipt.get_data(as_text=True)
    page = sup.get("/supervisor/ledger").get_data(as_text=True)
    data = {
        "csrf_token": csrf_of(page),
        "checkpoint": HUGE,
        "verifier_key": "a+b+c",
        "signature_line": "x",
    }
    cosign = sup.post("/supervisor/ledger/cosign?lang=en", data=data)
    assert cosign.status_code == 422
    assert "no checkpoint was chosen" in cosign.get_data(as_text=True)


@pytest.fixture
def reference(app):
    ledger.create_log()
    db.session.commit()
    seed.seed_reference()
    return app


def _expert_row(code: str, id_no: str, since: str, employer: str) -> list[object]:
    return [code, "李明", id_no, "13987012345", "530102", employer, "高级工程师",
            "technical", "active", "2029-12-31", "A0101", since]  # fmt: skip


@pytest.mark.parametrize(
    ("since", "message"),
    [
        ("0001-01-01", "employer_since must be a date in the years 1900 to 2099, got 0001-01-01"),
        ("2999-01-01", "employer_since must be a date in the years 1900 to 2099, got 2999-01-01"),
        ("2099-01-01", "employer_since is in the future"),
    ],
)
def test_an_impossible_employer_since_names_its_line(reference, tmp_path, since, message):
    employer = db.session.scalar(sa.text("SELECT uscc FROM organisations LIMIT 1"))
    rows = [
        _expert_row("X0000001", ID_1, "2020-01-01", employer),
        _expert_row("X0000002", ID_2, since, employer),
    ]
    path = write_csv(tmp_path / "e.csv", [*EXPERT_HEADER, "employer_since"], rows)
    result = imports.import_file("experts", path)
    assert not result.ok
    assert [(p.line, p.column, p.message) for p in result.errors] == [
        (3, "employer_since", message)
    ]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Expert)) == 0


def test_a_utf8_file_with_a_stray_byte_is_refused_naming_its_line(reference):
    """A Latin-1 ``é`` pasted into one name of a UTF-8 file: read as GB 18030 the whole file
    would decode, every Chinese name turned into other characters."""
    header = "code,name,id_number,home_region,title,kind,specialties\n"
    ids = [ID_1, ID_2, id_number("53010219800101003"), id_number("53010219800202004")]
    names = ["李明", "王芳", "Renée Wang", "刘洋"]
    rows = [
        f"M000000{n},{name},{i},530102,教授,technical,A0101\n"
        for n, (name, i) in enumerate(zip(names, ids, strict=True), start=1)
    ]
    data = (header + "".join(rows)).encode().replace("é".encode(), b"\xe9")
    result = imports.import_bytes("experts", data, "experts.csv")
    assert not result.ok
    assert "line 4: the file is UTF-8 text but for byte 0xE9" in str(result.errors[0].message)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Expert)) == 0
    gb = (header + "".join(rows).replace("é", "e")).encode("gb18030")
    assert imports.import_bytes("experts", gb, "experts.csv").ok  # GB 18030 stays welcome
    assert sorted(db.session.scalars(sa.select(Expert.name))) == sorted(
        n.replace("é", "e") for n in names
    )


def _workbook(rows: list[list[object]], *, hidden_first: bool = False, far_cell: bool = False):
    book = Workbook()
    sheet = book.active
    if hidden_first:
        sheet.title, sheet.sheet_state = "说明", "hidden"
        sheet.append(["这一页是填写说明"])
        sheet = book.create_sheet("专家")
    for row in rows:
        sheet.append(row)
    if far_cell:  # formatted but empty, at the sheet's very last cell
        sheet["XFD1048576"].font = Font(bold=True)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_an_xlsx_is_read_from_its_first_visible_sheet_and_its_header_columns(reference):
    header = ["code", "name", "id_number", "home_region", "title", "kind", "specialties"]
    row = ["M0000001", "李明", ID_1, "530102", "教授", "technical", "A0101"]
    data = _workbook([header, row], hidden_first=True, far_cell=True)
    read_header, rows = imports.read_table(data, "experts.xlsx")
    assert [h for h in read_header if h] == header and [r.cells[:7] for r in rows] == [row]
    stray = _workbook([header, [*row, None, "x"]])
    result = imports.import_bytes("experts", stray, "experts.xlsx")
    assert [(p.line, p.column) for p in result.errors] == [(2, "#9")]


def test_tenderer_representatives_are_kept_shown_and_corrected(centre, login):
    spec = projects.ProjectSpec(
        code="P-REP",
        name="代表",
        tenderer=centre.tenderer,
        region="530602",
        window_start=c.WINDOW,
        window_end=c.WINDOW + timedelta(hours=8),
        strata=[projects.StratumSpec("technical", "A0101", "technical", 4)],
        tenderer_representatives=1,
    )
    project = projects.create_project(spec, centre.users["pm"])
    assert projects.summary(project)["tenderer_representatives"] == 1
    projects.update_project(project, replace(spec, name="代表改"), centre.users["pm"])
    pm = login("pm")
    form = pm.get("/manager/projects/P-REP/edit").get_data(as_text=True)
    assert 'name="tenderer_representatives"' in form and 'value="1"' in form
    with pytest.raises(projects.ServiceError) as refused:
        projects.update_project(
            project, replace(spec, tenderer_representatives=0), centre.users["pm"]
        )
    assert refused.value.code == "committee:size"
    db.session.rollback()
    assert db.session.get(Project, project.id).tenderer_representatives == 1


def _form(centre, token: str, **fields: str) -> dict[str, str]:
    start = c.WINDOW.astimezone(ZoneInfo("Asia/Shanghai"))
    return {
        "csrf_token": token,
        "code": "P-FORM",
        "name": "表单",
        "tenderer": centre.tenderer,
        "region": "530602",
        "window_start": start.strftime("%Y-%m-%dT%H:%M"),
        "window_end": (start + timedelta(hours=8)).strftime("%Y-%m-%dT%H:%M"),
        "strata.0.specialty": "A0101",
        "strata.0.kind": "technical",
        "strata.0.count": "5",
        **fields,
    }


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("max_per_group", "abc", "At most 1 to 10 members per employer."),
        ("max_per_group", "0", "At most 1 to 10 members per employer."),
        ("tenderer_representatives", "x", "Enter the number of representatives, 0 to 10."),
        ("tenderer_representatives", "11", "Enter the number of representatives, 0 to 10."),
        ("window_start", "2027-03-01", "Enter a date and time as YYYY-MM-DD HH:MM."),
    ],
)
def test_the_project_form_refuses_what_is_not_a_number_or_a_time(
    centre, login, field, value, message
):
    pm = login("pm")
    token = csrf_of(pm.get("/manager/projects/new").get_data(as_text=True))
    response = pm.post("/manager/projects/new?lang=en", data=_form(centre, token, **{field: value}))
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(Project.id).where(Project.code == "P-FORM")) is None


def test_a_beacon_certificate_that_is_no_certificate_stops_the_start(app_config, tmp_path):
    bogus = tmp_path / "beacon.pem"
    bogus.write_text("not a certificate\n")
    with pytest.raises(ConfigError, match=r"BEACON_CERTIFICATE .* holds no PEM certificate"):
        create_app({**app_config, "BEACON_CERTIFICATE": str(bogus)})


def test_a_missing_signing_key_stops_the_start_and_the_commands_say_so(app, app_config, runner):
    with clock.frozen(c.NOW):
        ledger.create_log()
        db.session.commit()
    folder = Path(app.instance_path) / "ledger-keys"
    (pem,) = folder.glob("*.pem")
    data = pem.read_bytes()
    pem.unlink()
    with pytest.raises(ConfigError, match="has no private key file"):
        create_app(app_config)
    rotated = runner.invoke(args=["keys", "rotate", "--reason", "lost key"])
    assert rotated.exit_code == 1 and "Traceback" not in rotated.output
    assert "cannot use the ledger's signing key" in rotated.output and "missing" in rotated.output
    db.session.rollback()  # the refused command's transaction (the command's process ends)
    pem.write_bytes(data[:40])  # damaged
    with pytest.raises(ConfigError, match="cannot be read: it is damaged"):
        create_app(app_config)
    pem.write_bytes(data)
    assert create_app(app_config) is not None


def test_a_settings_file_saved_with_a_bom_is_read(tmp_path):
    path = tmp_path / "settings.toml"
    path.write_bytes("\ufeff[retention]\ndays = 30\n".encode())
    assert read_settings(path)["RETENTION_DAYS"] == 30


def test_the_project_form_lists_every_error_at_once(centre, login):
    pm = login("pm")
    token = csrf_of(pm.get("/manager/projects/new").get_data(as_text=True))
    start = c.WINDOW.astimezone(ZoneInfo("Asia/Shanghai"))
    data = _form(
        centre,
        token,
        code="P 坏",
        tenderer="91530600000000000X",
        bidders=f"{centre.bidders[0]}\n915306000000000000",
        window_end=(start - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
    )
    response = pm.post("/manager/projects/new?lang=en", data=data)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    for field in ("code", "tenderer", "bidders", "window_end"):
        assert f'id="f-{field}-error"' in html, field
    assert "Bidder 2:" in html


def test_a_supervisor_goes_back_from_the_bidders_page_to_the_draw_room(completed, login):
    html = (
        login("sup1")
        .get(f"/manager/projects/{completed['project']}/bidders")
        .get_data(as_text=True)
    )
    assert f'href="/supervisor/draws/{completed["draw"]}"' in html
    assert 'href="/manager/projects"' not in html


def test_a_drawn_projects_edit_page_says_it_can_no_longer_change(completed, login):
    pm = login("pm")
    response = pm.get(f"/manager/projects/{completed['project']}/edit?lang=en")
    assert response.status_code == 302
    assert response.location.endswith(f"/manager/projects/{completed['project']}")
    page = pm.get(response.location + "?lang=en").get_data(as_text=True)
    assert "This project has a draw: it can no longer be corrected." in page


def test_a_link_the_role_does_not_take_is_refused(centre, login):
    admin = login("admin")
    token = csrf_of(admin.get("/admin/users").get_data(as_text=True))
    venue = db.session.scalar(sa.text("SELECT id FROM venues LIMIT 1"))
    data = {
        "csrf_token": token,
        "username": "supx",
        "password": "a long enough password",
        "role": "supervisor",
        "venue_id": venue,
    }
    response = admin.post("/admin/users?lang=en", data=data)
    assert response.status_code == 422
    assert "Only a venue staff account is linked to a venue." in response.get_data(as_text=True)
    assert db.session.scalar(sa.text("SELECT count(*) FROM users WHERE username = 'supx'")) == 0


def test_a_workbook_that_would_unpack_far_beyond_its_size_is_refused_unread(reference):
    """A zip bomb: a few kilobytes that unpack to megabytes of one repeated byte."""
    import zipfile

    header = ["code", "name", "id_number", "home_region", "title", "kind", "specialties"]
    honest = _workbook([header, ["M0000001", "李明", ID_1, "530102", "教授", "technical", "A0101"]])
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(honest)) as source,
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bomb,
    ):
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(b"</worksheet>", b"<!--" + b" " * (8 * 1024 * 1024) + b"-->"
                                    b"</worksheet>")  # fmt: skip
            bomb.writestr(item, data)
    assert len(buffer.getvalue()) < 64 * 1024
    result = imports.import_bytes("experts", buffer.getvalue(), "experts.xlsx")
    assert not result.ok and "would unpack to 8 MB" in str(result.errors[0].message)
    assert imports.import_bytes("experts", honest, "experts.xlsx").ok


def test_an_xlsx_value_far_right_of_the_header_is_named_not_dropped(reference):
    """Only the header's columns and a margin are padded and returned (a formatted, empty cell
    at the sheet's edge costs nothing), yet a value beyond them is still a stray cell."""
    header = ["code", "name", "id_number", "home_region", "title", "kind", "specialties"]
    row = ["M0000001", "李明", ID_1, "530102", "教授", "technical", "A0101"]
    book = Workbook()
    sheet = book.active
    for values in (header, row, row):
        sheet.append(values)
    far = len(header) + imports.STRAY_MARGIN + 1
    sheet.cell(row=3, column=far, value="另见备注")
    sheet["XFD2"] = "另有说明"
    sheet["XFD1048576"].font = Font(bold=True)  # formatted, empty: not a value
    buffer = io.BytesIO()
    book.save(buffer)
    result = imports.import_bytes("experts", buffer.getvalue(), "experts.xlsx")
    assert [(p.line, p.column) for p in result.errors] == [(2, "#16384"), (3, f"#{far}")]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Expert)) == 0
