"""Supervisor's pages: witnessing, replay verdict, list opening and the printable record (both
need a purpose and are logged), ledger downloads, the eligibility look-up."""

from __future__ import annotations

import io
import json
import re
import zipfile
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from expertdraw import clock
from expertdraw.extensions import db
from expertdraw.models import LedgerEntry
from expertdraw.services import draws, experts, projects, sealed

from .conftest import PROJECT, project_spec


def opened_count() -> int:
    return db.session.scalar(
        sa.select(sa.func.count(LedgerEntry.seq)).where(LedgerEntry.type == "list.opened")
    )


def test_two_supervisors_witness_and_the_draw_completes(app, centre, login):
    project = projects.create_project(project_spec(centre), centre.users["pm"])
    draw = draws.announce(project, centre.users["pm"], {"kind": "witness", "witnesses": 2})
    draw_id, commitment = draw.id, draw.commitment
    sup1, sup2 = login("sup1"), login("sup2")
    room = sup1.get(f"/supervisor/draws/{draw_id}").get_data(as_text=True)
    assert commitment in room and 'name="value"' in room
    assert sup1.post(f"/supervisor/draws/{draw_id}/witness", data={"value": "31415"}).status_code
    again = sup1.post(f"/supervisor/draws/{draw_id}/witness", data={"value": "x"})
    assert again.status_code == 409
    assert "您已为本次抽取输入过见证值" in again.get_data(as_text=True)
    empty = sup2.post(f"/supervisor/draws/{draw_id}/witness", data={"value": "  "})
    assert empty.status_code == 422 and 'id="f-value-error"' in empty.get_data(as_text=True)
    sup2.post(f"/supervisor/draws/{draw_id}/witness", data={"value": "zt-2027"})
    done = sup2.get(f"/supervisor/draws/{draw_id}").get_data(as_text=True)
    assert 'data-draw-state="completed"' in done and "data-seed" in done
    verdict = sup2.get(f"/supervisor/draws/{draw_id}/replay?lang=en").get_data(as_text=True)
    assert 'data-replay="match"' in verdict and "Replay matches" in verdict


def test_admins_see_the_draw_room_but_do_not_witness(app, completed, login):
    page = login("admin").get(f"/supervisor/draws/{completed['draw']}")
    assert page.status_code == 200
    refused = login("admin").post(f"/supervisor/draws/{completed['draw']}/witness")
    assert refused.status_code == 403


def test_the_list_opens_only_with_a_purpose_and_every_opening_is_logged(
    app, completed: dict[str, Any], login
):
    client = login("sup1")
    before = opened_count()
    form = client.get(f"/supervisor/draws/{completed['draw']}/list").get_data(as_text=True)
    assert [s for s in completed["hidden"] if s in form] == []
    refused = client.post(f"/supervisor/draws/{completed['draw']}/list", data={"purpose": " "})
    assert refused.status_code == 422 and opened_count() == before
    opened = client.post(
        f"/supervisor/draws/{completed['draw']}/list", data={"purpose": "complaint 42"}
    ).get_data(as_text=True)
    assert all(s in opened for s in completed["hidden"])
    assert opened_count() == before + 1
    last = db.session.scalars(
        sa.select(LedgerEntry.record).order_by(LedgerEntry.seq.desc())
    ).first()
    assert json.loads(last)["entry"]["body"]["purpose"] == "complaint 42"


def _opening_token(page: str) -> str:
    token = re.search(r'name="opening" value="([^"]+)"', page)
    assert token, "the purpose form carries a one-time opening token"
    return token.group(1)


def test_a_reloaded_opening_is_one_opening_and_a_new_form_is_another(
    app, completed: dict[str, Any], login
):
    """A reload resends the purpose form: it shows the list again under the same
    ``list.opened``; opening from a new form is a new entry, and so is a resend past
    SHOWN_AGAIN_FOR or by another supervisor holding the token."""
    url = f"/supervisor/draws/{completed['draw']}/list"
    client = login("sup1")
    before = opened_count()
    token = _opening_token(client.get(url).get_data(as_text=True))
    sent = {"purpose": "complaint 42", "opening": token}
    first = client.post(url, data=sent).get_data(as_text=True)
    again = client.post(url, data=sent)
    assert again.status_code == 200
    assert all(s in again.get_data(as_text=True) for s in completed["hidden"])
    assert all(s in first for s in completed["hidden"])
    assert opened_count() == before + 1
    edited = client.post(url, data={**sent, "purpose": "court order 7"})  # back, edit, send
    assert all(s in edited.get_data(as_text=True) for s in completed["hidden"])
    assert opened_count() == before + 2
    before += 1
    other = _opening_token(client.get(url).get_data(as_text=True))
    assert other != token
    client.post(url, data={"purpose": "complaint 42", "opening": other})
    assert opened_count() == before + 2
    login("sup2").post(url, data=sent)  # not sup2's opening: recorded as theirs
    assert opened_count() == before + 3
    with clock.frozen(clock.now() + sealed.SHOWN_AGAIN_FOR + timedelta(seconds=1)):
        client.post(url, data=sent)
    assert opened_count() == before + 4


def test_a_token_of_one_page_opens_anew_on_another_and_every_pdf_is_an_opening(
    app, completed: dict[str, Any], login
):
    """The list page's token shows that page again, nothing else: sent with the record or its
    PDF it opens the list anew, and each PDF download is recorded even when its form is sent
    twice (a copy leaves the page each time)."""
    draw = completed["draw"]
    client = login("sup1")
    token = _opening_token(client.get(f"/supervisor/draws/{draw}/list").get_data(as_text=True))
    sent = {"purpose": "complaint 42", "opening": token}
    assert client.post(f"/supervisor/draws/{draw}/list", data=sent).status_code == 200
    after_list = opened_count()
    html = client.post(f"/supervisor/draws/{draw}/record", data=sent)
    assert html.status_code == 200
    assert opened_count() == after_list + 1
    assert client.post(f"/supervisor/draws/{draw}/record", data=sent).status_code == 200
    assert opened_count() == after_list + 1  # the record's own reload
    for n in (2, 3):
        pdf = client.post(f"/supervisor/draws/{draw}/record.pdf", data=sent)
        assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
        assert opened_count() == after_list + n


def test_the_printable_record_is_an_opening_too(app, completed: dict[str, Any], login):
    client = login("sup1")
    before = opened_count()
    assert client.post(f"/supervisor/draws/{completed['draw']}/record").status_code == 422
    html = client.post(
        f"/supervisor/draws/{completed['draw']}/record?lang=en", data={"purpose": "archive"}
    ).get_data(as_text=True)
    assert opened_count() == before + 1
    draw = draws.get_draw(completed["draw"])
    for value in (PROJECT, draw.commitment, draw.seed, "Witnesses: 2 of 2", "Draw record"):
        assert value in html
    codes = {s for s in completed["hidden"] if s.startswith("E")}
    assert all(code in html for code in codes)
    names = completed["hidden"] - codes
    assert [n for n in names if n in html] == []  # the record lists codes, not names
    assert "data-print" in html
    assert "data-representatives>0<" in html and "Regional exclusion" in html
    assert "<td>Technical experts</td>" in html and "<td>technical</td>" not in html
    zh = client.post(
        f"/supervisor/draws/{completed['draw']}/record?lang=zh", data={"purpose": "archive"}
    ).get_data(as_text=True)
    assert "<td>技术专家</td>" in zh and "<td>经济专家</td>" in zh and ">technical<" not in zh


def test_the_bundle_and_receipts_download(app, completed, login):
    client = login("sup1")
    bundle = client.get("/supervisor/ledger/bundle.zip")
    assert bundle.mimetype == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(bundle.data)).namelist()
    folder = names[0].split("/")[0]
    assert {f"{folder}/entries.jsonl", f"{folder}/checkpoints.txt", f"{folder}/keys.txt"} <= set(
        names
    )
    assert any(n.startswith(f"{folder}/snapshots/") for n in names)
    receipt = client.get("/supervisor/ledger/receipt?seq=1")
    assert receipt.mimetype == "application/json"
    assert json.loads(receipt.data)["index"] == 1
    missing = client.get("/supervisor/ledger/receipt?seq=99999")
    assert missing.status_code == 404 and 'id="f-seq-error"' in missing.get_data(as_text=True)
    assert client.get("/supervisor/ledger/receipt?seq=x").status_code == 422


def test_why_an_expert_is_not_eligible(app, centre, completed, login):
    free = [code for code in centre.experts if code not in completed["hidden"]]
    experts.set_status(free[0], "suspended", "investigation", centre.users["admin"])
    client = login("sup1")
    html = client.get(
        f"/supervisor/eligibility?project={PROJECT}&expert={free[0]}&lang=en"
    ).get_data(as_text=True)
    assert 'data-eligible="no"' in html and "<code>inactive</code>" in html
    ok = client.get(f"/supervisor/eligibility?project={PROJECT}&expert={free[1]}")
    assert 'data-eligible="yes"' in ok.get_data(as_text=True)
    unknown = client.get("/supervisor/eligibility?project=NOPE&expert=E9")
    assert unknown.status_code == 404
    html = unknown.get_data(as_text=True)
    assert 'id="f-project-error"' in html and 'id="f-expert-error"' in html


def test_the_ledger_page_shows_size_checkpoint_and_keys(app, completed, login):
    html = login("sup1").get("/supervisor/ledger").get_data(as_text=True)
    size = db.session.scalar(sa.select(sa.func.count(LedgerEntry.seq)))
    assert f"data-ledger-size>{size}<" in html
    assert "verify BUNDLE --replay" in html and "/2027a+" in html


def test_the_ledger_page_shows_the_rules_in_effect_and_their_record(app, centre, login):
    """Defaults need no record; changed settings show as pending until the next draw records
    them, and then as recorded at that entry, with every setting listed."""
    sup = login("sup1")
    html = sup.get("/supervisor/ledger").get_data(as_text=True)
    assert 'data-rules-state="defaults"' in html
    assert "<code>eligibility.frequency_limit</code></td><td><code>4</code>" in html
    app.config["ELIGIBILITY_RULES"] = {"frequency_limit": 3}
    html = sup.get("/supervisor/ledger").get_data(as_text=True)
    assert 'data-rules-state="pending"' in html and "eligibility.frequency_limit" in html
    assert "<code>eligibility.frequency_limit</code></td><td><code>3</code>" in html
    project = projects.create_project(project_spec(centre), centre.users["pm"])
    draws.announce(project, centre.users["pm"], {"kind": "witness", "witnesses": 1})
    seq = db.session.scalar(sa.select(LedgerEntry.seq).where(LedgerEntry.type == "rules.changed"))
    html = sup.get("/supervisor/ledger").get_data(as_text=True)
    assert 'data-rules-state="recorded"' in html
    assert f"已记入签名日志第 {seq} 条" in html


def _copies_of(draw_id: str, states: list[tuple[str, str | None]]) -> list[str]:
    """Supplementary-draw rows copied from ``draw_id`` with the given states and reasons, each
    announced a minute after the one before (only what the draws list reads matters here)."""
    from datetime import timedelta

    from expertdraw.models import Draw

    source = db.session.get(Draw, draw_id)
    keys = [attr.key for attr in Draw.__mapper__.column_attrs]
    made = []
    for n, (state, reason) in enumerate(states, start=1):
        values = {key: getattr(source, key) for key in keys}
        values.update(
            id=f"{draw_id}-R{n}",
            root_id=draw_id,
            state=state,
            reason=reason,
            idempotency_key=None,
            announced_at=source.announced_at + timedelta(minutes=n),
        )
        db.session.add(Draw(**values))
        made.append(values["id"])
    db.session.commit()
    return made


def _listed(html: str) -> list[str]:
    import re

    return re.findall(r'<tr data-draw="([^"]+)"', html)


def test_the_draws_list_finds_by_code_and_state_and_hides_superseded_draws(app, completed, login):
    root = completed["draw"]
    r1, r2, r3 = _copies_of(
        root, [("failed", "superseded"), ("failed", "insufficient:technical"), ("announced", None)]
    )
    client = login("sup1")
    html = client.get("/supervisor/draws").get_data(as_text=True)
    assert _listed(html) == [r3, r2, root]  # waiting first, then newest first
    assert 'data-superseded-hidden="1"' in html and "类别 technical 的候选专家不足" in html
    shown = client.get("/supervisor/draws?superseded=1").get_data(as_text=True)
    assert _listed(shown) == [r3, r2, r1, root]
    assert "已被取代：由之后的一次补充抽取承担其名额" in shown  # the reason in words
    failed = client.get("/supervisor/draws?state=failed&superseded=1").get_data(as_text=True)
    assert _listed(failed) == [r2, r1]
    by_project = client.get(f"/supervisor/draws?q={PROJECT.lower()[:5]}").get_data(as_text=True)
    assert _listed(by_project) == [r3, r2, root]
    by_draw = client.get(f"/supervisor/draws?q={r2}").get_data(as_text=True)
    assert _listed(by_draw) == [r2]
    none = client.get("/supervisor/draws?q=%25").get_data(as_text=True)  # a wildcard is text
    assert _listed(none) == [] and "data-no-draws-found" in none
    odd = client.get("/supervisor/draws?state=nonsense&page=x")
    assert odd.status_code == 200 and _listed(odd.get_data(as_text=True)) == [r3, r2, root]


def test_the_draws_list_is_paged(app, completed, login, monkeypatch):
    from expertdraw.web import supervisor

    monkeypatch.setattr(supervisor, "DRAWS_PER_PAGE", 2)
    root = completed["draw"]
    made = _copies_of(root, [("completed", None)] * 3)
    client = login("sup1")
    first = client.get("/supervisor/draws").get_data(as_text=True)
    second = client.get("/supervisor/draws?page=2").get_data(as_text=True)
    assert _listed(first) == [made[2], made[1]]
    assert _listed(second) == [made[0], root]
    assert 'rel="next"' in first and 'rel="prev"' in second


def test_list_openings_keep_the_session_cookie_within_what_browsers_take(app, completed, login):
    """Each opening is remembered in the session (a signed cookie, which browsers drop past
    4,093 bytes, with every change it carries): long purposes must not grow it, nor be
    readable in it."""
    import random

    client = login("sup1")
    sizes = []
    for i in range(14):  # more than the openings kept
        rng = random.Random(i)
        purpose = "复核" + "".join(chr(rng.randint(0x4E00, 0x9FA5)) for _ in range(290))
        path = f"/supervisor/draws/{completed['draw']}/list"
        page = client.get(path).get_data(as_text=True)
        token = page.split('name="opening" value="', 1)[1].split('"', 1)[0]
        response = client.post(path, data={"purpose": purpose, "opening": token})
        assert response.status_code == 200, response.get_data(as_text=True)[:500]
        cookie = response.headers.get("Set-Cookie", "").split(";", 1)[0]
        sizes.append(len(cookie))
        serializer = app.session_interface.get_signing_serializer(app)
        assert purpose[:10] not in json.dumps(serializer.loads(cookie.split("=", 1)[1]))
    assert max(sizes) <= 4093 - 500, sizes  # room for the rest of the session
