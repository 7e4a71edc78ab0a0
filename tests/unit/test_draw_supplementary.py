"""Supplementary draw snapshots (draw.md §6.4, §6.5) beyond the worked example."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from expertdraw.domain import draw


@pytest.fixture(scope="module")
def example(shared_dir: Path) -> dict[str, Any]:
    return json.loads((shared_dir / "vectors" / "draw-example.json").read_text("utf-8"))


def _build(
    example: dict[str, Any], snapshot: dict[str, Any] | None = None, **kwargs: Any
) -> draw.Supplementary:
    """The worked example's D-R1 snapshot, with ``kwargs`` changed."""
    sup = example["supplementary_example"]
    technical = example["snapshot"]["strata"][0]["candidates"]
    newcomers = [{"id": n["id"], "group": n["group"]} for n in sup["newcomers"]]
    prior = [
        example["replacement"]["expected_draw_replaced_body"],
        example["second_replacement"]["expected_draw_replaced_body"],
    ]
    args: dict[str, Any] = {
        "draw_id": "D2026-000123-R1",
        "noticed": sup["noticed"],
        "candidates": {"technical": technical + newcomers},
    } | kwargs
    parent = example["snapshot"] if snapshot is None else snapshot
    return draw.supplementary_snapshot(parent, example["completed"], prior, **args)


def test_rfc3797_supplementary_draws_exclude_no_full_group(example: dict[str, Any]) -> None:
    built = _build(example, algorithm=draw.RFC3797)
    assert built.full_groups == []
    ids = [c["id"] for c in built.snapshot["strata"][0]["candidates"]]
    assert "E0000181" in ids
    assert built.excluded == {"taken": 4}


def test_room_separation_leaves_out_rooms_only(example: dict[str, Any]) -> None:
    snapshot = copy.deepcopy(example["snapshot"])
    snapshot["separation"] = "room"
    built = _build(example, snapshot=snapshot)
    assert built.venues == []
    rooms = {r["id"] for v in built.snapshot["venues"] for r in v["rooms"]}
    assert rooms == {"V530602-R02", "V530621-R02", "V530681-R01", "V530681-R02"}


def test_the_snapshot_is_in_normal_form_and_feasible(example: dict[str, Any]) -> None:
    built = _build(example)
    draw.check_feasible(built.snapshot)
    assert built.snapshot["strata"][0]["count"] == 1
    # no alternates: replacements come from D's own alternates only (draw.md §6.1)
    assert built.snapshot["strata"][0]["alternates"] == draw.SUPPLEMENTARY_ALTERNATES == 0


def test_alternates_can_be_chosen_per_stratum(example: dict[str, Any]) -> None:
    built = _build(example, alternates={"technical": 3})
    assert built.snapshot["strata"][0]["alternates"] == 3


def test_experts_taken_by_earlier_supplementary_draws_are_left_out(
    example: dict[str, Any],
) -> None:
    built = _build(example, draw_id="D2026-000123-R2", supplementary_taken=["E0000012"])
    assert "E0000012" in built.taken
    assert "E0000012" not in [c["id"] for c in built.snapshot["strata"][0]["candidates"]]


def test_a_draw_without_open_places_has_no_supplementary_draw(example: dict[str, Any]) -> None:
    with pytest.raises(draw.DrawError) as caught:
        draw.supplementary_snapshot(
            example["snapshot"], example["completed"], [], draw_id="D2026-000123-R1"
        )
    assert caught.value.code == "invalid:supplementary"


def test_the_supplementary_draw_id_names_its_parent(example: dict[str, Any]) -> None:
    with pytest.raises(draw.DrawError) as caught:
        _build(example, draw_id="D2026-000124-R1")
    assert caught.value.code == "invalid:supplementary"
