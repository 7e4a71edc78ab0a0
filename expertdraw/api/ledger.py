"""The ledger for supervisors: state, receipts, consistency proofs, eligibility explanations."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from ..services import cosign, ledger, pool, projects
from ..services.errors import NotFound
from .blueprint import bp
from .framework import api_route
from .schemas import ApiModel, OutModel, QueryModel

SUPERVISE = {"supervisor", "admin"}


class LedgerOut(OutModel):
    size: int
    checkpoint_size: int | None
    checkpoint: str | None
    checkpoint_issued_at: datetime | None
    keys: str


class ReceiptOut(OutModel):
    entry: dict[str, Any]
    sig: str
    key: str
    index: int
    tree_size: int
    inclusion: list[str]
    checkpoint: str


class ConsistencyQuery(QueryModel):
    old: int = Field(ge=1, le=2**53 - 1)
    new: int = Field(ge=1, le=2**53 - 1)


class ConsistencyOut(OutModel):
    old: int
    new: int
    proof: list[str]


class EligibilityQuery(QueryModel):
    project: Annotated[
        str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    ]
    expert: Annotated[
        str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    ]


class EligibilityOut(OutModel):
    expert: str
    project: str
    eligible: bool
    reasons: list[str]
    #: The project's draw, whose own seats and memberships were set aside; None before one.
    draw: str | None


@api_route(bp, "GET", "/ledger", roles=SUPERVISE, response=LedgerOut, summary="Ledger state")
def ledger_state() -> dict[str, Any]:
    """Size, the latest checkpoint and the keys with their seq ranges."""
    from ..services import keys

    latest = ledger.latest_checkpoint()
    return {
        "size": ledger.size(),
        "checkpoint_size": latest.size if latest else None,
        "checkpoint": latest.note if latest else None,
        "checkpoint_issued_at": latest.issued_at if latest else None,
        "keys": keys.keys_txt(),
    }


@api_route(
    bp,
    "GET",
    "/ledger/entries/<int:seq>/receipt",
    roles=SUPERVISE,
    response=ReceiptOut,
    summary="Receipt of one entry",
    errors=(409,),  # ledger:uncovered: no checkpoint covers the entry yet
)
def receipt(seq: int) -> dict[str, Any]:
    """The entry, its signature and an inclusion proof against the latest covering checkpoint."""
    return ledger.receipt(seq)


@api_route(
    bp,
    "GET",
    "/ledger/consistency",
    roles=SUPERVISE,
    query=ConsistencyQuery,
    response=ConsistencyOut,
    errors=(409,),
    summary="Consistency proof between two sizes",
)
def consistency(query: ConsistencyQuery) -> dict[str, Any]:
    """RFC 9162 §2.1.4 proof that the tree of size ``new`` extends the one of size ``old``."""
    return {"old": query.old, "new": query.new, "proof": ledger.consistency(query.old, query.new)}


@api_route(
    bp,
    "GET",
    "/eligibility",
    roles=SUPERVISE,
    query=EligibilityQuery,
    response=EligibilityOut,
    errors=(404,),
    summary="Why an expert is or is not eligible",
)
def eligibility(query: EligibilityQuery) -> dict[str, Any]:
    """Reason codes only, never the other party's private data."""
    import sqlalchemy as sa

    from ..extensions import db
    from ..models import Expert
    from ..services import draws

    project = projects.get_project(query.project)
    expert = db.session.scalar(sa.select(Expert).where(Expert.code == query.expert))
    if expert is None:
        raise NotFound("expert", query.expert)
    return pool.explain_expert(project, expert, draws.rules())


class CheckpointOut(OutModel):
    id: int
    size: int
    root: str
    note: str
    issued_at: datetime


class CosignIn(ApiModel):
    verifier_key: Annotated[str, StringConstraints(min_length=10, max_length=cosign.KEY_LENGTH)]
    signature_line: Annotated[
        str, StringConstraints(min_length=10, max_length=400, strip_whitespace=False)
    ]


class CosignOut(OutModel):
    checkpoint: int
    verifier_key: str
    created_at: datetime


@api_route(
    bp,
    "GET",
    "/ledger/checkpoints/latest",
    roles=SUPERVISE,
    response=CheckpointOut,
    errors=(404,),
    summary="The latest signed checkpoint",
)
def latest_checkpoint() -> Any:
    """As issued, without cosignatures (those are added in the export bundle)."""
    row = ledger.latest_checkpoint()
    if row is None:
        raise NotFound("checkpoint", "latest")
    return row


@api_route(
    bp,
    "POST",
    "/ledger/checkpoints/<int:checkpoint_id>/cosignatures",
    roles={"supervisor"},
    body=CosignIn,
    response=CosignOut,
    status=201,
    summary="Add a supervisor's cosignature",
)
def cosign_checkpoint(checkpoint_id: int, body: CosignIn) -> dict[str, Any]:
    """The supervisor verified consistency with the checkpoint they last cosigned and signed
    the note text with their own Ed25519 key; the line must verify under ``verifier_key``."""
    from .. import auth
    from ..services import cosign

    row = cosign.cosign(auth.current_user(), checkpoint_id, body.verifier_key, body.signature_line)
    return {
        "checkpoint": row.checkpoint_id,
        "verifier_key": row.verifier_key,
        "created_at": row.created_at,
    }
