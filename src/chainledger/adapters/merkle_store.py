"""The ledger's Merkle tree, kept in the database beside the events.

Every event is a leaf, in the global (notification) order; its leaf data is
the stored state, the signature followed by the canonical content that names
the ledger, aggregate, version and type. The tree grows in the same
transaction that records the events, under the same lock, so it is never
behind or ahead of the log and needs no catch-up. Only complete, aligned
subtrees are stored (leaves in ``merkle_leaves``, the rest in
``merkle_nodes``: about two rows per event), so appending costs a few inserts
and any proof a handful of lookups.

Nothing here is trusted by ``audit verify``: it recomputes the tree from the
events themselves. The stored tree only makes proofs and checkpoints cheap.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    Table,
    insert,
    select,
    update,
)

from chainledger.domain.merkle import (
    append_leaf,
    combine,
    consistency_proof,
    edge_root,
    frontier,
    inclusion_proof,
    leaf_hash,
    perfect_ranges,
    proof_ranges,
)
from chainledger.errors import NotFound

metadata = MetaData()

leaves_table = Table(
    "merkle_leaves",
    metadata,
    Column("idx", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("notification_id", BigInteger, nullable=False, unique=True),
    Column("hash", LargeBinary(32), nullable=False),
    sqlite_with_rowid=False,
)

nodes_table = Table(
    "merkle_nodes",
    metadata,
    Column("level", SmallInteger, primary_key=True),
    Column("idx", BigInteger, primary_key=True),
    Column("hash", LargeBinary(32), nullable=False),
    sqlite_with_rowid=False,
)

head_table = Table(
    "merkle_head",
    metadata,
    Column("id", SmallInteger, primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("position", BigInteger, nullable=False),  # the last notification id in the tree
)

TABLES = (leaves_table, nodes_table, head_table)
BACKLOG_BATCH = 5000
PROOF_BATCH = 500


@dataclass(frozen=True)
class TreeHead:
    size: int
    root: bytes
    position: int  # notification id of the last event in the tree (0 for none)


def _nodes(session: Any, keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    """Stored hashes of complete subtrees, by (level, index), fetched in two queries."""
    keys = set(keys)
    found: dict[tuple[int, int], bytes] = {}
    leaves = sorted(index for level, index in keys if level == 0)
    if leaves:
        query = select(leaves_table.c.idx, leaves_table.c.hash).where(
            leaves_table.c.idx.in_(leaves)
        )
        found.update({(0, row[0]): bytes(row[1]) for row in session.execute(query)})
    inner = {key for key in keys if key[0] > 0}
    if inner:
        # Two IN lists let SQLite seek the primary key (a row-value IN scans the table);
        # the few extra pairs this may match are dropped.
        query = select(nodes_table.c.level, nodes_table.c.idx, nodes_table.c.hash).where(
            nodes_table.c.level.in_(sorted({level for level, _ in inner})),
            nodes_table.c.idx.in_(sorted({index for _, index in inner})),
        )
        for level, index, digest in session.execute(query):
            if (level, index) in inner:
                found[(level, index)] = bytes(digest)
    missing = keys - found.keys()
    if missing:
        raise NotFound(f"the stored Merkle tree lacks {len(missing)} node(s): run audit verify")
    return found


def _head_row(session: Any) -> tuple[int, int] | None:
    row = session.execute(
        select(head_table.c.size, head_table.c.position).where(head_table.c.id == 1)
    ).first()
    return None if row is None else (int(row[0]), int(row[1]))


def stored_size(session: Any) -> tuple[int, int]:
    """(size, last notification id) of the stored tree, as its head row says."""
    return _head_row(session) or (0, 0)


def _right_edge(session: Any, size: int) -> list[bytes]:
    """The stored hashes of the complete subtrees on the right edge of the tree of ``size``."""
    keys = frontier(size)
    found = _nodes(session, keys)
    return [found[k] for k in keys]


def read_head(session: Any) -> TreeHead:
    """The tree as it stands: size, root and the last notification id in it."""
    size, position = _head_row(session) or (0, 0)
    return TreeHead(size, edge_root(_right_edge(session, size)), position)


def append(session: Any, events_table: Table, new: Sequence[tuple[int, bytes]]) -> None:
    """Add events just inserted in this transaction, ``(notification id, state)`` in order,
    after any earlier events the tree lacks (a ledger recorded before the tree existed)."""
    head = _head_row(session)
    size, position = head or (0, 0)
    backlog_end = new[0][0] if new else None
    edge = _right_edge(session, size)
    leaves: list[dict[str, Any]] = []
    nodes: list[dict[str, Any]] = []

    def add(rows: Iterable[tuple[int, bytes]]) -> None:
        nonlocal edge, size, position
        for notification_id, state in rows:
            digest = leaf_hash(state)
            edge, completed = append_leaf(size, edge, digest)
            leaves.append({"idx": size, "notification_id": notification_id, "hash": digest})
            nodes.extend({"level": lv, "idx": ix, "hash": h} for lv, ix, h in completed[1:])
            size += 1
            position = notification_id

    while True:  # the backlog, in batches
        query = select(events_table.c.id, events_table.c.state).where(events_table.c.id > position)
        if backlog_end is not None:
            query = query.where(events_table.c.id < backlog_end)
        rows = [
            (r[0], bytes(r[1])) for r in session.execute(query.order_by("id").limit(BACKLOG_BATCH))
        ]
        add(rows)
        if len(rows) < BACKLOG_BATCH:
            break
    add(new)
    if leaves:
        session.execute(insert(leaves_table), leaves)
    if nodes:
        session.execute(insert(nodes_table), nodes)
    if head is None:
        session.execute(insert(head_table).values(id=1, size=size, position=position))
    else:
        session.execute(
            update(head_table).where(head_table.c.id == 1).values(size=size, position=position)
        )


def _subtrees(session: Any, ranges: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    """MTH(D[lo:hi]) for each range, from stored complete subtrees."""
    parts = {r: perfect_ranges(*r) for r in ranges}
    found = _nodes(session, (key for keys in parts.values() for key in keys))
    return {r: combine([found[k] for k in keys]) for r, keys in parts.items()}


def root_at(session: Any, size: int) -> bytes:
    """The root of the tree of the first ``size`` events."""
    return _subtrees(session, [(0, size)])[(0, size)] if size else edge_root([])


def prove_inclusion(session: Any, index: int, size: int) -> list[bytes]:
    hashes = _subtrees(session, proof_ranges("inclusion", index, size))
    return inclusion_proof(index, size, lambda lo, hi: hashes[(lo, hi)])


def prove_inclusions(session: Any, indexes: Sequence[int], size: int) -> dict[int, list[bytes]]:
    """Audit paths of many leaves in the tree of ``size``, their hashes read in a few batches."""
    paths: dict[int, list[bytes]] = {}
    for start in range(0, len(indexes), PROOF_BATCH):
        batch = indexes[start : start + PROOF_BATCH]
        hashes = _subtrees(
            session, sorted({r for i in batch for r in proof_ranges("inclusion", i, size)})
        )
        for index in batch:
            paths[index] = inclusion_proof(index, size, lambda lo, hi, h=hashes: h[(lo, hi)])
    return paths


def head_at(session: Any, position: int) -> TreeHead:
    """The tree as it stood when the event with notification id ``position`` was its last
    (the events up to ``position`` that are in the tree)."""
    row = session.execute(
        select(leaves_table.c.idx, leaves_table.c.notification_id)
        .where(leaves_table.c.notification_id <= position)
        .order_by(leaves_table.c.notification_id.desc())
        .limit(1)
    ).first()
    if row is None:
        return TreeHead(0, edge_root([]), 0)
    size = int(row[0]) + 1
    return TreeHead(size, root_at(session, size), int(row[1]))


def leaf_indexes(session: Any, notification_ids: Sequence[int]) -> dict[int, int]:
    """Leaf index by notification id, for those of ``notification_ids`` in the tree."""
    found: dict[int, int] = {}
    for start in range(0, len(notification_ids), PROOF_BATCH):
        batch = notification_ids[start : start + PROOF_BATCH]
        query = select(leaves_table.c.notification_id, leaves_table.c.idx).where(
            leaves_table.c.notification_id.in_(batch)
        )
        found.update({int(nid): int(idx) for nid, idx in session.execute(query)})
    return found


def prove_consistency(session: Any, old: int, new: int) -> list[bytes]:
    hashes = _subtrees(session, proof_ranges("consistency", old, new))
    return consistency_proof(old, new, lambda lo, hi: hashes[(lo, hi)])


def leaf_of(session: Any, notification_id: int) -> tuple[int, bytes] | None:
    """(leaf index, leaf hash) of the event with ``notification_id``, if it is in the tree."""
    row = session.execute(
        select(leaves_table.c.idx, leaves_table.c.hash).where(
            leaves_table.c.notification_id == notification_id
        )
    ).first()
    return None if row is None else (int(row[0]), bytes(row[1]))


def leaves_from(session: Any, index: int, limit: int) -> list[int]:
    """The notification ids of the stored leaves from ``index`` on, at most ``limit``."""
    query = (select(leaves_table.c.notification_id).where(leaves_table.c.idx >= index)
             .order_by(leaves_table.c.idx).limit(limit))  # fmt: skip
    return [int(nid) for nid in session.execute(query).scalars()]
