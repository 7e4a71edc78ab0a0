"""The whole job through the pages in real Chromium: the project manager registers a project and
requests a draw; two supervisors witness it; an expert declines and the replacement's notice
appears for another expert; venue staff check in; the list opens; the supervisor downloads the
bundle and the offline verifier replays it."""

from __future__ import annotations

import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from expertdraw import clock
from expertdraw.extensions import db
from expertdraw.models import Expert, Member, Notice
from expertdraw.services import notices
from expertdraw.services.users import create_user
from tests.verifier import run_verifier

from ...integration import centre as c
from .conftest import release, screenshot, visible_text

PROJECT = "P2027-0042"
PROJECT_NAME = "昭通市某中学教学楼建设工程"

pytestmark = pytest.mark.browser


def _register_project(pm: Any, base: str, centre: c.Centre) -> None:
    pm.goto(f"{base}/manager/projects/new")
    pm.fill("#f-code", PROJECT)
    pm.fill("#f-name", PROJECT_NAME)
    pm.select_option("#f-region", "530602")
    pm.fill("#f-tenderer", "91530600000000000X")  # a wrong check character first
    pm.fill("#f-agency", centre.agency)
    pm.fill("#f-bidders", "\n".join(centre.bidders))
    pm.fill("#f-window_start", "2027-03-01T09:00")  # 01:00 UTC, China Standard Time
    pm.fill("#f-window_end", "2027-03-01T17:00")
    pm.select_option("#f-strata-0-specialty", "A0101")
    pm.fill("#f-strata-0-count", "4")
    pm.select_option("#f-strata-1-specialty", "C0301")
    pm.fill("#f-strata-1-count", "1")
    pm.click("[data-add-row]")  # a fourth, empty line: ignored
    assert pm.input_value("#f-strata-3-count") == ""
    pm.fill("[data-filter-for=f-strata-3-specialty]", "C03")
    assert pm.locator("#f-strata-3-specialty option[value=A0101]").get_attribute("hidden") == ""
    pm.click("form.stack button[type=submit]")
    # The error stands next to the field, and nothing typed is lost.
    error = pm.locator("#f-tenderer-error")
    assert "统一社会信用代码" in error.inner_text()
    assert pm.get_attribute("#f-tenderer", "aria-invalid") == "true"
    assert pm.input_value("#f-name") == PROJECT_NAME
    assert pm.input_value("#f-strata-0-count") == "4"
    assert pm.input_value("#f-bidders").split() == centre.bidders
    pm.fill("#f-tenderer", centre.tenderer)
    pm.click("form.stack button[type=submit]")
    pm.wait_for_url(f"**/manager/projects/{PROJECT}")


def _request_draw(pm: Any, base: str) -> str:
    pm.click(f"a[href='/manager/projects/{PROJECT}/dry-run']")
    assert pm.inner_text("[data-eligible=technical]") == "24"
    assert pm.inner_text("[data-eligible=economic]") == "12"
    assert pm.locator(".verdict-ok").count() == 1
    pm.goto(f"{base}/manager/projects/{PROJECT}")
    assert pm.input_value("#f-witnesses") == "2"
    pm.click(f"form[action='/manager/projects/{PROJECT}/draws'] button")
    pm.wait_for_url("**/manager/draws/*")
    return pm.url.rsplit("/", 1)[1]


def _witness(page: Any, base: str, draw_id: str, value: str) -> None:
    page.goto(f"{base}/supervisor/")
    page.click(f"a[href='/supervisor/draws/{draw_id}']")
    assert len(page.inner_text("[data-commitment]")) == 64
    page.fill("#f-value", value)
    page.click(f"form[action='/supervisor/draws/{draw_id}/witness'] button")
    page.wait_for_url(f"**/supervisor/draws/{draw_id}")


def _hidden_identities() -> set[str]:
    rows = db.session.execute(
        sa.select(Expert.code, Expert.name).join(Member, Member.expert_id == Expert.id)
    ).all()
    release()
    return {code for code, _ in rows} | {name for _, name in rows}


def _assert_hides(page: Any, hidden: set[str]) -> None:
    text, html = visible_text(page), page.content()
    leaked = sorted(s for s in hidden if s in text or s in html)
    assert leaked == [], f"{page.url} shows {leaked}"


def _notice_rows() -> list[tuple[str, str, str, int]]:
    rows = db.session.execute(
        sa.select(Notice.id, Notice.status, Expert.code, Notice.member_id)
        .join(Expert, Expert.id == Notice.expert_id)
        .order_by(Notice.id)
    ).all()
    release()
    return [tuple(r) for r in rows]


def _expert_login(code: str) -> str:
    username = c.expert_user(code).username
    release()
    return username


def _accept_the_rest(skip: set[str]) -> None:
    for notice_id, status, code, _member in _notice_rows():
        if status == "pending" and notice_id not in skip:
            user = c.expert_user(code)
            notices.answer(user, notice_id, accept=True)
    release()


def test_the_whole_story_through_the_pages(centre, live_server, open_as, tmp_path: Path):
    base = live_server
    pm = open_as("pm")
    assert "项目" in visible_text(pm)
    screenshot(pm, "project-manager")
    _register_project(pm, base, centre)
    draw_id = _request_draw(pm, base)

    sup1, sup2 = open_as("sup1"), open_as("sup2")
    _witness(sup1, base, draw_id, "31415")
    assert sup1.locator("[data-draw-state=announced]").count() == 1
    _witness(sup2, base, draw_id, "zt-2027")
    assert sup2.locator("[data-draw-state=completed]").count() == 1
    assert len(sup2.inner_text("[data-seed]")) == 64
    sup2.click(f"a[href='/supervisor/draws/{draw_id}/replay']")
    assert sup2.locator("[data-replay=match]").count() == 1
    screenshot(sup2, "supervisor")

    hidden = _hidden_identities()
    assert len(hidden) == 10
    for path in (
        "/manager/projects",
        f"/manager/projects/{PROJECT}",
        f"/manager/projects/{PROJECT}/dry-run",
        f"/manager/draws/{draw_id}",
    ):
        pm.goto(base + path)
        _assert_hides(pm, hidden)

    first = _notice_rows()
    originals = {code for _, _, code, _ in first}
    decliner = open_as(_expert_login(first[0][2]))
    cards = decliner.locator("[data-notice]")
    assert cards.count() == 1
    _assert_hides(decliner, hidden | {PROJECT, PROJECT_NAME})
    screenshot(decliner, "expert")
    card = decliner.locator(f"[data-notice='{first[0][0]}']")
    card.locator("select[name=reason]").select_option("travel")
    card.locator(".decline-form button[type=submit]").click()
    decliner.wait_for_selector(".notice-success")
    assert decliner.locator("[data-notice]").count() == 0

    replacement = [r for r in _notice_rows() if r[2] not in originals]
    assert len(replacement) == 1 and replacement[0][1] == "pending"
    newcomer = open_as(_expert_login(replacement[0][2]))
    assert newcomer.locator(f"[data-notice='{replacement[0][0]}']").count() == 1
    newcomer.click(f"[data-notice='{replacement[0][0]}'] form:not(.decline-form) button")
    newcomer.wait_for_selector(".notice-success")
    _accept_the_rest(set())

    pm.goto(f"{base}/manager/draws/{draw_id}")
    assert pm.inner_text("[data-count=accepted]") == "5"
    assert pm.inner_text("[data-count=replaced]") == "1"
    _assert_hides(pm, _hidden_identities())

    seated = db.session.execute(
        sa.select(Member.venue_id, Notice.check_in_code)
        .join(Notice, Notice.member_id == Member.id)
        .where(Member.state == "active")
        .order_by(Member.id)
    ).first()
    create_user("staff-x", "correct horse battery", "venue_staff", venue_id=seated[0])
    release()
    clock.set_clock(lambda: c.WINDOW - timedelta(minutes=30))
    staff = open_as("staff-x")
    assert staff.locator("[data-bookings] tbody tr").count() >= 1
    _assert_hides(staff, hidden | {PROJECT, PROJECT_NAME})
    staff.fill("#f-code", seated[1])
    staff.click("form[action='/venue/check-in'] button")
    staff.wait_for_selector("[data-checked-in]")
    screenshot(staff, "venue-staff")

    sup1.goto(f"{base}/supervisor/draws/{draw_id}")
    sup1.click(f"a[href='/supervisor/draws/{draw_id}/list']")
    sup1.fill("#f-purpose", "audit")
    sup1.click(f"form[action='/supervisor/draws/{draw_id}/list'] button")
    listed = visible_text(sup1)
    assert all(code in listed for code in originals)

    clock.set_clock(lambda: c.WINDOW + timedelta(hours=8))  # the award follows the evaluation
    pm.goto(f"{base}/manager/projects/{PROJECT}")
    pm.click(f"form[action='/manager/projects/{PROJECT}/award'] button")
    pm.wait_for_url(f"**/manager/projects/{PROJECT}")
    assert pm.questions[-1].startswith("记录定标结果？")  # asked before the award
    pm.click(f"form[action='/manager/projects/{PROJECT}/list'] button")
    assert all(code in visible_text(pm) for code in originals)

    sup1.goto(f"{base}/supervisor/draws/{draw_id}/record")
    sup1.fill("#f-purpose", "print the record")
    sup1.click(f"form[action='/supervisor/draws/{draw_id}/record'] button")
    record = visible_text(sup1)
    assert draw_id in record and PROJECT in record and first[0][2] in record
    screenshot(sup1, "draw-record")

    sup1.goto(f"{base}/supervisor/ledger")
    with sup1.expect_download() as download:
        sup1.click("[data-download-bundle]")
    archive = tmp_path / "bundle.zip"
    download.value.save_as(archive)
    with zipfile.ZipFile(archive) as bundle:
        bundle.extractall(tmp_path / "unzipped")
    (folder,) = (tmp_path / "unzipped").iterdir()
    verdict = run_verifier(folder, "--replay")
    assert verdict.returncode == 0, verdict.stdout + verdict.stderr
