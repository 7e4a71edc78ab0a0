"""Replay (draw.md §8) names the first difference of a tampered draw or replacement."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from expertdraw.domain import draw

Bundle = dict[str, Any]


@pytest.fixture(scope="module")
def example(shared_dir: Path) -> dict[str, Any]:
    return json.loads((shared_dir / "vectors" / "draw-example.json").read_text("utf-8"))


def _set(where: str, path: str, value: Any) -> Callable[[Bundle], None]:
    def apply(bundle: Bundle) -> None:
        *parents, last = path.split(".")
        target: Any = bundle[where]
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[int(last) if last.isdigit() else last] = value

    return apply


def _swap_members(bundle: Bundle) -> None:
    members = bundle["body"]["members"]
    members[0]["expert"], members[1]["expert"] = members[1]["expert"], members[0]["expert"]


def _unsort_candidates(bundle: Bundle) -> None:
    """The first two candidates swapped, and the announcement hashing what is published."""
    candidates = bundle["snapshot"]["strata"][0]["candidates"]
    candidates[0], candidates[1] = candidates[1], candidates[0]
    bundle["announced"]["snapshot_hash"] = draw.snapshot_hash(bundle["snapshot"])


TAMPERED: dict[str, tuple[Callable[[Bundle], None], str]] = {
    "the candidates' order": (_unsort_candidates, "snapshot is not valid"),
    "a candidate's group": (
        _set("snapshot", "strata.0.candidates.0.group", "G0000"),
        "snapshot hash differs",
    ),
    "the announced request": (_set("announced", "request.max_per_group", 2), "request differs"),
    "the commitment": (_set("announced", "commitment", "0" * 64), "commitment differs"),
    "the secret": (_set("body", "secret", "00" * 32), "commitment differs"),
    "a witness value": (_set("body", "entropy_value.0", "31416"), "seed differs"),
    "the seed": (_set("body", "seed", "11" * 32), "seed differs"),
    "the member order": (_swap_members, "members differ at position 1"),
    "an alternate": (_set("body", "alternates.0.experts.1", "E0000126"), "alternates differ"),
    "a workstation": (
        _set("body", "members.2.workstation", "V530602-R01-W01"),
        "seat of member E0000215 differs",
    ),
    "the draw id": (_set("body", "draw", "D2026-000999"), "draw id differs"),
    "the algorithm": (_set("announced", "algorithm", "shuffle"), "algorithm"),
}


@pytest.mark.parametrize("case", sorted(TAMPERED))
def test_replay_names_the_first_difference(example: dict[str, Any], case: str) -> None:
    bundle = copy.deepcopy(
        {
            "snapshot": example["snapshot"],
            "announced": example["announced"],
            "body": example["completed"],
        }
    )
    change, expected = TAMPERED[case]
    assert draw.replay(bundle["snapshot"], bundle["announced"], bundle["body"]) is None
    change(bundle)
    message = draw.replay(bundle["snapshot"], bundle["announced"], bundle["body"])
    assert message is not None and message.startswith(expected), message


def test_a_failed_draw_replays_only_with_its_own_reason(example: dict[str, Any]) -> None:
    failed = example["failed_example"]
    body = copy.deepcopy(failed["failed"])
    body["reason"] = "insufficient:technical"
    message = draw.replay(failed["snapshot"], failed["announced"], body)
    assert message == (
        "failure reason differs: "
        "body has insufficient:technical, replay gives insufficient:economic"
    )


def test_a_completed_body_for_a_failing_draw_is_caught(example: dict[str, Any]) -> None:
    failed = example["failed_example"]
    body = {k: v for k, v in failed["failed"].items() if k != "reason"}
    body |= {"members": [], "alternates": []}
    message = draw.replay(failed["snapshot"], failed["announced"], body)
    assert message is not None and message.startswith("the draw fails on replay")


def test_a_failure_claimed_for_a_draw_that_completes_is_caught(example: dict[str, Any]) -> None:
    completed = example["completed"]
    body = draw.failed_body(
        completed["draw"],
        "insufficient:technical",
        bytes.fromhex(completed["secret"]),
        entropy_value=completed["entropy_value"],
        seed=bytes.fromhex(completed["seed"]),
    )
    message = draw.replay(example["snapshot"], example["announced"], body)
    assert message is not None and "completes on replay" in message


@pytest.mark.parametrize(
    ("reason", "accepted"),
    [
        ("conflict:workstation-booked", True),
        ("conflict:expert-booked", True),
        ("conflict:workstation-closed", True),
        ("cancelled", False),
        ("abandoned", False),
    ],
)
def test_after_its_entropy_a_completing_draw_fails_only_by_a_seat_clash(
    example: dict[str, Any], reason: str, accepted: bool
) -> None:
    """A result seen and discarded ("cancelled" once the entropy is in) would let whoever
    holds the secret draw again until the outcome suits: only a clash with seats booked since
    the snapshot may stop a draw the replay completes."""
    completed = example["completed"]
    body = draw.failed_body(
        completed["draw"],
        reason,
        bytes.fromhex(completed["secret"]),
        entropy_value=completed["entropy_value"],
        seed=bytes.fromhex(completed["seed"]),
    )
    message = draw.replay(example["snapshot"], example["announced"], body)
    if accepted:
        assert message is None
    else:
        assert message is not None and "completes on replay" in message, message


def test_a_failure_before_the_entropy_checks_the_commitment_only(example: dict[str, Any]) -> None:
    secret = bytes.fromhex(example["secret_hex"])
    body = draw.failed_body("D2026-000123", "abandoned", secret)
    assert draw.replay(example["snapshot"], example["announced"], body) is None
    body = draw.failed_body("D2026-000123", "abandoned", bytes(32))
    assert draw.replay(example["snapshot"], example["announced"], body).startswith("commitment")


def test_complete_refuses_a_secret_that_does_not_match_the_commitment(
    example: dict[str, Any],
) -> None:
    with pytest.raises(draw.DrawError) as caught:
        draw.complete(example["snapshot"], example["announced"], bytes(32), ["1", "2"])
    assert caught.value.code == "invalid:secret"


def _replaced(example: dict[str, Any], key: str) -> dict[str, Any]:
    return copy.deepcopy(example[key]["expected_draw_replaced_body"])


REPLACEMENT_TAMPERING: dict[str, tuple[str, Callable[[dict[str, Any]], None], str]] = {
    "another alternate comes in": (
        "replacement",
        lambda b: b.update({"in": "E0000169", "skipped": []}),
        "skipped differs",
    ),
    "a false group-limit": (
        "second_replacement",
        lambda b: b["skipped"][0].update({"reason": "group-limit"}),
        "skipped differs",
    ),
    "another seat": (
        "replacement",
        lambda b: b["seat"].update({"workstation": "V530621-R02-W01", "room": "V530621-R02"}),
        "seat differs",
    ),
    "a dropped skipped alternate": (  # then nothing says E0000169 was ineligible
        "second_replacement",
        lambda b: b.update({"skipped": []}),
        "in differs: body has None, replay gives 'E0000169'",
    ),
    "another supplementary draw": (
        "second_replacement",
        lambda b: b.update({"supplementary": "D2026-000123-R2"}),
        "supplementary differs",
    ),
    "a skip reason that is no rule's": (
        "second_replacement",
        lambda b: b["skipped"][0].update({"reason": "whim"}),
        "skipped alternate E0000169 has reason 'whim'",
    ),
    "a skip reason of the supplementary snapshot": (
        "second_replacement",
        lambda b: b["skipped"][0].update({"reason": "taken"}),
        "skipped alternate E0000169 has reason 'taken'",
    ),
    "unavailable seats that were free": (
        "replacement",
        lambda b: b.update({"unavailable": []}),
        "seat differs",
    ),
}


@pytest.mark.parametrize("case", sorted(REPLACEMENT_TAMPERING))
def test_replacement_replay_names_the_first_difference(example: dict[str, Any], case: str) -> None:
    key, change, expected = REPLACEMENT_TAMPERING[case]
    prior = [] if key == "replacement" else [_replaced(example, "replacement")]
    body = _replaced(example, key)
    assert draw.replay_replacement(example["snapshot"], example["completed"], prior, body) is None
    change(body)
    message = draw.replay_replacement(example["snapshot"], example["completed"], prior, body)
    assert message is not None and message.startswith(expected), message


def test_a_replacement_of_someone_who_is_not_a_member_is_refused(example: dict[str, Any]) -> None:
    with pytest.raises(draw.DrawError) as caught:
        draw.replace(example["snapshot"], example["completed"], [], "E0000169", "declined", {}, [])
    assert caught.value.code == "invalid:replacement"


def test_supplementary_numbers_follow_every_earlier_supplementary_draw(
    example: dict[str, Any],
) -> None:
    first = _replaced(example, "replacement")
    rep = example["second_replacement"]
    body = draw.replace(
        example["snapshot"], example["completed"], [first], rep["out"], rep["reason"],
        rep["ineligible"], [], supplementary_draws=["D2026-000123-R1", "D2026-000123-R2"],
    )  # fmt: skip
    assert body["supplementary"] == "D2026-000123-R3"
    with pytest.raises(draw.DrawError) as caught:
        draw.replace(
            example["snapshot"], example["completed"], [first], rep["out"], rep["reason"],
            rep["ineligible"], [], supplementary_draws=["D2026-000124-R1"],
        )  # fmt: skip
    assert caught.value.code == "invalid:supplementary"
