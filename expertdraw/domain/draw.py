"""The draw engine of draw.md v1: the one import point for services, verify and tests.

Pure: standard library only, plain data in and out (the exact JSON bodies of ledger.md §6).
The pieces live in small modules by concept:

- ``draw_snapshot``: ids, snapshot checks, ``snapshot_hash``, ``encode_snapshot``, ``request_of``,
  and views built from a caller's own data (``Room``, ``Venue``, ``Stratum``, ``check_view``,
  ``snapshot_of``);
- ``draw_feasibility``: ``check_feasible`` (§2), ``check_feasible_view`` for a parsed view;
- ``draw_seed``: ``commitment``, the entropy ``E`` of each kind, ``derive_seed``;
- ``draw_select``: members and alternates (§4, §7) and seats (``draw_seats``, §5);
- ``draw_bodies``: ``draw.announced`` / ``completed`` / ``failed`` bodies, ``announce`` (the
  body with ``C(snapshot)`` and the parsed view, parsing once) and ``complete``;
- ``draw_replace`` and ``draw_supplementary``: replacements and supplementary draws (§6);
- ``draw_replay``: ``replay`` and ``replay_replacement`` (§8);
- ``rfc3797``: the RFC 3797 key string and picks.

Every user-caused problem raises :class:`DrawError` with a stable ``code``.
"""

from __future__ import annotations

from expertdraw.domain.draw_bodies import (
    Announcement,
    announce,
    announced_body,
    complete,
    completed_body,
    failed_body,
)
from expertdraw.domain.draw_errors import DrawError
from expertdraw.domain.draw_feasibility import check_feasible, check_feasible_view
from expertdraw.domain.draw_replace import explain_replacement, history, replace
from expertdraw.domain.draw_replay import replay, replay_replacement
from expertdraw.domain.draw_seats import Seat
from expertdraw.domain.draw_seed import (
    beacon_entropy,
    check_entropy_spec,
    commitment,
    commitment_preimage,
    derive_seed,
    entropy_bytes,
    lottery_entropy,
    seed_preimage,
    witness_entropy,
)
from expertdraw.domain.draw_select import explain, scores, select
from expertdraw.domain.draw_snapshot import (
    ALGORITHMS,
    RFC3797,
    SCORE,
    Room,
    Snapshot,
    Stratum,
    Venue,
    check_view,
    encode_snapshot,
    is_id,
    parse_snapshot,
    request_of,
    snapshot_hash,
    snapshot_of,
)
from expertdraw.domain.draw_supplementary import (
    SUPPLEMENTARY_ALTERNATES,
    Supplementary,
    supplementary_snapshot,
)

__all__ = [
    "ALGORITHMS",
    "RFC3797",
    "SCORE",
    "SUPPLEMENTARY_ALTERNATES",
    "Announcement",
    "DrawError",
    "Room",
    "Seat",
    "Snapshot",
    "Stratum",
    "Supplementary",
    "Venue",
    "announce",
    "announced_body",
    "beacon_entropy",
    "check_entropy_spec",
    "check_feasible",
    "check_feasible_view",
    "check_view",
    "commitment",
    "commitment_preimage",
    "complete",
    "completed_body",
    "derive_seed",
    "encode_snapshot",
    "entropy_bytes",
    "explain",
    "explain_replacement",
    "failed_body",
    "history",
    "is_id",
    "lottery_entropy",
    "parse_snapshot",
    "replace",
    "replay",
    "replay_replacement",
    "request_of",
    "scores",
    "seed_preimage",
    "select",
    "snapshot_hash",
    "snapshot_of",
    "supplementary_snapshot",
    "witness_entropy",
]
