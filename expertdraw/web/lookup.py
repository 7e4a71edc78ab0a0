"""Look-up of organisations by unified social credit code for the forms that name parties.

The project form (and the admin's expert form) show, beside each code typed, the registered
organisation's name, or why the code is not usable: a wrong check character, or not
registered. The page's script asks ``/manager/organisations/lookup?uscc=…`` (JSON); without
script the form still checks every code when it is sent.
"""

from __future__ import annotations

from typing import Any

from flask import jsonify, request

from ..domain.codes import CodeError, validate_uscc
from ..services import directory
from .access import roles_required
from .forms import message_for
from .labels import label
from .manager import MANAGE, bp

MAX_CODES = 50


@bp.get("/organisations/lookup")
@roles_required(*MANAGE)
def organisation_lookup() -> Any:
    """``{"organisations": [{"uscc", "name", "kind", "message"}]}`` for each ``uscc`` asked."""
    asked = [code.strip().upper() for code in request.args.getlist("uscc") if code.strip()]
    valid: list[str] = []
    messages: dict[str, str] = {}
    for code in asked[:MAX_CODES]:
        try:
            valid.append(validate_uscc(code))
        except CodeError as exc:
            messages[code] = message_for(exc.code, str(exc))
    found = directory.organisations_by_uscc(valid)
    answer = []
    for code in asked[:MAX_CODES]:
        org = found.get(code)
        if org is None and code not in messages:
            messages[code] = message_for("invalid:organisation")
        answer.append(
            {
                "uscc": code,
                "name": org.name if org else None,
                "kind": str(label("organisation_kind", org.kind)) if org else None,
                "message": messages.get(code),
            }
        )
    response = jsonify({"organisations": answer})
    response.headers["Cache-Control"] = "no-store"
    return response
