"""The ledger's events in an SQL database (SQLite or PostgreSQL), through eventsourcing.

The first implementation of the event store the ledger core reads and appends to
(``application.ports.EventStore``): eventsourcing's application machinery with
chainledger's mapper (the stored bytes are the signed bytes) and recorder (a save's
rows in one statement, the Merkle tree grown in the same transaction), and
``EventRows`` for every read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy.event
import sqlalchemy.exc
from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError, PersistenceError
from eventsourcing.utils import Environment
from eventsourcing_sqlalchemy.recorders import SQLAlchemyApplicationRecorder

from chainledger.adapters import imported_store, merkle_store
from chainledger.adapters.event_store import (
    APPLICATION_NAME,
    EVENTS_TABLE,
    EventRows,
    SignedEventMapper,
    create_missing_tables,
    describe,
    failure_reason,
)
from chainledger.domain.events import LedgerEvent, located
from chainledger.errors import Conflict, LedgerUnavailable


class SqlEventStore(Application):
    """Events in a database given by its SQLAlchemy URL."""

    name = APPLICATION_NAME
    keeps_tree = True  # the Merkle tree beside the events, in the same database

    def known_ledger_id(self) -> str | None:
        return None  # the genesis is read from the database (see EventStore.known_ledger_id)
    tree = merkle_store  # its reads take a session on this database

    def __init__(self, url: str) -> None:
        self.url = url
        self.location = describe(url)
        try:
            super().__init__(
                {
                    "PERSISTENCE_MODULE": "eventsourcing_sqlalchemy",
                    "SQLALCHEMY_URL": url,
                    "CREATE_TABLE": "y",
                }
            )
            self.rows = EventRows(self.recorder.datastore.engine,
                                  self.recorder.events_record_cls.__table__)  # fmt: skip
            self.imported = imported_store.HeldEvents(self.transaction)
        except (sqlalchemy.exc.SQLAlchemyError, PersistenceError) as exc:
            raise LedgerUnavailable(f"cannot open the ledger at {describe(url)}: {exc}") from None

    def construct_env(self, name: str, env: Any = None) -> Environment:
        # Only what chainledger passes: the user's unrelated environment variables
        # must not reconfigure persistence behind the --ledger option's back.
        return Environment(name, dict(env or {}))

    def construct_mapper(self) -> SignedEventMapper:
        return SignedEventMapper()

    def construct_recorder(self) -> BulkApplicationRecorder:
        recorder = BulkApplicationRecorder(
            datastore=self.factory.datastore,  # type: ignore[attr-defined]
            events_table_name=EVENTS_TABLE,
        )
        recorder.create_table()
        return recorder

    def limit_waits(self, *, lock_ms: int = 5000, statement_ms: int = 30000) -> None:
        """On PostgreSQL, make every connection give up waiting for a lock after ``lock_ms``
        and any statement after ``statement_ms``: a transaction someone left open (or a
        ``LOCK TABLE`` by whoever else can reach the database) then fails a write with a
        plain error instead of hanging every writer. (SQLite waits on its own timeout.)"""
        engine = self.recorder.datastore.engine
        if engine.dialect.name != "postgresql":
            return

        def limited(connection: Any, _record: Any) -> None:
            cursor = connection.cursor()
            cursor.execute(f"SET lock_timeout = {int(lock_ms)}")
            cursor.execute(f"SET statement_timeout = {int(statement_ms)}")
            cursor.close()
            connection.commit()  # a SET in a transaction rolled back later would be undone

        sqlalchemy.event.listen(engine, "connect", limited)
        engine.dispose()  # connections made before now had no limits

    def append(self, events: Sequence[LedgerEvent]) -> None:
        """Write ``events`` in one transaction, in this order, each told its position; or
        nothing (``Conflict`` when another writer recorded into one of their records)."""
        try:
            for recording in self.save(*events):
                located(recording.domain_event, recording.notification.id)
        except IntegrityError:
            raise Conflict(
                "someone else recorded into the same record at the same moment; "
                "nothing was written — run the command again"
            ) from None
        except PersistenceError as exc:
            raise LedgerUnavailable(
                f"the ledger's database failed while recording ({failure_reason(exc)}); "
                "nothing was saved"
            ) from None

    def transaction(self, *, commit: bool = False) -> Any:
        """A transaction on the database (the events and the tree beside them)."""
        return self.recorder.datastore.transaction(commit=commit)

    def max_position(self) -> int:
        """The highest notification id stored (0: none)."""
        return self.recorder.max_notification_id() or 0

    def confirm(self, head: Any) -> None:
        """(Nothing to confirm: the catch-up compares the tree stored beside the events.)"""

    def note_step(self, step: dict[str, Any]) -> None:
        """(Nothing to send: the events are written here.)"""

    def drop_step(self, step: dict[str, Any]) -> None:
        """(Nothing was kept.)"""

    def close(self) -> None:
        """Close the database connections this store holds."""
        super().close()
        engine = getattr(getattr(self.recorder, "datastore", None), "engine", None)
        if engine is not None:
            engine.dispose()


class BulkApplicationRecorder(SQLAlchemyApplicationRecorder):
    """eventsourcing-sqlalchemy's recorder, inserting a save's rows in one statement.

    The library adds one ORM object per event and flushes; this sends the rows
    as one executemany with RETURNING (SQLAlchemy's "insertmanyvalues", on
    SQLite and PostgreSQL alike), in the same transaction, after the same table
    lock, returning the notification ids in order; and it appends the events
    to the ledger's Merkle tree in that transaction.
    """

    def _insert_stored_events(self, session: Any, stored_events: Any, **kwargs: Any) -> Any:
        if not stored_events:
            return []
        table = self.events_record_cls.__table__
        self._lock_table(session)
        rows = [
            {
                "originator_id": e.originator_id,
                "originator_version": e.originator_version,
                "topic": e.topic,
                "state": e.state,
            }
            for e in stored_events
        ]
        statement = table.insert().returning(table.c.id, sort_by_parameter_order=True)
        ids = [row[0] for row in session.execute(statement, rows)]
        # The Merkle tree grows in the same transaction, under the same lock.
        merkle_store.append(
            session, table, [(i, r["state"]) for i, r in zip(ids, rows, strict=True)]
        )
        self._notify_channel(session)
        return ids

    def create_table(self) -> None:
        """The events table, the Merkle tree's tables and those of imported events, each
        made only if missing."""
        create_missing_tables(
            self.datastore.engine, [*self.tables, *merkle_store.TABLES, *imported_store.TABLES]
        )
