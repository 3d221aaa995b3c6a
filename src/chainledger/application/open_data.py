"""Use cases of open data: the ledger published as OCDS release and record packages, and
as flat tables.

A package's releases are made from its own events (found through the timeline
view, so nothing else is read), in the ledger's order; see
``projections.ocds`` for which event becomes which release.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from chainledger.domain.ids import LEDGER_AGGREGATE_ID
from chainledger.errors import NotFound, TamperError
from chainledger.projections.ocds import (
    EXTENSIONS,
    OCDS_VERSION,
    Organisation,
    ReleaseBuilder,
    check_ocid_prefix,
    compile_releases,
)
from chainledger.projections.organisations import OrganisationsProjection
from chainledger.projections.timeline import notification_ids

if TYPE_CHECKING:
    from chainledger.application.ports import LedgerPort

BATCH = 1000


class OpenData:
    """OCDS packages of the ledger, from the events this reader verified."""

    def __init__(self, ledger: LedgerPort) -> None:
        self.ledger = ledger

    def ocds(
        self, prefix: str, package: str | None = None, *, compiled: bool = False
    ) -> dict[str, Any]:
        """An OCDS release package of one package (or all), or with ``compiled`` a record
        package holding each package's releases and compiled release."""
        check_ocid_prefix(prefix)
        self.ledger.ledger_id  # noqa: B018 - refuse a database that holds no ledger
        with self.ledger.views(package, whole=package is None) as session:
            references = self.ledger.references(session, package)
            organisations = {
                row.handle: Organisation(row.handle, row.name, row.identifier)
                for row in OrganisationsProjection.rows(session, None)
            }
        if not references:
            raise NotFound("the ledger holds no package to publish yet")
        builder = ReleaseBuilder(prefix, organisations)
        by_package = {ref: builder.releases(ref, self._package_events(ref)) for ref in references}
        head: dict[str, Any] = {
            "uri": f"urn:uuid:{self.ledger.ledger_id}",
            "version": OCDS_VERSION,
            "publishedDate": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "publisher": {"name": self.ledger.load(LEDGER_AGGREGATE_ID).name},
            "extensions": list(EXTENSIONS),
        }
        if compiled:
            records = [
                {"ocid": builder.ocid(ref), "releases": releases,
                 "compiledRelease": compile_releases(releases)}
                for ref, releases in by_package.items() if releases
            ]  # fmt: skip
            return {**head, "records": records}
        return {**head, "releases": [r for releases in by_package.values() for r in releases]}

    def _package_events(self, reference: str) -> Iterator[Any]:
        """The events of ``reference``'s records, in the ledger's order, read in batches, each
        as this reader verified it."""
        with self.ledger.projections.session() as session:
            ids = notification_ids(session, reference)
        for start in range(0, len(ids), BATCH):
            with self.ledger.transaction(commit=False) as session:
                stored = self.ledger.rows_at(session, ids[start : start + BATCH])
            if len(stored) < len(ids[start : start + BATCH]):
                raise TamperError(f"events of package {reference} that were verified here are "
                                  "gone from the ledger: it was rewritten")  # fmt: skip
            for row in self.ledger.projections.checked(stored):
                yield row.event()


def write_json(value: Any, indent: int = 2, _level: int = 0) -> str:
    """JSON text of ``value``, writing ``Decimal`` as a number from its decimal digits (so
    no amount passes through binary floating point)."""
    import json

    pad, inner = " " * indent * _level, " " * indent * (_level + 1)
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{inner}{json.dumps(str(k), ensure_ascii=False)}: "
                 f"{write_json(v, indent, _level + 1)}" for k, v in value.items()]  # fmt: skip
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list | tuple):
        if not value:
            return "[]"
        items = [f"{inner}{write_json(v, indent, _level + 1)}" for v in value]
        return "[\n" + ",\n".join(items) + f"\n{pad}]"
    if isinstance(value, Decimal):
        return format(value.normalize() if value == value.to_integral() else value, "f")
    if isinstance(value, bool) or value is None or isinstance(value, int | str):
        return json.dumps(value, ensure_ascii=False)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
