"""What every read model shares: the verified store's metadata its tables join, the
``Projection`` protocol, and the ``Writer`` that batches a catch-up's inserts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Protocol

from sqlalchemy import Table

from chainledger.adapters.event_store import param_marker
from chainledger.adapters.local_store import Transaction, metadata
from chainledger.domain.events import LedgerEvent

__all__ = ["Projection", "Writer", "metadata"]


class Writer:
    """Collects a batch's inserts for executemany, keeping them in order with other statements.

    Rows go to the DB-API's ``executemany`` with a statement compiled once per
    table: SQLAlchemy's per-row parameter processing would otherwise cost more
    than everything else in a catch-up.
    """

    _statements: ClassVar[dict[tuple[str, str, tuple[str, ...]], str]] = {}

    def __init__(self, session: Transaction) -> None:
        self.session = session
        self._pending: dict[Table, list[dict[str, Any]]] = {}

    def insert(self, table: Table, row: dict[str, Any]) -> None:
        self._pending.setdefault(table, []).append(row)

    def execute(self, statement: Any) -> Any:
        """Run an update or a read after everything inserted so far."""
        self.flush()
        return self.session.execute(statement)

    def flush(self) -> None:
        if not self._pending:
            return
        connection = self.session.connection()
        for table, rows in self._pending.items():
            groups: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
            for row in rows:
                groups.setdefault(tuple(row), []).append(tuple(row.values()))
            for keys, values in groups.items():
                connection.exec_driver_sql(self._statement(connection.dialect, table, keys), values)
        self._pending = {}

    @classmethod
    def _statement(cls, dialect: Any, table: Table, keys: tuple[str, ...]) -> str:
        cache_key = (dialect.name, table.name, keys)
        if cache_key not in cls._statements:
            quote = dialect.identifier_preparer.quote
            marker = param_marker(dialect)
            cls._statements[cache_key] = (
                f"INSERT INTO {dialect.identifier_preparer.format_table(table)} "
                f"({', '.join(quote(k) for k in keys)}) VALUES ({', '.join([marker] * len(keys))})"
            )
        return cls._statements[cache_key]


class Projection(Protocol):
    """A read model: its tables, the event types it reads, and how it applies them."""

    name: str
    tables: Sequence[Table]
    topics: Sequence[str]  # empty: every event

    def apply(self, event: LedgerEvent, writer: Writer) -> None: ...

    def reset(self) -> None:
        """Forget anything cached in memory (the tables are being emptied)."""
