"""Administrator's pages: overview, the expert pool (search, suspend / reactivate), venues with
rooms and workstations, organisations, and the log's public keys. Users and imports are in
``admin_users``; editing experts, places, organisations and users in ``admin_edit``."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from .. import auth
from ..extensions import db
from ..services import directory, experts, keys, ledger, sealed_pool
from ..services.draws import actor_of
from ..services.errors import ServiceError
from .access import roles_required
from .forms import FormState, abandon, message_for, parse_page
from .labels import label

bp = Blueprint("admin", __name__, url_prefix="/admin")
PER_PAGE = 50


@bp.get("/")
@roles_required("admin")
def home() -> str:
    """Figures and links."""
    return render_template("admin/home.html", counts=directory.counts(), size=ledger.size())


def _experts_page(
    form: FormState, status: int = 200, *, query: str | None = None, wanted: str | None = None
) -> tuple[str, int]:
    """The pool list; a failed status change shows the list the admin was looking at."""
    if query is None:
        query, wanted = request.args.get("q", ""), request.args.get("status") or None
    user = auth.current_user()
    return render_template(
        "admin/experts.html",
        rows=experts.search(
            query, status=wanted, hidden=lambda codes: sealed_pool.hidden(user, codes)
        ),
        q=query,
        status_filter=wanted or "",
        form=form,
        reasons=experts.STATUS_REASONS,
    ), status


@bp.get("/experts")
@roles_required("admin")
def experts_list() -> tuple[str, int]:
    """Search experts by code or name."""
    return _experts_page(FormState({}))


@bp.post("/experts/<code>/status")
@roles_required("admin")
def expert_status(code: str) -> Response | tuple[str, int]:
    """Suspend or reactivate an expert (``pool.changed`` in the ledger)."""
    state = FormState(request.form, fields={f"reason-{code}"})
    try:
        experts.set_status(
            code,
            request.form.get("status", ""),
            request.form.get("reason", ""),
            auth.current_user(),
        )
    except ServiceError as exc:
        abandon()
        state.add(f"reason-{code}", _("%(code)s: %(message)s", code=code, message=_message(exc)))
        return _experts_page(
            state,
            exc.http_status,
            query=request.form.get("q", ""),
            wanted=request.form.get("status_filter") or None,
        )
    flash(_("Expert %(code)s is now: %(status)s.", code=code, status=_status_word(code)), "success")
    filters = {"q": request.form.get("q", ""), "status": request.form.get("status_filter") or None}
    return redirect(url_for("admin.experts_list", **{k: v for k, v in filters.items() if v}))


def _message(exc: ServiceError) -> str:
    return message_for(exc.code, str(exc))


def _status_word(code: str) -> str:
    return str(label("expert_status", experts.get_by_code(code).status))


@bp.get("/venues")
@roles_required("admin")
def venues() -> str:
    """Venues with their evaluation rooms and workstations, and the form to add a venue."""
    return render_template(
        "admin/venues.html", venues=directory.venues(), form=FormState({}), regions=regions()
    )


def regions() -> list[tuple[str, str]]:
    """Regions as ``(code, "code name")`` choices."""
    return [(code, f"{code} {name}") for code, name, _level in directory.regions()]


@bp.get("/organisations")
@roles_required("admin")
def organisations() -> tuple[str, int]:
    """Organisations by unified social credit code, and the form to register one."""
    return organisations_page(FormState({}))


def organisations_page(form: FormState, status: int = 200) -> tuple[str, int]:
    """The organisations page with the registration form in ``form``'s state."""
    query = request.args.get("q", "")
    page = parse_page(request.args.get("page"))
    rows, total = directory.organisations(query, offset=(page - 1) * PER_PAGE, limit=PER_PAGE)
    return render_template(
        "admin/organisations.html",
        rows=rows,
        q=query,
        page=page,
        pages=max(1, -(-total // PER_PAGE)),
        total=total,
        form=form,
        regions=regions(),
    ), status


@bp.get("/keys")
@roles_required("admin")
def keys_list() -> tuple[str, int]:
    """The log's public verifier keys and the entries each signs, and the rotation form."""
    return _keys_page(FormState({}))


def _keys_page(form: FormState, status: int = 200) -> tuple[str, int]:
    return render_template("admin/keys.html", keys=keys.trust_list(), form=form), status


@bp.post("/keys/rotate")
@roles_required("admin")
def keys_rotate() -> Response | tuple[str, int]:
    """Rotate the signing key: the server makes the new key (no key material leaves it) and
    appends ``key.rotated`` signed by the old one, with the reason given here."""
    form = FormState(request.form, fields={"reason"})
    try:
        row = ledger.rotate_key(request.form.get("reason", ""), actor_of(auth.current_user()))
        db.session.commit()
    except ServiceError as exc:
        form.fail(exc)
        return _keys_page(form, exc.http_status)
    flash(_("A new key signs from entry %(seq)s.", seq=row.from_seq), "success")
    return redirect(url_for("admin.keys_list"))
