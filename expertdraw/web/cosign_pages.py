"""A supervisor cosigns the latest checkpoint from the ledger page (C2SP tlog-cosignature).

The supervisor signs the checkpoint's note text with their own Ed25519 key, with their own
tool, and pastes the resulting signature line and their verifier key; the private key never
reaches the service (as with the API, ``POST /api/v1/ledger/checkpoints/<id>/cosignatures``).
The service checks the line against the key and refuses to go backwards. The views register
on the ledger blueprint; only supervisors cosign, as in the API.
"""

from __future__ import annotations

from flask import Response, abort, flash, redirect, request, url_for
from flask_babel import gettext as _

from .. import auth
from ..services import cosign, ledger
from ..services.errors import ServiceError
from .access import roles_required
from .forms import FormState, parse_int
from .ledger_pages import SUPERVISE, _overview, bp

MAX_KEY = cosign.KEY_LENGTH
MAX_LINE = 400


@bp.get("/ledger/checkpoint.txt")
@roles_required(*SUPERVISE)
def checkpoint_file() -> Response:
    """The latest checkpoint exactly as issued (a signed note), for signing tools."""
    latest = ledger.latest_checkpoint()
    if latest is None:
        abort(404)
    return Response(
        latest.note,
        mimetype="text/plain",
        headers={"Content-Disposition": f"attachment; filename=checkpoint-{latest.size}.txt"},
    )


@bp.post("/ledger/cosign")
@roles_required("supervisor")
def cosign_checkpoint() -> Response | tuple[str, int]:
    """Record this supervisor's signature line on the checkpoint the page showed."""
    state = FormState(request.form, fields={"verifier_key", "signature_line"})
    checkpoint_id = parse_int(request.form.get("checkpoint"))
    key = request.form.get("verifier_key", "").strip()
    line = request.form.get("signature_line", "").strip()
    if not key or len(key) > MAX_KEY:
        state.add("verifier_key", _("Enter your verifier key (at most 200 characters)."))
    if not line or len(line) > MAX_LINE:
        state.add("signature_line", _("Paste your signature line (at most 400 characters)."))
    if checkpoint_id is None:
        state.add(None, _("Reload the page: no checkpoint was chosen."))
    if not state.ok or checkpoint_id is None:
        return _overview(state, 422)
    try:
        cosign.cosign(auth.current_user(), checkpoint_id, key, line)
    except ServiceError as exc:
        state.fail(exc)
        return _overview(state, exc.http_status)
    flash(_("Your cosignature is recorded; it is exported with the checkpoint."), "success")
    return redirect(url_for("ledger.overview"))
