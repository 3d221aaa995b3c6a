"""What every read model shares: the ``Projection`` protocol, and the ``Writer`` that batches
a catch-up's inserts. The tables live in the reader's verified store
(``chainledger.adapters.local_store``), an SQLite file, and are written in plain SQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from chainledger.adapters.local_store import Table, Transaction

if TYPE_CHECKING:
    from chainledger.domain.events import LedgerEvent

__all__ = ["Projection", "Writer"]


class Writer:
    """Collects a batch's inserts for ``executemany``, keeping them in order with the reads and
    updates between them (each of those runs after everything inserted so far)."""

    def __init__(self, session: Transaction) -> None:
        self.session = session
        self._pending: dict[Table, list[dict[str, Any]]] = {}

    def insert(self, table: Table, row: dict[str, Any]) -> None:
        self._pending.setdefault(table, []).append(row)

    def first(self, sql: str, parameters: Sequence[Any] = ()) -> Any:
        """The first row a query finds (after everything inserted so far), or None."""
        self.flush()
        return self.session.first(sql, parameters)

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> None:
        """Run an update after everything inserted so far."""
        self.flush()
        self.session.execute(sql, parameters)

    def flush(self) -> None:
        if not self._pending:
            return
        for table, rows in self._pending.items():
            groups: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
            for row in rows:
                groups.setdefault(tuple(row), []).append(tuple(row.values()))
            for keys, values in groups.items():
                self.session.executemany(table.insert_sql(keys), values)
        self._pending = {}


class Projection(Protocol):
    """A read model: its tables, the event types it reads, and how it applies them."""

    name: str
    tables: Sequence[Table]
    topics: Sequence[str]  # empty: every event

    def apply(self, event: LedgerEvent, writer: Writer) -> None: ...

    def reset(self) -> None:
        """Forget anything cached in memory (the tables are being emptied)."""
