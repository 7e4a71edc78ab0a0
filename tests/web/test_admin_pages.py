"""Administrator's pages: expert search, suspend / reactivate (``pool.changed``), venues,
organisations, users (create with errors beside fields), keys, imports (all or nothing)."""

from __future__ import annotations

import io
import json

import sqlalchemy as sa

from expertdraw.domain.codes import id_check_char
from expertdraw.extensions import db
from expertdraw.models import Expert, LedgerEntry, User

from ..integration import centre as c


def last_entry() -> dict:
    record = db.session.scalars(sa.select(LedgerEntry.record).order_by(LedgerEntry.seq.desc()))
    return json.loads(record.first())["entry"]


def test_experts_are_found_by_code_or_name(app, centre, login):
    client = login("admin")
    by_code = client.get("/admin/experts?q=E000001").get_data(as_text=True)
    assert 'data-expert="E0000010"' in by_code and 'data-expert="E0000020"' not in by_code
    by_name = client.get("/admin/experts?q=专家2").get_data(as_text=True)
    assert 'data-expert="E0000002"' in by_name and 'data-expert="E0000001"' not in by_name


def test_suspending_needs_a_reason_and_is_logged(app, centre, login):
    client = login("admin")
    refused = client.post(
        "/admin/experts/E0000007/status", data={"status": "suspended", "q": "E0000007"}
    )
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    # The list the admin was looking at, with the row to correct and the error beside it.
    assert 'data-expert="E0000007"' in html and 'href="#f-reason-E0000007"' in html
    assert 'id="f-reason-E0000007"' in html
    assert db.session.scalar(sa.select(Expert.status).where(Expert.code == "E0000007")) == "active"
    done = client.post(
        "/admin/experts/E0000007/status", data={"status": "suspended", "reason": "penalty"}
    )
    assert done.status_code == 302
    assert last_entry()["type"] == "pool.changed"
    assert last_entry()["body"] == {
        "expert": "E0000007",
        "field": "status",
        "from": "active",
        "to": "suspended",
        "reason": "penalty",
    }
    client.post(
        "/admin/experts/E0000007/status", data={"status": "active", "reason": "review-cleared"}
    )
    assert db.session.scalar(sa.select(Expert.status).where(Expert.code == "E0000007")) == "active"


def test_reference_pages_list_venues_organisations_and_keys(app, centre, login):
    client = login("admin")
    venues = client.get("/admin/venues").get_data(as_text=True)
    assert "V530100-0-R01-W01" in venues
    organisations = client.get("/admin/organisations?q=单位1").get_data(as_text=True)
    assert centre.tenderer in organisations
    keys = client.get("/admin/keys").get_data(as_text=True)
    assert "/2027a+" in keys


def test_a_user_is_created_and_errors_stand_beside_their_fields(app, centre, login):
    client = login("admin")
    short = client.post(
        "/admin/users", data={"username": "clerk1", "password": "short", "role": "supervisor"}
    )
    html = short.get_data(as_text=True)
    assert short.status_code == 422 and 'id="f-password-error"' in html
    assert 'value="clerk1"' in html
    unlinked = client.post(
        "/admin/users",
        data={"username": "e7", "password": "long enough pw", "role": "expert", "expert_code": "X"},
    )
    assert 'id="f-expert_code-error"' in unlinked.get_data(as_text=True)
    assert "专家库中没有专家编号 X。" in unlinked.get_data(as_text=True)
    made = client.post(
        "/admin/users",
        data={
            "username": "e7",
            "password": "long enough pw",
            "role": "expert",
            "expert_code": "E0000007",
            "language": "en",
        },
    )
    assert made.status_code == 302
    user = db.session.scalar(sa.select(User).where(User.username == "e7"))
    assert user.role == "expert" and user.language == "en"


def experts_csv(rows: list[list[str]]) -> bytes:
    header = "code,name,id_number,home_region,title,kind,specialties"
    return ("\n".join([header, *(",".join(r) for r in rows)]) + "\n").encode()


def test_an_import_with_a_bad_row_shows_it_and_imports_nothing(app, centre, login):
    good = "53010219900101001" + id_check_char("53010219900101001")
    wrong = "53010219900101002" + ("0" if id_check_char("53010219900101002") != "0" else "1")
    rows = [
        ["E0100001", "新专家", good, "530100", "工程师", "technical", "A0101"],
        ["E0100002", "错专家", wrong, "530100", "工程师", "technical", "A0101"],
        ["E0100001", "重复", good[:-1] + "9", "530100", "工程师", "technical", "A0101"],
    ]
    before = db.session.scalar(sa.select(sa.func.count(Expert.id)))
    client = login("admin")
    page = client.post(
        "/admin/import",
        data={"kind": "experts", "file": (io.BytesIO(experts_csv(rows)), "experts.csv")},
        content_type="multipart/form-data",
    )
    html = page.get_data(as_text=True)
    assert page.status_code == 422 and 'data-import="failed"' in html
    assert "<td>3</td><td>id_number</td><td>身份证号码的校验码不正确</td>" in html  # translated
    assert "<td>4</td><td>code</td><td>code E0100001 与第 2 行重复</td>" in html  # translated
    assert 'data-import-columns="experts"' in html and '<td lang="zh-CN">专家编号</td>' in html
    assert db.session.scalar(sa.select(sa.func.count(Expert.id))) == before
    fixed = client.post(
        "/admin/import",
        data={"kind": "experts", "file": (io.BytesIO(experts_csv(rows[:1])), "experts.csv")},
        content_type="multipart/form-data",
    )
    assert 'data-import="ok"' in fixed.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(Expert.id))) == before + 1


def test_an_unreadable_file_is_explained_in_the_pages_language(app, centre, login):
    client = login("admin")
    cases = [
        (b"code,name\n\xff\xfe\x00\x81\x30", "experts.csv", "既不是 UTF-8 也不是 GB 18030"),
        (b"PK\x03\x04 not really a workbook", "experts.xlsx", "无法读取该 XLSX 文件（"),
        (b"code\n", "experts.pdf", "不支持的文件类型 &#39;.pdf&#39;"),
    ]
    for data, name, message in cases:
        page = client.post(
            "/admin/import",
            data={"kind": "experts", "file": (io.BytesIO(data), name)},
            content_type="multipart/form-data",
        )
        html = page.get_data(as_text=True)
        assert page.status_code == 422 and 'data-import="failed"' in html, name
        assert message in html, name


def test_an_import_without_a_file_says_so(app, centre, login):
    page = login("admin").post("/admin/import", data={"kind": "experts"})
    html = page.get_data(as_text=True)
    assert page.status_code == 422 and 'id="f-file-error"' in html
    assert c.NOW  # the centre is built


def test_the_signing_key_is_rotated_from_the_keys_page_with_a_reason(app, centre, login):
    from expertdraw.models import SigningKey

    client = login("admin")
    before = db.session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry))
    refused = client.post("/admin/keys/rotate", data={"reason": "   "})
    assert refused.status_code == 422
    assert 'aria-invalid="true"' in refused.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry)) == before
    done = client.post("/admin/keys/rotate", data={"reason": "scheduled yearly rotation"})
    assert done.status_code == 302
    rotated = last_entry()
    assert rotated["type"] == "key.rotated"
    assert rotated["body"]["reason"] == "scheduled yearly rotation"
    assert rotated["actor"]["role"] == "admin"
    rows = list(db.session.scalars(sa.select(SigningKey).order_by(SigningKey.id)))
    assert len(rows) == 2 and rows[0].to_seq == rotated["seq"] and rows[1].to_seq is None
    page = client.get("/admin/keys").get_data(as_text=True)
    assert rows[0].verifier in page and rows[1].verifier in page
    assert login("sup1").post("/admin/keys/rotate", data={"reason": "x"}).status_code == 403
