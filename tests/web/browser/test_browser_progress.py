"""Progress in the browser: an import shows its steps in a progress bar with a live status
text, then the result in place of the form; the ledger bundle shows its steps and is saved."""

from __future__ import annotations

import io
import zipfile

import pytest
import sqlalchemy as sa

from expertdraw.domain.codes import id_check_char
from expertdraw.extensions import db
from expertdraw.models import Expert

from .conftest import release, screenshot

pytestmark = pytest.mark.browser

# Record what the progress panel shows, step by step, before the result replaces it.
WATCH = """() => {
    window.progressSeen = [];
    const panel = document.querySelector('[data-progress-panel]');
    const bar = panel.querySelector('progress');
    const text = panel.querySelector('[data-progress-text]');
    const form = document.querySelector('form[data-progress]');
    new MutationObserver(records => {
        for (const record of records) {
            record.addedNodes.forEach(node => window.progressSeen.push({
                text: node.textContent,
                visible: !panel.hidden,
                busy: form.getAttribute('aria-busy'),
            }));
        }
    }).observe(text, {childList: true});
    window.barValues = [];
    new MutationObserver(() => window.barValues.push(bar.getAttribute('value')))
        .observe(bar, {attributes: true, attributeFilter: ['value']});
}"""


def experts_csv(count: int) -> bytes:
    lines = ["专家编号,姓名,身份证号码,常住地区划代码,职称,专家类别,专业代码"]
    for index in range(count):
        first17 = f"53010219850204{index:03d}"
        number = first17 + id_check_char(first17)
        lines.append(f"E04{index:05d},专家{index},{number},530100,高级工程师,technical,A0101")
    return ("\n".join(lines) + "\n").encode()


def imported(codes: set[str]) -> set[str]:
    found = set(db.session.scalars(sa.select(Expert.code).where(Expert.code.in_(codes))))
    release()
    return found


def test_an_import_shows_its_progress_then_the_result(centre, open_as, live_server):
    admin = open_as("admin", locale="en-US")
    admin.goto(f"{live_server}/admin/import")
    assert admin.locator("#import-progress").is_hidden()  # shown only while working
    admin.evaluate(WATCH)
    admin.select_option("#f-kind", "experts")
    admin.set_input_files(
        "#f-file", files=[{"name": "experts.csv", "mimeType": "text/csv", "buffer": experts_csv(3)}]
    )
    admin.click("form[action='/admin/import'] button[type=submit]")
    verdict = admin.wait_for_selector("[data-import=ok]")
    seen = admin.evaluate("window.progressSeen")
    texts = [s["text"] for s in seen]
    assert texts[:4] == ["Sending…", "Reading the file…", "Checking 3 rows…", "Saving 3 rows…"]
    assert all(s["visible"] for s in seen) and all(s["busy"] == "true" for s in seen)
    values = [int(v) for v in admin.evaluate("window.barValues") if v is not None]
    assert values == sorted(values) and values[-1] == 100
    assert admin.url.endswith("/admin/import")  # the result is in place, no navigation
    assert admin.evaluate("document.activeElement.hasAttribute('data-progress-result')")
    assert "Rows read: 3." in verdict.inner_text()
    screenshot(admin, "admin-import-progress")
    assert imported({f"E04{i:05d}" for i in range(3)}) == {f"E04{i:05d}" for i in range(3)}


def test_the_form_after_an_import_shows_progress_again(centre, open_as, live_server):
    admin = open_as("admin", locale="zh-CN")
    admin.goto(f"{live_server}/admin/import")
    for count in (1, 2):
        admin.select_option("#f-kind", "experts")
        data = experts_csv(count)
        admin.set_input_files(
            "#f-file", files=[{"name": "e.csv", "mimeType": "text/csv", "buffer": data}]
        )
        admin.evaluate(WATCH)
        admin.click("form[action='/admin/import'] button[type=submit]")
        admin.locator("[data-import=ok]", has_text=f"读取行数：{count}。").wait_for()
        texts = [s["text"] for s in admin.evaluate("window.progressSeen")]
        assert f"正在检查 {count} 行…" in texts


def test_the_ledger_bundle_shows_its_progress_and_is_saved(
    completed, open_as, live_server, tmp_path
):
    sup = open_as("sup1", locale="en-US")
    sup.goto(f"{live_server}/supervisor/ledger")
    with sup.expect_download() as download:
        sup.click("[data-download-bundle]")
    path = tmp_path / "bundle.zip"
    download.value.save_as(path)
    assert download.value.suggested_filename.startswith("expertdraw-ledger-")
    assert any(n.endswith("/entries.jsonl") for n in zipfile.ZipFile(path).namelist())
    status = sup.locator("#bundle-progress [data-progress-text]")
    status.filter(has_text="saved").wait_for()
    assert sup.locator("#bundle-progress progress").get_attribute("value") == "100"
    assert zipfile.ZipFile(io.BytesIO(path.read_bytes())).testzip() is None
