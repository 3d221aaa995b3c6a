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

from chainledger.adapters.local_store import Table, Transaction, integer, placeholders, quoted, text
from chainledger.domain.events import LedgerEvent
from chainledger.domain.facts import signed_time
from chainledger.projections.base import Writer
from chainledger.projections.supply_chain import PackageParts, package_parts

aggregates_table = Table(
    "view_aggregate_packages",
    text("aggregate_id"),
    text("package", nullable=False, index=True),
    key=("aggregate_id",),
)

timeline_table = Table(
    "view_timeline",
    integer("notification_id"),
    text("package", nullable=False, index=True),
    text("recorded_at", nullable=False),
    text("on", nullable=False),
    text("ts", nullable=False),  # the signed timestamp, as signed_time writes it
    text("org", nullable=False),
    text("event_type", nullable=False),
    text("aggregate_id", nullable=False),
    integer("version", nullable=False),
    text("event_hash", nullable=False),
    text("summary", nullable=False),
    key=("notification_id",),
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
_ROW_COLUMNS = ", ".join(quoted(f.name) for f in fields(TimelineRow) if f.name != "role")


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
            e: Any = event
            package = e.reference if e.type_name == "PackageCreated" else None
            package = package or getattr(event, "package", None)
            if package is None:
                return None
            writer.insert(aggregates_table, {"aggregate_id": aggregate, "package": package})
            self._packages[aggregate] = package
            return package
        if aggregate not in self._packages:
            found = writer.first(
                "SELECT package FROM view_aggregate_packages WHERE aggregate_id = ?", (aggregate,)
            )
            if found is None:
                return None
            self._packages[aggregate] = found[0]
        return self._packages[aggregate]

    @staticmethod
    def rows(session: Transaction, package: str) -> list[TimelineRow]:
        """The package's events in signed order: effective date, signed timestamp, then id."""
        query = (f"SELECT {_ROW_COLUMNS} FROM view_timeline WHERE package = ? "
                 'ORDER BY "on", ts, notification_id')  # fmt: skip
        parts = package_parts(session, package)
        return [_with_role(row, parts) for row in session.execute(query, (package,))]

    @staticmethod
    def rows_at(session: Transaction, notification_ids: Iterable[int]) -> dict[int, TimelineRow]:
        """The rows of these events, by notification id, in chunks the engines accept."""
        wanted = sorted(set(notification_ids))
        found: dict[int, TimelineRow] = {}
        parts: dict[str, PackageParts] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            query = (f"SELECT {_ROW_COLUMNS} FROM view_timeline "
                     f"WHERE notification_id IN ({placeholders(chunk)})")  # fmt: skip
            for row in session.execute(query, chunk):
                if row.package not in parts:
                    parts[row.package] = package_parts(session, row.package)
                found[row.notification_id] = _with_role(row, parts[row.package])
        return found


def notification_ids(session: Transaction, package: str, up_to: int | None = None) -> list[int]:
    """The notification ids of the package's events, in the ledger's order (up to ``up_to``)."""
    if up_to is None:
        query, parameters = "", (package,)
    else:
        query, parameters = " AND notification_id <= ?", (package, up_to)
    return session.column(f"SELECT notification_id FROM view_timeline WHERE package = ?{query} "
                          "ORDER BY notification_id", parameters)  # fmt: skip
