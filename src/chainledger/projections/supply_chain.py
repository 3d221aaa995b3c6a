"""The supply-chain read model: each package's facts, in rows keyed by package.

Rows are appended, one (or a few) per event, each with the date it took
effect (``on``), the event's signed timestamp (``ts``, as ``signed_time``
writes it) and its notification id (``nid``) as evidence. Reports load one
package's rows with ``on <= as_of`` and fold them in signed order (``on``, then
``ts``; the notification id, which is not signed, only breaks exact ties);
nothing is updated in place, so answering "as the ledger stood at a date" is a
filter, not a replay. Amounts are stored as decimal text, never as floating point.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Column, Integer, String, Table, Text, literal, select, union

from chainledger.adapters.local_store import Transaction
from chainledger.domain import bid, concern, invoice, package, subcontract
from chainledger.domain.events import LedgerEvent
from chainledger.domain.facts import signed_time
from chainledger.domain.terms import TERM_FIELDS, Terms
from chainledger.projections.base import Writer, metadata

NID = BigInteger().with_variant(Integer(), "sqlite")


def _table(name: str, *columns: Column[Any], key: tuple[str, ...] = ("nid",)) -> Table:
    """A view table: package, nid, on, ts, then its own columns; primary key ``key``."""
    base = [
        Column("package", String(64), nullable=False, index=True),
        Column("nid", NID, nullable=False),
        Column("on", String(10), nullable=False),
        Column("ts", String(32), nullable=False),
    ]
    table = Table(name, metadata, *base, *columns)
    table.append_constraint(_primary_key(table, key))
    return table


def _primary_key(table: Table, key: tuple[str, ...]) -> Any:
    from sqlalchemy import PrimaryKeyConstraint

    return PrimaryKeyConstraint(*(table.c[name] for name in key))


def _terms_columns() -> list[Column[Any]]:
    return [Column(name, String(200)) for name in TERM_FIELDS]


packages = _table(
    "sc_packages",
    Column("commissioner", String(40), nullable=False),
    Column("title", String(200), nullable=False),
    Column("area", String(200), nullable=False),
    Column("value", String(20), nullable=False),
    Column("start", String(10), nullable=False),
    Column("end", String(10), nullable=False),
    Column("payment_model", String(30), nullable=False),
    Column("at_risk_pct", String(10), nullable=False),
)
package_changes = _table(
    "sc_package_changes",
    Column("kind", String(10), nullable=False),  # award, vary, close
    Column("prime", String(40)),
    Column("price", String(20)),
    Column("previous", String(20)),
    Column("value", String(20)),
    Column("reason", Text),
)
kpis = _table(
    "sc_kpis",
    Column("name", String(100), nullable=False),
    Column("unit", String(50), nullable=False),
    Column("target", String(30)),
    Column("acceptable", String(30)),
    Column("direction", String(10), nullable=False),
    Column("cadence", String(10), nullable=False),
)
bids = _table(
    "sc_bids",
    Column("prime", String(40), nullable=False),
    Column("price", String(20), nullable=False),
    Column("self_delivery_pct", String(10), nullable=False),
)
promises = _table(
    "sc_promises",
    Column("prime", String(40), nullable=False),
    Column("subcontractor", String(40), nullable=False),
    *_terms_columns(),
    key=("nid", "subcontractor"),
)
bid_answers = _table(
    "sc_bid_answers",
    Column("kind", String(20), nullable=False),  # acknowledged, disputed, withdrawn, explained
    Column("prime", String(40), nullable=False),
    Column("subcontractor", String(40)),
    Column("reason", String(40)),
    Column("note", Text),
)
interests = _table(
    "sc_interests",
    Column("prime", String(40), nullable=False),
    Column("subcontractor", String(40), nullable=False),
)
subcontracts = _table(
    "sc_subcontracts",
    Column("prime", String(40), nullable=False),
    Column("subcontractor", String(40), nullable=False),
    *_terms_columns(),
)
subcontract_changes = _table(
    "sc_subcontract_changes",
    Column("subcontractor", String(40), nullable=False),
    Column("kind", String(20), nullable=False),  # accepted, proposed, agreed, disputed, failing
    Column("number", Integer),
    Column("reason", Text),
    *_terms_columns(),
)
referrals = _table(
    "sc_referrals",
    Column("subcontractor", String(40), nullable=False),
    Column("kind", String(10), nullable=False),  # sent, confirmed
    Column("period", String(10), nullable=False),
    Column("count", Integer, nullable=False),
)
invoices = _table(
    "sc_invoices",
    Column("subcontractor", String(40), nullable=False),
    Column("prime", String(40), nullable=False),
    Column("reference", String(64), nullable=False),
    Column("amount", String(20), nullable=False),
    Column("invoice_date", String(10), nullable=False),
    Column("period", String(10), nullable=False),
)
payments = _table(
    "sc_payments",
    Column("subcontractor", String(40), nullable=False),
    Column("reference", String(64), nullable=False),
    Column("kind", String(10), nullable=False),  # paid, confirmed
    Column("amount", String(20), nullable=False),
    Column("date", String(10), nullable=False),
)
kpi_reports = _table(
    "sc_kpi_reports",
    Column("subcontractor", String(40), nullable=False),
    Column("kind", String(10), nullable=False),  # reported, attested
    Column("kpi", String(100), nullable=False),
    Column("period", String(10), nullable=False),
    Column("actual", String(30)),
)
concerns = _table(
    "sc_concerns",
    Column("subcontractor", String(40), nullable=False),
    Column("reference", String(64), nullable=False),
    Column("kind", String(10), nullable=False),  # raised, answered
    Column("subject", String(200)),
)
contexts = Table(
    "sc_aggregates",
    metadata,
    Column("aggregate_id", String(36), primary_key=True),
    Column("package", String(64), nullable=False),
    Column("prime", String(40)),
    Column("subcontractor", String(40)),
    Column("reference", String(64)),
)

TABLES = (
    packages, package_changes, kpis, bids, promises, bid_answers, interests, subcontracts,
    subcontract_changes, referrals, invoices, payments, kpi_reports, concerns,
)  # fmt: skip


def _terms(terms: Terms) -> dict[str, str]:
    return {name: str(value) for name, value in terms.as_json().items()}


class SupplyChainProjection:
    """Appends each contracting event's facts to the ``sc_*`` tables."""

    name = "supply_chain"
    tables = (*TABLES, contexts)
    topics: tuple[str, ...] = ()  # every contracting event (organisation events are skipped)

    def __init__(self) -> None:
        self._contexts: dict[str, dict[str, Any]] = {}
        self._handlers: dict[type, Callable[[Any, dict[str, Any], Writer], None]] = {
            package.PackageCreated: self._package_created,
            package.KpiDefined: self._kpi_defined,
            package.PackageAwarded: self._package_changed,
            package.ContractValueVaried: self._package_changed,
            package.PackageClosed: self._package_changed,
            bid.BidSubmitted: self._bid_submitted,
            bid.BidWithdrawn: self._bid_answered,
            bid.PromiseAcknowledged: self._bid_answered,
            bid.PromiseDisputed: self._bid_answered,
            bid.ShortfallExplained: self._bid_answered,
            concern.InterestExpressed: self._interest,
            subcontract.SubcontractIssued: self._subcontract_issued,
            subcontract.SubcontractAccepted: self._subcontract_changed,
            subcontract.VariationProposed: self._subcontract_changed,
            subcontract.VariationAccepted: self._subcontract_changed,
            subcontract.VariationDisputed: self._subcontract_changed,
            subcontract.FailingProviderProcessStarted: self._subcontract_changed,
            subcontract.ReferralsSent: self._referrals,
            subcontract.ReferralsConfirmed: self._referrals,
            subcontract.PerformanceReported: self._kpi_report,
            subcontract.PerformanceAttested: self._kpi_report,
            invoice.InvoiceSubmitted: self._invoice,
            invoice.PaymentRecorded: self._payment,
            invoice.PaymentConfirmed: self._payment,
            concern.ConcernRaised: self._concern,
            concern.ConcernResponded: self._concern,
        }

    def reset(self) -> None:
        self._contexts = {}

    def apply(self, event: LedgerEvent, writer: Writer) -> None:
        handler = self._handlers.get(type(event))
        if handler is None:
            return
        context = self._context(event, writer)
        if context is None:
            return
        row = {
            "package": context["package"],
            "nid": event.notification_id,
            "on": event.on.isoformat(),
            "ts": signed_time(event.timestamp),
        }
        handler(event, {**context, "row": row}, writer)

    # -- which package (and subcontractor, invoice…) an event belongs to ----------

    def _context(self, event: LedgerEvent, writer: Writer) -> dict[str, Any] | None:
        aggregate = str(event.originator_id)
        if event.originator_version == 1:
            context = _creation_context(event)
            if context is None:
                return None
            writer.insert(contexts, {"aggregate_id": aggregate, **context})
            self._contexts[aggregate] = context
            return context
        if aggregate not in self._contexts:
            found = writer.execute(
                select(contexts).where(contexts.c.aggregate_id == aggregate)
            ).first()
            if found is None:
                return None
            self._contexts[aggregate] = {
                k: v for k, v in found._mapping.items() if k != "aggregate_id"
            }
        return self._contexts[aggregate]

    # -- handlers: one row per fact ------------------------------------------------

    @staticmethod
    def _package_created(e: Any, c: dict[str, Any], w: Writer) -> None:
        w.insert(packages, {
            **c["row"], "commissioner": e.org, "title": e.title, "area": e.area,
            "value": str(e.value), "start": e.start.isoformat(), "end": e.end.isoformat(),
            "payment_model": e.payment_model.value, "at_risk_pct": str(e.at_risk_pct),
        })  # fmt: skip

    @staticmethod
    def _kpi_defined(e: Any, c: dict[str, Any], w: Writer) -> None:
        k = e.kpi
        w.insert(kpis, {
            **c["row"], "name": k.name, "unit": k.unit,
            "target": None if k.target is None else str(k.target),
            "acceptable": None if k.acceptable is None else str(k.acceptable),
            "direction": k.direction.value, "cadence": k.cadence,
        })  # fmt: skip

    @staticmethod
    def _package_changed(e: Any, c: dict[str, Any], w: Writer) -> None:
        row = {**c["row"], "prime": None, "price": None, "previous": None, "value": None,
               "reason": None}  # fmt: skip
        if isinstance(e, package.PackageAwarded):
            row.update(kind="award", prime=e.prime, price=str(e.price))
        elif isinstance(e, package.ContractValueVaried):
            row.update(kind="vary", previous=str(e.previous), value=str(e.value), reason=e.reason)
        else:
            row.update(kind="close", reason=e.reason)
        w.insert(package_changes, row)

    @staticmethod
    def _bid_submitted(e: Any, c: dict[str, Any], w: Writer) -> None:
        w.insert(bids, {**c["row"], "prime": e.org, "price": str(e.price),
                        "self_delivery_pct": str(e.self_delivery_pct)})  # fmt: skip
        for p in e.promises:
            w.insert(promises, {**c["row"], "prime": e.org, "subcontractor": p.subcontractor,
                                **_terms(p.terms)})  # fmt: skip

    @staticmethod
    def _bid_answered(e: Any, c: dict[str, Any], w: Writer) -> None:
        row = {**c["row"], "prime": c["prime"], "subcontractor": e.org, "reason": None,
               "note": None}  # fmt: skip
        if isinstance(e, bid.PromiseAcknowledged):
            row.update(kind="acknowledged")
        elif isinstance(e, bid.PromiseDisputed):
            row.update(kind="disputed", reason=e.reason.value, note=e.note)
        elif isinstance(e, bid.ShortfallExplained):
            row.update(kind="explained", subcontractor=e.subcontractor, note=e.explanation)
        else:
            row.update(kind="withdrawn", subcontractor=None, note=e.reason)
        w.insert(bid_answers, row)

    @staticmethod
    def _interest(e: Any, c: dict[str, Any], w: Writer) -> None:
        w.insert(interests, {**c["row"], "prime": e.prime, "subcontractor": e.org})

    @staticmethod
    def _subcontract_issued(e: Any, c: dict[str, Any], w: Writer) -> None:
        w.insert(subcontracts, {**c["row"], "prime": e.org, "subcontractor": e.subcontractor,
                                **_terms(e.terms)})  # fmt: skip

    @staticmethod
    def _subcontract_changed(e: Any, c: dict[str, Any], w: Writer) -> None:
        row: dict[str, Any] = {**c["row"], "subcontractor": c["subcontractor"], "number": None,
                               "reason": None, **dict.fromkeys(TERM_FIELDS)}  # fmt: skip
        if isinstance(e, subcontract.SubcontractAccepted):
            row.update(kind="accepted")
        elif isinstance(e, subcontract.VariationProposed):
            row.update(kind="proposed", number=e.number, reason=e.reason, **_terms(e.terms))
        elif isinstance(e, subcontract.VariationAccepted):
            row.update(kind="agreed", number=e.number)
        elif isinstance(e, subcontract.VariationDisputed):
            row.update(kind="disputed", number=e.number, reason=e.reason)
        else:
            row.update(kind="failing", reason=e.reason)
        w.insert(subcontract_changes, row)

    @staticmethod
    def _referrals(e: Any, c: dict[str, Any], w: Writer) -> None:
        kind = "sent" if isinstance(e, subcontract.ReferralsSent) else "confirmed"
        w.insert(referrals, {**c["row"], "subcontractor": c["subcontractor"], "kind": kind,
                             "period": e.period, "count": e.count})  # fmt: skip

    @staticmethod
    def _kpi_report(e: Any, c: dict[str, Any], w: Writer) -> None:
        reported = isinstance(e, subcontract.PerformanceReported)
        w.insert(kpi_reports, {
            **c["row"], "subcontractor": c["subcontractor"],
            "kind": "reported" if reported else "attested", "kpi": e.kpi, "period": e.period,
            "actual": str(e.actual) if reported else None,
        })  # fmt: skip

    @staticmethod
    def _invoice(e: Any, c: dict[str, Any], w: Writer) -> None:
        w.insert(invoices, {
            **c["row"], "subcontractor": e.org, "prime": e.prime, "reference": e.reference,
            "amount": str(e.amount), "invoice_date": e.invoice_date.isoformat(), "period": e.period,
        })  # fmt: skip

    @staticmethod
    def _payment(e: Any, c: dict[str, Any], w: Writer) -> None:
        paid = isinstance(e, invoice.PaymentRecorded)
        w.insert(payments, {
            **c["row"], "subcontractor": c["subcontractor"], "reference": c["reference"],
            "kind": "paid" if paid else "confirmed", "amount": str(e.amount),
            "date": (e.paid_on if paid else e.received_on).isoformat(),
        })  # fmt: skip

    @staticmethod
    def _concern(e: Any, c: dict[str, Any], w: Writer) -> None:
        raised = isinstance(e, concern.ConcernRaised)
        w.insert(concerns, {
            **c["row"], "subcontractor": c["subcontractor"], "reference": c["reference"],
            "kind": "raised" if raised else "answered", "subject": e.subject if raised else None,
        })  # fmt: skip


def _creation_context(event: LedgerEvent) -> dict[str, Any] | None:
    """Package, prime, subcontractor and reference from an aggregate's first event."""
    e: Any = event
    if isinstance(e, package.PackageCreated):
        return {"package": e.reference, "prime": None, "subcontractor": None, "reference": None}
    if isinstance(e, bid.BidSubmitted):
        return {"package": e.package, "prime": e.org, "subcontractor": None, "reference": None}
    if isinstance(e, subcontract.SubcontractIssued):
        return {"package": e.package, "prime": e.org, "subcontractor": e.subcontractor,
                "reference": None}  # fmt: skip
    if isinstance(e, invoice.InvoiceSubmitted):
        return {"package": e.package, "prime": e.prime, "subcontractor": e.org,
                "reference": e.reference}  # fmt: skip
    if isinstance(e, concern.ConcernRaised):
        return {"package": e.package, "prime": None, "subcontractor": e.org,
                "reference": e.reference}  # fmt: skip
    if isinstance(e, concern.InterestExpressed):
        return {"package": e.package, "prime": e.prime, "subcontractor": e.org, "reference": None}
    return None


def parts_in(session: Transaction, package_ref: str, handle: str) -> set[str]:
    """The parts ``handle`` took in a package besides commissioning it: ``prime`` where it
    bid, ``subcontractor`` where it was named, offered its service or was subcontracted."""
    query = union(
        select(bids.c.prime.label("handle"), literal("prime").label("part")).where(
            bids.c.package == package_ref, bids.c.prime == handle
        ),
        *(
            select(table.c.subcontractor, literal("subcontractor")).where(
                table.c.package == package_ref, table.c.subcontractor == handle
            )
            for table in (promises, interests, subcontracts)
        ),
    )
    return {row.part for row in session.execute(query)}


@dataclass(frozen=True)
class PackageParts:
    """Who took which part in one package: enough to name the role of each who signed."""

    commissioner: str | None
    prime: str | None  # the awarded prime
    bidders: frozenset[str]
    subcontractors: frozenset[str]  # named in a bid, offering service or subcontracted
    aggregates: dict[str, tuple[str | None, str | None]]  # aggregate id: (prime, subcontractor)

    def role_of(self, handle: str, aggregate_id: str | None = None) -> str:
        """``handle``'s role in the package ("" for none); in an aggregate that names a prime
        and a subcontractor (a bid, subcontract, invoice…), the side of it ``handle`` is on."""
        if handle == self.commissioner:
            return "commissioner"
        prime, subcontractor = self.aggregates.get(aggregate_id or "", (None, None))
        if handle == prime:
            return "prime"
        if handle == subcontractor:
            return "subcontractor"
        if handle == self.prime:
            return "prime"
        if handle in self.subcontractors:
            return "subcontractor"
        return "prime" if handle in self.bidders else ""


def package_parts(session: Transaction, package_ref: str) -> PackageParts:
    """The parts taken in a package, from its view rows."""
    commissioner = session.execute(
        select(packages.c.commissioner).where(packages.c.package == package_ref)
    ).scalar()
    prime = session.execute(
        select(package_changes.c.prime).where(
            package_changes.c.package == package_ref, package_changes.c.kind == "award"
        )
    ).scalar()
    bidders = frozenset(
        session.execute(select(bids.c.prime).where(bids.c.package == package_ref)).scalars()
    )
    subs = union(*(select(t.c.subcontractor).where(t.c.package == package_ref)
                   for t in (promises, interests, subcontracts)))  # fmt: skip
    aggregates = {
        row.aggregate_id: (row.prime, row.subcontractor)
        for row in session.execute(select(contexts).where(contexts.c.package == package_ref))
    }
    return PackageParts(commissioner, prime, bidders,
                        frozenset(row[0] for row in session.execute(subs)), aggregates)  # fmt: skip


def subcontractors_of(session: Transaction, package_ref: str, prime: str) -> set[str]:
    """The subcontractors of ``prime`` in a package: named in its bid or holding a subcontract."""
    query = union(
        select(promises.c.subcontractor).where(
            promises.c.package == package_ref, promises.c.prime == prime
        ),
        select(subcontracts.c.subcontractor).where(subcontracts.c.package == package_ref),
    )
    return {row[0] for row in session.execute(query)}


def has_package(session: Transaction, package_ref: str) -> bool:
    """Whether the views hold a package with this reference."""
    query = select(packages.c.package).where(packages.c.package == package_ref).limit(1)
    return session.execute(query).first() is not None
