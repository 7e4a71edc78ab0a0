"""Errors on a Chinese page are Chinese: no service detail in English shown to the user."""

from __future__ import annotations

import re

from .test_manager_pages import error_of, form

ENGLISH = re.compile(r"[A-Za-z]{3,}")


def test_the_agency_as_tenderer_is_refused_in_chinese(app, centre, login):
    page = login("pm").post("/manager/projects/new", data=form(centre, agency=centre.tenderer))
    assert page.status_code == 422
    message = error_of(page.get_data(as_text=True), "agency")
    assert message  # "请求未能完成：the agency is the tenderer itself"
    assert not ENGLISH.search(message), message


def test_the_tenderer_as_bidder_is_refused_in_chinese(app, centre, login):
    bidders = "\n".join([centre.tenderer, *centre.bidders[1:]])
    page = login("pm").post("/manager/projects/new", data=form(centre, bidders=bidders))
    assert page.status_code == 422
    message = error_of(page.get_data(as_text=True), "bidders")
    assert message  # "第 1 个投标人：请求未能完成：the tenderer cannot bid"
    assert not ENGLISH.search(message), message


def test_a_receipt_that_cannot_be_made_is_explained_in_chinese(app, completed, login):
    page = login("sup1").get("/supervisor/ledger/receipt?seq=999999")
    assert page.status_code == 404
    message = error_of(page.get_data(as_text=True), "seq")
    assert message  # "无法生成第 999999 条的存证回执：no entry 999999"
    assert not ENGLISH.search(message), message
