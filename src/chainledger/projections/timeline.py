"""A package's timeline, for ``history``: every event, when, who signed (in what role), what.

Events after an aggregate's first do not name their package, so the view
remembers which package each aggregate belongs to. ``history`` lists a package's
events in signed order: by effective date, then signed timestamp (``ts``), and
only then by notification id, which the database assigns and does not sign.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import BigInteger, Column, Integer, String, Table, Text, select

from chainledger.adapters.local_store import Transaction
from chainledger.domain.events import LedgerEvent
from chainledger.domain.facts import signed_time
from chainledger.domain.package import PackageCreated
from chainledger.projections.base import Writer, metadata
from chainledger.projections.supply_chain import PackageParts, package_parts

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
    Column("ts", String(32), nullable=False),  # the signed timestamp, as signed_time writes it
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
    role: str = ""  # the part the signer played in the package, read with the rows


# What a row shows (``ts`` only orders the rows; ``recorded_at`` shows when).
_ROW_COLUMNS = [timeline_table.c[f.name] for f in fields(TimelineRow) if f.name != "role"]


def _with_role(row: Any, parts: PackageParts) -> TimelineRow:
    return TimelineRow(**row._mapping, role=parts.role_of(row.org, row.aggregate_id))


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
                "ts": signed_time(event.timestamp),
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
    def rows(session: Transaction, package: str) -> list[TimelineRow]:
        """The package's events in signed order: effective date, signed timestamp, then id."""
        t = timeline_table
        query = (
            select(*_ROW_COLUMNS)
            .where(t.c.package == package)
            .order_by(t.c["on"], t.c.ts, t.c.notification_id)
        )
        parts = package_parts(session, package)
        return [_with_role(row, parts) for row in session.execute(query)]

    @staticmethod
    def rows_at(session: Transaction, notification_ids: Iterable[int]) -> dict[int, TimelineRow]:
        """The rows of these events, by notification id, in chunks the engines accept."""
        wanted = sorted(set(notification_ids))
        found: dict[int, TimelineRow] = {}
        parts: dict[str, PackageParts] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            query = select(*_ROW_COLUMNS).where(timeline_table.c.notification_id.in_(chunk))
            for row in session.execute(query):
                if row.package not in parts:
                    parts[row.package] = package_parts(session, row.package)
                found[row.notification_id] = _with_role(row, parts[row.package])
        return found
