"""The ledger's genesis: the one unsigned event, which gives the ledger its id.

Every later event's signature covers this id, so no event can be replayed from
one ledger into another, and changing the id breaks every signature after it.

A ledger created with a registrar names it in the genesis (its handle and key
fingerprint) and takes its id from the genesis itself (``anchored_ledger_id``):
the genesis is unsigned, but rewriting its name or registrar changes the id it
must carry, and so breaks every signature in the ledger. A ledger created
before registrars existed has a random id and no registrar: nobody vouches for
its organisations' keys.
"""

from __future__ import annotations

import hashlib
from typing import Any
from uuid import UUID

from chainledger.domain.aggregate import LedgerAggregate
from chainledger.domain.canonical import canonical_json
from chainledger.domain.events import LedgerEvent, ledger_event
from chainledger.domain.ids import LEDGER_AGGREGATE_ID

ANCHORED_VERSION = 8  # the UUID version of ledger ids derived from their genesis (random ids: 4)


def anchored_ledger_id(name: str, registrar: str, registrar_key: str, nonce: str) -> UUID:
    """The id of a ledger whose genesis names ``registrar`` (with its key fingerprint):
    SHA-256 of what the genesis says, as a UUID (RFC 9562 version 8, custom)."""
    statement = canonical_json({"purpose": "chainledger ledger genesis", "name": name,
                                "registrar": registrar, "registrar_key": registrar_key,
                                "nonce": nonce})  # fmt: skip
    value = int.from_bytes(hashlib.sha256(statement).digest()[:16], "big")
    value = (value & ~(0xF << 76)) | (0x8 << 76)  # version 8
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # the RFC variant
    return UUID(int=value)


class Ledger(LedgerAggregate):
    """The genesis record of one ledger."""

    name: str
    registrar: str | None
    registrar_key: str | None

    @classmethod
    def create(cls, ledger_id: UUID, name: str) -> Ledger:
        """A ledger without a registrar (as every ledger was before registrars)."""
        return cls._create(
            LedgerCreated, id=LEDGER_AGGREGATE_ID, ledger_id=ledger_id, signer=None, name=name
        )

    @classmethod
    def create_anchored(cls, name: str, registrar: str, registrar_key: str, nonce: str) -> Ledger:
        """A ledger whose root of identity is ``registrar``'s key, its id derived from it."""
        return cls._create(
            LedgerCreated, id=LEDGER_AGGREGATE_ID,
            ledger_id=anchored_ledger_id(name, registrar, registrar_key, nonce), signer=None,
            name=name, registrar=registrar, registrar_key=registrar_key, nonce=nonce,
        )  # fmt: skip


@ledger_event("LedgerCreated")
class LedgerCreated(LedgerEvent):
    creates = Ledger
    name: str
    registrar: str | None = None
    registrar_key: str | None = None
    nonce: str | None = None

    def anchored(self) -> bool:
        return self.registrar is not None

    def check_anchor(self) -> None:
        """A genesis naming a registrar must carry the id derived from what it says."""
        if self.registrar is None and self.registrar_key is None and self.nonce is None:
            if self.ledger_id.version == ANCHORED_VERSION:
                # An id derived from a genesis that named a registrar: its fields were deleted.
                raise self.tamper("the genesis does not match the ledger's id: its registrar "
                                  "was removed")  # fmt: skip
            return
        if (
            self.registrar is None or self.registrar_key is None or self.nonce is None
            or anchored_ledger_id(self.name, self.registrar, self.registrar_key, self.nonce)
            != self.ledger_id
        ):  # fmt: skip
            raise self.tamper("the genesis does not match the ledger's id: it was rewritten")

    def apply(self, aggregate: Any) -> None:
        self.check_anchor()
        aggregate.name = self.name
        aggregate.registrar = self.registrar
        aggregate.registrar_key = self.registrar_key
