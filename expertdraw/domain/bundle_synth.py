"""Synthetic, valid bundles of any size for tests and benches (not real draws).

:func:`build_bundle` writes a deterministic ledger with every v1 entry type: draw cycles
(announcement, checkpoint, result, checkpoint, notices, answers, a replacement now and then,
list openings), pool changes, inspections, periodic checkpoints, optionally a key rotation
and supervisors' cosignatures, and a last checkpoint covering the last entry. Snapshots are
real files whose hashes the announcements carry, commitments and seeds follow draw.md §3,
but members are picked at random, so these draws do not replay with the draw engine.
"""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from expertdraw.domain import sampling
from expertdraw.domain.bundle_writer import BatchSigner, BundleWriter, sign_leaves
from expertdraw.domain.notes import NoteSigner

ORIGIN = "ledger.expertdraw.zt.example"


def demo_signer(name: str, seed: int = 0) -> NoteSigner:
    """A deterministic signer (for tests and benches only: the key is derived from its name)."""
    return NoteSigner.from_seed(name, hashlib.sha256(f"demo-key/{seed}/{name}".encode()).digest())


def _sign_part(name: str, raw: bytes, leaves: list[bytes]) -> list[bytes]:
    return sign_leaves(NoteSigner.from_seed(name, raw), leaves)


@contextmanager
def parallel_signing(workers: int) -> Iterator[BatchSigner]:
    """A :data:`BatchSigner` that signs batches in ``workers`` processes."""
    if workers <= 1:
        yield sign_leaves
        return
    with ProcessPoolExecutor(workers) as pool:

        def sign(signer: NoteSigner, leaves: Sequence[bytes]) -> list[bytes]:
            raw = signer.private_seed()
            step = -(-len(leaves) // workers)
            parts = [list(leaves[i : i + step]) for i in range(0, len(leaves), step)]
            futures = [pool.submit(_sign_part, signer.name, raw, p) for p in parts]
            return [sig for f in futures for sig in f.result()]

        yield sign


@dataclass
class BundleInfo:
    """What :func:`build_bundle` made: the signers (in rotation order) and entry counts."""

    signers: list[NoteSigner]
    cosigner: NoteSigner | None
    entries: int = 0
    checkpoints: int = 0
    types: dict[str, int] = field(default_factory=dict)
    rotated_at: int | None = None


class _Synth:
    def __init__(self, w: BundleWriter, rng: random.Random, cosigner: NoteSigner | None) -> None:
        self.w, self.rng, self.cosigner = w, rng, cosigner
        self.since_checkpoint = 0
        self.draws = 0
        self.inspections = 0
        #: Samples' draws (add's arguments), waiting for a checkpoint, then ready to append.
        self.announced: list[tuple[str, dict[str, Any], str, str]] = []
        self.ready: list[tuple[str, dict[str, Any], str, str]] = []

    def add(self, kind: str, body: dict[str, Any], role: str = "system", who: str = "scheduler"):
        self.w.append(kind, body, {"role": role, "id": who})
        self.since_checkpoint += 1

    def checkpoint(self) -> None:
        extra = [self.cosigner] if self.cosigner and self.rng.random() < 0.3 else []
        self.w.checkpoint(*extra)
        self.since_checkpoint = 0
        self.ready += self.announced  # their commitments are covered now
        self.announced = []

    def filler(self) -> None:
        """One entry: a sample's draw once a checkpoint covers its announcement, else a
        pool change or (one in a hundred: a centre samples a few times a month) a sample's
        announcement."""
        rng = self.rng
        if self.ready:
            self.add(*self.ready.pop(0))
            return
        expert = f"E{rng.randrange(10**7):07d}"
        if rng.random() < 0.99:
            field_, old, new = rng.choice(
                [
                    ("status", "active", "suspended"),
                    ("region", "R5306", "R5301"),
                    ("penalty", "none", "P2026-17"),
                    ("availability", "yes", "no"),
                ]
            )
            body = {"expert": expert, "field": field_, "from": old, "to": new, "reason": "admin"}
            self.add("pool.changed", body, "admin", f"U{rng.randrange(100):04d}")
        else:
            self.inspection(expert)

    def inspection(self, project: str) -> None:
        """Announce a supervision sample of one project as the service does
        (``domain.sampling``); it is drawn after the next checkpoint covers the commitment,
        so that the audit replays it."""
        rng = self.rng
        self.inspections += 1
        plan = {
            "inspection": f"I2026-{self.inspections:06d}",
            "period": {"start": "2026-11-01", "end": "2026-11-30", "zone": "Asia/Shanghai"},
            "levels": [{"name": "low", "ratio": "1/1", "projects": [project]}],
            "inspectors": ["U0007", "U0008"],
            "inspectors_per_project": 1,
        }
        secret = rng.randbytes(32)
        who = f"U{rng.randrange(100):04d}"
        self.add(
            "inspection.announced", sampling.announced_body(plan, secret, 1), "supervisor", who
        )
        drawn = sampling.drawn_body(plan, secret, [f"w{self.inspections}"])
        self.announced.append(("inspection.drawn", drawn, "supervisor", who))

    def draw_cycle(self, members: int, replace: bool) -> None:
        rng, w = self.rng, self.w
        self.draws += 1
        draw = f"D2026-{self.draws:06d}"
        candidates = sorted(f"E{rng.randrange(10**7):07d}" for _ in range(members + 4))
        snapshot = {
            "draw": draw,
            "window": {"start": "2026-12-03T01:00:00.000Z", "end": "2026-12-03T09:00:00.000Z"},
            "strata": [
                {
                    "name": "technical",
                    "specialty": "A0101",
                    "count": members,
                    "alternates": 2,
                    "candidates": [
                        {"id": c, "group": f"G{i:04x}"} for i, c in enumerate(candidates)
                    ],
                }
            ],
            "max_per_group": 1,
            "separation": "venue",
            "venues": [
                {"id": f"V{v}", "rooms": [{"id": f"V{v}-R01", "workstations": [f"V{v}-R01-W01"]}]}
                for v in range(530600, 530600 + members + 2)
            ],
        }
        secret = rng.randbytes(32)
        commit = hashlib.sha256(b"expertdraw/commit/v1\x00" + draw.encode() + b"\x00" + secret)
        request = {k: snapshot[k] for k in ("max_per_group", "separation", "window")}
        request["strata"] = [
            {k: s[k] for k in ("name", "specialty", "count", "alternates")}
            for s in snapshot["strata"]
        ]
        self.add(
            "draw.announced",
            {
                "draw": draw,
                "project": f"P2026-{self.draws:04d}",
                "algorithm": "expertdraw-score-v1",
                "request": request,
                "snapshot_hash": w.add_snapshot(draw, snapshot),
                "excluded": {"region": rng.randrange(50)},
                "commitment": commit.hexdigest(),
                "entropy": {"kind": "witness", "witnesses": 2},
            },
            "manager",
            "U0001",
        )
        self.checkpoint()
        picked = rng.sample(candidates, members + 2)
        chosen = [
            {
                "stratum": "technical",
                "expert": e,
                "venue": f"V{530600 + i}",
                "room": f"V{530600 + i}-R01",
                "workstation": f"V{530600 + i}-R01-W01",
            }
            for i, e in enumerate(picked[:members])
        ]
        self.add(
            "draw.completed",
            {
                "draw": draw,
                "secret": secret.hex(),
                "entropy_value": ["31415", "zt"],
                "seed": rng.randbytes(32).hex(),
                "members": chosen,
                "alternates": [{"stratum": "technical", "experts": picked[members:]}],
            },
        )
        self.checkpoint()
        for n, m in enumerate(chosen):
            self.add(
                "notice.sent",
                {
                    "draw": draw,
                    "notice": f"N{self.draws:06d}-{n}",
                    "expert": m["expert"],
                    "channel": "sms",
                },
            )
        for n, m in enumerate(chosen):
            answer = "declined" if replace and n == 0 else "accepted"
            self.add(
                "notice.answered",
                {
                    "draw": draw,
                    "notice": f"N{self.draws:06d}-{n}",
                    "expert": m["expert"],
                    "answer": answer,
                    "reason": "",
                },
            )
        if replace:
            seat = {k: chosen[0][k] for k in ("venue", "room", "workstation")}
            self.add(
                "draw.replaced",
                {
                    "draw": draw,
                    "out": chosen[0]["expert"],
                    "in": picked[members],
                    "seat": seat,
                    "reason": "declined",
                    "skipped": [],
                    "unavailable": [],
                },
            )
            self.checkpoint()
        self.add(
            "list.opened",
            {"draw": draw, "by": "U0009", "purpose": "evaluation"},
            "supervisor",
            "U0009",
        )


def build_bundle(
    folder: str | os.PathLike[str],
    entries: int,
    *,
    seed: int = 0,
    rotate_at: int | None = None,
    dual_sign_rotation: bool = False,
    cosign: bool = False,
    draw_every: int = 40,
    checkpoint_every: int = 256,
    workers: int = 1,
) -> BundleInfo:
    """Write a valid bundle of exactly ``entries`` entries (at least 2) to ``folder``.

    ``rotate_at``: seq of the ``key.rotated`` entry; ``cosign``: a supervisor's key cosigns
    about a third of the checkpoints (give it to the audit as a cosigner); ``draw_every``:
    about one draw cycle per that many entries; ``workers``: processes that sign entries.
    """
    rng = random.Random(seed)
    signers = [demo_signer(f"{ORIGIN}/2026a", seed)]
    cosigner = demo_signer("supervisor.zt.example/U0009", seed) if cosign else None
    info = BundleInfo(signers, cosigner)
    with parallel_signing(workers) as signing:
        w = BundleWriter(folder, ORIGIN, signers[0], sign_batch=signing)
        synth = _Synth(w, rng, cosigner)
        synth.checkpoint()
        while w.size < entries:
            left = entries - w.size
            members = rng.randint(2, 4)
            replace = rng.random() < 0.2
            if rotate_at is not None and info.rotated_at is None and w.size >= rotate_at:
                signers.append(demo_signer(f"{ORIGIN}/2026b", seed))
                info.rotated_at = w.rotate(signers[-1], dual_sign=dual_sign_rotation)["seq"]
                synth.since_checkpoint = 0
            elif rng.random() < 1 / max(draw_every - 9, 1) and left >= 2 * members + 4 + replace:
                synth.draw_cycle(members, replace)
            else:
                synth.filler()
            if synth.since_checkpoint >= checkpoint_every:
                synth.checkpoint()
        if synth.since_checkpoint:
            synth.checkpoint()
        w.close()
    info.entries, info.checkpoints = w.size, len(w.notes)
    return info
