"""The unit of work: the records one command (or one import) reads and changes, saved
together, and the check every use case makes of free text."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from uuid import UUID

from chainledger.domain.ids import organisation_id
from chainledger.domain.values import check_handle, check_text
from chainledger.errors import InvalidValue, NotFound, Refused

if TYPE_CHECKING:
    from chainledger.application.ports import LedgerPort
    from chainledger.domain.aggregate import LedgerAggregate
    from chainledger.domain.events import LedgerEvent
    from chainledger.domain.organisation import Organisation

MAX_TEXT = 2000


class UnitOfWork:
    """The aggregates one command (or one import) reads and changes, saved together."""

    def __init__(self, ledger: LedgerPort) -> None:
        self.ledger = ledger
        self._aggregates: dict[UUID, LedgerAggregate] = {}
        self._absent: set[UUID] = set()

    def get(self, aggregate_id: UUID) -> Any:
        """The aggregate (this unit's copy), or None if nothing is recorded under the id."""
        if aggregate_id not in self._aggregates:
            if aggregate_id in self._absent:
                return None
            try:
                self._aggregates[aggregate_id] = self.ledger.load(aggregate_id)
            except NotFound:
                # If someone else records it meanwhile, saving this unit is a conflict.
                self._absent.add(aggregate_id)
                return None
        return self._aggregates[aggregate_id]

    def organisation(self, handle: str, what: str = "organisation") -> Organisation:
        """``handle``'s record (this unit's copy); ``what`` names it in the error."""
        organisation = self.get(organisation_id(check_handle(handle)))
        if organisation is None:
            raise NotFound(f"no {what} with handle {handle!r} in this ledger")
        return organisation

    def add(self, aggregate: LedgerAggregate) -> None:
        if aggregate.id in self._aggregates and self._aggregates[aggregate.id] is not aggregate:
            raise Refused("this record already exists")
        self._absent.discard(aggregate.id)
        self._aggregates[aggregate.id] = aggregate

    def commit(self) -> list[LedgerEvent]:
        """Save every change in one transaction; returns the events written.

        The unit keeps its aggregates, up to date, so it can go on to another batch.
        """
        changed = [a for a in self._aggregates.values() if a.pending_events]
        return self.ledger.save_aggregates(*changed) if changed else []


def text_field(value: Any, what: str, *, required: bool = True, max_length: int = MAX_TEXT) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InvalidValue(f"{what} must not be empty")
        return ""
    if not isinstance(value, str):
        raise InvalidValue(f"{what} must be text, not {type(value).__name__}")
    return check_text(value, what, max_length=max_length)


@contextmanager
def unit_of_work(ledger: LedgerPort, uow: UnitOfWork | None = None) -> Iterator[UnitOfWork]:
    """Use ``uow`` if given (a bulk import), else a fresh unit committed on success."""
    if uow is not None:
        yield uow
        return
    fresh = UnitOfWork(ledger)
    yield fresh
    fresh.commit()
