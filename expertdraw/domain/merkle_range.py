"""Incremental Merkle trees (ledger.md §2): the compact range and a node store.

:class:`CompactRange` is the frontier a log keeps to append in O(log n) and give its root;
:meth:`CompactRange.append` names the perfect-subtree nodes each append completes, so that a
database can store rows ``(level, index, hash)`` and later serve any root or proof through
``get_node`` (see :mod:`expertdraw.domain.merkle`). :class:`ArrayStore` is such a store in
memory.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from expertdraw.domain.merkle import (
    HASH_SIZE,
    GetNode,
    MerkleError,
    Node,
    fold,
    perfect_nodes,
)

_sha256 = hashlib.sha256


class CompactRange:
    """The perfect-subtree roots ("frontier") of the first ``size`` leaves.

    There is one hash per set bit of ``size``, highest level first, so appending is O(log n)
    (amortised one hash) and the root is a fold of at most 64 hashes. A database keeps the
    tree durable by storing the nodes :meth:`append` returns; :meth:`from_store` rebuilds the
    frontier from them after a restart.
    """

    __slots__ = ("_hashes", "size")

    def __init__(self, size: int = 0, hashes: Iterable[bytes] = ()) -> None:
        """Make a range of ``size`` leaves from its frontier ``hashes`` (highest level first).

        Raises:
            MerkleError: ``merkle:range`` if the number of hashes is not the number of set
                bits of ``size``; ``merkle:hash`` if a hash is not 32 bytes.
        """
        hashes = list(hashes)
        if size < 0 or len(hashes) != size.bit_count():
            raise MerkleError("merkle:range", f"{len(hashes)} hashes cannot be a range of {size}")
        if any(len(h) != HASH_SIZE for h in hashes):
            raise MerkleError("merkle:hash", "hashes must be 32 bytes")
        self.size = size
        self._hashes = hashes

    @classmethod
    def from_store(cls, size: int, get_node: GetNode) -> CompactRange:
        """Rebuild the frontier of ``size`` leaves from stored perfect nodes."""
        return cls(size, (n.hash for n in perfect_nodes(0, size, get_node)))

    def copy(self) -> CompactRange:
        """An independent copy."""
        return CompactRange(self.size, self._hashes)

    @property
    def hashes(self) -> list[bytes]:
        """Frontier hashes, highest level first (a copy)."""
        return list(self._hashes)

    def nodes(self) -> list[Node]:
        """The frontier as :class:`Node` s, highest level first."""
        out, start = [], 0
        for level in range(self.size.bit_length() - 1, -1, -1):
            if self.size >> level & 1:
                out.append(Node(level, start >> level, self._hashes[len(out)]))
                start += 1 << level
        return out

    def push(self, leaf: bytes) -> None:
        """Append one leaf hash (fast path: returns nothing)."""
        size, hashes, h = self.size, self._hashes, leaf
        while size & 1:
            h = _sha256(b"\x01" + hashes.pop() + h).digest()
            size >>= 1
        hashes.append(h)
        self.size += 1

    def append(self, leaf: bytes) -> list[Node]:
        """Append one leaf hash; return every node it completes, the leaf (level 0) first.

        Raises:
            MerkleError: ``merkle:hash`` if ``leaf`` is not 32 bytes.
        """
        if len(leaf) != HASH_SIZE:
            raise MerkleError("merkle:hash", "a leaf hash must be 32 bytes")
        index, level, h = self.size, 0, leaf
        done = [Node(0, index, leaf)]
        hashes = self._hashes
        while index & 1:
            h = _sha256(b"\x01" + hashes.pop() + h).digest()
            index >>= 1
            level += 1
            done.append(Node(level, index, h))
        hashes.append(h)
        self.size += 1
        return done

    def push_subtree(self, level: int, subtree: bytes) -> None:
        """Append a whole perfect subtree of ``2**level`` leaves at an aligned position.

        Raises:
            MerkleError: ``merkle:range`` if ``size`` is not a multiple of ``2**level``.
        """
        if self.size % (1 << level):
            raise MerkleError("merkle:range", f"size {self.size} is not aligned to 2^{level}")
        size, hashes, h = self.size >> level, self._hashes, subtree
        while size & 1:
            h = _sha256(b"\x01" + hashes.pop() + h).digest()
            size >>= 1
        hashes.append(h)
        self.size += 1 << level

    def root(self) -> bytes:
        """``root(size)``: the Merkle Tree Hash of the leaves appended so far."""
        return fold(self._hashes)


def nodes_completed_by_append(frontier: CompactRange, leaf: bytes) -> list[Node]:
    """Append ``leaf`` to ``frontier`` and return the nodes to store (see :meth:`append`)."""
    return frontier.append(leaf)


class ArrayStore:
    """An in-memory node store: one ``bytearray`` of 32-byte hashes per level.

    Keeps every complete node (about ``2n`` hashes, 64 bytes per leaf), for tests, benches
    and tools; a database keeps the same ``(level, index, hash)`` rows.
    """

    def __init__(self) -> None:
        """An empty store."""
        self.levels: list[bytearray] = []
        self.frontier = CompactRange()

    def append(self, leaf: bytes) -> list[Node]:
        """Append a leaf hash and keep the nodes it completes."""
        nodes = self.frontier.append(leaf)
        for level, _index, h in nodes:
            if level == len(self.levels):
                self.levels.append(bytearray())
            self.levels[level] += h
        return nodes

    @property
    def size(self) -> int:
        """Number of leaves."""
        return self.frontier.size

    def get_node(self, level: int, index: int) -> bytes:
        """The hash of complete node ``(level, index)``.

        Raises:
            MerkleError: ``merkle:range`` if that node is not complete.
        """
        start = index * HASH_SIZE
        if level >= len(self.levels) or start + HASH_SIZE > len(self.levels[level]) or index < 0:
            raise MerkleError("merkle:range", f"node ({level}, {index}) is not complete")
        return bytes(self.levels[level][start : start + HASH_SIZE])
