"""The ledger's genesis: the one unsigned event, which gives the ledger its id.

Every later event's signature covers this id, so no event can be replayed from
one ledger into another, and changing the id breaks every signature after it.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from chainledger.domain.aggregate import LedgerAggregate
from chainledger.domain.events import LedgerEvent, ledger_event
from chainledger.domain.ids import LEDGER_AGGREGATE_ID


class Ledger(LedgerAggregate):
    """The genesis record of one ledger."""

    name: str

    @classmethod
    def create(cls, ledger_id: UUID, name: str) -> Ledger:
        return cls._create(
            LedgerCreated, id=LEDGER_AGGREGATE_ID, ledger_id=ledger_id, signer=None, name=name
        )


@ledger_event("LedgerCreated")
class LedgerCreated(LedgerEvent):
    creates = Ledger
    name: str

    def apply(self, aggregate: Any) -> None:
        aggregate.name = self.name
