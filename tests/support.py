"""A small aggregate for tests of the signed-event machinery (not part of the product)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any
from uuid import uuid4

from chainledger.domain.aggregate import LedgerAggregate
from chainledger.domain.events import LedgerEvent, Signer, ledger_event


class Colour(StrEnum):
    RED = "red"


@dataclass(frozen=True)
class Line:
    what: str
    amount: Decimal


class Thing(LedgerAggregate):
    notes: list[str]

    @classmethod
    def start(cls, signer: Signer, note: str) -> Thing:
        return cls._create(
            ThingStarted,
            id=uuid4(),
            ledger_id=signer.ledger_id,
            signer=signer,
            note=note,
            amount=Decimal("1200.50"),
            due=date(2026, 3, 31),
            colour=Colour.RED,
            lines=(Line("rent", Decimal("0.10")),),
            maybe=None,
        )

    def note(self, signer: Signer, text: str) -> None:
        self._trigger(ThingNoted, signer, text=text)


@ledger_event("TestThingStarted")
class ThingStarted(LedgerEvent):
    creates = Thing
    note: str
    amount: Decimal
    due: date
    colour: Colour
    lines: tuple[Line, ...]
    maybe: int | None

    def apply(self, aggregate: Any) -> None:
        aggregate.notes = [self.note]


@ledger_event("TestThingNoted")
class ThingNoted(LedgerEvent):
    text: str

    def apply(self, aggregate: Any) -> None:
        aggregate.notes.append(self.text)
