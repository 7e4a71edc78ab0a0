"""Administrator's pages for users and roles, and for importing experts, organisations and
venues from CSV or XLSX (all or nothing, every row error shown)."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from .. import auth
from ..services import auth as auth_service
from ..services import directory, draws, experts, imports
from ..services.errors import NotFound
from ..services.users import UserError
from . import progress
from .access import roles_required
from .admin import bp
from .forms import FormState, message_for, parse_page

PER_PAGE = 50
USER_FIELDS = {"username", "password", "role", "expert_code", "venue_id", "language"}


def _users_page(form: FormState, status: int = 200) -> tuple[str, int]:
    page = parse_page(request.args.get("page"))
    rows, total = auth_service.list_users(page=page, per_page=PER_PAGE)
    return render_template(
        "admin/users.html",
        rows=rows,
        page=page,
        pages=max(1, -(-total // PER_PAGE)),
        venues_options=[(v.id, f"{v.id} {v.name}") for v in directory.venues()],
        form=form,
    ), status


@bp.get("/users")
@roles_required("admin")
def users() -> tuple[str, int]:
    """Users with their roles, and the form to create one."""
    return _users_page(FormState({}))


@bp.post("/users")
@roles_required("admin")
def create_user() -> Response | tuple[str, int]:
    """Create a user; experts are linked by expert code, venue staff by venue."""
    state = FormState(request.form, fields=USER_FIELDS)
    role = request.form.get("role", "")
    expert_code = request.form.get("expert_code", "").strip() or None
    venue_id = request.form.get("venue_id", "").strip() or None
    # A link the role does not take is refused, not dropped: the admin meant something by it.
    if expert_code and role != "expert":
        state.add("expert_code", _("Only an expert's account is linked to an expert code."))
    if venue_id and role != "venue_staff":
        state.add("venue_id", _("Only a venue staff account is linked to a venue."))
    if not state.ok:
        return _users_page(state, 422)
    try:
        user = auth_service.create_account(
            request.form.get("username", "").strip(),
            request.form.get("password", ""),
            role,
            expert_code=expert_code if role == "expert" else None,
            venue_id=venue_id if role == "venue_staff" else None,
            language=request.form.get("language") or None,
        )
    except UserError as exc:
        field = exc.code.split(":", 1)[1]
        if field in ("link", "expert-taken", "expert-removed"):
            field = "venue_id" if role == "venue_staff" else "expert_code"
        state.add(field, _unknown_expert(role, expert_code) or message_for(exc.code, str(exc)))
        return _users_page(state, 422)
    flash(_("User %(name)s is created.", name=user.username), "success")
    return redirect(url_for("admin.users"))


def _unknown_expert(role: str, code: str | None) -> str | None:
    """What to say of an expert code the pool does not have (the generic link message would
    not tell the administrator that the code itself is the problem)."""
    if role != "expert" or not code:
        return None
    try:
        experts.get_by_code(code)
    except NotFound:
        return _("No expert in the pool has the code %(code)s.", code=code)
    return None


def _columns() -> dict[str, list[tuple[str, str, bool]]]:
    """Each kind's columns as ``(name, Chinese label, required)``, for the page to list."""
    from ..services import import_rows

    columns = {}
    for kind in import_rows.KINDS:
        chinese = {name: label for label, name in import_rows.ALIASES[kind].items()}
        columns[kind] = [
            (name, chinese.get(name, ""), name in import_rows.REQUIRED[kind])
            for name in (*import_rows.REQUIRED[kind], *import_rows.OPTIONAL[kind])
        ]
    return columns


def _import_page(state: FormState, result: imports.ImportResult | None) -> tuple[str, int]:
    status = 200 if result is None or result.ok else 422
    html = render_template(
        "admin/import.html", form=state, result=result, kinds=imports.KINDS, columns=_columns()
    )
    return html, status


@bp.route("/import", methods=["GET", "POST"])
@roles_required("admin")
def import_data() -> Response | tuple[str, int]:
    """Upload a CSV or XLSX file; nothing is imported unless every row is right.

    The page's script asks for the import's progress (``web.progress``); the plain form gets
    the result page directly.
    """
    state = FormState(request.form, fields={"kind", "file"})
    if request.method == "GET":
        return _import_page(state, None)
    upload = request.files.get("file")
    kind = request.form.get("kind", "")
    if kind not in imports.KINDS:
        state.add("kind", _("Choose what the file holds."))
    if upload is None or not upload.filename:
        state.add("file", _("Choose a CSV or XLSX file."))
    if not state.ok or upload is None:
        return _import_page(state, None)[0], 422
    data, name = upload.read(), upload.filename or "upload.csv"
    actor = draws.actor_of(auth.current_user())
    if progress.wanted():
        return progress.stream(
            imports.import_steps(kind, data, name, actor=actor),
            lambda result: progress.Page(*_import_page(state, result)),
        )
    return _import_page(state, imports.import_bytes(kind, data, name, actor=actor))
