"""Events imported from other ledgers, kept apart from this ledger's own.

An imported event was signed for the ledger it was recorded in, so it cannot
join this ledger's log (its signature names the other ledger's id, and its
record ids may be the same as records here). It is kept exactly as it came —
signature and content bytes — under its origin ledger's id and its position
in that ledger's Merkle tree, with the newest checkpoint seen for that ledger.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    insert,
    select,
    update,
)

metadata = MetaData()

ledgers_table = Table(
    "imported_ledgers",
    metadata,
    Column("ledger_id", String(36), primary_key=True),
    Column("name", Text, nullable=False),
    Column("size", BigInteger, nullable=False),  # of the newest checkpoint seen
    Column("root", LargeBinary(32), nullable=False),
    Column("checkpoint", Text, nullable=False),
    Column("signer", String(64), nullable=False),
    Column("updated_at", String(40), nullable=False),
)

events_table = Table(
    "imported_events",
    metadata,
    Column("ledger_id", String(36), primary_key=True),
    Column("position", BigInteger, primary_key=True),  # leaf index in the origin's tree
    Column("aggregate_id", String(36), nullable=False),
    Column("version", Integer, nullable=False),
    Column("topic", String(64), nullable=False),
    Column("state", LargeBinary, nullable=False),
    Column("package", String(64)),  # None for the genesis and organisations' records
    Column("imported_at", String(40), nullable=False),
    UniqueConstraint("ledger_id", "aggregate_id", "version"),
    Index("imported_events_package", "package"),
)

TABLES = (ledgers_table, events_table)
BATCH = 500


@dataclass(frozen=True)
class HeldLedger:
    ledger_id: str
    name: str
    size: int
    root: bytes
    checkpoint: str
    signer: str
    updated_at: str


@dataclass(frozen=True)
class HeldEvent:
    ledger_id: str
    position: int
    aggregate_id: str
    version: int
    topic: str
    state: bytes
    package: str | None


def ledger(session: Any, ledger_id: str) -> HeldLedger | None:
    row = session.execute(select(ledgers_table).where(ledgers_table.c.ledger_id == ledger_id))
    found = row.first()
    return None if found is None else _ledger(found)


def _ledger(row: Any) -> HeldLedger:
    return HeldLedger(row.ledger_id, row.name, int(row.size), bytes(row.root), row.checkpoint,
                      row.signer, row.updated_at)  # fmt: skip


def _event(row: Any) -> HeldEvent:
    return HeldEvent(row.ledger_id, int(row.position), row.aggregate_id, int(row.version),
                     row.topic, bytes(row.state), row.package)  # fmt: skip


def held(
    session: Any,
    ledger_id: str,
    positions: Sequence[int],
    aggregates: Iterable[str],
    package: str,
) -> list[HeldEvent]:
    """The events already held from ``ledger_id`` at any of ``positions``, in any of
    ``aggregates`` (the records a new bundle carries) or of ``package``."""
    c = events_table.c
    found: dict[int, HeldEvent] = {}
    wanted = sorted(set(aggregates))
    for column, values in ((c.position, list(positions)), (c.aggregate_id, wanted),
                           (c.package, [package])):  # fmt: skip
        for start in range(0, len(values), BATCH):
            query = select(events_table).where(
                c.ledger_id == ledger_id, column.in_(values[start : start + BATCH])
            )
            found.update({e.position: e for e in map(_event, session.execute(query))})
    return list(found.values())


def add(session: Any, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(events_table), list(rows))


def save_ledger(session: Any, ledger: HeldLedger, *, new: bool) -> None:
    values = ledger.__dict__
    if new:
        session.execute(insert(ledgers_table).values(**values))
    else:
        session.execute(
            update(ledgers_table)
            .where(ledgers_table.c.ledger_id == ledger.ledger_id)
            .values(**values)
        )


def ledgers(session: Any) -> list[tuple[HeldLedger, int, list[str]]]:
    """Every ledger events were imported from, with the number of events held and their
    packages."""
    c = events_table.c
    query = select(c.ledger_id, func.count()).group_by(c.ledger_id)
    counts = {ledger_id: int(count) for ledger_id, count in session.execute(query)}
    packages: dict[str, list[str]] = {}
    query = (
        select(c.ledger_id, c.package)
        .where(c.package.is_not(None))
        .group_by(c.ledger_id, c.package)
        .order_by(c.ledger_id, c.package)
    )
    for ledger_id, package in session.execute(query):
        packages.setdefault(ledger_id, []).append(package)
    query = select(ledgers_table).order_by(ledgers_table.c.name, ledgers_table.c.ledger_id)
    return [
        (_ledger(row), counts.get(row.ledger_id, 0), packages.get(row.ledger_id, []))
        for row in session.execute(query)
    ]


def package_events(session: Any, package: str) -> list[HeldEvent]:
    """The imported events of ``package``'s records, from every ledger, in each ledger's order."""
    c = events_table.c
    query = select(events_table).where(c.package == package).order_by(c.ledger_id, c.position)
    return [_event(row) for row in session.execute(query)]


def all_events(session: Any, ledger_id: str) -> list[HeldEvent]:
    c = events_table.c
    query = select(events_table).where(c.ledger_id == ledger_id).order_by(c.position)
    return [_event(row) for row in session.execute(query)]


class HeldEvents:
    """What was imported, read each time in a transaction of the ledger's own database
    (a ledger behind a service reads it through the service: ``remote_store``)."""

    def __init__(self, transaction: Any) -> None:
        self._transaction = transaction

    def ledgers(self) -> list[tuple[HeldLedger, int, list[str]]]:
        with self._transaction() as session:
            return ledgers(session)

    def package_events(self, package: str) -> list[HeldEvent]:
        with self._transaction() as session:
            return package_events(session, package)

    def all_events(self, ledger_id: str) -> list[HeldEvent]:
        with self._transaction() as session:
            return all_events(session, ledger_id)

    def submit(self, document: dict[str, Any]) -> dict[str, Any] | None:
        """(A service's client sends the bundle for the service to import; here the
        importer keeps it itself: nothing to send.)"""
        return None
