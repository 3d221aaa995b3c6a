"""Pull-based catch-up of read models, one transaction per batch.

eventsourcing 9.5's ``ProjectionRunner`` needs database subscriptions, which
SQLite lacks, so views are caught up by reading the notification log from the
tracked position and writing the view rows and the new position in the same
transaction: a crash never half-applies an event, and a report never replays
the ledger, it only applies what is new.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from sqlalchemy import BigInteger, Column, MetaData, String, Table, delete, select, update
from sqlalchemy.orm import Session

from chainledger.domain.events import LedgerEvent

metadata = MetaData()

tracking_table = Table(
    "projection_tracking",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("position", BigInteger, nullable=False),
)


class Projection(Protocol):
    """A read model: its tables, the event types it reads, and how it applies them."""

    name: str
    tables: Sequence[Table]
    topics: Sequence[str]

    def apply(self, session: Session, event: LedgerEvent, notification_id: int) -> None: ...


class ProjectionEngine:
    """Keeps a set of projections up to date with an application's notification log."""

    def __init__(self, app: Any, projections: Iterable[Projection], *, batch_size: int = 1000):
        self.app = app
        self.projections = list(projections)
        self.batch_size = batch_size
        engine = app.recorder.datastore.engine
        tables = [tracking_table] + [t for p in self.projections for t in p.tables]
        metadata.create_all(engine, tables=tables, checkfirst=True)

    def _transaction(self) -> Any:
        return self.app.recorder.datastore.transaction(commit=True)

    def position(self, projection: Projection) -> int:
        with self._transaction() as session:
            return self._position(session, projection)

    @staticmethod
    def _position(session: Session, projection: Projection) -> int:
        row = session.execute(
            select(tracking_table.c.position).where(tracking_table.c.name == projection.name)
        ).first()
        return row[0] if row else 0

    def catch_up(self) -> int:
        """Apply every new event to every projection; returns how many were applied."""
        return sum(self._catch_up(p) for p in self.projections)

    def _catch_up(self, projection: Projection) -> int:
        applied = 0
        while True:
            with self._transaction() as session:
                position = self._position(session, projection)
                notifications = self.app.recorder.select_notifications(
                    start=position + 1, limit=self.batch_size, topics=projection.topics
                )
                if not notifications:
                    return applied
                for notification in notifications:
                    event = self.app.mapper.to_domain_event(notification)
                    projection.apply(session, event, notification.id)
                self._track(session, projection, position, notifications[-1].id)
                applied += len(notifications)

    @staticmethod
    def _track(session: Session, projection: Projection, old: int, new: int) -> None:
        if old == 0:
            session.execute(delete(tracking_table).where(tracking_table.c.name == projection.name))
            session.execute(tracking_table.insert().values(name=projection.name, position=new))
        else:
            session.execute(
                update(tracking_table)
                .where(tracking_table.c.name == projection.name)
                .values(position=new)
            )

    def rebuild(self) -> int:
        """Empty every view and apply the whole ledger again."""
        with self._transaction() as session:
            for projection in self.projections:
                for table in projection.tables:
                    session.execute(delete(table))
                session.execute(
                    delete(tracking_table).where(tracking_table.c.name == projection.name)
                )
        return self.catch_up()
