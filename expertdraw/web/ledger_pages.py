"""The ledger for supervisors: size, latest checkpoint and keys; the export bundle (zip) and
receipts (JSON) to download; and the "why (not) eligible" look-up."""

from __future__ import annotations

import io
import json

from flask import Blueprint, Response, render_template, request, send_file
from flask_babel import gettext as _

from .. import auth
from ..domain.ledger import LedgerError
from ..services import cosign, draws, experts, export, keys, ledger, pool, rules_record, steps
from ..services import projects as project_service
from ..services.errors import ServiceError
from . import progress
from .access import roles_required
from .forms import FormState, parse_int

bp = Blueprint("ledger", __name__, url_prefix="/supervisor")
SUPERVISE = ("supervisor", "admin")


def _overview(form: FormState, status: int = 200) -> tuple[str, int]:
    latest = ledger.latest_checkpoint()
    user = auth.current_user()
    return render_template(
        "supervisor/ledger.html",
        size=ledger.size(),
        checkpoint=latest,
        keys=keys.trust_list(),
        form=form,
        cosigning=cosign.standing(user) if user.role == "supervisor" else None,
        rules=rules_record.standing(),
    ), status


@bp.get("/ledger")
@roles_required(*SUPERVISE)
def overview() -> tuple[str, int]:
    """Ledger size, the latest signed checkpoint, the verifier keys, downloads."""
    return _overview(FormState({}))


@bp.get("/ledger/bundle.zip")
@roles_required(*SUPERVISE)
def bundle() -> Response:
    """The export bundle of the whole ledger as a zip (a folder for the offline verifier).

    The page's script asks for the export's progress (``web.progress``) and saves the file.
    """
    if progress.wanted():
        return progress.stream(
            export.zip_steps(), lambda made: progress.File(made[1], made[0], "application/zip")
        )
    name, data = steps.run(export.zip_steps())
    return send_file(
        io.BytesIO(data), mimetype="application/zip", as_attachment=True, download_name=name
    )


@bp.get("/ledger/keys.txt")
@roles_required(*SUPERVISE)
def keys_file() -> Response:
    """The trust list (``keys.txt``) to verify bundles and receipts with."""
    return Response(
        keys.keys_txt(),
        mimetype="text/plain",
        headers={"Content-Disposition": "attachment; filename=keys.txt"},
    )


@bp.get("/ledger/receipt")
@roles_required(*SUPERVISE)
def receipt() -> Response | tuple[str, int]:
    """The receipt of one entry (by ``seq``) as a JSON file."""
    state = FormState(request.args, fields={"seq"})
    seq = parse_int(request.args.get("seq"))
    if seq is None or seq < 0:
        state.add("seq", _("Enter an entry number (0 or more)."))
        return _overview(state, 422)
    try:
        body = ledger.receipt(seq)
    except LedgerError as exc:
        if exc.code == "ledger:uncovered":
            why = _("no checkpoint covers it yet; one follows within minutes")
        else:
            why = _("the ledger has no entry with this number")
        state.add("seq", _("No receipt for entry %(seq)s: %(detail)s", seq=seq, detail=why))
        return _overview(state, 404)
    return Response(
        json.dumps(body, ensure_ascii=False, indent=2) + "\n",
        mimetype="application/json",
        headers={"Content-Disposition": f"attachment; filename=receipt-{seq}.json"},
    )


@bp.get("/eligibility")
@roles_required(*SUPERVISE)
def eligibility() -> tuple[str, int]:
    """Why an expert is or is not eligible for a project: reason codes only."""
    state = FormState(request.args, fields={"project", "expert"})
    result = None
    status = 200
    if request.args.get("project") or request.args.get("expert"):
        project_code = request.args.get("project", "").strip()
        expert_code = request.args.get("expert", "").strip()
        try:
            project = project_service.get_project(project_code)
        except ServiceError:
            state.add("project", _("No project with this code."))
        try:
            expert = experts.get_by_code(expert_code)
        except ServiceError:
            state.add("expert", _("No expert with this code."))
        if state.ok:
            result = pool.explain_expert(project, expert, draws.rules())
        else:
            status = 404
    return render_template("supervisor/eligibility.html", form=state, result=result), status
