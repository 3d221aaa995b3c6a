"""A package's timeline, for ``history``: every event, when, who signed, what it says.

Events after an aggregate's first do not name their package, so the view
remembers which package each aggregate belongs to.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import BigInteger, Column, Integer, String, Table, Text, select
from sqlalchemy.orm import Session

from chainledger.domain.events import LedgerEvent
from chainledger.domain.package import PackageCreated
from chainledger.projections.engine import Writer, metadata

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
    Column("on", String(10), nullable=False),
    Column("org", String(40), nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("aggregate_id", String(36), nullable=False),
    Column("version", Integer, nullable=False),
    Column("event_hash", String(64), nullable=False),
    Column("summary", Text, nullable=False),
)


@dataclass(frozen=True)
class TimelineRow:
    notification_id: int
    package: str
    recorded_at: str
    on: str
    org: str
    event_type: str
    aggregate_id: str
    version: int
    event_hash: str
    summary: str


class TimelineProjection:
    name = "timeline"
    tables = (aggregates_table, timeline_table)
    topics: tuple[str, ...] = ()  # every event

    def __init__(self) -> None:
        self._packages: dict[str, str] = {}

    def reset(self) -> None:
        self._packages = {}

    def apply(self, event: LedgerEvent, writer: Writer) -> None:
        aggregate = str(event.originator_id)
        package = self._package_of(event, aggregate, writer)
        if package is None:
            return
        writer.insert(
            timeline_table,
            {
                "notification_id": event.notification_id,
                "package": package,
                "recorded_at": event.timestamp.isoformat(timespec="seconds"),
                "on": event.on.isoformat(),
                "org": event.org or "",
                "event_type": event.type_name,
                "aggregate_id": aggregate,
                "version": event.originator_version,
                "event_hash": event.hash,
                "summary": event.summary(),
            },
        )

    def _package_of(self, event: LedgerEvent, aggregate: str, writer: Writer) -> str | None:
        if event.originator_version == 1:
            package = event.reference if isinstance(event, PackageCreated) else None
            package = package or getattr(event, "package", None)
            if package is None:
                return None
            writer.insert(aggregates_table, {"aggregate_id": aggregate, "package": package})
            self._packages[aggregate] = package
            return package
        if aggregate not in self._packages:
            query = select(aggregates_table.c.package).where(
                aggregates_table.c.aggregate_id == aggregate
            )
            found = writer.execute(query).scalar()
            if found is None:
                return None
            self._packages[aggregate] = found
        return self._packages[aggregate]

    @staticmethod
    def rows(session: Session, package: str) -> list[TimelineRow]:
        query = (
            select(timeline_table)
            .where(timeline_table.c.package == package)
            .order_by(timeline_table.c.notification_id)
        )
        return [TimelineRow(**row._mapping) for row in session.execute(query)]

    @staticmethod
    def rows_at(session: Session, notification_ids: Iterable[int]) -> dict[int, TimelineRow]:
        """The rows of these events, by notification id, in chunks the engines accept."""
        wanted = sorted(set(notification_ids))
        found: dict[int, TimelineRow] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            query = select(timeline_table).where(timeline_table.c.notification_id.in_(chunk))
            for row in session.execute(query):
                found[row.notification_id] = TimelineRow(**row._mapping)
        return found
