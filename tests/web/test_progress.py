"""Progress of long operations: with ``X-Progress: 1`` an import or the ledger bundle answers
with a stream of steps and then the result page or the file; without it, the plain page or
file as before."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from expertdraw.domain.codes import id_check_char
from expertdraw.extensions import db
from expertdraw.models import Expert
from expertdraw.services import export, steps
from expertdraw.web import progress

PROGRESS = {"X-Progress": "1"}
HEADER = "code,name,id_number,home_region,title,kind,specialties\n"


def experts_csv(*codes: str, kind: str = "technical") -> bytes:
    lines = []
    for index, code in enumerate(codes):
        first17 = f"5301021985020300{index}"
        lines.append(
            f"{code},专家{index},{first17}{id_check_char(first17)},530100,高工,{kind},A0101"
        )
    return (HEADER + "\n".join(lines) + "\n").encode()


def read_stream(data: bytes) -> tuple[list[dict[str, Any]], bytes]:
    """The JSON messages of a progress stream, and the file bytes after a ``file`` message."""
    messages: list[dict[str, Any]] = []
    rest = data
    while rest:
        line, _, rest = rest.partition(b"\n")
        messages.append(json.loads(line))
        if "file" in messages[-1]:
            return messages, rest
    return messages, b""


def expert_codes() -> set[str]:
    return set(db.session.scalars(sa.select(Expert.code)))


def upload(client: Any, data: bytes, headers: dict[str, str] | None = None) -> Any:
    return client.post(
        "/admin/import?lang=en",
        data={"kind": "experts", "file": (io.BytesIO(data), "experts.csv")},
        headers=headers or {},
        content_type="multipart/form-data",
    )


def test_an_import_streams_its_steps_then_the_result_page(app, centre, login):
    response = upload(login("admin"), experts_csv("E0300001", "E0300002"), PROGRESS)
    assert response.status_code == 200 and response.mimetype == progress.MEDIA_TYPE
    assert response.headers["Cache-Control"] == "no-store"
    messages, rest = read_stream(response.data)
    steps_seen = [m["progress"] for m in messages if "progress" in m]
    assert [s["text"] for s in steps_seen] == [
        "Reading the file…",
        "Checking 2 rows…",
        "Saving 2 rows…",
    ]
    percents = [s["percent"] for s in steps_seen]
    assert percents == sorted(percents) and percents[-1] < 100
    page = messages[-1]["page"]
    assert page["status"] == 200 and 'data-import="ok"' in page["html"]
    assert rest == b""
    assert {"E0300001", "E0300002"} <= expert_codes()


def test_a_failed_import_streams_the_problems_and_imports_nothing(app, centre, login):
    before = expert_codes()
    response = upload(login("admin"), experts_csv("E0300003", kind="chef"), PROGRESS)
    messages, _ = read_stream(response.data)
    assert "Saving" not in " ".join(m["progress"]["text"] for m in messages if "progress" in m)
    page = messages[-1]["page"]
    assert page["status"] == 422 and 'data-import="failed"' in page["html"]
    assert expert_codes() == before


def test_an_import_form_error_is_a_plain_page_even_when_progress_is_asked(app, centre, login):
    response = login("admin").post("/admin/import", data={"kind": "experts"}, headers=PROGRESS)
    assert response.status_code == 422 and response.mimetype == "text/html"
    assert 'id="f-file-error"' in response.get_data(as_text=True)


def test_the_plain_import_form_still_answers_with_the_page(app, centre, login):
    response = upload(login("admin"), experts_csv("E0300004"))
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert 'data-import="ok"' in response.get_data(as_text=True)
    assert "E0300004" in expert_codes()


def test_the_import_page_has_an_accessible_progress_panel(app, centre, login):
    html = login("admin").get("/admin/import").get_data(as_text=True)
    assert 'data-progress="import-progress"' in html
    assert 'id="import-progress" hidden' in html
    assert '<label for="import-progress-bar">' in html
    assert '<progress id="import-progress-bar" max="100"></progress>' in html
    assert 'role="status" aria-live="polite"' in html
    assert "progress.js" in html


def test_the_bundle_streams_its_steps_then_the_zip(app, completed, login):
    response = login("sup1").get("/supervisor/ledger/bundle.zip?lang=en", headers=PROGRESS)
    assert response.mimetype == progress.MEDIA_TYPE
    messages, data = read_stream(response.data)
    texts = [m["progress"]["text"] for m in messages if "progress" in m]
    assert texts[0].startswith("Writing ledger entries: 0 of ")
    assert any(t.startswith("Compressing files") for t in texts)
    meta = messages[-1]["file"]
    assert meta["type"] == "application/zip" and meta["size"] == len(data)
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert meta["name"] == names[0].split("/")[0] + ".zip"
    assert any(n.endswith("/entries.jsonl") for n in names)


def test_a_failure_while_streaming_is_reported_in_the_stream(app, completed, login, monkeypatch):
    def broken() -> Iterator[steps.Step]:
        yield steps.Step("entries", 0, 10, count=0, of=10)
        raise RuntimeError("disk full")

    monkeypatch.setattr(export, "zip_steps", broken)
    response = login("sup1").get("/supervisor/ledger/bundle.zip?lang=en", headers=PROGRESS)
    messages, data = read_stream(response.data)
    assert "progress" in messages[0]
    assert messages[-1] == {
        "error": "The work stopped with an error and nothing was saved. Try again."
    }
    assert data == b""


def test_steps_run_gives_the_result_of_the_work():
    def work() -> steps.Steps[str]:
        yield steps.Step("read", 0, 3)
        yield steps.Step("write", 2, 3)
        return "done"

    assert steps.run(work()) == "done"
    assert steps.Step("check", 1, 3).percent == 33
    assert steps.Step("check", 5, 0).percent == 0
