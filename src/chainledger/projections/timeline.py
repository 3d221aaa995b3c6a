"""A package's timeline (for ``history``) and who is party to it.

Every event that belongs to a package gets a row: when it was recorded, who
signed it, its type and a one-line summary, with the ids to look it up. Events
after an aggregate's first do not name their package, so the view remembers
which package each aggregate belongs to.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import BigInteger, Column, Integer, String, Table, Text, select
from sqlalchemy.orm import Session

from chainledger.domain.bid import BidSubmitted
from chainledger.domain.concern import InterestExpressed
from chainledger.domain.events import LedgerEvent
from chainledger.domain.package import PackageAwarded, PackageCreated
from chainledger.domain.subcontract import SubcontractIssued
from chainledger.projections.engine import metadata

aggregates_table = Table(
    "view_aggregate_packages",
    metadata,
    Column("aggregate_id", String(36), primary_key=True),
    Column("package", String(64), nullable=False, index=True),
)

timeline_table = Table(
    "view_timeline",
    metadata,
    Column("notification_id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("package", String(64), nullable=False, index=True),
    Column("recorded_at", String(40), nullable=False),
    Column("org", String(40), nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("aggregate_id", String(36), nullable=False),
    Column("version", Integer, nullable=False),
    Column("summary", Text, nullable=False),
)

parties_table = Table(
    "view_parties",
    metadata,
    Column("package", String(64), primary_key=True),
    Column("handle", String(40), primary_key=True),
    Column("relation", String(20), primary_key=True),
)


@dataclass(frozen=True)
class TimelineRow:
    notification_id: int
    package: str
    recorded_at: str
    org: str
    event_type: str
    aggregate_id: str
    version: int
    summary: str


class TimelineProjection:
    name = "timeline"
    tables = (aggregates_table, timeline_table, parties_table)
    topics: tuple[str, ...] = ()  # every event

    def __init__(self) -> None:
        self._packages: dict[str, str] = {}

    def apply(self, session: Session, event: LedgerEvent, notification_id: int) -> None:
        aggregate = str(event.originator_id)
        package = self._package_of(session, event, aggregate)
        if package is None:
            return
        session.execute(
            timeline_table.insert().values(
                notification_id=notification_id,
                package=package,
                recorded_at=event.timestamp.isoformat(timespec="seconds"),
                org=event.org or "",
                event_type=event.type_name,
                aggregate_id=aggregate,
                version=event.originator_version,
                summary=event.summary(),
            )
        )
        for handle, relation in _parties(event):
            self._add_party(session, package, handle, relation)

    def _package_of(self, session: Session, event: LedgerEvent, aggregate: str) -> str | None:
        if event.originator_version == 1:
            package = (
                getattr(event, "reference", None) if isinstance(event, PackageCreated) else None
            )
            package = package or getattr(event, "package", None)
            if package is None:
                return None
            session.execute(
                aggregates_table.insert().values(aggregate_id=aggregate, package=package)
            )
            self._packages[aggregate] = package
            return package
        if aggregate not in self._packages:
            found = session.execute(
                select(aggregates_table.c.package).where(
                    aggregates_table.c.aggregate_id == aggregate
                )
            ).scalar()
            if found is None:
                return None
            self._packages[aggregate] = found
        return self._packages[aggregate]

    @staticmethod
    def _add_party(session: Session, package: str, handle: str, relation: str) -> None:
        t = parties_table
        exists = session.execute(
            select(t.c.handle).where(
                t.c.package == package, t.c.handle == handle, t.c.relation == relation
            )
        ).first()
        if not exists:
            session.execute(t.insert().values(package=package, handle=handle, relation=relation))

    @staticmethod
    def rows(session: Session, package: str) -> list[TimelineRow]:
        query = (
            select(timeline_table)
            .where(timeline_table.c.package == package)
            .order_by(timeline_table.c.notification_id)
        )
        return [TimelineRow(**row._mapping) for row in session.execute(query)]

    @staticmethod
    def is_party(session: Session, package: str, handle: str) -> bool:
        query = select(parties_table.c.relation).where(
            parties_table.c.package == package, parties_table.c.handle == handle
        )
        return session.execute(query).first() is not None


def _parties(event: LedgerEvent) -> list[tuple[str, str]]:
    if isinstance(event, PackageCreated):
        return [(event.org or "", "commissioner")]
    if isinstance(event, BidSubmitted):
        return [(event.org or "", "bidder")] + [(p.subcontractor, "named") for p in event.promises]
    if isinstance(event, InterestExpressed):
        return [(event.org or "", "interested")]
    if isinstance(event, SubcontractIssued):
        return [(event.subcontractor, "subcontracted")]
    if isinstance(event, PackageAwarded):
        return [(event.prime, "awarded")]
    return []
