"""RFC 9162 trees (ledger.md §2): vectors, proofs against a naive reference, the store."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import pytest

from expertdraw.domain.merkle import (
    EMPTY_ROOT,
    MerkleError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    mth,
    root_at,
    root_from_inclusion,
    tree_root,
    verify_consistency,
    verify_inclusion,
)
from expertdraw.domain.merkle_range import ArrayStore, CompactRange, nodes_completed_by_append

VECTORS = json.loads(Path("/work/shared/vectors/merkle.json").read_text())
DATA = [bytes.fromhex(x) for x in VECTORS["leaves_hex"]]


# --- a naive reference written straight from RFC 9162 §2.1.1, §2.1.3.1, §2.1.4.1 -----------


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def naive_mth(leaves: list[bytes]) -> bytes:
    """MTH over leaf hashes."""
    if not leaves:
        return _h(b"")
    if len(leaves) == 1:
        return leaves[0]
    k = _k(len(leaves))
    return _h(b"\x01" + naive_mth(leaves[:k]) + naive_mth(leaves[k:]))


def naive_path(m: int, leaves: list[bytes]) -> list[bytes]:
    if len(leaves) == 1:
        return []
    k = _k(len(leaves))
    if m < k:
        return [*naive_path(m, leaves[:k]), naive_mth(leaves[k:])]
    return [*naive_path(m - k, leaves[k:]), naive_mth(leaves[:k])]


def naive_subproof(m: int, leaves: list[bytes], complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [naive_mth(leaves)]
    k = _k(n)
    if m <= k:
        return [*naive_subproof(m, leaves[:k], complete), naive_mth(leaves[k:])]
    return [*naive_subproof(m - k, leaves[k:], False), naive_mth(leaves[:k])]


def store_of(leaves: list[bytes]) -> ArrayStore:
    store = ArrayStore()
    for leaf in leaves:
        store.append(leaf)
    return store


LEAVES = [leaf_hash(i.to_bytes(4, "big")) for i in range(300)]
STORE = store_of(LEAVES)


# --- published vectors ------------------------------------------------------------------


@pytest.mark.parametrize("size", sorted(VECTORS["roots_by_size"], key=int))
def test_roots_by_size_match_the_published_vectors(size):
    expected = VECTORS["roots_by_size"][size]
    assert mth(DATA[: int(size)]).hex() == expected
    assert naive_mth([leaf_hash(d) for d in DATA[: int(size)]]).hex() == expected


def test_leaf_hash_of_l123456_matches_the_vector():
    assert leaf_hash(b"L123456").hex() == VECTORS["leaf_hash_of_ascii_L123456"]
    assert EMPTY_ROOT.hex() == VECTORS["roots_by_size"]["0"]


def test_inclusion_and_consistency_vectors_are_reproduced_and_verify():
    store = store_of([leaf_hash(d) for d in DATA])
    roots = {int(k): bytes.fromhex(v) for k, v in VECTORS["roots_by_size"].items()}
    for case in VECTORS["inclusion"]:
        index, size = case["index"], case["tree_size"]
        proof = inclusion_proof(index, size, store.get_node)
        assert [p.hex() for p in proof] == case["proof"]
        assert verify_inclusion(leaf_hash(DATA[index]), index, size, proof, roots[size])
    for case in VECTORS["consistency"]:
        old, new = case["old_size"], case["new_size"]
        proof = consistency_proof(old, new, store.get_node)
        assert [p.hex() for p in proof] == case["proof"]
        assert verify_consistency(old, new, roots[old], roots[new], proof)


# --- random pairs against the naive reference -------------------------------------------


def _flip(proof: list[bytes], rng: random.Random) -> list[bytes]:
    i = rng.randrange(len(proof))
    j = rng.randrange(32)
    changed = bytearray(proof[i])
    changed[j] ^= 1 << rng.randrange(8)
    return [*proof[:i], bytes(changed), *proof[i + 1 :]]


def test_inclusion_proofs_for_random_pairs_match_naive_verify_and_fail_when_changed():
    rng = random.Random(9162)
    for _ in range(400):
        size = rng.randint(1, len(LEAVES))
        index = rng.randrange(size)
        proof = inclusion_proof(index, size, STORE.get_node)
        assert proof == naive_path(index, LEAVES[:size])
        root = naive_mth(LEAVES[:size])
        assert verify_inclusion(LEAVES[index], index, size, proof, root)
        assert root_from_inclusion(LEAVES[index], index, size, proof) == root
        if proof:
            assert not verify_inclusion(LEAVES[index], index, size, _flip(proof, rng), root)
            assert not verify_inclusion(LEAVES[index], index, size, proof[:-1], root)
        assert not verify_inclusion(LEAVES[index], index, size, [*proof, root], root)
        other = (index + 1) % size
        if LEAVES[other] != LEAVES[index] and size > 1:
            assert not verify_inclusion(LEAVES[other], index, size, proof, root)


def test_consistency_proofs_for_random_pairs_match_naive_verify_and_fail_when_changed():
    rng = random.Random(6962)
    for _ in range(400):
        new = rng.randint(2, len(LEAVES))
        old = rng.randint(1, new - 1)
        proof = consistency_proof(old, new, STORE.get_node)
        assert proof == naive_subproof(old, LEAVES[:new], True)
        old_root, new_root = naive_mth(LEAVES[:old]), naive_mth(LEAVES[:new])
        assert verify_consistency(old, new, old_root, new_root, proof)
        assert not verify_consistency(old, new, old_root, new_root, _flip(proof, rng))
        assert not verify_consistency(old, new, new_root, old_root, proof)
        assert not verify_consistency(old, new, old_root, new_root, proof[:-1])
        assert not verify_consistency(old, new, old_root, new_root, [*proof, old_root])


def test_consistency_edge_cases():
    root5 = naive_mth(LEAVES[:5])
    assert consistency_proof(5, 5, STORE.get_node) == []
    assert verify_consistency(5, 5, root5, root5, [])
    assert not verify_consistency(5, 5, root5, EMPTY_ROOT, [])
    assert consistency_proof(0, 5, STORE.get_node) == []
    assert verify_consistency(0, 5, EMPTY_ROOT, root5, [])
    assert not verify_consistency(4, 5, naive_mth(LEAVES[:4]), root5, [])
    with pytest.raises(MerkleError):
        consistency_proof(6, 5, STORE.get_node)
    with pytest.raises(MerkleError):
        inclusion_proof(5, 5, STORE.get_node)
    with pytest.raises(MerkleError):
        STORE.get_node(3, 10**6)


# --- the incremental structure ----------------------------------------------------------


def test_compact_range_gives_the_naive_root_at_every_size_and_names_every_node():
    frontier = CompactRange()
    stored: dict[tuple[int, int], bytes] = {}
    for size, leaf in enumerate(LEAVES[:130], start=1):
        for node in nodes_completed_by_append(frontier, leaf):
            stored[(node.level, node.index)] = node.hash
        assert frontier.size == size
        assert frontier.root() == naive_mth(LEAVES[:size])
        assert [n.hash for n in frontier.nodes()] == frontier.hashes
        assert all(stored[(n.level, n.index)] == n.hash for n in frontier.nodes())
    # every stored node is exactly the perfect subtree it names
    for (level, index), h in stored.items():
        assert h == naive_mth(LEAVES[index << level : (index + 1) << level])
    assert len(stored) == sum(130 >> level for level in range(8))


def test_store_roots_and_frontier_restore_match_the_naive_tree():
    for size in (1, 2, 3, 7, 8, 9, 64, 129, 255, 256, 300):
        assert root_at(size, STORE.get_node) == naive_mth(LEAVES[:size])
        restored = CompactRange.from_store(size, STORE.get_node)
        assert restored.root() == naive_mth(LEAVES[:size])
        restored.push(LEAVES[0])
        assert restored.root() == naive_mth([*LEAVES[:size], LEAVES[0]])
    assert tree_root(LEAVES) == naive_mth(LEAVES)


def test_whole_subtrees_join_a_range_like_their_leaves():
    joined, one_by_one = CompactRange(), CompactRange()
    for chunk in range(4):
        part = LEAVES[chunk * 16 : (chunk + 1) * 16]
        joined.push_subtree(4, naive_mth(part))
        for leaf in part:
            one_by_one.push(leaf)
        assert joined.hashes == one_by_one.hashes
    with pytest.raises(MerkleError):
        CompactRange(3, [LEAVES[0]]).push_subtree(1, LEAVES[1])
