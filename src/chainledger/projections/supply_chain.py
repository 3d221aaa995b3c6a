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

from chainledger.adapters.local_store import Column, Table, Transaction, integer, text
from chainledger.domain.events import LedgerEvent
from chainledger.domain.facts import signed_time
from chainledger.domain.terms import TERM_FIELDS, Terms
from chainledger.projections.base import Writer


def _table(name: str, *columns: Column, key: tuple[str, ...] = ("nid",)) -> Table:
    """A view table: package, nid, on, ts, then its own columns; primary key ``key``."""
    base = [
        text("package", nullable=False, index=True),
        integer("nid", nullable=False),
        text("on", nullable=False),
        text("ts", nullable=False),
    ]
    return Table(name, *base, *columns, key=key)


def _terms_columns() -> list[Column]:
    return [text(name) for name in TERM_FIELDS]


packages = _table(
    "sc_packages",
    text("commissioner", nullable=False),
    text("title", nullable=False),
    text("area", nullable=False),
    text("value", nullable=False),
    text("start", nullable=False),
    text("end", nullable=False),
    text("payment_model", nullable=False),
    text("at_risk_pct", nullable=False),
)
package_changes = _table(
    "sc_package_changes",
    text("kind", nullable=False),  # award, vary, close
    text("prime"),
    text("price"),
    text("previous"),
    text("value"),
    text("reason"),
)
kpis = _table(
    "sc_kpis",
    text("name", nullable=False),
    text("unit", nullable=False),
    text("target"),
    text("acceptable"),
    text("direction", nullable=False),
    text("cadence", nullable=False),
)
bids = _table(
    "sc_bids",
    text("prime", nullable=False),
    text("price", nullable=False),
    text("self_delivery_pct", nullable=False),
)
promises = _table(
    "sc_promises",
    text("prime", nullable=False),
    text("subcontractor", nullable=False),
    *_terms_columns(),
    key=("nid", "subcontractor"),
)
bid_answers = _table(
    "sc_bid_answers",
    text("kind", nullable=False),  # acknowledged, disputed, withdrawn, explained
    text("prime", nullable=False),
    text("subcontractor"),
    text("reason"),
    text("note"),
)
interests = _table(
    "sc_interests",
    text("prime", nullable=False),
    text("subcontractor", nullable=False),
)
subcontracts = _table(
    "sc_subcontracts",
    text("prime", nullable=False),
    text("subcontractor", nullable=False),
    *_terms_columns(),
)
subcontract_changes = _table(
    "sc_subcontract_changes",
    text("subcontractor", nullable=False),
    text("kind", nullable=False),  # accepted, proposed, agreed, disputed, failing
    integer("number"),
    text("reason"),
    *_terms_columns(),
)
referrals = _table(
    "sc_referrals",
    text("subcontractor", nullable=False),
    text("kind", nullable=False),  # sent, confirmed
    text("period", nullable=False),
    integer("count", nullable=False),
)
invoices = _table(
    "sc_invoices",
    text("subcontractor", nullable=False),
    text("prime", nullable=False),
    text("reference", nullable=False),
    text("amount", nullable=False),
    text("invoice_date", nullable=False),
    text("period", nullable=False),
)
payments = _table(
    "sc_payments",
    text("subcontractor", nullable=False),
    text("reference", nullable=False),
    text("kind", nullable=False),  # paid, confirmed
    text("amount", nullable=False),
    text("date", nullable=False),
)
kpi_reports = _table(
    "sc_kpi_reports",
    text("subcontractor", nullable=False),
    text("kind", nullable=False),  # reported, attested
    text("kpi", nullable=False),
    text("period", nullable=False),
    text("actual"),
)
concerns = _table(
    "sc_concerns",
    text("subcontractor", nullable=False),
    text("reference", nullable=False),
    text("kind", nullable=False),  # raised, answered
    text("subject"),
)
contexts = Table(
    "sc_aggregates",
    text("aggregate_id"),
    text("package", nullable=False),
    text("prime"),
    text("subcontractor"),
    text("reference"),
    key=("aggregate_id",),
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
        self._handlers: dict[str, Callable[[Any, dict[str, Any], Writer], None]] = {
            "PackageCreated": self._package_created,
            "KpiDefined": self._kpi_defined,
            "PackageAwarded": self._package_changed,
            "ContractValueVaried": self._package_changed,
            "PackageClosed": self._package_changed,
            "BidSubmitted": self._bid_submitted,
            "BidWithdrawn": self._bid_answered,
            "PromiseAcknowledged": self._bid_answered,
            "PromiseDisputed": self._bid_answered,
            "ShortfallExplained": self._bid_answered,
            "InterestExpressed": self._interest,
            "SubcontractIssued": self._subcontract_issued,
            "SubcontractAccepted": self._subcontract_changed,
            "VariationProposed": self._subcontract_changed,
            "VariationAccepted": self._subcontract_changed,
            "VariationDisputed": self._subcontract_changed,
            "FailingProviderProcessStarted": self._subcontract_changed,
            "ReferralsSent": self._referrals,
            "ReferralsConfirmed": self._referrals,
            "PerformanceReported": self._kpi_report,
            "PerformanceAttested": self._kpi_report,
            "InvoiceSubmitted": self._invoice,
            "PaymentRecorded": self._payment,
            "PaymentConfirmed": self._payment,
            "ConcernRaised": self._concern,
            "ConcernResponded": self._concern,
        }

    def reset(self) -> None:
        self._contexts = {}

    def apply(self, event: LedgerEvent, writer: Writer) -> None:
        handler = self._handlers.get(event.type_name)
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
            found = writer.first(f"{contexts.select_sql()} WHERE aggregate_id = ?", (aggregate,))
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
        if e.type_name == "PackageAwarded":
            row.update(kind="award", prime=e.prime, price=str(e.price))
        elif e.type_name == "ContractValueVaried":
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
        if e.type_name == "PromiseAcknowledged":
            row.update(kind="acknowledged")
        elif e.type_name == "PromiseDisputed":
            row.update(kind="disputed", reason=e.reason.value, note=e.note)
        elif e.type_name == "ShortfallExplained":
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
        if e.type_name == "SubcontractAccepted":
            row.update(kind="accepted")
        elif e.type_name == "VariationProposed":
            row.update(kind="proposed", number=e.number, reason=e.reason, **_terms(e.terms))
        elif e.type_name == "VariationAccepted":
            row.update(kind="agreed", number=e.number)
        elif e.type_name == "VariationDisputed":
            row.update(kind="disputed", number=e.number, reason=e.reason)
        else:
            row.update(kind="failing", reason=e.reason)
        w.insert(subcontract_changes, row)

    @staticmethod
    def _referrals(e: Any, c: dict[str, Any], w: Writer) -> None:
        kind = "sent" if e.type_name == "ReferralsSent" else "confirmed"
        w.insert(referrals, {**c["row"], "subcontractor": c["subcontractor"], "kind": kind,
                             "period": e.period, "count": e.count})  # fmt: skip

    @staticmethod
    def _kpi_report(e: Any, c: dict[str, Any], w: Writer) -> None:
        reported = e.type_name == "PerformanceReported"
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
        paid = e.type_name == "PaymentRecorded"
        w.insert(payments, {
            **c["row"], "subcontractor": c["subcontractor"], "reference": c["reference"],
            "kind": "paid" if paid else "confirmed", "amount": str(e.amount),
            "date": (e.paid_on if paid else e.received_on).isoformat(),
        })  # fmt: skip

    @staticmethod
    def _concern(e: Any, c: dict[str, Any], w: Writer) -> None:
        raised = e.type_name == "ConcernRaised"
        w.insert(concerns, {
            **c["row"], "subcontractor": c["subcontractor"], "reference": c["reference"],
            "kind": "raised" if raised else "answered", "subject": e.subject if raised else None,
        })  # fmt: skip


def _creation_context(event: LedgerEvent) -> dict[str, Any] | None:
    """Package, prime, subcontractor and reference from an aggregate's first event."""
    e: Any = event
    if e.type_name == "PackageCreated":
        return {"package": e.reference, "prime": None, "subcontractor": None, "reference": None}
    if e.type_name == "BidSubmitted":
        return {"package": e.package, "prime": e.org, "subcontractor": None, "reference": None}
    if e.type_name == "SubcontractIssued":
        return {"package": e.package, "prime": e.org, "subcontractor": e.subcontractor,
                "reference": None}  # fmt: skip
    if e.type_name == "InvoiceSubmitted":
        return {"package": e.package, "prime": e.prime, "subcontractor": e.org,
                "reference": e.reference}  # fmt: skip
    if e.type_name == "ConcernRaised":
        return {"package": e.package, "prime": None, "subcontractor": e.org,
                "reference": e.reference}  # fmt: skip
    if e.type_name == "InterestExpressed":
        return {"package": e.package, "prime": e.prime, "subcontractor": e.org, "reference": None}
    return None


def parts_in(session: Transaction, package_ref: str, handle: str) -> set[str]:
    """The parts ``handle`` took in a package besides commissioning it: ``prime`` where it
    bid, ``subcontractor`` where it was named, offered its service or was subcontracted."""
    query = " UNION ".join([
        "SELECT 'prime' FROM sc_bids WHERE package = ? AND prime = ?",
        *(f"SELECT 'subcontractor' FROM {table} WHERE package = ? AND subcontractor = ?"
          for table in ("sc_promises", "sc_interests", "sc_subcontracts")),
    ])  # fmt: skip
    return set(session.column(query, (package_ref, handle) * 4))


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
    commissioner = session.scalar("SELECT commissioner FROM sc_packages WHERE package = ?",
                                  (package_ref,))  # fmt: skip
    prime = session.scalar(
        "SELECT prime FROM sc_package_changes WHERE package = ? AND kind = 'award'", (package_ref,)
    )
    bidders = frozenset(session.column("SELECT prime FROM sc_bids WHERE package = ?",
                                       (package_ref,)))  # fmt: skip
    subs = " UNION ".join(f"SELECT subcontractor FROM {table} WHERE package = ?"
                          for table in ("sc_promises", "sc_interests", "sc_subcontracts"))  # fmt: skip
    aggregates = {
        row.aggregate_id: (row.prime, row.subcontractor)
        for row in session.execute(
            "SELECT aggregate_id, prime, subcontractor FROM sc_aggregates WHERE package = ?",
            (package_ref,),
        )
    }
    return PackageParts(commissioner, prime, bidders,
                        frozenset(session.column(subs, (package_ref,) * 3)), aggregates)  # fmt: skip


def subcontractors_of(session: Transaction, package_ref: str, prime: str) -> set[str]:
    """The subcontractors of ``prime`` in a package: named in its bid or holding a subcontract."""
    query = ("SELECT subcontractor FROM sc_promises WHERE package = ? AND prime = ? UNION "
             "SELECT subcontractor FROM sc_subcontracts WHERE package = ?")  # fmt: skip
    return set(session.column(query, (package_ref, prime, package_ref)))


def has_package(session: Transaction, package_ref: str) -> bool:
    """Whether the views hold a package with this reference."""
    query = "SELECT 1 FROM sc_packages WHERE package = ? LIMIT 1"
    return session.first(query, (package_ref,)) is not None
