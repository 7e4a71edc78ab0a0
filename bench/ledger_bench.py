"""Benchmark of the pure ledger: bundle audit, proofs, and the machine's hashing and Ed25519.

One run generates a bundle of ``--entries`` entries (default 1,000,000, every entry signed;
signing is spread over ``--workers`` processes), then measures:

* the full audit without entry signatures, in a subprocess so that its wall time, CPU time
  and peak memory (``ru_maxrss`` of the audit process and of its worker processes) are its
  own: targets 10 s and 200 MB; beside it the SHA-256 floor of the same bundle (hashing its
  bytes and two nodes per entry, one CPU), measured right before and right after the audit
  with this machine's rates at that moment, the ratios to it, and the load average (the
  machine is shared: a loaded machine stretches wall time, CPU time much less);
* the Merkle root of all entries, and inclusion and consistency proofs from a node store at
  that size (generation and verification, per proof);
* the machine's floors in the same run: SHA-256 over large buffers and over 65-byte node
  inputs, Ed25519 sign and verify, so every figure can be read beside what the hardware
  allows (the audit must hash every entry byte once and one node per entry);
* as a peer, the same root computed with ``pymerkle`` (InmemoryTree, RFC 9162 hashing).

Database append rates (SQLite, PostgreSQL) are hooks: register a function with
:func:`db_bench` and it is run and printed with the rest.

    python bench/ledger_bench.py [--entries 1000000] [--workers 2] [--out PATH] [--keep DIR]
                                 [--audit-only] [--repeat N]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from expertdraw.domain.bundle import audit_bundle
from expertdraw.domain.bundle_synth import build_bundle, demo_signer
from expertdraw.domain.merkle import (
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    tree_root,
    verify_consistency,
    verify_inclusion,
)
from expertdraw.domain.merkle_range import ArrayStore

AUDIT_SECONDS_PER_MILLION = 10.0
AUDIT_MEMORY_MB = 200.0
Figures = dict[str, Any]

# --- hooks for the database part (the lead adds SQLite/PostgreSQL append rates) -------------

DB_BENCHES: dict[str, Callable[[int], Figures]] = {}


def db_bench(name: str) -> Callable[[Callable[[int], Figures]], Callable[[int], Figures]]:
    """Register ``fn(entries) -> {"appends_per_second": ..., ...}`` as a database bench."""

    def register(fn: Callable[[int], Figures]) -> Callable[[int], Figures]:
        DB_BENCHES[name] = fn
        return fn

    return register


def run_db_benches(entries: int) -> dict[str, Figures]:
    """Run every registered database bench (none yet: the service layer adds them)."""
    return {name: fn(entries) for name, fn in DB_BENCHES.items()}


# --- machine floors ----------------------------------------------------------------------


def _rate(fn: Callable[[], None], repeat: int, seconds: float = 0.5) -> float:
    """Calls of ``fn`` per second (best of ``repeat`` runs of about ``seconds``)."""
    best = 0.0
    for _ in range(repeat):
        calls, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            fn()
            calls += 1
        best = max(best, calls / (time.perf_counter() - start))
    return best


def machine(repeat: int = 3) -> Figures:
    """SHA-256 and Ed25519 rates of this machine, best of ``repeat``."""
    block = os.urandom(1 << 20)
    node = b"\x01" + os.urandom(64)
    signer = demo_signer("bench.example/key")
    message = b"expertdraw/entry/v1\x00" + os.urandom(32)
    signature = signer.sign(message)
    verifier = signer.verifier
    batch = 1000

    def nodes() -> None:
        for _ in range(batch):
            hashlib.sha256(node).digest()

    return {
        "sha256_mb_per_s": _rate(lambda: hashlib.sha256(block).digest(), repeat),
        "sha256_nodes_per_s": _rate(nodes, repeat) * batch,
        "ed25519_signs_per_s": _rate(lambda: signer.sign(message), repeat),
        "ed25519_verifies_per_s": _rate(lambda: verifier.verify(message, signature), repeat),
    }


def hash_rates(seconds: float = 0.5) -> Figures:
    """SHA-256 rates right now (best of 3): MB/s over 1 MiB blocks, and 65-byte node inputs."""
    block = os.urandom(1 << 20)
    node = b"\x01" + os.urandom(64)
    batch = 1000

    def nodes() -> None:
        for _ in range(batch):
            hashlib.sha256(node).digest()

    return {
        "sha256_mb_per_s": _rate(lambda: hashlib.sha256(block).digest(), 3, seconds),
        "sha256_nodes_per_s": _rate(nodes, 3, seconds) * batch,
    }


def hash_floor(size: int, entries: int, rates: Figures) -> float:
    """Seconds for one CPU to hash ``size`` bytes and two nodes per entry at ``rates``: no
    audit can do less (it hashes every entry byte once and builds the tree)."""
    return size / 2**20 / rates["sha256_mb_per_s"] + 2 * entries / rates["sha256_nodes_per_s"]


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages (as ``uptime`` shows them)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


# --- the audit, in its own process -------------------------------------------------------


def peak_mb() -> float:
    """This process's peak resident memory. ``VmHWM`` where Linux has it, since ``ru_maxrss``
    survives ``exec`` and would report the parent's size."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return int(status.split("VmHWM:")[1].split()[0]) / 1024


def audit_in_this_process(folder: str, workers: int) -> Figures:
    """Audit ``folder`` and report time and memory (run by the subprocess)."""
    baseline = peak_mb()
    wall, cpu = time.perf_counter(), time.process_time()
    report = audit_bundle(folder, workers=workers)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "ok": report.ok,
        "problems": [str(p) for p in report.problems[:5]],
        "entries": report.summary.get("entries"),
        "checkpoints": report.summary.get("checkpoints"),
        "wall_s": wall,
        "cpu_s_main": cpu,
        "cpu_s_workers": children.ru_utime + children.ru_stime,
        "baseline_mb": baseline,
        "peak_mb_main": peak_mb(),
        "peak_mb_worker": children.ru_maxrss / 1024,
        "workers": workers,
    }


# The audit runs as the verifier does: expertdraw.domain alone. The package's __init__
# imports Flask and Alembic (about 70 MB and 2 s), so the probe installs an empty package
# object first and imports the domain modules from its folder.
_PROBE = (
    "import json, sys, types\n"
    "package = types.ModuleType('expertdraw')\n"
    "package.__path__ = [sys.argv[1]]\n"
    "sys.modules['expertdraw'] = package\n"
    "sys.path.insert(0, sys.argv[2])\n"
    "import ledger_bench\n"
    "print(json.dumps(ledger_bench.audit_in_this_process(sys.argv[3], int(sys.argv[4]))))\n"
)


def audit_subprocess(folder: Path, workers: int) -> Figures:
    """Run :func:`audit_in_this_process` in a fresh interpreter that loads only the domain,
    with the SHA-256 floor and the load average measured right before and right after."""
    here = Path(__file__).resolve().parent
    args = [str(here.parent / "expertdraw"), str(here), str(folder), str(workers)]
    size = (folder / "entries.jsonl").stat().st_size
    before, load_before = hash_rates(), load_average()
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, check=True
    )
    load_after, after = load_average(), hash_rates()
    found = json.loads(done.stdout)
    n = found["entries"] or 0
    floors = [hash_floor(size, n, before), hash_floor(size, n, after)]
    found.update(
        {
            "load_before": load_before,
            "load_after": load_after,
            "sha256_floor_s": sum(floors) / 2,
            "sha256_floor_before_s": floors[0],
            "sha256_floor_after_s": floors[1],
            "cpu_s": found["cpu_s_main"] + found["cpu_s_workers"],
            "peak_mb_all": found["peak_mb_main"] + workers * found["peak_mb_worker"],
        }
    )
    return found


# --- proofs and the peer ------------------------------------------------------------------


def entry_bytes(folder: Path) -> list[bytes]:
    """``C(entry)`` of every line (a canonical line embeds it verbatim)."""
    with (folder / "entries.jsonl").open("rb") as f:
        return [line[9:-190] for line in f]


def proofs(data: list[bytes], samples: int) -> Figures:
    """Root, store build, and per-proof generation and verification times."""
    start = time.perf_counter()
    leaves = [leaf_hash(d) for d in data]
    hashed = time.perf_counter() - start
    start = time.perf_counter()
    root = tree_root(leaves)
    rooted = time.perf_counter() - start
    store = ArrayStore()
    start = time.perf_counter()
    for leaf in leaves:
        store.append(leaf)
    stored = time.perf_counter() - start
    n, rng = len(leaves), random.Random(1)
    pairs = [(rng.randrange(n), n) for _ in range(samples)]
    start = time.perf_counter()
    made = [inclusion_proof(i, size, store.get_node) for i, size in pairs]
    inc_gen = (time.perf_counter() - start) / samples
    start = time.perf_counter()
    assert all(
        verify_inclusion(leaves[i], i, s, p, root) for (i, s), p in zip(pairs, made, strict=True)
    )
    inc_ver = (time.perf_counter() - start) / samples
    olds = [rng.randrange(1, n) for _ in range(samples)]
    start = time.perf_counter()
    cons = [consistency_proof(o, n, store.get_node) for o in olds]
    con_gen = (time.perf_counter() - start) / samples
    old_roots = [store_root(store, o) for o in olds]
    start = time.perf_counter()
    assert all(
        verify_consistency(o, n, r, root, p) for o, r, p in zip(olds, old_roots, cons, strict=True)
    )
    con_ver = (time.perf_counter() - start) / samples
    return {
        "root": root.hex(),
        "leaf_hashing_s": hashed,
        "root_s": rooted,
        "store_build_s": stored,
        "inclusion_generate_us": inc_gen * 1e6,
        "inclusion_verify_us": inc_ver * 1e6,
        "consistency_generate_us": con_gen * 1e6,
        "consistency_verify_us": con_ver * 1e6,
        "proof_hashes": len(made[0]),
    }


def store_root(store: ArrayStore, size: int) -> bytes:
    """``root(size)`` from the store."""
    from expertdraw.domain.merkle import root_at

    return root_at(size, store.get_node)


def peer(data: list[bytes]) -> Figures:
    """The same root with pymerkle's in-memory tree."""
    from pymerkle import InmemoryTree

    tree = InmemoryTree(algorithm="sha256")
    start = time.perf_counter()
    for d in data:
        tree.append_entry(d)
    root = tree.get_state()
    return {"root": root.hex(), "seconds": time.perf_counter() - start}


# --- report -------------------------------------------------------------------------------


def line(label: str, value: float, unit: str, limit: float | None, note: str = "") -> str:
    """``label  value unit  limit  ratio``: ratio > 1 means over the limit or slower."""
    if limit is None:
        return f"{label:<44} {value:>12.3f} {unit:<8} {note}"
    ratio = value / limit if limit else float("inf")
    return f"{label:<44} {value:>12.3f} {unit:<8} limit {limit:>10.3f}  ratio {ratio:6.2f} {note}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--samples", type=int, default=2000, help="proofs of each kind")
    parser.add_argument("--keep", type=Path, help="build (or reuse) the bundle here")
    parser.add_argument("--no-peer", action="store_true", help="skip pymerkle")
    parser.add_argument("--out", type=Path, help="write the figures as JSON")
    parser.add_argument(
        "--audit-only", action="store_true", help="only the audit (no proofs, peer, databases)"
    )
    parser.add_argument("--repeat", type=int, default=1, help="audit runs (the fastest counts)")
    args = parser.parse_args(argv)
    figures: Figures = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "entries": args.entries,
    }
    floors = figures["machine"] = {} if args.audit_only else machine()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp) / "bundle"
        if not (folder / "entries.jsonl").is_file():
            start = time.perf_counter()
            info = build_bundle(
                folder,
                args.entries,
                rotate_at=args.entries // 2,
                workers=args.workers,
                draw_every=200,
                checkpoint_every=1024,
            )
            figures["generate"] = {
                "seconds": time.perf_counter() - start,
                "checkpoints": info.checkpoints,
            }
        size = (folder / "entries.jsonl").stat().st_size
        figures["bundle_mb"] = size / 2**20
        runs = [audit_subprocess(folder, args.workers) for _ in range(max(1, args.repeat))]
        figures["audit"] = min(runs, key=lambda run: run["wall_s"])
        figures["audit_runs"] = runs
        if args.audit_only:
            report_audit(figures, size)
            if args.out:
                args.out.write_text(json.dumps(figures, indent=2))
            return 0
        data = entry_bytes(folder)
        figures["proofs"] = proofs(data, args.samples)
        if not args.no_peer:
            figures["peer_pymerkle"] = peer(data)
            figures["peer_pymerkle"]["same_root"] = (
                figures["peer_pymerkle"]["root"] == figures["proofs"]["root"]
            )
        del data
    figures["db"] = run_db_benches(args.entries)
    report(figures, floors, size)
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2))
    return 0


def report_audit(figures: Figures, size: int) -> None:
    """Print the audit's figures beside its limits and beside the SHA-256 floor."""
    a = figures["audit"]
    n = a["entries"] or 1
    print(
        f"audit: {a['entries']:,} entries, {a['checkpoints']:,} checkpoints, "
        f"{size / 2**20:.0f} MB, ok={a['ok']} {a['problems']}"
    )
    print(
        f"load average (1, 5, 15 min) before {a['load_before']}, after {a['load_after']}; "
        f"{len(figures.get('audit_runs', [a]))} run(s), the fastest shown"
    )
    floor = a["sha256_floor_s"]
    before, after = a["sha256_floor_before_s"], a["sha256_floor_after_s"]
    print(
        line(
            "SHA-256 floor (bytes + 2 nodes/entry, 1 CPU)",
            floor,
            "s",
            None,
            f"(mean of {before:.3f} before the audit and {after:.3f} after)",
        )
    )
    print(
        line(
            "audit wall time (no entry signatures)",
            a["wall_s"],
            "s",
            AUDIT_SECONDS_PER_MILLION * n / 1e6,
            f"({a['workers']} workers; {a['wall_s'] / floor:.2f}x the floor)",
        )
    )
    cpu = a["cpu_s"]
    print(
        line(
            "audit CPU time, all processes",
            cpu,
            "s",
            floor,
            f"(limit: the floor; main {a['cpu_s_main']:.2f}, workers {a['cpu_s_workers']:.2f})",
        )
    )
    print(line("audit CPU per entry", cpu / n * 1e6, "us", None))
    note = (
        f"(main {a['peak_mb_main']:.0f}, each worker {a['peak_mb_worker']:.0f}, "
        f"of which {a['baseline_mb']:.0f} interpreter and imports, shared by fork)"
    )
    print(line("audit peak memory, main + workers", a["peak_mb_all"], "MB", AUDIT_MEMORY_MB, note))


def report(figures: Figures, floors: Figures, size: int) -> None:
    """Print each figure beside its limit."""
    n, a, p = figures["entries"], figures["audit"], figures["proofs"]
    print(f"machine: {figures['platform']}, {figures['cpus']} CPUs, Python {figures['python']}")
    print(line("sha256 (1 MiB blocks)", floors["sha256_mb_per_s"], "MB/s", None))
    print(line("sha256 (65-byte node inputs)", floors["sha256_nodes_per_s"] / 1e6, "M/s", None))
    print(line("ed25519 sign", floors["ed25519_signs_per_s"], "/s", None))
    print(line("ed25519 verify", floors["ed25519_verifies_per_s"], "/s", None))
    if "generate" in figures:
        g = figures["generate"]
        sign_floor = n / floors["ed25519_signs_per_s"] / max(1, a["workers"])
        print(
            line(
                f"generate {n:,} signed entries",
                g["seconds"],
                "s",
                sign_floor,
                "(limit: signing alone on all workers)",
            )
        )
    report_audit(figures, size)
    checkpoints = a["checkpoints"] or 0
    print(
        line(
            "  of which checkpoint signatures (est.)",
            checkpoints / floors["ed25519_verifies_per_s"],
            "s",
            None,
        )
    )
    print(
        line(
            "audit with entry signatures (est.)",
            n / floors["ed25519_verifies_per_s"] / max(1, a["workers"]) + a["wall_s"],
            "s",
            None,
            "(not run)",
        )
    )
    nodes = n / floors["sha256_nodes_per_s"]
    print(line("root of all entries from leaf hashes", p["root_s"], "s", nodes))
    print(line("node store build (keeps ~2n nodes)", p["store_build_s"], "s", nodes))
    depth = p["proof_hashes"] / floors["sha256_nodes_per_s"] * 1e6
    print(line("inclusion proof generation", p["inclusion_generate_us"], "us", None))
    print(line("inclusion proof verification", p["inclusion_verify_us"], "us", depth))
    print(line("consistency proof generation", p["consistency_generate_us"], "us", None))
    print(line("consistency proof verification", p["consistency_verify_us"], "us", 2 * depth))
    if "peer_pymerkle" in figures:
        peer_s = figures["peer_pymerkle"]["seconds"]
        ours = p["leaf_hashing_s"] + p["root_s"]
        print(
            line(
                "pymerkle InmemoryTree, same root",
                peer_s,
                "s",
                ours,
                f"(limit: ours; same root: {figures['peer_pymerkle']['same_root']})",
            )
        )
    for name, found in figures["db"].items():
        print(f"db {name}: {found}")
    if not figures["db"]:
        print("db append rates: not measured here (hooks: bench.ledger_bench.db_bench)")


if __name__ == "__main__":
    sys.exit(main())
