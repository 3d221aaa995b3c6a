"""The organisations view: who is registered, the part it says it plays, its current key.

``role`` is the role stated at registration ("" when none was): what an organisation
does in each package is read from that package's facts, not from here.
"""

from __future__ import annotations

from dataclasses import dataclass

from chainledger.adapters.local_store import Table, Transaction, integer, text
from chainledger.domain.events import LedgerEvent
from chainledger.domain.identity import OrganisationEndorsed, RegistrarAppointed, RegistrarWithdrawn
from chainledger.domain.keys import key_fingerprint
from chainledger.domain.organisation import (
    OrganisationRegistered,
    SigningKeyRevoked,
    SigningKeyRotated,
)
from chainledger.projections.base import Writer

organisations_table = Table(
    "view_organisations",
    text("handle"),
    text("name", nullable=False),
    text("role", nullable=False),
    text("sector"),
    text("size"),
    text("identifier"),
    text("key_id", nullable=False),
    text("registered_at", nullable=False),
    integer("rotations", nullable=False),
    integer("revocations", nullable=False),
    # Identity (chainledger.domain.identity): who endorsed it, and whether it is a registrar.
    text("endorsed_by"),
    integer("registrar", nullable=False),
    text("aggregate_id", nullable=False, index=True),
    key=("handle",),
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
        if isinstance(event, OrganisationRegistered):
            writer.insert(
                organisations_table,
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
            aggregate = str(event.originator_id)
            if isinstance(event, OrganisationEndorsed):
                writer.execute(
                    "UPDATE view_organisations SET endorsed_by = ?, identifier = ? "
                    "WHERE aggregate_id = ?", (event.org, event.identifier, aggregate),
                )  # fmt: skip
            else:
                writer.execute(
                    "UPDATE view_organisations SET registrar = ? WHERE aggregate_id = ?",
                    (int(isinstance(event, RegistrarAppointed)), aggregate),
                )
        elif isinstance(event, SigningKeyRotated):
            counter = "revocations" if isinstance(event, SigningKeyRevoked) else "rotations"
            writer.execute(
                f"UPDATE view_organisations SET key_id = ?, {counter} = {counter} + 1 "
                "WHERE handle = ?", (key_fingerprint(event.new_key), event.org),
            )  # fmt: skip

    @staticmethod
    def rows(session: Transaction, role: str | None = None) -> list[OrganisationRow]:
        """Every organisation by handle, or those that stated ``role`` when they registered."""
        where, parameters = ("WHERE role = ?", (role,)) if role else ("", ())
        query = f"{organisations_table.select_sql()} {where} ORDER BY handle"
        return [
            OrganisationRow(**{k: v for k, v in row._mapping.items() if k != "aggregate_id"})
            for row in session.execute(query, parameters)
        ]

