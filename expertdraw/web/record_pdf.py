"""The draw record (抽取记录表) as a PDF, built with ReportLab from ``record.record_data``.

It shows what the HTML record shows, with the same translated labels, in the user's language.
Text is set in ReportLab's built-in CID font STSong-Light (Adobe's simplified Chinese Song,
which every PDF reader provides), so Chinese needs no font file; codes and hashes are set in
Courier so that a supervisor can compare them character by character. Members are listed by
expert code only, never by name, as on the page.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

from flask_babel import format_datetime
from flask_babel import gettext as _
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Flowable,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from .labels import label, reason
from .templating import entropy_text

FONT = "STSong-Light"
MONO = "Courier"
MARGIN = 16 * mm
WIDTH = A4[0] - 2 * MARGIN
SHADE = colors.HexColor("#f4f6f9")
LINE = colors.HexColor("#9aa5b1")
SECONDS = "yyyy-MM-dd HH:mm:ss"


@functools.cache
def _font() -> str:
    """Register the CID font once per process and return its name."""
    pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    return FONT


@functools.cache
def _styles() -> dict[str, ParagraphStyle]:
    font = _font()
    # wordWrap "CJK" breaks a line anywhere: Chinese has no spaces, hashes and ids neither.
    body = ParagraphStyle("body", fontName=font, fontSize=9, leading=13, wordWrap="CJK")
    return {
        "title": ParagraphStyle(
            "title", parent=body, fontSize=17, leading=24, alignment=TA_CENTER, spaceAfter=2
        ),
        "sub": ParagraphStyle(
            "sub", parent=body, alignment=TA_CENTER, textColor=colors.HexColor("#555f6d")
        ),
        "h2": ParagraphStyle(
            "h2",
            parent=body,
            fontSize=12,
            leading=16,
            spaceBefore=10,
            spaceAfter=4,
            keepWithNext=1,
        ),
        "body": body,
        "cell": ParagraphStyle("cell", parent=body, fontSize=8.5, leading=11),
        "code": ParagraphStyle("code", parent=body, fontName=MONO, fontSize=8, leading=10.5),
        "note": ParagraphStyle("note", parent=body, fontName=MONO, fontSize=7, leading=9),
    }


def _text(value: Any, style: str = "cell") -> Paragraph:
    return Paragraph(escape("" if value is None else str(value)), _styles()[style])


def _code(value: Any) -> Paragraph:
    return _text(value, "code")


def _when(value: datetime | None, pattern: str = SECONDS) -> str:
    return "" if value is None else format_datetime(value, pattern)


def _table(
    rows: Sequence[Sequence[Any]],
    widths: Sequence[float],
    *,
    header: bool = False,
    spans: Sequence[int] = (),
) -> Table:
    """A bordered table; with ``header`` the first row is shaded and repeats on each page;
    otherwise the label cells (columns 0 and 2) are shaded, as on the page."""
    commands: list[tuple[Any, ...]] = [
        ("GRID", (0, 0), (-1, -1), 0.5, LINE),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 3),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
    ]
    if header:
        commands.append(("BACKGROUND", (0, 0), (-1, 0), SHADE))
    else:
        commands.append(("BACKGROUND", (0, 0), (0, -1), SHADE))
        if len(widths) == 4:
            commands.append(("BACKGROUND", (2, 0), (2, -1), SHADE))
    for row in spans:
        commands.append(("SPAN", (1, row), (-1, row)))
        commands.append(("BACKGROUND", (1, row), (-1, row), colors.white))
    table = Table(list(rows), colWidths=list(widths), repeatRows=1 if header else 0)
    table.setStyle(TableStyle(commands))
    return table


def _project(data: dict[str, Any]) -> list[Flowable]:
    project = data["project"]
    window = f"{_when(project['window_start'], 'yyyy-MM-dd HH:mm')} – "
    window += _when(project["window_end"], "yyyy-MM-dd HH:mm")
    rows = [
        [
            _text(_("Project code")),
            _code(project["code"]),
            _text(_("Project name")),
            _text(project["name"]),
        ],
        [_text(_("Evaluation window")), _text(window), "", ""],
        [
            _text(_("Separation of members")),
            _text(label("separation", project["separation"])),
            _text(_("Members per employer at most")),
            _text(project["max_per_group"]),
        ],
        [
            _text(_("Tenderer representatives (not drawn)")),
            _text(project["tenderer_representatives"]),
            _text(_("Regional exclusion")),
            _text(label("region_policy", project["region_policy"])),
        ],
    ]
    return [_heading(_("Project")), _table(rows, [85, 165, 85, WIDTH - 335], spans=[1])]


def _draw(data: dict[str, Any]) -> list[Flowable]:
    draw, result = data["draw"], data["result"]
    state = str(label("draw_state", draw.state)) + (f" ({draw.reason})" if draw.reason else "")
    kind = draw.entropy.get("kind")
    entropy = str(label("entropy", kind))
    if kind == "witness":
        count = _(
            "Witnesses: %(n)s of %(k)s", n=data["witnesses"], k=draw.entropy.get("witnesses", 0)
        )
        entropy += f" · {count}"
    rows = [
        [_text(_("Draw")), _code(draw.id), _text(_("State")), _text(state)],
        [
            _text(_("Announced")),
            _text(_when(draw.announced_at)),
            _text(_("Finished")),
            _text(_when(draw.finished_at)),
        ],
        [_text(_("Algorithm")), _code(draw.algorithm), _text(_("Entropy")), _text(entropy)],
        [_text(_("Snapshot hash")), _code(draw.snapshot_hash), "", ""],
        [_text(_("Commitment")), _code(draw.commitment), "", ""],
    ]
    if result:
        rows.append([_text(_("Revealed secret")), _code(result.get("secret")), "", ""])
        if "entropy_value" in result:
            shown = entropy_text(result["entropy_value"])
            # Witness values may be Chinese, which the monospace font cannot show.
            cell = _code(shown) if shown.isascii() else _text(shown)
            rows.append([_text(_("Entropy value")), cell, "", ""])
        if "seed" in result:
            rows.append([_text(_("Seed")), _code(result["seed"]), "", ""])
    spans = range(3, len(rows))
    return [_heading(_("Draw")), _table(rows, [85, 165, 85, WIDTH - 335], spans=spans)]


def _strata(data: dict[str, Any]) -> list[Flowable]:
    names = data["specialty_names"]
    head = [_("Name"), _("Specialty"), _("Kind"), _("Members"), _("Alternates")]
    rows: list[list[Any]] = [[_text(h) for h in head]]
    for s in data["project"]["strata"]:
        specialty = f"{s['specialty']} {names.get(s['specialty'], '')}".strip()
        rows.append(
            [
                _text(label("stratum", s["name"])),
                _text(specialty),
                _text(label("kind", s["kind"])),
                _text(s["count"]),
                _text(s["alternates"]),
            ]
        )
    parts: list[Flowable] = [
        _heading(_("Strata")),
        _table(rows, [100, WIDTH - 320, 80, 70, 70], header=True),
    ]
    announced = data["announced"]
    if announced and announced.get("excluded"):
        counts = "; ".join(
            f"{reason(code)} ({code}) {n}" for code, n in announced["excluded"].items()
        )
        parts.append(Spacer(1, 4))
        parts.append(
            _text(f"{_('Excluded before the draw (counts per reason)')}: {counts}", "body")
        )
    return parts


def _members(data: dict[str, Any]) -> list[Flowable]:
    head = [
        _("Expert code"),
        _("Stratum"),
        _("Venue"),
        _("Room"),
        _("Workstation"),
        _("State"),
        _("Answer"),
    ]
    rows: list[list[Any]] = [[_text(h) for h in head]]
    for m in data["members"]:
        rows.append(
            [
                _code(m["expert"]),
                _text(label("stratum", m["stratum"])),
                _code(m["venue"]),
                _code(m["room"]),
                _code(m["workstation"]),
                _text(label("member_state", m["state"])),
                _text(label("notice_status", m["answer"])),
            ]
        )
    widths = [62, 58, 58, 80, 97, 60, WIDTH - 415]
    return [_heading(_("Members and seats")), _table(rows, widths, header=True)]


def _replacements(data: dict[str, Any]) -> list[Flowable]:
    parts: list[Flowable] = [_heading(_("Replacements"))]
    if not data["replacements"]:
        parts.append(_text(_("None."), "body"))
    else:
        head = ["#", _("Leaving"), _("Reason"), _("Replacement"), _("Seat")]
        rows: list[list[Any]] = [[_text(h) for h in head]]
        for index, r in enumerate(data["replacements"], start=1):
            if r.get("in"):
                into = _code(r["in"])
            elif r.get("supplementary"):
                into = _text(_("Supplementary draw %(id)s", id=r["supplementary"]))
            else:
                into = _text("—")
            seat = r.get("seat")
            where = f"{seat['venue']} / {seat['room']} / {seat['workstation']}" if seat else "—"
            rows.append(
                [
                    _text(index),
                    _code(r.get("out")),
                    _text(reason(r.get("reason", ""))),
                    into,
                    _code(where),
                ]
            )
        parts.append(_table(rows, [24, 70, WIDTH - 334, 90, 150], header=True))
    if data["subdraws"]:
        listed = ", ".join(f"{d.id} ({label('draw_state', d.state)})" for d in data["subdraws"])
        parts += [Spacer(1, 4), _text(f"{_('Supplementary draws')}: {listed}", "body")]
    return parts


def _ledger(data: dict[str, Any]) -> list[Flowable]:
    entries = "; ".join(f"#{seq} {kind}" for seq, kind, _time in data["entries"])
    parts: list[Flowable] = [
        _heading(_("Ledger")),
        _text(f"{_('Entries of this draw')}: {entries}", "body"),
    ]
    checkpoint = data["checkpoint"]
    if checkpoint is not None:
        sentence = _(
            "Latest signed checkpoint: size %(size)s, issued %(time)s.",
            size=checkpoint.size,
            time=_when(checkpoint.issued_at),
        )
        note = "<br/>".join(escape(line) for line in checkpoint.note.rstrip("\n").split("\n"))
        parts += [Spacer(1, 4), _text(sentence, "body"), Spacer(1, 3)]
        parts.append(Paragraph(note, _styles()["note"]))
    return parts


def _opening(data: dict[str, Any]) -> list[Flowable]:
    by = data["by"]
    sentence = _(
        "Opened by %(user)s (%(pseudonym)s) on %(time)s for: %(purpose)s",
        user=by.username,
        pseudonym=by.pseudonym,
        time=_when(data["printed_at"]),
        purpose=data["purpose"],
    )
    blank = "_" * 24
    signatures = Table(
        [
            [
                _text(f"{_('Supervisor (signature)')}: {blank}", "body"),
                _text(f"{_('Date')}: {blank}", "body"),
            ]
        ],
        colWidths=[WIDTH / 2, WIDTH / 2],
    )
    section = [_heading(_("Opening of this record")), _text(sentence, "body"), Spacer(1, 28)]
    return [KeepTogether([*section, signatures])]


def _heading(text: str) -> Paragraph:
    return _text(text, "h2")


def build(data: dict[str, Any]) -> bytes:
    """The PDF of the draw record described by ``data`` (``record.record_data``)."""
    draw = data["draw"]
    title = _("Draw record")
    subtitle = _("Random draw of evaluation experts, venues and workstations")
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN + 4 * mm,
        title=f"{title} {draw.id}",
        subject=subtitle,
        creator="expertdraw",
    )
    footer = f"{title} · {draw.id}"

    def number_page(canvas: Canvas, doc: SimpleDocTemplate) -> None:
        canvas.saveState()
        canvas.setFont(_font(), 8)
        canvas.setFillColor(colors.HexColor("#555f6d"))
        canvas.drawString(MARGIN, MARGIN, footer)
        canvas.drawRightString(A4[0] - MARGIN, MARGIN, _("Page %(page)s", page=doc.page))
        canvas.restoreState()

    story: list[Flowable] = [_text(title, "title"), _text(f"{subtitle} · {draw.id}", "sub")]
    for section in (_project, _draw, _strata, _members, _replacements, _ledger, _opening):
        story += section(data)
    document.build(story, onFirstPage=number_page, onLaterPages=number_page)
    return buffer.getvalue()
