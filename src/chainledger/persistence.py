"""Where the ledger lives: database URLs and the signed-event mapper.

eventsourcing stores each event as a row (originator id, version, topic,
state). chainledger's mapper makes ``state`` the event's signature followed by
its canonical content, and ``topic`` its stable type name, so the bytes in the
database are exactly the bytes that were signed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Mapper, StoredEvent
from sqlalchemy import select

from chainledger.domain.events import LedgerEvent, decode_event, stored_state
from chainledger.errors import InvalidValue

DEFAULT_LEDGER = "chainledger.db"
APPLICATION_NAME = "ChainLedger"
EVENTS_TABLE = "chainledger_events"


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
