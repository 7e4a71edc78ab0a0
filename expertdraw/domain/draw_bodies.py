"""Ledger bodies of a draw (ledger.md §6, draw.md §3): announced, completed, failed.

The bodies are plain dicts with exactly the members the spec lists, ready for the ledger.
:func:`announce` checks and announces a snapshot, parsing it once, and gives the service the
body, ``C(snapshot)`` to store and the parsed view; :func:`complete` runs a whole draw after its
entropy is known and says which body to append.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from expertdraw.domain.draw_errors import DrawError
from expertdraw.domain.draw_feasibility import check_feasible_view
from expertdraw.domain.draw_seed import (
    check_entropy_spec,
    check_secret,
    commitment,
    derive_seed,
    entropy_bytes,
)
from expertdraw.domain.draw_select import check_seed, select
from expertdraw.domain.draw_snapshot import (
    RFC3797,
    Snapshot,
    check_algorithm,
    check_count,
    check_id,
    check_view,
    encode_snapshot,
    parse_snapshot,
    request_of,
    snapshot_hash,
)


@dataclass(frozen=True, slots=True)
class Announcement:
    """What :func:`announce` gives: the ``draw.announced`` body, ``encoded`` = ``C(snapshot)``
    (the bytes to store; ``body["snapshot_hash"]`` is their SHA-256) and the parsed view."""

    body: dict[str, Any]
    encoded: bytes
    snapshot: Snapshot


def announce(
    snapshot: dict[str, Any] | Snapshot,
    *,
    project: str,
    algorithm: str,
    excluded: Mapping[str, int],
    secret: bytes,
    entropy: dict[str, Any],
    encoded: bytes | None = None,
) -> Announcement:
    """:func:`announced_body` with ``C(snapshot)`` and the parsed view: the snapshot is parsed
    and checked once (normal form, feasibility), and encoded from that view
    (:func:`~expertdraw.domain.draw_snapshot.encode_snapshot`) unless ``encoded`` is given.
    ``snapshot`` may be a view built by the caller, checked as the snapshot it stands for
    (:func:`~expertdraw.domain.draw_snapshot.check_view`).

    Raises :class:`DrawError` as :func:`announced_body`.
    """
    check_algorithm(algorithm)
    if isinstance(snapshot, Snapshot):
        snap = check_view(snapshot)
    else:
        snap = parse_snapshot(snapshot, strict=True)
    check_feasible_view(snap, algorithm)
    check_secret(secret, algorithm)
    check_entropy_spec(entropy, algorithm)
    check_id(project, "project", "invalid:project")
    if not isinstance(excluded, Mapping):
        raise DrawError("invalid:excluded", "excluded maps reason codes to counts")
    for code, count in excluded.items():
        check_id(code, "excluded reason code", "invalid:excluded")
        check_count(count, f"excluded[{code!r}]", 0, "invalid:excluded")
    if encoded is None:
        encoded = encode_snapshot(snap)
    body = {
        "draw": snap.draw,
        "project": project,
        "algorithm": algorithm,
        "request": request_of(snap),
        "snapshot_hash": snapshot_hash(snapshot, encoded),
        "excluded": dict(excluded),
        "commitment": commitment(snap.draw, secret),
        "entropy": entropy,
    }
    return Announcement(body, encoded, snap)


def announced_body(
    snapshot: dict[str, Any],
    *,
    project: str,
    algorithm: str,
    excluded: Mapping[str, int],
    secret: bytes,
    entropy: dict[str, Any],
    encoded: bytes | None = None,
) -> dict[str, Any]:
    """The ``draw.announced`` body: draw, project, algorithm, request, snapshot_hash, excluded,
    commitment, entropy (draw.md §3.1).

    ``encoded`` is ``C(snapshot)`` when the caller has it already (it stores those bytes), so
    that a large snapshot is not encoded twice; it must be exactly that encoding.

    Checks feasibility first (§2), so nothing infeasible is ever announced. ``excluded`` counts
    candidates per exclusion reason code (no names); ``secret`` is the fresh 32-byte secret
    (``b""`` in rfc3797 mode), of which only the commitment goes out.
    Raises :class:`DrawError` ``infeasible:*`` or ``invalid:*``.
    """
    return announce(
        snapshot,
        project=project,
        algorithm=algorithm,
        excluded=excluded,
        secret=secret,
        entropy=entropy,
        encoded=encoded,
    ).body


def completed_body(
    draw_id: str,
    secret: bytes,
    entropy_value: Any,
    seed: bytes,
    selection: Mapping[str, Any],
) -> dict[str, Any]:
    """The ``draw.completed`` body: draw, secret, entropy_value, seed, members, alternates
    (draw.md §3.4); ``selection`` is :func:`select`'s result.

    Raises :class:`DrawError` ``invalid:*`` for a bad id, secret or seed.
    """
    check_id(draw_id, "draw")
    if not isinstance(secret, bytes):
        raise DrawError("invalid:secret", "the secret must be bytes")
    return {
        "draw": draw_id,
        "secret": secret.hex(),
        "entropy_value": entropy_value,
        "seed": check_seed(seed).hex(),
        "members": list(selection["members"]),
        "alternates": list(selection["alternates"]),
    }


def failed_body(
    draw_id: str,
    reason: str,
    secret: bytes,
    *,
    entropy_value: Any = None,
    seed: bytes | None = None,
) -> dict[str, Any]:
    """The ``draw.failed`` body: draw, reason, secret, and, when the entropy was already taken,
    entropy_value and seed so that the failure replays (draw.md §3.5).

    Give both ``entropy_value`` and ``seed`` or neither. Raises :class:`DrawError` ``invalid:*``.
    """
    check_id(draw_id, "draw")
    if not isinstance(reason, str) or not reason:
        raise DrawError("invalid:body", "a failure has a reason code")
    if not isinstance(secret, bytes):
        raise DrawError("invalid:secret", "the secret must be bytes")
    body: dict[str, Any] = {"draw": draw_id, "reason": reason, "secret": secret.hex()}
    if (entropy_value is None) != (seed is None):
        raise DrawError("invalid:body", "entropy_value and seed go together")
    if seed is not None:
        body["entropy_value"] = entropy_value
        body["seed"] = check_seed(seed).hex()
    return body


def complete(
    snapshot: dict[str, Any] | Snapshot,
    announced: Mapping[str, Any],
    secret: bytes,
    entropy_value: Any,
    encoded: bytes | None = None,
) -> tuple[str, dict[str, Any]]:
    """Run the announced draw once its entropy is known (draw.md §3.2-§3.5).

    ``encoded``: the stored ``C(snapshot)`` the snapshot was read from, hashed instead of
    encoding the snapshot again. ``snapshot`` may be the parsed view of exactly those bytes
    (then ``encoded`` is required), so that a caller holding the view does not parse again.

    Returns ``("draw.completed", body)``, or ``("draw.failed", body)`` with the reason
    ``insufficient:<stratum>`` / ``insufficient:seats`` (with entropy_value and seed, so that it
    replays). Raises :class:`DrawError` ``invalid:*`` when the snapshot does not hash to the
    announcement, the secret does not match the commitment, or the entropy value does not fit.
    """
    algorithm = check_algorithm(announced.get("algorithm"))
    if isinstance(snapshot, Snapshot):
        if encoded is None:
            raise DrawError("invalid:snapshot", "a parsed snapshot comes with its encoding")
        draw_id = snapshot.draw
    else:
        draw_id = snapshot.get("draw") if isinstance(snapshot, dict) else None
    if draw_id != announced.get("draw"):
        raise DrawError("invalid:snapshot", "the snapshot is not the announced draw's")
    if snapshot_hash(snapshot, encoded) != announced.get("snapshot_hash"):
        raise DrawError("invalid:snapshot", "the snapshot does not hash to the announcement")
    check_secret(secret, algorithm)
    if commitment(draw_id, secret) != announced.get("commitment"):
        raise DrawError("invalid:secret", "the secret does not match the commitment")
    spec = check_entropy_spec(announced.get("entropy"), algorithm)
    entropy = entropy_bytes(spec, entropy_value)
    seed = derive_seed(draw_id, announced["snapshot_hash"], secret, entropy)
    key = entropy_value if algorithm == RFC3797 else None
    try:
        selection = select(snapshot, seed, algorithm, key)
    except DrawError as exc:
        if not exc.code.startswith("insufficient:"):
            raise
        body = failed_body(draw_id, exc.code, secret, entropy_value=entropy_value, seed=seed)
        return "draw.failed", body
    return "draw.completed", completed_body(draw_id, secret, entropy_value, seed, selection)
