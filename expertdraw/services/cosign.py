"""Supervisors' cosignatures on checkpoints (C2SP tlog-cosignature style signature lines).

A supervisor checks, with their own tools, that the checkpoint is consistent with the last one
they cosigned (``ledger.consistency``), signs its note text with their own Ed25519 key, and
hands in the signature line. The service accepts it only if it verifies under the key they
hand in with it, and only moving forward: never for a smaller tree than they cosigned, nor for
one that the service cannot prove (RFC 9162 consistency proof) extends it.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from .. import clock
from ..domain.notes import NoteError, VerifierKey, check_signatures, parse_note
from ..extensions import db
from ..models import Checkpoint, Cosignature, User
from . import ledger
from .errors import Conflict, NotFound, ServiceError
from .reports_audit import consistent


def last_cosigned(user: User) -> Checkpoint | None:
    """The largest checkpoint this supervisor cosigned."""
    return db.session.scalar(
        sa.select(Checkpoint)
        .join(Cosignature, Cosignature.checkpoint_id == Checkpoint.id)
        .where(Cosignature.user_id == user.id)
        .order_by(Checkpoint.size.desc())
        .limit(1)
    )


#: The longest verifier key the cosignatures' column holds.
KEY_LENGTH: int = Cosignature.__table__.c.verifier_key.type.length


def cosign(user: User, checkpoint_id: int, verifier: str, line: str) -> Cosignature:
    """Add a supervisor's signature line to a checkpoint (commits).

    Raises:
        NotFound: no such checkpoint; ServiceError: ``cosign:key`` / ``cosign:signature``;
        Conflict: ``cosign:backwards`` (the tree is smaller than one already cosigned),
        ``cosign:inconsistent`` (no consistency proof from the last tree this supervisor
        cosigned), ``cosign:duplicate`` (this key signed already).
    """
    checkpoint = db.session.get(Checkpoint, checkpoint_id)
    if checkpoint is None:
        raise NotFound("checkpoint", checkpoint_id)
    if len(verifier) > KEY_LENGTH:
        raise ServiceError(
            "cosign:key", f"a verifier key is at most {KEY_LENGTH} characters", "verifier_key"
        )
    try:
        key = VerifierKey.parse(verifier)
    except NoteError as exc:
        raise ServiceError("cosign:key", str(exc), "verifier_key") from None
    if not line.endswith("\n"):
        line += "\n"
    if line.count("\n") != 1:
        # One line, this key's: more would be stored and exported as they came, and a line
        # in another key's name that fails would fail the audit of the log or of that key.
        raise ServiceError(
            "cosign:signature", "send one signature line, this key's", "signature_line"
        )
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
    if (
        previous is not None
        and consistent({"size": previous.size, "root": previous.root}, checkpoint)["ok"] is not True
    ):
        raise Conflict(
            "cosign:inconsistent",
            f"the tree of size {checkpoint.size} does not extend the one of size "
            f"{previous.size} you cosigned",
        )
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


def last_key(user: User) -> str | None:
    """The verifier key this supervisor cosigned with most recently (to offer it again)."""
    return db.session.scalar(
        sa.select(Cosignature.verifier_key)
        .where(Cosignature.user_id == user.id)
        .order_by(Cosignature.id.desc())
        .limit(1)
    )


def standing(user: User) -> dict[str, Any]:
    """Where this supervisor stands against the latest checkpoint, for the ledger page.

    ``latest``: the latest checkpoint (or None); ``last``: the largest one they cosigned (or
    None); ``consistency``: ``{"previous_size", "size", "ok"}`` of the latest against
    ``last``, verified here with an RFC 9162 consistency proof (``ok`` None when there is
    nothing to compare); ``signed_latest``: they already cosigned the latest one;
    ``text``: the note text of the latest checkpoint, which is what they sign.
    """
    latest = ledger.latest_checkpoint()
    last = last_cosigned(user)
    previous = {"size": last.size, "root": last.root} if last is not None else None
    signed_latest = latest is not None and bool(
        db.session.scalar(
            sa.select(Cosignature.id).where(
                Cosignature.checkpoint_id == latest.id, Cosignature.user_id == user.id
            )
        )
    )
    return {
        "latest": latest,
        "last": last,
        "consistency": consistent(previous, latest),
        "signed_latest": signed_latest,
        "text": parse_note(latest.note).text if latest is not None else None,
        "key": last_key(user),
    }
