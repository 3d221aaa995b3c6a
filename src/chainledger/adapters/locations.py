"""Where a ledger lives, and the one-line reason a database gives for failing: what every
command needs before it knows which store it will use (so it loads no database library).

``--ledger`` is a file path (an embedded SQLite file), an SQLAlchemy URL of a database,
or the ``https://`` address of a service (``chainledger.adapters.remote_store``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from uuid import UUID

from chainledger.errors import InvalidValue

if TYPE_CHECKING:
    from chainledger.domain.events import LedgerEvent

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
        from chainledger.domain.events import decode_event, located

        event = decode_event(
            self.state,
            originator_id=self.originator_id,
            originator_version=self.originator_version,
            topic=self.topic,
        )
        return located(event, self.id)
