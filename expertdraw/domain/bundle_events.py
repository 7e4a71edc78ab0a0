"""The entries whose meaning spans the log (ledger.md §4-§5): keys and draws.

Fed in ``seq`` order by the audit, :class:`LogEvents` checks that keys.txt says what
``log.created`` and ``key.rotated`` say, that every draw result is covered by a checkpoint
and every announcement by one issued before its completion (or failure after entropy), and
hands each draw to :class:`~expertdraw.domain.bundle_draws.DrawFiles` for its snapshot,
beacon pulse and, on request, replay.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Any

from expertdraw.domain import sampling
from expertdraw.domain.bundle_draws import _SUPPLEMENTARY, DrawFiles
from expertdraw.domain.bundle_scan import Problem
from expertdraw.domain.ledger import body_problem, is_time
from expertdraw.domain.ledger_files import KeyRange

Body = dict[str, Any]


class LogEvents:
    """Checks across entries; collects :class:`Problem` s in ``problems``."""

    def __init__(
        self,
        origin: str | None,
        ranges: Sequence[KeyRange],
        covered_sizes: Sequence[int],
        files: DrawFiles,
    ) -> None:
        """``covered_sizes``: sizes of the checkpoints that parsed and are validly signed."""
        self.origin = origin
        self.ranges = list(ranges)
        self.sizes = sorted(set(covered_sizes))
        self.files = files
        self.problems: list[Problem] = []
        self.created: Body | None = None
        self.rotated: list[tuple[int, Body]] = []
        self.pending: dict[str, tuple[int, Body]] = {}
        self.announced: set[str] = set()
        self.completed: set[str] = set()
        self.counts = dict.fromkeys(
            ("announced", "completed", "failed", "replaced", "rotations"), 0
        )
        #: By draw (its root for a supplementary one): the experts brought in, and each notice
        #: sent and not yet answered, with its expert.
        self.seated: dict[str, set[str]] = {}
        self.unanswered: dict[tuple[str, str], str] = {}
        #: Supervision samples announced and not yet drawn (seq, body), and those drawn.
        self.sampling: dict[str, tuple[int, Body]] = {}
        self.sampled: set[str] = set()

    def _problem(self, code: str, message: str, seq: int) -> None:
        self.problems.append(Problem(code, message, seq=seq))

    def _covered_after(self, seq: int) -> bool:
        return bool(self.sizes) and self.sizes[-1] > seq

    def _covered_between(self, low: int, high: int) -> bool:
        i = bisect.bisect_right(self.sizes, low)
        return i < len(self.sizes) and self.sizes[i] <= high

    def on_event(self, seq: int, kind: str, body: Body, when: object = None) -> None:
        """Take one entry of an :data:`~expertdraw.domain.bundle_scan.EVENT_TYPES` type;
        ``when`` is its ``time`` (an announcement's beacon must come later)."""
        if body_problem(kind, body) is not None:  # the entry's own problem is reported
            return
        if kind == "draw.announced":
            self._draw_announced(seq, body, when)
        else:
            getattr(self, "_" + kind.replace(".", "_"))(seq, body)

    def _log_created(self, seq: int, body: Body) -> None:
        self.created = body
        if self.origin is not None and body.get("origin") != self.origin:
            self._problem("keys:log-created", "log.created origin is not the log's name", seq)

    def _key_rotated(self, seq: int, body: Body) -> None:
        self.counts["rotations"] += 1
        self.rotated.append((seq, body))

    def _draw_announced(self, seq: int, body: Body, when: object) -> None:
        self.counts["announced"] += 1
        draw = body["draw"]
        if draw in self.announced:
            self._problem("draw:announced", f"draw {draw} is announced a second time", seq)
            return
        self._beacon_time(seq, body["entropy"], when)
        self.announced.add(draw)
        self.pending[draw] = (seq, body)
        for message in self.files.announced(seq, body):
            self._problem("draw:snapshot", message, seq)
        for code, message in self.files.check_supplementary(seq, body):
            self._problem(code, message, seq)

    def _beacon_time(self, seq: int, entropy: object, when: object) -> None:
        """draw.md §3.1: a beacon's ``not_before`` "must be later than the announcement".
        Both are ledger times (one fixed format, checked elsewhere), so they compare as text."""
        if not isinstance(entropy, dict) or entropy.get("kind") != "beacon":
            return
        not_before = entropy.get("not_before")
        if not is_time(not_before):
            self._problem("draw:beacon", f"beacon not_before {not_before!r} is not a time", seq)
        elif is_time(when) and not_before <= when:  # type: ignore[operator]
            self._problem(
                "draw:beacon",
                f"beacon not_before {not_before} is not later than the announcement ({when})",
                seq,
            )

    def _finish(self, seq: int, body: Body, kind: str) -> tuple[int, Body] | None:
        draw = body["draw"]
        found = self.pending.pop(draw, None)
        if found is None:
            self._problem("draw:order", f"{kind} of draw {draw}, which is not pending", seq)
        return found

    def _draw_completed(self, seq: int, body: Body) -> None:
        self.counts["completed"] += 1
        found = self._finish(seq, body, "draw.completed")
        if not self._covered_after(seq):
            self._problem("draw:coverage", "draw.completed is covered by no checkpoint", seq)
        if found is None:
            return
        self.completed.add(body["draw"])
        members = body["members"] if isinstance(body["members"], list) else []
        seated = self.seated.setdefault(_root(str(body["draw"])), set())
        # A malformed member is the replay's to name; here it only seats no one.
        seated.update(
            m["expert"] for m in members if isinstance(m, dict) and isinstance(m.get("expert"), str)
        )
        self._check_announcement(found[0], seq, "completion")
        for code, message in self.files.finished(seq, found[1], body):
            self._problem(code, message, seq)

    def _draw_failed(self, seq: int, body: Body) -> None:
        self.counts["failed"] += 1
        found = self._finish(seq, body, "draw.failed")
        if found is None:
            return
        if "entropy_value" in body:
            self._check_announcement(found[0], seq, "failure after entropy")
        for code, message in self.files.finished(seq, found[1], body):
            self._problem(code, message, seq)

    def _check_announcement(self, announced: int, seq: int, what: str, kind: str = "draw") -> None:
        """A commitment (``<kind>.announced``) is covered by a checkpoint issued before what
        reveals it (``what`` at ``seq``)."""
        if not self._covered_between(announced, seq):
            self._problem(
                f"{kind}:coverage",
                f"{kind}.announced is covered by no checkpoint issued before its {what} at "
                f"seq {seq}",
                announced,
            )

    def _draw_replaced(self, seq: int, body: Body) -> None:
        self.counts["replaced"] += 1
        if not self._covered_after(seq):
            self._problem("draw:coverage", "draw.replaced is covered by no checkpoint", seq)
        if body["draw"] not in self.completed:
            self._problem("draw:order", f"draw {body['draw']} has not completed", seq)
            return
        if isinstance(body["in"], str):
            self.seated.setdefault(_root(str(body["draw"])), set()).add(body["in"])
        for code, message in self.files.replaced(seq, body):
            self._problem(code, message, seq)

    def _notice_sent(self, seq: int, body: Body) -> None:
        draw, expert = _root(str(body["draw"])), str(body["expert"])
        if expert not in self.seated.get(draw, ()):
            self._problem(
                "draw:event", f"notice.sent to {expert}, who was not drawn into {draw}", seq
            )
        self.unanswered[(draw, str(body["notice"]))] = expert
        self.files.notice_sent(draw, expert)

    def _notice_answered(self, seq: int, body: Body) -> None:
        draw, expert = _root(str(body["draw"])), str(body["expert"])
        sent_to = self.unanswered.pop((draw, str(body["notice"])), None)
        if sent_to != expert:
            self._problem(
                "draw:event",
                f"notice.answered by {expert} for notice {body['notice']}, which was not "
                "sent to them or is answered already",
                seq,
            )

    def _list_opened(self, seq: int, body: Body) -> None:
        if str(body["draw"]) not in self.announced:
            self._problem(
                "draw:event", f"list.opened for draw {body['draw']}, never announced", seq
            )

    def _inspection_announced(self, seq: int, body: Body) -> None:
        sample = str(body["inspection"])
        if sample in self.sampling or sample in self.sampled:
            self._problem(
                "inspection:announced", f"inspection {sample} is announced a second time", seq
            )
            return
        self.sampling[sample] = (seq, body)

    def _inspection_drawn(self, seq: int, body: Body) -> None:
        """rules.md: a sample is drawn by the ledger's own method, so it replays from its two
        entries alone (``domain.sampling.replay_sample``), as draws do with ``--replay``."""
        sample = str(body["inspection"])
        found = self.sampling.pop(sample, None)
        if found is None:
            # ledger.md §6 defines inspection.drawn alone; one that names a plan (plan_hash,
            # as this service's do) claims an announcement, which must have come first.
            if "plan_hash" in body or sample in self.sampled:
                self._problem(
                    "inspection:order", f"inspection.drawn of {sample}, which is not pending", seq
                )
            return
        self.sampled.add(sample)
        announced_seq, announced = found
        self._check_announcement(announced_seq, seq, "draw", kind="inspection")
        if self.files.replay:
            for message in sampling.replay_sample(announced, body):
                self._problem("inspection:replay", f"inspection {sample}: {message}", seq)

    def _log_ranges(self) -> list[tuple[str, int, int | None]]:
        """The key ranges the log itself states; problems for rotations that do not chain."""
        if self.created is None:
            return []
        ranges: list[tuple[str, int, int | None]] = [(self.created["key"], 0, None)]
        for seq, body in self.rotated:
            key, start, _ = ranges[-1]
            if body["old_key"] != key:
                self._problem("keys:rotation", "old_key is not the key in use", seq)
            ranges[-1] = (key, start, seq)
            ranges.append((body["new_key"], seq + 1, None))
        return ranges

    def finish(self, entries: int) -> list[Problem]:
        """Checks once the number of entries is known: keys.txt says what the log says, and
        every snapshot file belongs to a draw the log announces.

        A rotation at the last entry may or may not list the new key (it signs nothing yet).
        """
        strays = [
            Problem("draw:snapshot", "a snapshot of a draw the log never announces", file=name)
            for name in self.files.snapshot_names()
            if name.removeprefix("snapshots/").removesuffix(".json") not in self.announced
        ]
        keys = self._keys_problems(entries)
        # A rotation that does not chain is found while the log's key ranges are read.
        rotations, self.problems = self.problems, []
        return strays + rotations + keys

    def _keys_problems(self, entries: int) -> list[Problem]:
        stated = self._log_ranges()
        if not stated:
            return []
        listed = [(str(r.key), r.from_seq, r.to_seq) for r in self.ranges]
        accepted = [stated]
        if stated[-1][1] == entries:
            accepted.append([*stated[:-2], (stated[-2][0], stated[-2][1], None)])
        if listed in accepted:
            return []
        best = accepted[-1] if len(accepted) > 1 and len(listed) < len(stated) else stated
        for number, (mine, theirs) in enumerate(zip(listed, best, strict=False), start=1):
            if mine != theirs:
                return [
                    Problem(
                        "keys:mismatch",
                        f"the log says {theirs[0]} from {theirs[1]} to {theirs[2]}",
                        file=f"keys.txt line {number}",
                    )
                ]
        return [
            Problem(
                "keys:mismatch",
                f"keys.txt lists {len(listed)} keys, the log states {len(best)}",
                file="keys.txt",
            )
        ]


def _root(draw: str) -> str:
    """The draw a supplementary draw ``D-R<n>`` belongs to (itself for ``D``)."""
    found = _SUPPLEMENTARY.fullmatch(draw)
    return found.group(1) if found else draw
