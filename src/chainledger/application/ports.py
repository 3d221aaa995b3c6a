"""The ledger port: what every use case needs from a ledger, and nothing else.

Use cases are written against this protocol, not against a database. The first
implementation is ``application.ledger.LedgerCore`` on the SQL event store
(SQLite or PostgreSQL, through eventsourcing); a ledger reached over the network
implements the same protocol, so that no use case changes with the way the ledger
is reached.

What it promises:

- ``load`` returns a record rebuilt only from events whose signatures, keys,
  signers' standing and hash chain verify (``TamperError`` otherwise), and that
  still hold what this reader verified before;
- ``save_aggregates`` writes every pending event of the records in one atomic
  step, after refusing any its signer may not make (``Refused``), or nothing
  (``Conflict`` when another writer won the race; ``with_retries`` runs a whole
  use case again then);
- ``views`` opens the reader's verified read models, caught up first, refusing
  a package whose rows do not verify;
- ``notifications``, ``rows_at`` and ``rows_of`` read stored rows in the ledger's order, for
  checking (nothing read this way is trusted before it is verified).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from uuid import UUID

if TYPE_CHECKING:
    from chainledger.adapters.crypto import Ed25519Signer, Opener
    from chainledger.adapters.locations import StoredRow
    from chainledger.application.catch_up import ProjectionEngine
    from chainledger.domain.aggregate import LedgerAggregate
    from chainledger.domain.events import LedgerEvent
    from chainledger.domain.facts import PackageFacts
    from chainledger.domain.ledger import Ledger
    from chainledger.domain.organisation import Organisation

T = TypeVar("T")


class EventStore(Protocol):
    """Where the ledger's signed events are kept (``adapters.sql_store.SqlEventStore``)."""

    location: str  # where it is, to name in messages (no password)
    rows: Any  # its reader (``adapters.event_store.EventRows``)
    # The Merkle tree beside the events (``adapters.merkle_store``'s reads: sizes, roots,
    # leaf indexes, proofs); what it gives is checked against the tree the reader verified
    tree: Any
    # Whether the Merkle tree is kept beside the events, for the catch-up to compare with
    # the tree it computes (a service's tree is checked through its signed checkpoints)
    keeps_tree: bool

    def known_ledger_id(self) -> str | None:
        """The id of the ledger here if the store knows it without reading the ledger (a
        service's client: the id it pinned on first contact and checks every genesis it reads
        against), else None (read it from the genesis)."""
        ...
    # The events imported from other ledgers, kept apart from its own (``ledgers``,
    # ``package_events``, ``all_events``: checked again before anything is shown; ``submit``:
    # a bundle sent for a service to import, None where the importer keeps it itself)
    imported: Any

    def append(self, events: Sequence[LedgerEvent]) -> None: ...

    def transaction(self, *, commit: bool = False) -> AbstractContextManager[Any]: ...

    def max_position(self) -> int: ...

    def confirm(self, head: Any) -> None:
        """The reader verified the rows up to ``head`` (a ``VerifiedHead``): raise
        ``SecurityError`` if that contradicts what the store signed."""

    def note_step(self, step: dict[str, Any]) -> None:
        """A signed step is running (``application.steps``): a store that sends events to
        a service sends the steps that made them with them."""

    def drop_step(self, step: dict[str, Any]) -> None:
        """The step was refused before it wrote anything: forget it."""

    def close(self) -> None: ...


class RegistryPort(Protocol):
    """Who may sign what on the ledger (``application.authorisation.Registry``)."""

    def forget(self) -> None: ...

    def genesis(self) -> Ledger: ...

    def has_registrar(self) -> bool: ...

    def is_registrar(self, handle: str, position: int | None, at: datetime | None = None) -> bool: ...

    def require_endorsed(self, handle: str) -> None: ...

    def identifier_holder(self, identifier: str, before: int | None = None) -> str | None: ...


class LedgerPort(Protocol):
    """One ledger, as the use cases see it."""

    notes: list[str]  # what the command noticed but did not refuse, for the person
    store: EventStore  # where its events are (its imported events too)

    @property
    def ledger_id(self) -> UUID: ...

    @property
    def registry(self) -> RegistryPort: ...

    @property
    def projections(self) -> ProjectionEngine: ...

    @property
    def tree(self) -> Any: ...

    # -- records -------------------------------------------------------------------

    def is_initialised(self) -> bool: ...

    def exists(self, aggregate_id: UUID) -> bool: ...

    def load(self, aggregate_id: UUID, *, before: int | None = None) -> Any: ...

    def organisation_record(self, handle: str) -> Organisation: ...

    def organisation_at(self, handle: str, position: int | None) -> Organisation: ...

    def save_aggregates(self, *aggregates: LedgerAggregate) -> list[LedgerEvent]: ...

    def with_retries(self, attempt: Callable[[], T], *, attempts: int = 8) -> T: ...

    def note_step(self, step: dict[str, Any]) -> None: ...

    def drop_step(self, step: dict[str, Any]) -> None: ...

    # -- keys held on this machine ---------------------------------------------------

    def signer(self, handle: str, passphrase: str) -> Ed25519Signer: ...

    def opener(self, handle: str, passphrase: str) -> Opener: ...

    # -- the reader's verified views -------------------------------------------------

    def views(
        self, package: str | None = None, *, whole: bool = False
    ) -> AbstractContextManager[Any]: ...

    def catch_up(self, *, noting: bool = True) -> None: ...

    def references(self, session: Any, package: str | None) -> list[str]: ...

    def package_facts(self, package: str | None, as_of: date) -> list[PackageFacts]: ...

    def all_events(self) -> Iterator[LedgerEvent]: ...

    # -- stored rows, to be verified -------------------------------------------------

    def transaction(self, *, commit: bool = False) -> AbstractContextManager[Any]: ...

    def notifications(self, session: Any, start: int, limit: int) -> list[StoredRow]: ...

    def rows_at(self, session: Any, ids: Iterable[int]) -> list[StoredRow]: ...

    def rows_of(self, session: Any, aggregate_ids: Iterable[UUID]) -> list[StoredRow]: ...
