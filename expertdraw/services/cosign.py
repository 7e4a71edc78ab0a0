"""Supervisors' cosignatures on checkpoints (C2SP tlog-cosignature style signature lines).

A supervisor checks, with their own tools, that the checkpoint is consistent with the last one
they cosigned (``ledger.consistency``), signs its note text with their own Ed25519 key, and
hands in the signature line. The service accepts it only if it verifies under the key they
registered with it, and only moving forward: never for a smaller tree than they cosigned.
"""

from __future__ import annotations

import sqlalchemy as sa

from .. import clock
from ..domain.notes import NoteError, VerifierKey, check_signatures, parse_note
from ..extensions import db
from ..models import Checkpoint, Cosignature, User
from .errors import Conflict, NotFound, ServiceError


def last_cosigned(user: User) -> Checkpoint | None:
    """The largest checkpoint this supervisor cosigned."""
    return db.session.scalar(
        sa.select(Checkpoint)
        .join(Cosignature, Cosignature.checkpoint_id == Checkpoint.id)
        .where(Cosignature.user_id == user.id)
        .order_by(Checkpoint.size.desc())
        .limit(1)
    )


def cosign(user: User, checkpoint_id: int, verifier: str, line: str) -> Cosignature:
    """Add a supervisor's signature line to a checkpoint (commits).

    Raises:
        NotFound: no such checkpoint; ServiceError: ``cosign:key`` / ``cosign:signature``;
        Conflict: the tree is smaller than one already cosigned, or this key signed already.
    """
    checkpoint = db.session.get(Checkpoint, checkpoint_id)
    if checkpoint is None:
        raise NotFound("checkpoint", checkpoint_id)
    try:
        key = VerifierKey.parse(verifier)
    except NoteError as exc:
        raise ServiceError("cosign:key", str(exc), "verifier_key") from None
    if not line.endswith("\n"):
        line += "\n"
    try:
        note = parse_note(checkpoint.note + line)
    except NoteError as exc:
        raise ServiceError("cosign:signature", str(exc), "signature_line") from None
    outcome = check_signatures(note, [key])
    if outcome.failed or not outcome.verified:
        raise ServiceError(
            "cosign:signature",
            "the line is not this key's signature of the checkpoint",
            "signature_line",
        )
    previous = last_cosigned(user)
    if previous is not None and previous.size > checkpoint.size:
        raise Conflict("cosign:backwards", f"you already cosigned a tree of size {previous.size}")
    if db.session.scalar(
        sa.select(Cosignature.id).where(
            Cosignature.checkpoint_id == checkpoint.id, Cosignature.verifier_key == str(key)
        )
    ):
        raise Conflict("cosign:duplicate", "this key already cosigned the checkpoint")
    row = Cosignature(
        checkpoint_id=checkpoint.id,
        user_id=user.id,
        verifier_key=str(key),
        line=line,
        created_at=clock.now(),
    )
    db.session.add(row)
    db.session.commit()
    return row
