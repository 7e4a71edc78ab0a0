"""A bundle's draw files (ledger.md §5): snapshots, beacon pulses, and replay (draw.md §8).

* ``snapshots/<draw>.json`` must be exactly ``C(snapshot)`` and hash to the announcement's
  ``snapshot_hash`` (always checked: the ledger's hash protects every byte of it).
* ``beacon/<draw>.json``: its ``outputValue`` (lower case) must be the result's
  ``entropy_value`` and its ``timeStamp`` at or after ``not_before`` (always checked); NIST's
  signature is checked on replay by ``expertdraw.domain.beacon.verify_pulse`` with the
  certificate(s) in ``beacon/*.pem`` or given to the audit.
* With replay, ``expertdraw.domain.draw.replay`` and ``replay_replacement`` recompute each
  result; they are looked up lazily, and their absence is a problem, not a crash.
"""

from __future__ import annotations

import errno
import hashlib
import importlib
import inspect
import json
import os
import re
import stat
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from expertdraw.domain.bundle_lines import decode_json
from expertdraw.domain.canonical import CanonicalError, _encode, canonical

Body = dict[str, Any]
Found = list[tuple[str, str]]
_SUPPLEMENTARY = re.compile(r"(.+)-R[1-9][0-9]*")


def _is_canonical(value: Any, data: bytes) -> bool:
    """``canonical(value) == data`` for a value parsed by ``decode_json`` (no floats, safe
    integers, string keys), without its slow walk when ``data`` is ASCII: the plain sorted
    encoding differs from ``canonical`` only in the order of keys beyond the BMP (RFC 8785
    sorts by UTF-16 code units), and such keys make both encodings non-ASCII, unequal to
    ``data`` alike."""
    if data.isascii():
        try:
            return _encode(value).encode("utf-8") == data
        except UnicodeEncodeError as exc:  # a lone surrogate: canonical() refuses it
            raise CanonicalError(f"string is not valid Unicode text: {exc.reason}") from None
    return canonical(value) == data


def _is_file(path: str) -> bool:
    """``Path(path).is_file()``, without making a Path: False if it is missing or not a
    regular file; other errors (a folder that cannot be read) are raised."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP):
            return False
        raise
    except ValueError:  # a path the system cannot take
        return False


#: The longest beacon period a pulse may state (NIST's is a minute).
_DAY_MS = 86_400_000


def _when(text: object) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None


def _well_formed(body: Body) -> bool:
    """Whether a completed body's members and alternates have the shapes draw.md gives them
    (lists of objects naming experts by string id), as the bookkeeping of later checks reads
    them."""
    members, alternates = body.get("members"), body.get("alternates")
    return (
        isinstance(members, list)
        and all(isinstance(m, dict) and isinstance(m.get("expert"), str) for m in members)
        and isinstance(alternates, list)
        and all(
            isinstance(a, dict)
            and isinstance(a.get("experts"), list)
            and all(isinstance(e, str) for e in a["experts"])
            for a in alternates
        )
    )


class DrawFiles:
    """Checks the files of each draw as the audit meets its entries."""

    def __init__(self, root: Path, replay: bool, certificates: bytes | None = None) -> None:
        """``root``: the bundle folder; ``certificates``: NIST PEM certificates, if any."""
        self.root = root
        self.snapshots = os.fspath(root / "snapshots")
        self.replay = replay
        pems = sorted((root / "beacon").glob("*.pem")) if (root / "beacon").is_dir() else []
        # Regular files only: a folder, a dangling link or a FIFO named *.pem is no certificate
        # (reading a FIFO would wait for ever).
        self.certificates = (certificates or b"") + b"".join(
            p.read_bytes() for p in pems if _is_file(os.fspath(p))
        )
        self.completed: dict[str, Body] = {}
        self.replacements: dict[str, list[Body]] = {}
        self.supplementary: dict[str, list[Body]] = {}
        self.supplementary_ids: dict[str, list[str]] = {}
        self.algorithms: dict[str, Any] = {}
        #: Per draw ``D``: the experts sent a notice for it or its ``D-R<k>``, and those the
        #: ``D-R<k>`` took (members and alternates), which no later ``D-R<n>`` may offer.
        self.noticed: dict[str, set[str]] = {}
        self.supplementary_taken: dict[str, set[str]] = {}
        self.unavailable: set[str] = set()
        self.replayed = 0

    def _snapshot(self, draw: str) -> tuple[Any, bytes | None, str | None]:
        path = os.path.join(self.snapshots, f"{draw}.json")  # an id holds no "/" (is_id)
        if not _is_file(path):
            return None, None, f"snapshots/{draw}.json is missing"
        with open(path, "rb") as f:
            data = f.read()
        try:
            snapshot = decode_json(data.decode("utf-8"))
            if not _is_canonical(snapshot, data):
                return None, data, f"snapshots/{draw}.json is not exactly C(snapshot)"
        except (UnicodeDecodeError, ValueError, CanonicalError) as exc:
            return None, data, f"snapshots/{draw}.json does not parse: {exc}"
        return snapshot, data, None

    def snapshot_names(self) -> list[str]:
        """``snapshots/*.json`` file names present (``snapshots/<name>``), sorted."""
        if not os.path.isdir(self.snapshots):
            return []
        return sorted(
            f"snapshots/{name}" for name in os.listdir(self.snapshots) if name.endswith(".json")
        )

    def announced(self, seq: int, body: Body) -> list[str]:
        """Check the snapshot of a newly announced draw; return problem messages."""
        base = _SUPPLEMENTARY.fullmatch(body["draw"])
        if base:
            self.supplementary_ids.setdefault(base.group(1), []).append(body["draw"])
        snapshot, data, problem = self._snapshot(body["draw"])
        if problem:
            return [problem]
        if hashlib.sha256(data).hexdigest() != body["snapshot_hash"]:
            return [f"snapshots/{body['draw']}.json does not hash to snapshot_hash"]
        if not isinstance(snapshot, dict) or snapshot.get("draw") != body["draw"]:
            return [f"snapshots/{body['draw']}.json is not draw {body['draw']}'s snapshot"]
        return []

    def notice_sent(self, root: str, expert: str) -> None:
        """Take a ``notice.sent`` of draw ``root`` (or of its ``D-R<k>``)."""
        self.noticed.setdefault(root, set()).add(expert)

    def check_supplementary(self, seq: int, body: Body) -> Found:
        """Check a ``D-R<n>`` snapshot against ``D`` as the log has it at ``seq`` (on
        request, with the replay): draw.md §6.4 asks for ``D``'s open places only, offers no
        expert ever taken or sent a notice for ``D`` nor one of a ``group-full`` group, and
        no room (nor, with ``separation: "venue"``, venue) of ``D``'s current members.

        The snapshot's own candidates and venues are run through the rule that builds such
        a snapshot; whatever the rule leaves out is what should not be there.
        """
        base = _SUPPLEMENTARY.fullmatch(body["draw"])
        if not base or not self.replay:
            return []
        root = base.group(1)
        published, _, problem = self._snapshot(body["draw"])
        snapshot, _, root_problem = self._snapshot(root)
        if problem or root_problem or root not in self.completed:
            return []  # reported where the snapshot or the draw's order is checked
        build, _ = self._engine("draw", "supplementary_snapshot")
        if build is None:
            return self._call("draw:replay", "draw", "supplementary_snapshot")
        try:
            strata = {s["name"]: s for s in published["strata"]}
            rebuilt = build(
                snapshot,
                self.completed[root],
                list(self.replacements.get(root, [])),
                draw_id=body["draw"],
                noticed=sorted(self.noticed.get(root, ())),
                candidates={name: s["candidates"] for name, s in strata.items()},
                venues=published["venues"],
                alternates={name: s["alternates"] for name, s in strata.items()},
                supplementary_members=list(self.supplementary.get(root, [])),
                supplementary_taken=sorted(self.supplementary_taken.get(root, ())),
                algorithm=self.algorithms.get(root),
            ).snapshot
        except Exception as exc:  # a malformed snapshot or history is a finding here
            code = getattr(exc, "code", type(exc).__name__)
            return [("draw:supplementary", f"{body['draw']} cannot be checked: {code}: {exc}")]
        return [
            ("draw:supplementary", f"{body['draw']} {message}")
            for message in _supplementary_differences(published, rebuilt)
        ]

    def _engine(self, module: str, name: str) -> tuple[Any, str | None]:
        try:
            found = getattr(importlib.import_module(f"expertdraw.domain.{module}"), name, None)
        except ImportError as exc:
            found, reason = None, str(exc)
        else:
            reason = f"expertdraw.domain.{module} has no {name}"
        if found is None:
            return None, f"{module}.{name} unavailable: {reason}"
        return found, None

    def _call(self, code: str, module: str, name: str, *args: Any, **kwargs: Any) -> Found:
        fn, missing = self._engine(module, name)
        if fn is None:
            if missing in self.unavailable:
                return []
            self.unavailable.add(missing)
            return [(f"{code}-unavailable", f"{name} unavailable: {missing}")]
        accepted = inspect.signature(fn).parameters
        kwargs = {k: v for k, v in kwargs.items() if k in accepted}
        try:
            outcome = fn(*args, **kwargs)
        except Exception as exc:  # an engine error is a finding about this draw
            return [(code, f"{name} failed: {getattr(exc, 'code', type(exc).__name__)}: {exc}")]
        if outcome is False or (isinstance(outcome, str) and outcome):
            return [(code, f"{name}: {outcome}" if isinstance(outcome, str) else f"{name} fails")]
        return []

    def _beacon(self, announced: Body, body: Body) -> Found:
        entropy = announced.get("entropy")
        if not isinstance(entropy, dict) or entropy.get("kind") != "beacon":
            return []
        if "entropy_value" not in body:
            return []
        path = self.root / "beacon" / f"{body['draw']}.json"
        if not _is_file(os.fspath(path)):
            return [("draw:beacon", f"beacon/{body['draw']}.json is missing")]
        data = path.read_bytes()
        try:
            pulse = json.loads(data)["pulse"]
            output = str(pulse["outputValue"]).lower()
            stamp, not_before = _when(pulse["timeStamp"]), _when(entropy.get("not_before"))
            period = pulse["period"]
            if type(period) is not int or not 0 < period <= _DAY_MS:
                raise ValueError(f"period {period!r} is not a number of milliseconds up to a day")
            if stamp is not None and stamp.utcoffset() is None:
                raise ValueError(f"timeStamp {pulse['timeStamp']!r} has no UTC offset")
        except (ValueError, KeyError, TypeError, RecursionError) as exc:
            return [("draw:beacon", f"beacon/{body['draw']}.json is not a pulse: {exc!s:.200}")]
        found: Found = []
        if output != body["entropy_value"]:
            found.append(("draw:beacon", "pulse outputValue is not the draw's entropy_value"))
        if stamp is None or not_before is None or stamp < not_before:
            found.append(("draw:beacon", "pulse timeStamp is before the announced not_before"))
        elif stamp - timedelta(milliseconds=period) >= not_before:
            # draw.md §3.1: *the first* pulse at or after not_before; a later one would let
            # whoever holds the secret pick among outcomes.
            found.append(
                (
                    "draw:beacon",
                    "pulse is not the first at or after not_before: one period earlier is",
                )
            )
        if self.replay:
            if not self.certificates:
                found.append(("draw:beacon", "no NIST certificate to check the pulse signature"))
            else:
                found += self._call(
                    "draw:beacon", "beacon", "verify_pulse", data, self.certificates
                )
        return found

    def finished(self, seq: int, announced: Body, body: Body) -> Found:
        """Check a draw.completed or draw.failed body: beacon pulse, and replay on request."""
        found = self._beacon(announced, body)
        draw = body["draw"]
        if self.replay:
            snapshot, _, problem = self._snapshot(draw)
            if problem:
                return [*found, ("draw:replay", f"cannot replay: {problem}")]
            self.replayed += 1
            found += self._call("draw:replay", "draw", "replay", snapshot, announced, body)
        if self.replay and "members" in body:
            self.completed[draw] = body
            self.algorithms[draw] = announced.get("algorithm")
            base = _SUPPLEMENTARY.fullmatch(draw)
            if base and _well_formed(body):
                # (A malformed one is a draw:replay problem already: nothing to keep of it.)
                self._supplementary_members(base.group(1), draw, body)
                taken = self.supplementary_taken.setdefault(base.group(1), set())
                taken.update(m["expert"] for m in body["members"])
                for alternates in body["alternates"]:
                    taken.update(alternates["experts"])
        return found

    def _supplementary_members(self, base: str, draw: str, body: Body) -> None:
        snapshot, _, _ = self._snapshot(draw)
        groups = {}
        for stratum in (snapshot or {}).get("strata", []):
            for c in stratum.get("candidates", []):
                groups[c.get("id")] = c.get("group")
        members = [dict(m, group=groups.get(m["expert"])) for m in body["members"]]
        self.supplementary.setdefault(base, []).extend(members)

    def replaced(self, seq: int, body: Body) -> Found:
        """Replay a draw.replaced body (on request) against the draw and its history."""
        draw = body["draw"]
        prior = self.replacements.setdefault(draw, [])
        found: Found = []
        if self.replay:
            snapshot, _, problem = self._snapshot(draw)
            if problem or draw not in self.completed:
                found = [("draw:replay", f"cannot replay: {problem or 'no completed body'}")]
            else:
                self.replayed += 1
                found = self._call(
                    "draw:replay",
                    "draw",
                    "replay_replacement",
                    snapshot,
                    self.completed[draw],
                    list(prior),
                    body,
                    algorithm=self.algorithms.get(draw),
                    supplementary_members=list(self.supplementary.get(draw, [])),
                    supplementary_draws=list(self.supplementary_ids.get(draw, [])),
                )
            prior.append(body)
        return found


def _supplementary_differences(published: Body, rebuilt: Body) -> list[str]:
    """What a ``D-R<n>`` snapshot offers beyond what draw.md §6.4 leaves it, in words."""
    found = []
    for key in ("window", "max_per_group", "separation"):
        if published.get(key) != rebuilt[key]:
            found.append(f"has {key} {published.get(key)!r}, its draw {rebuilt[key]!r}")
    places = {s["name"]: s["count"] for s in rebuilt["strata"]}
    asked = {s["name"]: s["count"] for s in published["strata"]}
    if asked != places:
        found.append(f"asks for places {asked}, its draw has open {places}")
    kept = {c["id"] for s in rebuilt["strata"] for c in s["candidates"]}
    offered = sorted({c["id"] for s in published["strata"] for c in s["candidates"]} - kept)
    if offered:
        found.append(f"offers {', '.join(offered)}, taken for its draw or of a group-full group")
    rooms = {(v["id"], r["id"]) for v in rebuilt["venues"] for r in v["rooms"]}
    extra = sorted(
        f"{v['id']}/{r['id']}"
        for v in published["venues"]
        for r in v["rooms"]
        if (v["id"], r["id"]) not in rooms
    )
    if extra:
        found.append(f"offers {', '.join(extra)}, where current members of its draw sit")
    return found
