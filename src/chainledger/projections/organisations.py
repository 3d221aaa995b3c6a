"""The organisations view: who is registered, the part it says it plays, its current key.

``role`` is the role stated at registration ("" when none was): what an organisation
does in each package is read from that package's facts, not from here.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Column, Integer, MetaData, String, Table, select, update

from chainledger.adapters.local_store import Transaction
from chainledger.domain.events import LedgerEvent
from chainledger.domain.identity import OrganisationEndorsed, RegistrarAppointed, RegistrarWithdrawn
from chainledger.domain.keys import key_fingerprint
from chainledger.domain.organisation import (
    OrganisationRegistered,
    SigningKeyRevoked,
    SigningKeyRotated,
)
from chainledger.projections.base import Writer
from chainledger.projections.base import metadata as shared_metadata

metadata: MetaData = shared_metadata

organisations_table = Table(
    "view_organisations",
    metadata,
    Column("handle", String(40), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("role", String(20), nullable=False),
    Column("sector", String(20)),
    Column("size", String(20)),
    Column("identifier", String(80)),
    Column("key_id", String(64), nullable=False),
    Column("registered_at", String(40), nullable=False),
    Column("rotations", Integer, nullable=False, default=0),
    Column("revocations", Integer, nullable=False, default=0),
    # Identity (chainledger.domain.identity): who endorsed it, and whether it is a registrar.
    Column("endorsed_by", String(40)),
    Column("registrar", Integer, nullable=False, default=0),
    Column("aggregate_id", String(36), nullable=False, index=True),
)


@dataclass(frozen=True)
class OrganisationRow:
    handle: str
    name: str
    role: str
    sector: str | None
    size: str | None
    identifier: str | None
    key_id: str
    registered_at: str
    rotations: int
    revocations: int
    endorsed_by: str | None = None
    registrar: int = 0


class OrganisationsProjection:
    name = "organisations"
    tables = (organisations_table,)
    topics = (
        OrganisationRegistered.type_name,
        SigningKeyRotated.type_name,
        SigningKeyRevoked.type_name,
        OrganisationEndorsed.type_name,
        RegistrarAppointed.type_name,
        RegistrarWithdrawn.type_name,
    )

    def reset(self) -> None:
        """Nothing is cached in memory."""

    def apply(self, event: LedgerEvent, writer: Writer) -> None:
        t = organisations_table
        if isinstance(event, OrganisationRegistered):
            writer.insert(
                t,
                {
                    "handle": event.handle,
                    "name": event.name,
                    "role": event.role.value if event.role else "",
                    "sector": event.sector.value if event.sector else None,
                    "size": event.size.value if event.size else None,
                    "identifier": event.identifier,
                    "key_id": event.key_id,
                    "registered_at": event.timestamp.isoformat(timespec="seconds"),
                    "rotations": 0,
                    "revocations": 0,
                    "endorsed_by": None,
                    "registrar": 0,
                    "aggregate_id": str(event.originator_id),
                },
            )
        elif isinstance(event, OrganisationEndorsed | RegistrarAppointed | RegistrarWithdrawn):
            values = ({"endorsed_by": event.org, "identifier": event.identifier}
                      if isinstance(event, OrganisationEndorsed)
                      else {"registrar": int(isinstance(event, RegistrarAppointed))})  # fmt: skip
            writer.execute(
                update(t).where(t.c.aggregate_id == str(event.originator_id)).values(values)
            )
        elif isinstance(event, SigningKeyRotated):
            counter = t.c.revocations if isinstance(event, SigningKeyRevoked) else t.c.rotations
            writer.execute(
                update(t)
                .where(t.c.handle == event.org)
                .values({"key_id": key_fingerprint(event.new_key), counter.name: counter + 1})
            )

    @staticmethod
    def rows(session: Transaction, role: str | None = None) -> list[OrganisationRow]:
        """Every organisation by handle, or those that stated ``role`` when they registered."""
        query = select(organisations_table).order_by(organisations_table.c.handle)
        if role:
            query = query.where(organisations_table.c.role == role)
        return [
            OrganisationRow(**{k: v for k, v in row._mapping.items() if k != "aggregate_id"})
            for row in session.execute(query)
        ]

