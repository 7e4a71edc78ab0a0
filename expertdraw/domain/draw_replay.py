"""Replay (draw.md §8): recompute a draw or a replacement and name the first difference.

Replays return ``None`` when everything matches and a message otherwise; they never raise for
a body that does not match, because a mismatch is the finding, not an error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from expertdraw.domain.draw_errors import DrawError
from expertdraw.domain.draw_replace import replace
from expertdraw.domain.draw_seed import check_entropy_spec, commitment, derive_seed, entropy_bytes
from expertdraw.domain.draw_select import select
from expertdraw.domain.draw_snapshot import (
    ALGORITHMS,
    RFC3797,
    parse_snapshot,
    request_of,
    snapshot_hash,
)
from expertdraw.domain.eligibility_rules import REASON_CODES

_HEX = re.compile(r"(?:[0-9a-f]{2})*")
#: What a skipped alternate may carry (draw.md §6.1): an exclusion reason code of rules.md,
#: or ``group-limit``.
SKIP_REASONS = frozenset(REASON_CODES) | {"group-limit"}
#: Why a draw whose selection completes may fail after its entropy: between the snapshot and
#: the result a member's workstation, or a member, was booked by another draw, a workstation
#: was taken out of service, or a member was seated on a committee that ``same-tenderer`` or
#: ``frequency`` counts against this one.
CLASH_REASONS = (
    "conflict:workstation-booked",
    "conflict:expert-booked",
    "conflict:workstation-closed",  # taken out of service (its room or venue too) meanwhile
    "conflict:expert-drawn",  # seated meanwhile where same-tenderer or frequency counts it
)
_MISSING = "(absent)"


def _first_difference(what: str, body: list[Any], replayed: list[Any]) -> str | None:
    for index, (got, want) in enumerate(zip(body, replayed, strict=False)):
        if got != want:
            return f"{what} differ at position {index + 1}: body has {got!r}, replay gives {want!r}"
    if len(body) != len(replayed):
        return f"{what} differ: body has {len(body)}, replay gives {len(replayed)}"
    return None


def _compare_selection(body: Mapping[str, Any], selection: dict[str, Any]) -> str | None:
    members = body.get("members")
    alternates = body.get("alternates")
    if not isinstance(members, list) or not all(isinstance(m, Mapping) for m in members):
        return "members: the body has no list of member objects"
    if not isinstance(alternates, list):
        return "alternates: the body has no list"
    who = [(m.get("stratum"), m.get("expert")) for m in members]
    replayed = [(m["stratum"], m["expert"]) for m in selection["members"]]
    found = _first_difference("members", who, replayed)
    found = found or _first_difference("alternates", alternates, selection["alternates"])
    if found:
        return found
    for got, want in zip(members, selection["members"], strict=True):
        if dict(got) != want:
            return (
                f"seat of member {want['expert']} differs: "
                f"body has {dict(got)!r}, replay gives {want!r}"
            )
    return None


def replay(
    snapshot: dict[str, Any], announced: Mapping[str, Any], completed_or_failed: Mapping[str, Any]
) -> str | None:
    """Recompute a draw from its snapshot and ledger bodies (draw.md §8).

    Checks, in order: the snapshot (well-formed, hashing to ``snapshot_hash``, the announced
    draw and request); the algorithm; the commitment from the revealed secret; the entropy
    value against the announced kind; the seed; then the members, the alternates and the seats
    (``draw.completed``) or the failure reason (``draw.failed``: one recorded before the
    entropy has nothing to recompute; after it, an ``insufficient:*`` failure must be what the
    replay gives, and a draw the replay completes may only have failed by a clash with what
    changed meanwhile: seats booked or taken out of service, or a member seated on a committee
    the rules count against this one, :data:`CLASH_REASONS`).
    Returns ``None`` when all match, else a message naming the first difference.
    """
    body = completed_or_failed
    try:
        # Strict: draw.md §2 sorts every list by id, and rfc3797 numbers candidates "in
        # snapshot order"; a published snapshot out of order is no snapshot of the service's.
        snap = parse_snapshot(snapshot, strict=True)  # the hash and request come from the view
        digest = snapshot_hash(snap)
        request = request_of(snap)
    except DrawError as exc:
        return f"snapshot is not valid: {exc.message}"
    if digest != announced.get("snapshot_hash"):
        announced_hash = announced.get("snapshot_hash")
        return f"snapshot hash differs: announced {announced_hash}, snapshot hashes to {digest}"
    for name, value in (("announcement", announced.get("draw")), ("body", body.get("draw"))):
        if value != snap.draw:
            return f"draw id differs: {name} has {value!r}, snapshot has {snap.draw!r}"
    if announced.get("request") != request:
        return "request differs from the snapshot's own values"
    algorithm = announced.get("algorithm")
    if algorithm not in ALGORITHMS:
        return f"algorithm {algorithm!r} is unknown"
    secret_hex = body.get("secret")
    if not isinstance(secret_hex, str) or not _HEX.fullmatch(secret_hex):
        return "secret is not lowercase hex"
    secret = bytes.fromhex(secret_hex)
    recomputed = commitment(snap.draw, secret)
    if recomputed != announced.get("commitment"):
        published = announced.get("commitment")
        return f"commitment differs: announced {published}, the secret gives {recomputed}"
    failed = "reason" in body
    if failed and "seed" not in body:
        if str(body["reason"]).startswith("insufficient:"):
            return f"failure reason {body['reason']} needs the entropy_value and seed to replay"
        return None
    try:
        spec = check_entropy_spec(announced.get("entropy"), algorithm)
        entropy = entropy_bytes(spec, body.get("entropy_value"))
    except DrawError as exc:
        return f"entropy value does not fit the announced entropy: {exc.message}"
    seed = derive_seed(snap.draw, digest, secret, entropy)
    if body.get("seed") != seed.hex():
        return f"seed differs: body has {body.get('seed')}, replay gives {seed.hex()}"
    try:
        key = body["entropy_value"] if algorithm == RFC3797 else None
        selection = select(snap, seed, algorithm, key)
    except DrawError as exc:
        if not failed:
            return f"the draw fails on replay with {exc.code}, but the body records it completed"
        if body["reason"] != exc.code:
            return f"failure reason differs: body has {body['reason']}, replay gives {exc.code}"
        return None
    if failed:
        if body["reason"] not in CLASH_REASONS:
            # Once its entropy is taken a draw's result is known to whoever holds it: a draw
            # the replay completes may fail only because its seats were booked meanwhile,
            # else a result could be discarded for being unwelcome and drawn again.
            return (
                f"failure reason differs: body has {body['reason']}, the draw completes on "
                f"replay, and only {' or '.join(CLASH_REASONS)} may stop it then"
            )
        return None
    return _compare_selection(body, selection)


def replay_replacement(
    snapshot: dict[str, Any],
    completed: Mapping[str, Any],
    prior_replacements: Sequence[Mapping[str, Any]],
    replaced_body: Mapping[str, Any],
    algorithm: str | None = None,
    *,
    supplementary_members: Sequence[Mapping[str, Any]] = (),
    supplementary_draws: Iterable[str] = (),
) -> str | None:
    """Recompute a ``draw.replaced`` body from the body itself (draw.md §6, §8).

    The body's ``skipped`` reasons other than ``group-limit`` are taken as the eligibility facts
    (they come from outside the draw); everything else is recomputed: which alternates had
    already come in, the group limit, who must come in, and the seat given ``unavailable``.
    ``completed`` is trusted here (replay it with :func:`replay`); the other arguments are as
    for :func:`~expertdraw.domain.draw_replace.replace`, and must be the state before this
    body. Returns ``None`` when all match, else a message naming the first difference.
    """
    body = replaced_body
    missing = [
        k
        for k in ("draw", "out", "in", "seat", "reason", "skipped", "unavailable")
        if k not in body
    ]
    if missing:
        return f"the body lacks {missing}"
    skipped = body["skipped"]
    if not isinstance(skipped, list) or not all(
        isinstance(s, Mapping) and isinstance(s.get("expert"), str) for s in skipped
    ):
        return "skipped is not a list of {expert, reason}"
    for entry in skipped:
        if entry.get("reason") not in SKIP_REASONS:
            return (
                f"skipped alternate {entry['expert']} has reason {entry.get('reason')!r}, "
                "not an exclusion reason code of rules.md nor group-limit"
            )
    ineligible = {s["expert"]: s.get("reason") for s in skipped if s.get("reason") != "group-limit"}
    try:
        expected = replace(
            snapshot,
            completed,
            prior_replacements,
            body["out"],
            body["reason"],
            ineligible,
            body["unavailable"] if isinstance(body["unavailable"], list) else [],
            algorithm,
            supplementary_members=supplementary_members,
            supplementary_draws=supplementary_draws,
        )
    except DrawError as exc:
        return f"the replacement cannot be recomputed: {exc}"
    for key in (
        "draw",
        "out",
        "reason",
        "skipped",
        "in",
        "seat",
        "unavailable",
        "supplementary",
        "unseated",
    ):
        got, want = body.get(key, _MISSING), expected.get(key, _MISSING)
        if got != want:
            return f"{key} differs: body has {got!r}, replay gives {want!r}"
    return None
