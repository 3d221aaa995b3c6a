"""Pull-based catch-up of read models: one pass, one transaction per batch.

eventsourcing 9.5's ``ProjectionRunner`` needs database subscriptions, which
SQLite lacks, so views are caught up by reading the notification log from the
tracked position and writing the view rows and the new position in the same
transaction: a crash never half-applies an event, and a report never replays
the ledger, it only applies what is new.

All projections are caught up in one pass over the log; rows are inserted in
bulk (executemany) per batch. The tracking position moves by compare-and-set,
so two processes catching up at once cannot both apply the same events: the
slower one rolls back and reads the new position.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, ClassVar, Protocol

from eventsourcing.persistence import IntegrityError as PersistenceIntegrityError
from sqlalchemy import (
    BigInteger,
    Column,
    MetaData,
    String,
    Table,
    delete,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError as SQLIntegrityError
from sqlalchemy.orm import Session

from chainledger.domain.events import LedgerEvent
from chainledger.errors import TamperError
from chainledger.persistence import (
    create_missing_tables,
    failure_reason,
    param_marker,
    read_notifications,
)

metadata = MetaData()

tracking_table = Table(
    "projection_tracking",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("position", BigInteger, nullable=False),
)


class Writer:
    """Collects a batch's inserts for executemany, keeping them in order with other statements.

    Rows go to the DB-API's ``executemany`` with a statement compiled once per
    table: SQLAlchemy's per-row parameter processing would otherwise cost more
    than everything else in a catch-up.
    """

    _statements: ClassVar[dict[tuple[str, str, tuple[str, ...]], str]] = {}

    def __init__(self, session: Session) -> None:
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


class _Raced(Exception):
    """Another process moved a projection's position first."""


class ProjectionEngine:
    """Keeps a set of projections up to date with an application's notification log."""

    def __init__(self, app: Any, projections: Iterable[Projection], *, batch_size: int = 2000):
        self.app = app
        self.projections = list(projections)
        self.batch_size = batch_size
        engine = app.recorder.datastore.engine
        tables = [tracking_table] + [t for p in self.projections for t in p.tables]
        create_missing_tables(engine, tables)

    def _transaction(self) -> Any:
        return self.app.recorder.datastore.transaction(commit=True)

    def positions(self) -> dict[str, int]:
        with self._transaction() as session:
            return self._positions(session)

    @staticmethod
    def positions_in(session: Session) -> dict[str, int]:
        """Each view's position (the last notification id applied), read in ``session``."""
        return ProjectionEngine._positions(session)

    @staticmethod
    def _positions(session: Session) -> dict[str, int]:
        return dict(session.execute(select(tracking_table.c.name, tracking_table.c.position)).all())

    def catch_up(self) -> int:
        """Apply every new event to every projection; returns how many events were read.

        A batch that another process wrote first is read again. A batch that clashes
        with rows already in the views while no other process moved their positions is
        no race: the views are out of step with their positions, and that is reported
        instead of retried for ever.
        """
        read = 0
        while True:
            try:
                count = self._catch_up_batch()
            except _Raced:
                for projection in self.projections:
                    projection.reset()
                continue
            if count == 0:
                return read
            read += count

    def _catch_up_batch(self) -> int:
        positions: dict[str, int] = {}
        try:
            with self._transaction() as session:
                positions = self._positions(session)
                behind = {p.name: positions.get(p.name, 0) for p in self.projections}
                start = min(behind.values()) + 1
                notifications = read_notifications(self.app, session, start, self.batch_size)
                if not notifications:
                    return 0
                writer = Writer(session)
                wanted = [(p, set(p.topics)) for p in self.projections]
                for notification in notifications:
                    readers = [
                        p
                        for p, topics in wanted
                        if behind[p.name] < notification.id
                        and (not topics or notification.topic in topics)
                    ]
                    if not readers:
                        continue
                    event = notification.event()
                    for projection in readers:
                        projection.apply(event, writer)
                writer.flush()
                last = notifications[-1].id
                for projection in self.projections:
                    self._track(session, projection.name, positions.get(projection.name), last)
                return len(notifications)
        except (SQLIntegrityError, PersistenceIntegrityError) as error:
            if self.positions() != positions:
                raise _Raced from None  # another process got there first
            raise TamperError(
                f"the views hold rows beyond the positions they track ({failure_reason(error)}): "
                "rebuild them with: chainledger projections rebuild"
            ) from None

    @staticmethod
    def _track(session: Session, name: str, old: int | None, new: int) -> None:
        if old is None:
            session.execute(tracking_table.insert().values(name=name, position=new))
            return
        moved = session.execute(
            update(tracking_table)
            .where(tracking_table.c.name == name, tracking_table.c.position == old)
            .values(position=new)
        )
        if moved.rowcount != 1:
            raise _Raced

    def rebuild(self) -> int:
        """Empty every view and apply the whole ledger again."""
        with self._transaction() as session:
            for projection in self.projections:
                for table in projection.tables:
                    session.execute(delete(table))
                session.execute(
                    delete(tracking_table).where(tracking_table.c.name == projection.name)
                )
        for projection in self.projections:
            projection.reset()
        return self.catch_up()
