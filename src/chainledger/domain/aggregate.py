"""The base of chainledger's aggregates: every change is a signed, chained event."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from chainledger.domain.canonical import GENESIS_HASH
from chainledger.domain.events import LedgerEvent, Signer, seal


class LedgerAggregate:
    """An event-sourced aggregate whose events are signed and hash-chained.

    It satisfies eventsourcing's aggregate protocol (``id``, ``version``,
    ``collect_events()``), so eventsourcing's ``Application`` stores and
    reconstructs it; what differs from ``eventsourcing.domain.Aggregate`` is
    that creating an event also signs it, which needs the signer at hand.
    """

    def __base_init__(self, id: UUID) -> None:
        self.id = id
        self.version = 0
        self.head = GENESIS_HASH
        self.modified_on: datetime | None = None
        self.ledger_id: UUID | None = None
        self._pending: list[LedgerEvent] = []

    @classmethod
    def _create(
        cls,
        event_class: type[LedgerEvent],
        *,
        id: UUID,
        ledger_id: UUID,
        signer: Signer | None,
        **fields: Any,
    ) -> Any:
        event = seal(
            event_class,
            signer,
            ledger_id=ledger_id,
            originator_id=id,
            originator_version=1,
            prev_hash=GENESIS_HASH,
            **fields,
        )
        aggregate = event.mutate(None)
        aggregate._pending.append(event)
        return aggregate

    def _trigger(self, event_class: type[LedgerEvent], signer: Signer, **fields: Any) -> None:
        assert self.ledger_id is not None
        event = seal(
            event_class,
            signer,
            ledger_id=self.ledger_id,
            originator_id=self.id,
            originator_version=self.version + 1,
            prev_hash=self.head,
            not_before=self.modified_on,
            **fields,
        )
        event.mutate(self)
        self._pending.append(event)

    def collect_events(self) -> list[LedgerEvent]:
        """Take the events recorded since the aggregate was loaded or last saved."""
        collected, self._pending = self._pending, []
        return collected

    @property
    def pending_events(self) -> list[LedgerEvent]:
        return list(self._pending)
