"""An RFC 6962 / RFC 9162 Merkle tree: hashes, proofs, and their verification.

Pure functions over byte strings. The tree over leaves ``D[0:n]`` is

    MTH({})        = SHA-256()
    MTH({d})       = SHA-256(0x00 || d)                       (a leaf hash)
    MTH(D[0:n])    = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))
                     where k is the largest power of two smaller than n.

Proofs are built from ``subtree(lo, hi)``, a function giving MTH(D[lo:hi]); a
store that keeps the hash of every complete, aligned subtree answers it with a
handful of lookups (``perfect_ranges`` says which). Verification follows RFC
9162 sections 2.1.3.2 and 2.1.4.2 and needs nothing but hashes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from chainledger.errors import InvalidValue

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

Subtree = Callable[[int, int], bytes]  # (lo, hi) -> MTH(D[lo:hi])


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH of a whole list of leaf hashes (for small trees and tests)."""
    if not leaf_hashes:
        return EMPTY_ROOT
    level = list(leaf_hashes)
    while len(level) > 1:
        pairs = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        level = pairs + ([level[-1]] if len(level) % 2 else [])
    return level[0]


# -- the right edge: appending leaves one at a time ------------------------------------------


def perfect_ranges(lo: int, hi: int) -> list[tuple[int, int]]:
    """The complete, aligned subtrees (level, index) whose hashes make MTH(D[lo:hi]).

    Node (level, index) covers leaves [index * 2**level, (index + 1) * 2**level).
    For the ranges that proofs ask about, lo is aligned to the largest power of
    two that fits, so the list is at most log2(n) long.
    """
    out: list[tuple[int, int]] = []
    while lo < hi:
        size = hi - lo
        if size & (size - 1) == 0 and lo % size == 0:
            out.append((size.bit_length() - 1, lo // size))
            break
        k = split_point(size)
        if lo % k:
            raise ValueError(f"range [{lo}, {hi}) is not a subtree of an RFC 6962 tree")
        out.append((k.bit_length() - 1, lo // k))
        lo += k
    return out


def combine(hashes: Sequence[bytes]) -> bytes:
    """MTH of a range from the hashes of its ``perfect_ranges``, left to right."""
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def frontier(size: int) -> list[tuple[int, int]]:
    """The complete subtrees on the right edge of a tree of ``size`` leaves, left to right."""
    return perfect_ranges(0, size) if size else []


def append_leaf(
    size: int, edge: list[bytes], new_leaf: bytes
) -> tuple[list[bytes], list[tuple[int, int, bytes]]]:
    """Append one leaf to a tree of ``size`` leaves whose right-edge hashes are ``edge``.

    Returns the new edge and every node completed by this leaf, as
    (level, index, hash), the leaf itself first.
    """
    nodes = [(0, size, new_leaf)]
    edge = list(edge)
    current, index, level = new_leaf, size, 0
    while index & 1:
        current = node_hash(edge.pop(), current)
        index >>= 1
        level += 1
        nodes.append((level, index, current))
    edge.append(current)
    return edge, nodes


def edge_root(edge: Sequence[bytes]) -> bytes:
    """The root of a tree from its right-edge hashes."""
    return combine(edge) if edge else EMPTY_ROOT


# -- proofs ----------------------------------------------------------------------------------


def inclusion_proof(index: int, size: int, subtree: Subtree) -> list[bytes]:
    """PATH(index, D[0:size]) of RFC 6962 section 2.1.1."""
    if not 0 <= index < size:
        raise InvalidValue(f"event {index} is not in a tree of {size}")
    path: list[bytes] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = split_point(hi - lo)
        if index < lo + k:
            path.append(subtree(lo + k, hi))
            hi = lo + k
        else:
            path.append(subtree(lo, lo + k))
            lo += k
    return path[::-1]


def consistency_proof(old: int, new: int, subtree: Subtree) -> list[bytes]:
    """PROOF(old, D[0:new]) of RFC 6962 section 2.1.2."""
    if not 0 < old <= new:
        raise InvalidValue(f"no consistency proof from a tree of {old} to one of {new}")
    proof: list[bytes] = []
    lo, hi, m, whole = 0, new, old, True
    while m != hi - lo:
        k = split_point(hi - lo)
        if m <= k:
            proof.append(subtree(lo + k, hi))
            hi = lo + k
        else:
            proof.append(subtree(lo, lo + k))
            m -= k
            lo += k
            whole = False
    if not whole:
        proof.append(subtree(lo, hi))
    return proof[::-1]


def proof_ranges(kind: str, a: int, b: int) -> list[tuple[int, int]]:
    """The (lo, hi) ranges a proof will ask ``subtree`` for, so a store can fetch them at once."""
    asked: list[tuple[int, int]] = []

    def record(lo: int, hi: int) -> bytes:
        asked.append((lo, hi))
        return b""

    if kind == "inclusion":
        inclusion_proof(a, b, record)
    else:
        consistency_proof(a, b, record)
    return asked


# -- verification ----------------------------------------------------------------------------


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> bool:
    """Whether ``proof`` shows leaf hash ``leaf`` at ``index`` in the tree of ``size`` with ``root``."""
    if not 0 <= index < size or len(leaf) != HASH_SIZE or len(root) != HASH_SIZE:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0 or len(p) != HASH_SIZE:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Whether ``proof`` shows the tree of ``new`` leaves extends the tree of ``old``.

    A tree of 0 leaves proves nothing (every ledger starts with its genesis).
    """
    if old <= 0 or new < old:
        return False
    if old == new:
        return not proof and old_root == new_root
    if not proof or any(len(p) != HASH_SIZE for p in proof):
        return False
    path = list(proof)
    if old & (old - 1) == 0:  # an exact power of two: the old root is a node of the new tree
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
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root
