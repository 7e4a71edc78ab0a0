"""The HMACs draw.md prescribes for one completed draw, and what they alone cost here.

A draw's selection scores every candidate of every stratum (§4), then, for each member, finds
the venue of least HMAC among those with an eligible room and the workstation of least HMAC
in it (§5). This implementation ranks every venue for each member, eligible or not (at
provincial scale nearly all are). ``count`` replays a draw from its stored snapshot and ledger
entries with the domain's own replay, recording each HMAC's key prefix and message, so the
count is exact rather than estimated from the snapshot's sizes. ``cost`` times the same
messages on their own, by the selection's method (``keyed_hmac``, the fastest the standard
library gives here) and by ``hmac.digest``. The HTTP bench prints the draws per second two
CPUs allow at that cost alone, and with the database's measured share beside it: what is left
of the CPU budget for everything else a draw does.
"""

from __future__ import annotations

import contextlib
import hmac
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any


@contextlib.contextmanager
def _recording(prefixes: dict[bytes, list[bytes]]) -> Iterator[None]:
    """Within the block, the domain's selection records each HMAC's prefix and message."""
    from expertdraw.domain import draw_seats, draw_seed, draw_select

    def recording(key: bytes, prefix: bytes = b"") -> Callable[[bytes], bytes]:
        digest = draw_seed.keyed_hmac(key, prefix)
        messages = prefixes[prefix]

        def recorded(message: bytes) -> bytes:
            messages.append(message)
            return digest(message)

        return recorded

    modules = (draw_select, draw_seats)
    saved = [module.keyed_hmac for module in modules]
    for module in modules:
        module.keyed_hmac = recording  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for module, original in zip(modules, saved, strict=True):
            module.keyed_hmac = original  # type: ignore[attr-defined]


def record(
    snapshot: Any, seed: bytes, algorithm: str
) -> tuple[dict[bytes, list[bytes]], dict[str, Any]]:
    """The messages of each HMAC key prefix the domain's selection computes for a snapshot
    (its JSON form or parsed view) and seed, and the selection it gives."""
    from expertdraw.domain import draw_select

    prefixes: dict[bytes, list[bytes]] = defaultdict(list)
    with _recording(prefixes):
        selection = draw_select.select(snapshot, seed, algorithm)
    return dict(prefixes), selection


def count(draw_id: str) -> tuple[bytes, dict[bytes, list[bytes]]]:
    """Replay a completed draw as a supervisor would (``engine.replay``: snapshot hash,
    commitment, seed, committee), recording its HMACs; its seed and the messages of each
    HMAC key prefix. Runs in an app context; raises ``ValueError`` if the replay differs."""
    from expertdraw.domain import draw as engine
    from expertdraw.services import draws, ledger

    announced = ledger.entry_body("draw.announced", draw_id)
    completed = ledger.entry_body("draw.completed", draw_id)
    prefixes: dict[bytes, list[bytes]] = defaultdict(list)
    with _recording(prefixes):
        difference = engine.replay(draws.snapshot_of(draw_id), announced, completed)
    if difference:
        raise ValueError(f"replaying {draw_id}: {difference}")
    return bytes.fromhex(completed["seed"]), dict(prefixes)


def cost(seed: bytes, prefixes: dict[bytes, list[bytes]], repeat: int = 5) -> dict[str, Any]:
    """The fastest of ``repeat`` timings of the recorded HMACs alone, by the selection's
    method and by ``hmac.digest``, with the count per tag (the prefix up to its first NUL)."""
    from expertdraw.domain.draw_seed import keyed_hmac

    total = sum(map(len, prefixes.values()))
    by_tag: dict[str, int] = defaultdict(int)
    for prefix, messages in prefixes.items():
        by_tag[prefix.split(b"\x00", 1)[0].decode()] += len(messages)

    def selection_method() -> None:
        for prefix, messages in prefixes.items():
            list(map(keyed_hmac(seed, prefix), messages))

    def one_shot() -> None:
        for prefix, messages in prefixes.items():
            for message in messages:
                hmac.digest(seed, prefix + message, "sha256")

    def fastest(work: Callable[[], None]) -> float:
        best = float("inf")
        for _ in range(repeat):
            started = time.process_time()
            work()
            best = min(best, time.process_time() - started)
        return best * 1e3

    return {
        "hmacs": total,
        "by_tag": dict(by_tag),
        "selection_method_ms": round(fastest(selection_method), 2),
        "hmac_digest_ms": round(fastest(one_shot), 2),
    }
