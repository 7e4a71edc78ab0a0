"""RFC 9162 Merkle trees (ledger.md §2): hashes, roots, inclusion and consistency proofs.

Every hash is 32 raw bytes. A *node* ``(level, index)`` is the root of the perfect subtree
over leaves ``[index * 2**level, (index + 1) * 2**level)``; level 0 nodes are leaf hashes. A
store that keeps every node as it completes (``merkle_range.CompactRange.append`` names
them) can give any root and any proof in O(log n) look-ups through a ``get_node(level,
index)`` function: the proof code composes the ragged right edge of a tree from perfect
nodes, so nothing is ever rebuilt. Verification follows RFC 9162 §2.1.3.2 and §2.1.4.2
word for word.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
_sha256 = hashlib.sha256

GetNode = Callable[[int, int], bytes]


class MerkleError(ValueError):
    """Bad proof request or malformed input (``merkle:range``, ``merkle:hash``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Node(NamedTuple):
    """A complete perfect subtree: its level, its index at that level, and its hash."""

    level: int
    index: int
    hash: bytes


def leaf_hash(data: bytes) -> bytes:
    """``H(0x00 || data)``, the RFC 9162 leaf hash."""
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``H(0x01 || left || right)``, the RFC 9162 interior node hash."""
    return _sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (``n`` > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def fold(hashes: Sequence[bytes]) -> bytes:
    """The root of a compact range given as its perfect-subtree hashes, leftmost first.

    ``fold(range_a.hashes + range_b.hashes)`` is the root of two adjacent ranges when the
    first one's size is a multiple of the second one's largest subtree.
    """
    if not hashes:
        return EMPTY_ROOT
    root = hashes[-1]
    for h in reversed(hashes[:-1]):
        root = _sha256(b"\x01" + h + root).digest()
    return root


def tree_root(leaves: Iterable[bytes]) -> bytes:
    """The Merkle Tree Hash of a sequence of leaf hashes (O(n) time, O(log n) memory)."""
    stack: list[bytes] = []  # perfect subtree hashes of the leaves so far, as in CompactRange
    for size, leaf in enumerate(leaves):
        h, n = leaf, size
        while n & 1:
            h = _sha256(b"\x01" + stack.pop() + h).digest()
            n >>= 1
        stack.append(h)
    return fold(stack)


def mth(data: Iterable[bytes]) -> bytes:
    """RFC 9162 ``MTH(D[n])`` over raw leaf data."""
    return tree_root(leaf_hash(d) for d in data)


def perfect_nodes(begin: int, end: int, get_node: GetNode) -> list[Node]:
    """Split ``[begin, end)`` into aligned perfect subtrees, largest first, and fetch them.

    ``begin`` must be a multiple of a power of two that is at least ``end - begin``, which
    holds for every subtree RFC 9162's recursion visits.
    """
    out, size = [], end - begin
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            out.append(Node(level, begin >> level, get_node(level, begin >> level)))
            begin += 1 << level
    return out


def subtree_hash(begin: int, end: int, get_node: GetNode) -> bytes:
    """``MTH(D[begin:end])`` composed from stored perfect nodes (O(log n) look-ups)."""
    if end <= begin:
        raise MerkleError("merkle:range", f"empty range [{begin}, {end})")
    return fold([n.hash for n in perfect_nodes(begin, end, get_node)])


def root_at(size: int, get_node: GetNode) -> bytes:
    """``root(size)`` from stored perfect nodes."""
    return EMPTY_ROOT if size == 0 else subtree_hash(0, size, get_node)


def inclusion_proof(index: int, size: int, get_node: GetNode) -> list[bytes]:
    """RFC 9162 §2.1.3.1 ``PATH(index, D[size])`` from stored perfect nodes.

    Raises:
        MerkleError: ``merkle:range`` unless ``0 <= index < size``.
    """
    if not 0 <= index < size:
        raise MerkleError("merkle:range", f"no leaf {index} in a tree of size {size}")
    path: list[bytes] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            path.append(subtree_hash(lo + k, hi, get_node))
            hi = lo + k
        else:
            path.append(get_node(k.bit_length() - 1, lo // k))
            lo += k
    path.reverse()
    return path


def consistency_proof(old: int, new: int, get_node: GetNode) -> list[bytes]:
    """RFC 9162 §2.1.4.1 ``PROOF(old, D[new])`` from stored perfect nodes.

    The proof is empty when ``old == new`` or ``old == 0``.

    Raises:
        MerkleError: ``merkle:range`` unless ``0 <= old <= new``.
    """
    if not 0 <= old <= new:
        raise MerkleError("merkle:range", f"no consistency proof from {old} to {new}")
    if old in (0, new):
        return []
    path: list[bytes] = []
    lo, hi, m, complete = 0, new, old, True
    while True:
        n = hi - lo
        if m == n:
            if not complete:
                path.append(subtree_hash(lo, hi, get_node))
            break
        k = _split(n)
        if m <= k:
            path.append(subtree_hash(lo + k, hi, get_node))
            hi = lo + k
        else:
            path.append(get_node(k.bit_length() - 1, lo // k))
            lo, m, complete = lo + k, m - k, False
    path.reverse()
    return path


def root_from_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """The root implied by an inclusion proof (RFC 9162 §2.1.3.2 steps 1-4).

    Raises:
        MerkleError: ``merkle:range`` if ``index >= size``; ``merkle:proof`` if the proof has
            the wrong length.
    """
    if not 0 <= index < size:
        raise MerkleError("merkle:range", f"no leaf {index} in a tree of size {size}")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise MerkleError("merkle:proof", "inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = _sha256(b"\x01" + p + r).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _sha256(b"\x01" + r + p).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise MerkleError("merkle:proof", "inclusion proof is too short")
    return r


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """True if ``proof`` shows leaf hash ``leaf`` at ``index`` in the tree ``root`` of ``size``."""
    try:
        return root_from_inclusion(leaf, index, size, proof) == root
    except MerkleError:
        return False


def verify_consistency(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2: True if ``proof`` shows tree ``old_root`` is a prefix of ``new_root``.

    Equal sizes need an empty proof and equal roots; ``old == 0`` needs an empty proof and
    ``old_root`` equal to ``H("")``.
    """
    if not 0 <= old <= new:
        return False
    if old == new:
        return not proof and old_root == new_root
    if old == 0:
        return not proof and old_root == EMPTY_ROOT
    if not proof:
        return False
    path = list(proof)
    if old & (old - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = _sha256(b"\x01" + c + fr).digest()
            sr = _sha256(b"\x01" + c + sr).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = _sha256(b"\x01" + sr + c).digest()
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0
