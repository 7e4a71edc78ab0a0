"""Random supervision sampling (双随机、一公开) by the draw engine's method (draw.md §3-§4).

Pure: standard library and the draw engine only. A sample is fixed by its *plan* (the
inspection id, the period, the projects of each risk level with the level's sampling ratio,
the inspector pool and how many inspectors each sampled project gets), announced with a
commitment to a secret before any witness value exists:

- ``plan_hash = hex(H(C(plan)))``;
- ``commitment = hex(H("expertdraw/commit/v1" || 0x00 || utf8(inspection) || 0x00 || s))``;
- ``E = C([witness values in the order entered])``;
- ``seed = H("expertdraw/seed/v1" || 0x00 || lp(utf8(inspection)) || lp(plan_hash bytes)
  || lp(s) || lp(E))``;
- per level, in plan order, projects are ordered by
  ``(HMAC(seed, "expertdraw/score/v1" || 0x00 || utf8(project)), project)`` and the first
  ``ceil(ratio × n)`` are taken (``ratio`` an exact ``"n/d"`` string);
- for each sampled project ``p`` (levels in order, projects in walk order), inspectors are
  ordered by ``(HMAC(seed, "expertdraw/score/v1" || 0x00 || utf8(p) || 0x00 || utf8(i)), i)``
  and the first ``inspectors_per_project`` are taken, leaving out those the plan's optional
  ``recusals`` lists for ``p`` (回避: e.g. the supervisors who witnessed its draw, who would
  otherwise inspect their own work) as far as the pool allows: when too few others are left,
  the recused ones, in the same order, fill the remaining places (a small centre's two
  supervisors witness every draw). A plan without ``recusals`` has none.

:func:`replay_sample` recomputes everything from the two ledger bodies alone.
"""

from __future__ import annotations

import hashlib
import math
import re
from fractions import Fraction
from typing import Any

from expertdraw.domain.canonical import CanonicalError, canonical
from expertdraw.domain.draw_errors import DrawError
from expertdraw.domain.draw_seed import commitment, derive_seed, keyed_hmac, witness_entropy
from expertdraw.domain.ledger import is_id

SCORE_TAG = b"expertdraw/score/v1\x00"
PLAN_KEYS = frozenset({"inspection", "period", "levels", "inspectors", "inspectors_per_project"})
_RATIO = re.compile(r"(0|[1-9][0-9]{0,8})/([1-9][0-9]{0,8})")


class SamplingError(ValueError):
    """A malformed plan, ratio, secret or witness list; ``code`` names what is wrong.

    Codes: ``sampling:plan``, ``sampling:ratio``, ``sampling:secret``, ``sampling:entropy``.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def parse_ratio(text: object) -> Fraction:
    """The exact ratio of ``"n/d"`` (0 ≤ n ≤ d). Raises SamplingError ``sampling:ratio``."""
    match = _RATIO.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise SamplingError("sampling:ratio", f"a ratio is written n/d, got {text!r}")
    value = Fraction(int(match.group(1)), int(match.group(2)))
    if value > 1:
        raise SamplingError("sampling:ratio", f"a sampling ratio is at most 1, got {text}")
    return value


def _sorted_ids(values: object, what: str) -> list[str]:
    if not isinstance(values, list) or not all(is_id(v) for v in values):
        raise SamplingError("sampling:plan", f"{what} must be a list of codes")
    if values != sorted(set(values)):
        raise SamplingError("sampling:plan", f"{what} must be sorted and unique")
    return values


def check_plan(plan: object) -> dict[str, Any]:
    """Validate a plan snapshot (see the module docstring) and return it.

    Raises:
        SamplingError: ``sampling:plan`` or ``sampling:ratio`` naming the first problem.
    """
    if not isinstance(plan, dict) or set(plan) - {"recusals"} != PLAN_KEYS:
        raise SamplingError(
            "sampling:plan", f"a plan has exactly {sorted(PLAN_KEYS)}, and may have recusals"
        )
    if not is_id(plan["inspection"]):
        raise SamplingError("sampling:plan", "inspection must be a code")
    period = plan["period"]
    if not isinstance(period, dict) or not all(isinstance(v, str) for v in period.values()):
        raise SamplingError("sampling:plan", "period must be an object of strings")
    levels = plan["levels"]
    if not isinstance(levels, list) or not levels:
        raise SamplingError("sampling:plan", "levels must be a non-empty list")
    names: set[str] = set()
    seen: set[str] = set()
    for level in levels:
        if not isinstance(level, dict) or set(level) != {"name", "ratio", "projects"}:
            raise SamplingError("sampling:plan", "a level has exactly name, ratio, projects")
        if not is_id(level["name"]) or level["name"] in names:
            raise SamplingError("sampling:plan", "level names must be unique codes")
        names.add(level["name"])
        parse_ratio(level["ratio"])
        projects = _sorted_ids(level["projects"], f"level {level['name']} projects")
        if seen & set(projects):
            raise SamplingError("sampling:plan", "a project belongs to one level only")
        seen |= set(projects)
    inspectors = _sorted_ids(plan["inspectors"], "inspectors")
    k = plan["inspectors_per_project"]
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= len(inspectors):
        raise SamplingError(
            "sampling:plan", "inspectors_per_project must be 1 to the number of inspectors"
        )
    _check_recusals(plan.get("recusals", {}), seen, set(inspectors))
    return plan


def _check_recusals(recusals: object, projects: set[str], inspectors: set[str]) -> None:
    """``recusals``: project code to the sorted inspectors left out for it; each project in
    the plan, each inspector in the pool."""
    if not isinstance(recusals, dict):
        raise SamplingError("sampling:plan", "recusals must be an object")
    for project, out in recusals.items():
        if project not in projects:
            raise SamplingError("sampling:plan", f"recusals name project {project} not planned")
        if not _sorted_ids(out, f"recusals of {project}") or not set(out) <= inspectors:
            raise SamplingError("sampling:plan", f"recusals of {project} must be inspectors")


def plan_hash(plan: dict[str, Any]) -> str:
    """``hex(H(C(plan)))`` of a valid plan. Raises SamplingError ``sampling:plan``."""
    check_plan(plan)
    try:
        return hashlib.sha256(canonical(plan)).hexdigest()
    except CanonicalError as exc:
        raise SamplingError("sampling:plan", str(exc)) from None


def ordered(seed: bytes, ids: list[str], context: str | None = None) -> list[str]:
    """``ids`` by ``(HMAC(seed, SCORE_TAG [|| utf8(context) || 0x00] || utf8(id)), id)``."""
    prefix = SCORE_TAG if context is None else SCORE_TAG + context.encode() + b"\x00"
    score = keyed_hmac(seed, prefix)
    return sorted(ids, key=lambda x: (score(x.encode()), x))


def select_sample(plan: dict[str, Any], seed: bytes) -> tuple[list[dict[str, Any]], list[dict]]:
    """The sample of a plan under ``seed``: ``(targets, inspectors)`` as the ledger holds them.

    ``targets``: ``[{"level", "ratio", "projects": [codes in walk order]}]``, one per level;
    ``inspectors``: ``[{"project", "inspectors": [pseudonyms]}]`` per sampled project.

    Raises:
        SamplingError: for a malformed plan.
    """
    check_plan(plan)
    recusals = plan.get("recusals", {})
    targets: list[dict[str, Any]] = []
    assigned: list[dict[str, Any]] = []
    for level in plan["levels"]:
        ratio = parse_ratio(level["ratio"])
        take = math.ceil(ratio * len(level["projects"]))
        chosen = ordered(seed, level["projects"])[:take]
        targets.append({"level": level["name"], "ratio": level["ratio"], "projects": chosen})
        for project in chosen:
            out = set(recusals.get(project, ()))
            pool = ordered(seed, [i for i in plan["inspectors"] if i not in out], context=project)
            if len(pool) < plan["inspectors_per_project"]:
                pool += ordered(seed, [i for i in plan["inspectors"] if i in out], context=project)
            assigned.append(
                {"project": project, "inspectors": pool[: plan["inspectors_per_project"]]}
            )
    return targets, assigned


def announced_body(plan: dict[str, Any], secret: bytes, witnesses: int) -> dict[str, Any]:
    """The ``inspection.announced`` body: plan, its hash, the commitment, the entropy source.

    Raises:
        SamplingError: ``sampling:plan``, ``sampling:secret`` (not 32 bytes) or
            ``sampling:entropy`` (witnesses not a positive integer).
    """
    if not isinstance(secret, bytes) or len(secret) != 32:
        raise SamplingError("sampling:secret", "the secret is 32 bytes")
    if isinstance(witnesses, bool) or not isinstance(witnesses, int) or witnesses < 1:
        raise SamplingError("sampling:entropy", "witnesses must be a positive integer")
    hash_hex = plan_hash(plan)
    return {
        "inspection": plan["inspection"],
        "plan": plan,
        "plan_hash": hash_hex,
        "commitment": commitment(plan["inspection"], secret),
        "entropy": {"kind": "witness", "witnesses": witnesses},
    }


def seed_of(inspection: str, hash_hex: str, secret: bytes, values: list[str]) -> bytes:
    """``derive_seed`` over the witness values' ``E``; SamplingError ``sampling:entropy``."""
    try:
        return derive_seed(inspection, hash_hex, secret, witness_entropy(values))
    except DrawError as exc:
        raise SamplingError("sampling:entropy", str(exc)) from None


def drawn_body(plan: dict[str, Any], secret: bytes, values: list[str]) -> dict[str, Any]:
    """The ``inspection.drawn`` body for the witnesses' ``values`` (in the order entered).

    Raises:
        SamplingError: ``sampling:plan``, ``sampling:entropy``.
    """
    hash_hex = plan_hash(plan)
    seed = seed_of(plan["inspection"], hash_hex, secret, values)
    targets, inspectors = select_sample(plan, seed)
    return {
        "inspection": plan["inspection"],
        "targets": targets,
        "inspectors": inspectors,
        "seed": seed.hex(),
        "secret": secret.hex(),
        "entropy_value": list(values),
        "plan_hash": hash_hex,
    }


def replay_sample(announced: dict[str, Any], drawn: dict[str, Any]) -> list[str]:
    """Recompute a sample from its ``inspection.announced`` and ``inspection.drawn`` bodies.

    Returns the differences found (empty when the sample replays): plan hash, commitment,
    number of witness values, seed, targets, inspectors. Never raises for bad bodies.
    """
    try:
        plan = announced["plan"]
        problems = []
        recomputed_hash = plan_hash(plan)
        if recomputed_hash != announced.get("plan_hash"):
            problems.append("plan_hash: the announced plan does not hash to plan_hash")
        if drawn.get("plan_hash") != announced.get("plan_hash"):
            problems.append("plan_hash: drawn and announced differ")
        if not drawn.get("inspection") == announced.get("inspection") == plan["inspection"]:
            problems.append("inspection: ids differ")
        secret = bytes.fromhex(drawn["secret"])
        if commitment(plan["inspection"], secret) != announced.get("commitment"):
            problems.append("commitment: the revealed secret does not match the commitment")
        values = drawn["entropy_value"]
        if not isinstance(values, list) or len(values) != announced["entropy"]["witnesses"]:
            problems.append("entropy_value: not the announced number of witness values")
        seed = seed_of(plan["inspection"], recomputed_hash, secret, values)
        if seed.hex() != drawn.get("seed"):
            problems.append("seed: recomputed seed differs")
        targets, inspectors = select_sample(plan, seed)
        if targets != drawn.get("targets"):
            problems.append("targets: recomputed projects differ")
        if inspectors != drawn.get("inspectors"):
            problems.append("inspectors: recomputed inspectors differ")
        return problems
    except (SamplingError, DrawError, KeyError, TypeError, ValueError) as exc:
        return [f"malformed: {exc}"]
