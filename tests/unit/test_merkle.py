"""The RFC 6962 tree: the reference vectors, and proofs built here checked against them.

The vectors (tests/data/merkle-test-vectors, Apache-2.0, from transparency-dev/merkle)
give a reference tree of 8 leaves with the root of every prefix, and inclusion and
consistency cases of which many must fail (mangled proofs, wrong sizes, swapped
roots, garbage before or after).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainledger.domain.merkle import (
    EMPTY_ROOT,
    append_leaf,
    combine,
    consistency_proof,
    edge_root,
    inclusion_proof,
    leaf_hash,
    perfect_ranges,
    proof_ranges,
    root_of,
    verify_consistency,
    verify_inclusion,
)
from chainledger.errors import InvalidValue

VECTORS = Path(__file__).parent.parent / "data" / "merkle-test-vectors"
REFERENCE = json.loads((VECTORS / "reference-tree.json").read_text())
LEAVES = [leaf_hash(bytes.fromhex(h)) for h in REFERENCE["leaf_inputs_hex"]]
ROOTS = [bytes.fromhex(h) for h in REFERENCE["root_hashes_hex"]]


def b64(value: str | None) -> bytes:
    return base64.b64decode(value or "")


def cases(kind: str) -> list[Any]:
    files = sorted((VECTORS / kind).rglob("*.json"))
    assert len(files) > 50, f"the {kind} vectors are missing"
    return [pytest.param(json.loads(f.read_text()), id=str(f.relative_to(VECTORS))) for f in files]


def subtree_of(leaves: list[bytes]) -> Any:
    return lambda lo, hi: root_of(leaves[lo:hi])


def test_the_reference_roots() -> None:
    assert ROOTS[0] == EMPTY_ROOT == root_of([])
    for n in range(1, len(LEAVES) + 1):
        assert root_of(LEAVES[:n]) == ROOTS[n], n


def test_appending_one_leaf_at_a_time_gives_every_reference_root() -> None:
    edge: list[bytes] = []
    stored: dict[tuple[int, int], bytes] = {}
    for n, leaf in enumerate(LEAVES):
        edge, nodes = append_leaf(n, edge, leaf)
        stored.update({(level, index): h for level, index, h in nodes})
        assert edge_root(edge) == ROOTS[n + 1]
    # Every stored node is the root of the aligned range it names.
    for (level, index), h in stored.items():
        assert h == root_of(LEAVES[index << level : (index + 1) << level])
    assert len(stored) == 2 * len(LEAVES) - 1  # a full tree of 8


@pytest.mark.parametrize("case", cases("inclusion"))
def test_inclusion_vectors(case: dict[str, Any]) -> None:
    ok = verify_inclusion(
        case["leafIdx"], case["treeSize"], b64(case["leafHash"]),
        [b64(p) for p in case["proof"] or []], b64(case["root"]),
    )  # fmt: skip
    assert ok is not case["wantErr"], case["desc"]


@pytest.mark.parametrize("case", cases("consistency"))
def test_consistency_vectors(case: dict[str, Any]) -> None:
    ok = verify_consistency(
        case["size1"], case["size2"], b64(case["root1"]), b64(case["root2"]),
        [b64(p) for p in case["proof"] or []],
    )  # fmt: skip
    assert ok is not case["wantErr"], case["desc"]


def test_proofs_built_here_equal_the_vectors_happy_paths() -> None:
    subtree = subtree_of(LEAVES)
    checked = 0
    for f in sorted((VECTORS / "inclusion").glob("[0-9]*/happy-path.json")):
        case = json.loads(f.read_text())
        if case["treeSize"] <= len(LEAVES):
            proof = inclusion_proof(case["leafIdx"], case["treeSize"], subtree)
            assert [base64.b64encode(p).decode() for p in proof] == (case["proof"] or [])
            checked += 1
    for f in sorted((VECTORS / "consistency").glob("[0-9]*/happy-path.json")):
        case = json.loads(f.read_text())
        if case["size2"] <= len(LEAVES):
            proof = consistency_proof(case["size1"], case["size2"], subtree)
            assert [base64.b64encode(p).decode() for p in proof] == (case["proof"] or [])
            checked += 1
    assert checked >= 8


@settings(max_examples=300, deadline=None)
@given(data=st.data(), size=st.integers(1, 300))
def test_every_proof_built_verifies_and_a_changed_one_does_not(data: Any, size: int) -> None:
    leaves = [leaf_hash(i.to_bytes(4, "big")) for i in range(size)]
    subtree = subtree_of(leaves)
    root = root_of(leaves)
    index = data.draw(st.integers(0, size - 1))
    path = inclusion_proof(index, size, subtree)
    assert verify_inclusion(index, size, leaves[index], path, root)
    assert not verify_inclusion(index, size, leaf_hash(b"other"), path, root)
    if size > 1:
        assert not verify_inclusion((index + 1) % size, size, leaves[index], path, root)
    old = data.draw(st.integers(1, size))
    proof = consistency_proof(old, size, subtree)
    old_root = root_of(leaves[:old])
    assert verify_consistency(old, size, old_root, root, proof)
    if old < size:
        assert not verify_consistency(old, size, root_of([*leaves[: old - 1], leaf_hash(b"x")]),
                                      root, proof)  # fmt: skip
        assert not verify_consistency(old, size, old_root, root, proof[:-1])
    # A store answers every range a proof asks for from its complete subtrees.
    for lo, hi in proof_ranges("inclusion", index, size) + proof_ranges("consistency", old, size):
        parts = perfect_ranges(lo, hi)
        hashes = [root_of(leaves[i << level : (i + 1) << level]) for level, i in parts]
        assert combine(hashes) == root_of(leaves[lo:hi])


def test_impossible_proofs_are_refused() -> None:
    with pytest.raises(InvalidValue, match="not in a tree of 3"):
        inclusion_proof(3, 3, subtree_of(LEAVES))
    with pytest.raises(InvalidValue, match="from a tree of 0 to one of 3"):
        consistency_proof(0, 3, subtree_of(LEAVES))
    with pytest.raises(InvalidValue, match="from a tree of 4 to one of 3"):
        consistency_proof(4, 3, subtree_of(LEAVES))
