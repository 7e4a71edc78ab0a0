"""Progress of long operations on the pages (imports, bundle export, issuing a report): a
service's steps streamed to the browser.

A form or link marked ``data-progress`` (macro ``_progress.html``, script
``static/progress.js``) is sent by the script with the header ``X-Progress: 1``. The view then
answers with :func:`stream` instead of the plain page: one JSON line per step of the service
(``services.steps``), ``{"progress": {"percent": 40, "text": "Checking 1200 rows…"}}``, and
at the end one of

- ``{"page": {"status": 422, "html": "<!doctype html>…"}}``: the page the plain form would have
  shown; the script puts its ``main`` in place of the current one;
- ``{"file": {"name": …, "type": …, "size": n}}`` followed by exactly ``n`` bytes of the file,
  which the script saves;
- ``{"error": "…"}``: the work failed; its transaction was rolled back.

The work runs in the request's own thread while the response is sent, so it needs no job store
and works with any number of single-threaded workers. Without script the same view answers the
plain form or link as before, and a view that finds the input wrong answers with its plain page
(status 4xx) even when progress was asked for.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Response, request, stream_with_context
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ..services.steps import Step, Steps
from .forms import abandon

log = logging.getLogger(__name__)
T = TypeVar("T")

HEADER = "X-Progress"
MEDIA_TYPE = "application/vnd.expertdraw.progress"

# What each stage of a service is doing; ``count`` and ``of`` come from the step.
STAGES: dict[str, Any] = {
    "read": _l("Reading the file…"),
    "check": _l("Checking %(of)s rows…"),
    "write": _l("Saving %(of)s rows…"),
    "entries": _l("Writing ledger entries: %(count)s of %(of)s"),
    "snapshots": _l("Adding draw snapshots: %(count)s of %(of)s"),
    "zip": _l("Compressing files: %(count)s of %(of)s"),
    "report-figures": _l("Counting the period's draws, answers and seats…"),
    "report-audit": _l("Auditing the whole ledger…"),
    "report-sign": _l("Recording the report in the ledger…"),
}


@dataclass(frozen=True)
class Page:
    """The finished operation's page (the one the plain form shows) and its status."""

    html: str
    status: int = 200


@dataclass(frozen=True)
class File:
    """The finished operation's file, to be saved by the browser."""

    data: bytes
    name: str
    mimetype: str


def wanted() -> bool:
    """Whether the page's script asked for the progress stream."""
    return request.headers.get(HEADER) == "1"


def describe(step: Step) -> str:
    """The step in words, in the user's language."""
    text = STAGES.get(step.stage)
    if text is None:
        return step.stage
    return str(text) % {"count": step.count or 0, "of": step.of or 0}


def _line(message: dict[str, Any]) -> bytes:
    return json.dumps(message, ensure_ascii=False).encode() + b"\n"


def stream(work: Steps[T], finish: Callable[[T], Page | File]) -> Response:
    """Run ``work`` while streaming its steps, then the page or file ``finish`` makes of its
    result (see the module docstring for the format)."""

    def lines() -> Iterator[bytes]:
        try:
            while True:
                try:
                    step = next(work)
                except StopIteration as finished:
                    result = finished.value
                    break
                yield _line({"progress": {"percent": step.percent, "text": describe(step)}})
            final = finish(result)
        except Exception:  # the response has started: report the failure in the stream
            log.exception("long operation failed at %s", request.path)
            abandon()
            text = _("The work stopped with an error and nothing was saved. Try again.")
            yield _line({"error": text})
            return
        if isinstance(final, File):
            meta = {"name": final.name, "type": final.mimetype, "size": len(final.data)}
            yield _line({"progress": {"percent": 100, "text": _("Sending the file…")}})
            yield _line({"file": meta})
            yield final.data
        else:
            yield _line({"page": {"status": final.status, "html": final.html}})

    response = Response(stream_with_context(lines()), mimetype=MEDIA_TYPE)
    response.headers["Cache-Control"] = "no-store"
    response.vary.add(HEADER)
    response.headers["X-Accel-Buffering"] = "no"  # a proxy must pass each line on at once
    return response
