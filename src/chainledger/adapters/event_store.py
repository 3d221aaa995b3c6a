"""Where the ledger lives: database URLs and the signed-event mapper.

eventsourcing stores each event as a row (originator id, version, topic,
state). chainledger's mapper makes ``state`` the event's signature followed by
its canonical content, and ``topic`` its stable type name, so the bytes in the
database are exactly the bytes that were signed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any
from uuid import UUID

import sqlalchemy.exc
from eventsourcing.persistence import Mapper, StoredEvent
from sqlalchemy import Table, inspect
from sqlalchemy.schema import sort_tables

from chainledger.adapters.locations import (  # noqa: F401 - also read from here
    APPLICATION_NAME,
    DEFAULT_LEDGER,
    EDITED_INTO_TEXT,
    EVENTS_TABLE,
    StoredRow,
    database_url,
    describe,
    edited_into_text,
    failure_reason,
    sqlite_path,
)
from chainledger.domain.events import LedgerEvent, decode_event, stored_state
from chainledger.errors import LedgerUnavailable, TamperError


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


def param_marker(dialect: Any) -> str:
    """The DB-API placeholder for one parameter: ``?`` for SQLite, ``%s`` for psycopg."""
    markers = {"qmark": "?", "format": "%s", "pyformat": "%s"}
    if dialect.paramstyle not in markers:
        raise NotImplementedError(f"parameter style {dialect.paramstyle}")
    return markers[dialect.paramstyle]


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


def uuid_parameter(table: Any, dialect: Any) -> Any:
    """How a UUID goes to the DB-API driver for the events table's originator id.

    SQLite stores it as text, converted by the column type's bind processor;
    psycopg adapts ``UUID`` objects natively (its text form would be refused by
    the binary protocol the dialect uses).
    """
    if dialect.name == "postgresql":
        return lambda value: value
    return table.c.originator_id.type.bind_processor(dialect) or (lambda value: value)


class EventRows:
    """The one reader of the events table: plain SQL, compiled once, over a database
    engine, so that it serves the application in its own process and the audit's
    workers in theirs (``EventRows.at(url, table)``).

    eventsourcing's readers build ORM objects for each row and leave out the
    notification id, by which keys are judged; these read the same rows with it.
    Nothing read here is trusted: every row is verified before it is used.

    ``as_stored``: on SQLite a value's type follows the value, so bytes edited into text
    (``replace()`` returns text) are read back as the bytes they now are, to be checked
    like any other (the audit does this); without it, such a row fails to read
    (``edited_into_text``) and the application refuses it.
    """

    def __init__(self, engine: Any, table: Table | str, *, as_stored: bool = False) -> None:
        self.engine = engine
        dialect = engine.dialect
        marker = param_marker(dialect)
        name = dialect.identifier_preparer.quote(table if isinstance(table, str) else table.name)
        state = "CAST(state AS BLOB)" if as_stored and dialect.name == "sqlite" else "state"
        columns = f"id, originator_id, originator_version, topic, {state}"
        # (a reader made from a URL, which knows only the table's name, reads by position)
        self._bind = (uuid_parameter(table, dialect) if isinstance(table, Table)
                      else _unbound)  # fmt: skip
        self._events = (f"SELECT id, originator_version, topic, state FROM {name} "
                        f"WHERE originator_id = {marker} ORDER BY originator_version")  # fmt: skip
        self._one = f"SELECT id FROM {name} WHERE originator_id = {marker} LIMIT 1"
        self._at = (f"SELECT id FROM {name} WHERE originator_id = {marker} "
                    f"AND originator_version = {marker}")  # fmt: skip
        self._from = f"SELECT {columns} FROM {name} WHERE id >= {marker} ORDER BY id LIMIT {marker}"
        self._ids = f"SELECT {columns} FROM {name} WHERE id IN ({{}}) ORDER BY id"
        self._records = f"SELECT {columns} FROM {name} WHERE originator_id IN ({{}}) ORDER BY id"
        self._marker = marker
        # Bounds are inclusive: the id after the largest a 64-bit column holds does not fit
        # in one (nor in a parameter bound to it).
        self._range = (
            f"SELECT {columns} FROM {name} WHERE id >= {marker} AND id <= {marker} ORDER BY id"
        )
        # Only the ids at the ends of each range cross to Python; the database steps over
        # the rest of the index.
        self._first_id = f"SELECT MIN(id) FROM {name}"
        self._nth_id = (
            f"SELECT id FROM {name} WHERE id >= {marker} ORDER BY id LIMIT 1 OFFSET {marker}"
        )
        self._next_id = f"SELECT MIN(id) FROM {name} WHERE id > {marker}"
        self._rest = f"SELECT MAX(id), COUNT(*) FROM {name} WHERE id >= {marker}"
        self._topics = f"SELECT {columns} FROM {name} WHERE topic IN ({{}}) ORDER BY id"

    @classmethod
    def at(cls, url: str, table: str) -> EventRows:
        """A reader of its own (a process of the audit's), from the database URL."""
        from sqlalchemy import create_engine

        return cls(create_engine(url), table, as_stored=True)

    # -- one record ----------------------------------------------------------------

    def aggregate(self, aggregate_id: UUID) -> list[tuple[int, int, str, bytes]]:
        """(notification id, version, topic, state) of each of a record's events."""
        try:
            with self.engine.connect() as connection:
                result = connection.exec_driver_sql(self._events, (self._bind(aggregate_id),))
                return [(r[0], r[1], r[2], bytes(r[3])) for r in result]
        except sqlalchemy.exc.SQLAlchemyError as exc:
            if edited_into_text(exc):
                raise TamperError(EDITED_INTO_TEXT, aggregate_id=aggregate_id) from None
            raise LedgerUnavailable(f"cannot read the ledger: {failure_reason(exc)}") from None

    def exists(self, aggregate_id: UUID) -> bool:
        with self.engine.connect() as connection:
            found = connection.exec_driver_sql(self._one, (self._bind(aggregate_id),)).first()
            return found is not None

    def notification_id(self, aggregate_id: UUID, version: int) -> int | None:
        with self.engine.connect() as connection:
            row = connection.exec_driver_sql(self._at, (self._bind(aggregate_id), version)).first()
            return None if row is None else row[0]

    # -- rows in the ledger's order ---------------------------------------------------

    def notifications(self, session: Any, start: int, limit: int) -> list[StoredRow]:
        """Stored rows from notification id ``start`` on, in order, read in ``session``
        (a transaction on the ledger's database)."""
        result = session.connection().exec_driver_sql(self._from, (start, limit))
        return [StoredRow(*_row(r)) for r in result]

    def rows_at(self, session: Any, ids: Iterable[int]) -> list[StoredRow]:
        """The stored rows at these notification ids (those that exist), in order."""
        wanted = sorted(set(ids))
        found: list[StoredRow] = []
        connection = session.connection()
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            query = self._ids.format(", ".join([self._marker] * len(chunk)))
            found += [StoredRow(*_row(r)) for r in connection.exec_driver_sql(query, tuple(chunk))]
        return found

    def rows_of(self, session: Any, aggregate_ids: Iterable[UUID]) -> list[StoredRow]:
        """Every stored row of these records, in order."""
        wanted = sorted(set(aggregate_ids), key=str)
        found: list[StoredRow] = []
        connection = session.connection()
        for start in range(0, len(wanted), 500):
            chunk = [self._bind(a) for a in wanted[start : start + 500]]
            query = self._records.format(", ".join([self._marker] * len(chunk)))
            found += [StoredRow(*_row(r)) for r in connection.exec_driver_sql(query, tuple(chunk))]
        return sorted(found, key=lambda row: row.id)

    def range(self, first: int, last: int) -> list[tuple[int, UUID, int, str, bytes]]:
        """The rows with notification ids from ``first`` to ``last``, both included."""
        with self.engine.connect() as connection:
            return [_row(r) for r in connection.exec_driver_sql(self._range, (first, last))]

    def ranges(self, size: int) -> tuple[list[tuple[int, int]], int]:
        """The log cut into ranges of ``size`` stored rows, as (first id, last id) of each,
        and how many rows there are: each range's ends are found among the ids that exist,
        so the cost follows the number of rows, never the values of their ids."""
        ranges: list[tuple[int, int]] = []
        count = 0
        with self.engine.connect() as connection:

            def one(query: str, *parameters: int) -> Any:
                return connection.exec_driver_sql(query, parameters).first()

            first = one(self._first_id)[0]
            while first is not None:
                last = one(self._nth_id, first, size - 1)
                if last is None:  # the last range holds fewer
                    last_id, rows = one(self._rest, first)
                    ranges.append((first, last_id))
                    count += rows
                    break
                ranges.append((first, last[0]))
                count += size
                first = one(self._next_id, last[0])[0]
        return ranges, count

    def of_types(self, topics: Sequence[str]) -> Iterator[tuple[int, UUID, int, str, bytes]]:
        """Every row of these event types, in order."""
        query = self._topics.format(", ".join([self._marker] * len(topics)))
        with self.engine.connect() as connection:
            for r in connection.exec_driver_sql(query, tuple(topics)):
                yield _row(r)


def _unbound(value: Any) -> Any:
    raise TypeError("this reader knows only the table's name: it reads rows by position")


def _row(r: Any) -> tuple[int, UUID, int, str, bytes]:
    raw = r[1]
    aggregate = (
        raw
        if isinstance(raw, UUID)
        else (UUID(bytes=raw) if isinstance(raw, bytes) else UUID(str(raw)))
    )
    return r[0], aggregate, r[2], r[3], bytes(r[4])
