"""Fairness (draw.md §4): with no binding group limit every candidate has the same chance.

20,000 draws of 3 members and 2 alternates from 30 candidates, with deterministic seeds
``sha256(index)`` so the test is reproducible; chi-square must not reject uniformity at
p = 0.001, for members and for each alternate position.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Any

import pytest
from scipy.stats import chisquare

from expertdraw.domain.draw_select import pick
from expertdraw.domain.draw_snapshot import parse_snapshot

DRAWS = 20_000
CANDIDATES = [f"E{i:04d}" for i in range(30)]


def _snapshot() -> dict[str, Any]:
    return {
        "draw": "D-FAIR",
        "window": {"start": "2026-12-03T01:00:00.000Z", "end": "2026-12-03T09:00:00.000Z"},
        "strata": [
            {
                "name": "technical",
                "specialty": "A0101",
                "count": 3,
                "alternates": 2,
                "candidates": [{"id": c, "group": f"G{c}"} for c in CANDIDATES],
            }
        ],
        "max_per_group": 1,
        "separation": "room",
        "venues": [],
    }


@pytest.fixture(scope="module")
def outcomes() -> dict[str, Counter[str]]:
    """Member and per-position alternate frequencies over the deterministic draws."""
    snap = parse_snapshot(_snapshot())
    members: Counter[str] = Counter()
    first: Counter[str] = Counter()
    second: Counter[str] = Counter()
    for index in range(DRAWS):
        seed = hashlib.sha256(index.to_bytes(4, "big")).digest()
        picked = pick(snap, seed)
        members.update(expert for _, expert in picked.members)
        ((_, backups),) = picked.alternates
        first[backups[0]] += 1
        second[backups[1]] += 1
    return {"members": members, "first alternate": first, "second alternate": second}


@pytest.mark.parametrize("what", ["members", "first alternate", "second alternate"])
def test_frequencies_do_not_reject_uniformity(outcomes: dict[str, Counter[str]], what: str) -> None:
    counts = [outcomes[what][c] for c in CANDIDATES]
    assert sum(counts) == DRAWS * (3 if what == "members" else 1)
    result = chisquare(counts)
    assert result.pvalue > 0.001, f"{what}: chi-square p = {result.pvalue:.2e}, counts {counts}"


def test_this_many_draws_would_reveal_a_small_preference() -> None:
    """The check above has power at this sample size: member counts where three candidates
    are 20% likelier than the others are rejected."""
    counts = [2400 if i < 3 else 2000 for i in range(len(CANDIDATES))]
    assert chisquare(counts).pvalue < 0.001
