"""The admin's pool pages keep a committee's names sealed until its evaluation ends.

Admins read the ledger as supervisors do, and the ledger names every committee by expert
codes: a pool page naming a seated expert would open the name list with no ``list.opened``.
"""

from __future__ import annotations

import json
from datetime import timedelta

import sqlalchemy as sa

from expertdraw import clock
from expertdraw.extensions import db
from expertdraw.models import Alternate, Expert, LedgerEntry, Member, Notice

from ..integration import centre as c
from .conftest import PASSWORD


def _openings() -> list[dict]:
    records = db.session.scalars(
        sa.select(LedgerEntry.record)
        .where(LedgerEntry.type == "list.opened")
        .order_by(LedgerEntry.seq)
    )
    return [json.loads(r)["entry"] for r in records]


def _seated(draw_id: str) -> tuple[str, str]:
    return db.session.execute(
        sa.select(Expert.code, Expert.name)
        .join(Member, Member.expert_id == Expert.id)
        .where(Member.draw_id == draw_id)
        .order_by(Member.id)
    ).first()


def test_the_pool_list_names_no_member_or_alternate_of_a_committee_on(app, completed, login):
    admin = login("admin")
    code, name = _seated(completed["draw"])
    standby_code, standby_name = db.session.execute(
        sa.select(Expert.code, Expert.name)
        .join(Alternate, Alternate.expert_id == Expert.id)
        .where(Alternate.draw_id == completed["draw"])
    ).first()
    listing = admin.get("/admin/experts?q=E0").get_data(as_text=True)
    assert f'data-sealed="{code}"' in listing and f'data-sealed="{standby_code}"' in listing
    for secret_code, secret in ((code, name), (standby_code, standby_name)):
        assert f"<td>{secret}</td>" not in listing
        found = admin.get(f"/admin/experts?q={secret}").get_data(as_text=True)
        assert f'data-expert="{secret_code}"' not in found
    by_code = admin.get(f"/admin/experts?q={code}").get_data(as_text=True)
    assert f'data-sealed="{code}"' in by_code and f"<td>{name}</td>" not in by_code
    assert _openings() == []


def test_a_seated_experts_record_opens_with_a_purpose_recorded_per_committee(app, completed, login):
    admin = login("admin")
    code, name = _seated(completed["draw"])
    sealed = admin.get(f"/admin/experts/{code}")
    assert sealed.status_code == 200
    page = sealed.get_data(as_text=True)
    assert f'data-sealed-record="{code}"' in page and f'value="{name}"' not in page
    edit = admin.post(f"/admin/experts/{code}", data={"name": "改名", "title": "x"})
    assert edit.status_code == 403
    db.session.expire_all()
    assert db.session.scalar(sa.select(Expert.name).where(Expert.code == code)) == name
    refused = admin.post(f"/admin/experts/{code}/open", data={"purpose": "  "})
    assert refused.status_code == 422 and 'id="f-purpose-error"' in refused.get_data(as_text=True)
    personal = admin.post(f"/admin/experts/{code}/open", data={"purpose": "call 13987012345"})
    assert personal.status_code == 422
    assert _openings() == []

    opened = admin.post(f"/admin/experts/{code}/open", data={"purpose": "更正手机号码"})
    assert opened.status_code == 302
    entries = _openings()
    assert [e["body"] for e in entries] == [
        {
            "draw": completed["draw"],
            "by": entries[0]["actor"]["id"],
            "purpose": f"pool record of {code}: 更正手机号码",
        }
    ]
    assert entries[0]["actor"]["role"] == "admin"
    shown = admin.get(f"/admin/experts/{code}").get_data(as_text=True)
    assert f'value="{name}"' in shown
    assert f"<td>{name}</td>" in admin.get(f"/admin/experts?q={code}").get_data(as_text=True)
    # Another admin has not opened it: still sealed for them.
    from expertdraw.services.users import create_user

    create_user("admin2", PASSWORD, "admin")
    db.session.commit()
    other = login("admin2")
    assert f'value="{name}"' not in other.get(f"/admin/experts/{code}").get_data(as_text=True)
    assert len(_openings()) == 1


def test_after_the_evaluation_the_pool_names_the_expert_again(app, completed, login):
    code, name = _seated(completed["draw"])
    with clock.frozen(c.WINDOW + timedelta(hours=8)):
        admin = login("admin")
        assert f'value="{name}"' in admin.get(f"/admin/experts/{code}").get_data(as_text=True)
        listing = admin.get(f"/admin/experts?q={code}").get_data(as_text=True)
        assert f"<td>{name}</td>" in listing
    assert _openings() == []


def test_a_member_who_left_stays_sealed_while_the_evaluation_is_on(app, completed, login):
    """The committee's list names its replaced members too (sealed.open_list), and the
    ledger ties their codes to it: a decline does not unseal the name on the pool."""
    from expertdraw.models import Notice
    from expertdraw.services import notices

    notice_id, code, name = db.session.execute(
        sa.select(Notice.id, Expert.code, Expert.name)
        .join(Expert, Expert.id == Notice.expert_id)
        .where(Notice.draw_id == completed["draw"], Notice.status == "pending")
        .order_by(Notice.member_id)
        .limit(1)
    ).one()
    notices.answer(c.expert_user(code), notice_id, accept=False, reason="ill")
    admin = login("admin")
    listing = admin.get(f"/admin/experts?q={code}").get_data(as_text=True)
    assert f'data-sealed="{code}"' in listing and f"<td>{name}</td>" not in listing
    assert f'value="{name}"' not in admin.get(f"/admin/experts/{code}").get_data(as_text=True)


def test_an_import_names_no_seated_owner_of_an_identity_number(app, completed, login):
    import io

    from expertdraw.domain.codes import id_check_char
    from expertdraw.personal_data import protector

    expert = db.session.scalars(
        sa.select(Expert)
        .join(Member, Member.expert_id == Expert.id)
        .where(Member.draw_id == completed["draw"])
        .order_by(Member.id)
    ).first()
    body = "53010219900101007"
    expert.id_number = body + id_check_char(body)
    expert.id_number_hash = protector().lookup_hash(expert.id_number)
    db.session.commit()
    code, number = expert.code, expert.id_number
    header = "code,name,id_number,home_region,title,kind,specialties"
    row = f"E0999999,探查,{number},530100,工程师,technical,A0101"
    page = login("admin").post(
        "/admin/import",
        data={"kind": "experts", "file": (io.BytesIO(f"{header}\n{row}\n".encode()), "x.csv")},
        content_type="multipart/form-data",
    )
    html = page.get_data(as_text=True)
    assert page.status_code == 422
    assert "该身份证号已属于另一位专家" in html and code not in html


def test_the_users_list_shows_no_seated_experts_code(app, completed, login):
    from expertdraw.services.users import create_user

    code, expert_id = db.session.execute(
        sa.select(Expert.code, Expert.id)
        .join(Member, Member.expert_id == Expert.id)
        .where(Member.draw_id == completed["draw"])
        .order_by(Member.id)
    ).first()
    user = create_user("13900000003", PASSWORD, "expert", expert_id=expert_id)
    db.session.commit()
    admin = login("admin")
    html = admin.get("/admin/users").get_data(as_text=True)
    row = next(r for r in html.split("</tr>") if 'data-user="13900000003"' in r)
    assert f'data-sealed-user="{user.id}"' in row and code not in row
    listed = admin.get("/api/v1/users?per_page=100").get_json()
    assert next(u for u in listed["items"] if u["id"] == user.id)["expert_code"] is None


def test_a_seated_experts_pseudonym_is_not_shown_beside_the_username(app, completed, login):
    """The expert's own ledger entries (``notice.answered``) carry the account's pseudonym
    beside the expert's code and the committee: shown beside the username (which can be a
    phone number), it would name the committee's member with no ``list.opened``."""
    from expertdraw.services import notices
    from expertdraw.services.users import create_user

    expert_id = db.session.scalar(
        sa.select(Member.expert_id).where(Member.draw_id == completed["draw"]).order_by(Member.id)
    )
    user = create_user("13900000003", PASSWORD, "expert", expert_id=expert_id)
    db.session.commit()
    pseudonym = user.pseudonym
    notice_id = db.session.scalar(sa.select(Notice.id).where(Notice.expert_id == expert_id))
    notices.answer(user, notice_id, accept=True)
    answered = db.session.scalars(
        sa.select(LedgerEntry.record).where(LedgerEntry.type == "notice.answered")
    ).all()
    assert any(json.loads(r)["entry"]["actor"]["id"] == pseudonym for r in answered)
    admin = login("admin")
    html = admin.get("/admin/users").get_data(as_text=True)
    row = next(r for r in html.split("</tr>") if 'data-user="13900000003"' in r)
    assert pseudonym not in row
    assert pseudonym not in admin.get(f"/admin/users/{user.id}").get_data(as_text=True)
    listed = admin.get("/api/v1/users?per_page=100").get_json()
    assert next(u for u in listed["items"] if u["id"] == user.id)["pseudonym"] is None
    # Another user's pseudonym is shown as before.
    others = [u for u in listed["items"] if u["id"] != user.id]
    assert others and all(u["pseudonym"] for u in others)
    # After the evaluation, the account is shown whole again.
    with clock.frozen(c.WINDOW + timedelta(hours=9)):
        assert pseudonym in admin.get(f"/admin/users/{user.id}").get_data(as_text=True)


def test_a_padded_or_damaged_code_opens_nothing_sealed(app, completed, login):
    """The record is found by its stripped code, and sealed by it too; a code holding NUL is
    a 404 page, not a database error."""
    admin = login("admin")
    code, name = _seated(completed["draw"])
    for padded in (f"{code}%20", f"%20{code}"):
        page = admin.get(f"/admin/experts/{padded}").get_data(as_text=True)
        assert f'value="{name}"' not in page
        assert admin.post(
            f"/admin/experts/{padded}", data={"phone": "13912345678"}
        ).status_code in (
            403,
            404,
        )
    assert _openings() == []
    for damaged in ("%00", "E%00"):
        opened = admin.post(f"/admin/experts/{damaged}/open", data={"purpose": "更正手机号码"})
        assert opened.status_code == 404
        assert admin.get(f"/admin/experts/{damaged}").status_code == 404
