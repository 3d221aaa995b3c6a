"""Where the ledger lives: database URLs and the signed-event mapper.

eventsourcing stores each event as a row (originator id, version, topic,
state). chainledger's mapper makes ``state`` the event's signature followed by
its canonical content, and ``topic`` its stable type name, so the bytes in the
database are exactly the bytes that were signed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import sqlalchemy.exc
from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing_sqlalchemy.recorders import SQLAlchemyApplicationRecorder
from sqlalchemy import Table, inspect, select
from sqlalchemy.schema import sort_tables

from chainledger.adapters import imported_store, merkle_store
from chainledger.domain.events import LedgerEvent, decode_event, located, stored_state
from chainledger.errors import InvalidValue

DEFAULT_LEDGER = "chainledger.db"
APPLICATION_NAME = "ChainLedger"
EVENTS_TABLE = "chainledger_events"


def failure_reason(error: BaseException) -> str:
    """The database driver's own one-line reason for ``error`` (no SQL, no parameters)."""
    cause: BaseException = error
    while True:
        inner = getattr(cause, "orig", None) or cause.__cause__
        if inner is None or inner is cause:
            break
        cause = inner
    lines = str(cause).strip().splitlines()
    reason = lines[0] if lines else type(cause).__name__
    # SQLite quotes the undecodable value itself: keep binary out of messages.
    reason = reason.split(" with text '", 1)[0]
    return "".join(ch if ch.isprintable() else "?" for ch in reason)[:300]


EDITED_INTO_TEXT = (
    "a stored event's bytes were edited into text in the database, behind the application's "
    "back (see which with: chainledger audit verify)"
)


def edited_into_text(error: BaseException) -> bool:
    """Is ``error`` SQLite failing to read a stored event's bytes that someone made text
    (e.g. with ``replace()``): data edited behind the application's back?"""
    return failure_reason(error).startswith("Could not decode to UTF-8 column 'state'")


def create_missing_tables(engine: Any, tables: Sequence[Table]) -> None:
    """Create those of ``tables`` that do not exist yet, asking for the existing names in
    one query (not one per table: every command opens the ledger, and on a server each
    query is a round trip), and creating them in one transaction. If another process
    creates them meanwhile, ours fails whole and the names are read again."""
    for attempt in range(3):
        existing = set(inspect(engine).get_table_names())
        missing = sort_tables([table for table in tables if table.name not in existing])
        if not missing:
            return
        try:
            with engine.begin() as connection:
                for table in missing:
                    table.create(connection, checkfirst=False)
            return
        except sqlalchemy.exc.DBAPIError:
            if attempt == 2:
                raise


def database_url(ledger: str) -> str:
    """An SQLAlchemy URL for ``--ledger``: a file path means an embedded SQLite file."""
    if not ledger or not ledger.strip():
        raise InvalidValue("the ledger location is empty")
    if "://" in ledger:
        return ledger
    return "sqlite:///" + str(Path(ledger).expanduser().resolve())


def sqlite_path(url: str) -> Path | None:
    """The file behind an SQLite URL, or None for other databases."""
    if url.startswith("sqlite:///") and ":memory:" not in url:
        return Path(url.removeprefix("sqlite:///").split("?", 1)[0])
    return None


def param_marker(dialect: Any) -> str:
    """The DB-API placeholder for one parameter: ``?`` for SQLite, ``%s`` for psycopg."""
    markers = {"qmark": "?", "format": "%s", "pyformat": "%s"}
    if dialect.paramstyle not in markers:
        raise NotImplementedError(f"parameter style {dialect.paramstyle}")
    return markers[dialect.paramstyle]


def describe(url: str) -> str:
    """A URL safe to print: the file for SQLite, no password for servers."""
    path = sqlite_path(url)
    if path is not None:
        return str(path)
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.rsplit('@', 1)[-1]}"


class SignedEventMapper(Mapper[UUID]):
    """Stores ``signature || canonical content`` and rebuilds events from it."""

    def __init__(self) -> None:
        # No transcoder, compressor or cipher: the content is already canonical JSON.
        self.transcoder: Any = None
        self.compressor = None
        self.cipher = None

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        event: LedgerEvent = domain_event
        return StoredEvent(
            originator_id=event.originator_id,
            originator_version=event.originator_version,
            topic=event.type_name,
            state=stored_state(event),
        )

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        originator_id = stored_event.originator_id
        if not isinstance(originator_id, UUID):
            originator_id = UUID(str(originator_id))
        return decode_event(
            bytes(stored_event.state),
            originator_id=originator_id,
            originator_version=stored_event.originator_version,
            topic=stored_event.topic,
        )


@dataclass(frozen=True)
class StoredRow:
    """A stored event with its place in the global order."""

    id: int
    originator_id: UUID
    originator_version: int
    topic: str
    state: bytes

    def event(self) -> LedgerEvent:
        """The domain event stored here, knowing its notification id."""
        event = decode_event(
            self.state,
            originator_id=self.originator_id,
            originator_version=self.originator_version,
            topic=self.topic,
        )
        return located(event, self.id)


def read_notifications(app: Any, session: Any, start: int, limit: int) -> list[StoredRow]:
    """Stored events from notification id ``start`` on, in order, read with SQLAlchemy Core.

    eventsourcing's ``select_notifications`` builds ORM objects for each row,
    which costs more than decoding the events; this reads the same table.
    """
    table = app.recorder.events_record_cls.__table__
    query = (
        select(
            table.c.id,
            table.c.originator_id,
            table.c.originator_version,
            table.c.topic,
            table.c.state,
        )
        .where(table.c.id >= start)
        .order_by(table.c.id)
        .limit(limit)
    )
    return [
        StoredRow(row[0], row[1], row[2], row[3], bytes(row[4])) for row in session.execute(query)
    ]


def uuid_parameter(table: Any, dialect: Any) -> Any:
    """How a UUID goes to the DB-API driver for the events table's originator id.

    SQLite stores it as text, converted by the column type's bind processor;
    psycopg adapts ``UUID`` objects natively (its text form would be refused by
    the binary protocol the dialect uses).
    """
    if dialect.name == "postgresql":
        return lambda value: value
    return table.c.originator_id.type.bind_processor(dialect) or (lambda value: value)


class EventTable:
    """Fast reads of one aggregate's rows, in plain SQL compiled once.

    Loading an aggregate is the write path's first step (rules are checked
    against its state), so it avoids SQLAlchemy's per-statement compilation
    and session bookkeeping; results are the same rows ``select_events`` reads,
    with the notification id added.
    """

    def __init__(self, app: Any) -> None:
        table = app.recorder.events_record_cls.__table__
        self.engine = app.recorder.datastore.engine
        dialect = self.engine.dialect
        name = dialect.identifier_preparer.format_table(table)
        marker = param_marker(dialect)
        self._events = (
            f"SELECT id, originator_version, topic, state FROM {name} "
            f"WHERE originator_id = {marker} ORDER BY originator_version"
        )
        self._one = f"SELECT id FROM {name} WHERE originator_id = {marker} LIMIT 1"
        self._at = f"SELECT id FROM {name} WHERE originator_id = {marker} AND originator_version = {marker}"
        self._bind = uuid_parameter(table, dialect)

    def rows(self, aggregate_id: UUID) -> list[tuple[int, int, str, bytes]]:
        with self.engine.connect() as connection:
            result = connection.exec_driver_sql(self._events, (self._bind(aggregate_id),))
            return [(r[0], r[1], r[2], bytes(r[3])) for r in result]

    def exists(self, aggregate_id: UUID) -> bool:
        with self.engine.connect() as connection:
            return (
                connection.exec_driver_sql(self._one, (self._bind(aggregate_id),)).first()
                is not None
            )

    def notification_id(self, aggregate_id: UUID, version: int) -> int | None:
        with self.engine.connect() as connection:
            row = connection.exec_driver_sql(self._at, (self._bind(aggregate_id), version)).first()
            return None if row is None else row[0]


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
