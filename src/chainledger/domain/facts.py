"""A package's history as plain facts, each with its date and its evidence (event id).

The read model loads these for one package as the ledger stood on a date; the
assessments (workshare, payments, findings…) are pure functions of them.
``nid`` is the event's notification id: what ``chainledger history`` shows, as
evidence. ``at`` is when the fact took effect as its signer signed it: the
effective date, then the signed timestamp. Whatever depends on which fact came
first decides by ``at``, never by ``nid``: the database numbers its rows, and
whoever can write to it can renumber them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from chainledger.domain.dates import years_between
from chainledger.domain.terms import Terms

# (effective date, signed timestamp as ``signed_time`` writes it): tuples compare in the
# order facts took effect.
At = tuple[date, str]


def signed_time(moment: datetime) -> str:
    """A signed timestamp as text that sorts as time does: UTC, to the microsecond, one width.

    (``isoformat`` leaves out a zero microsecond and keeps the signer's offset.)
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class Org:
    handle: str
    role: str
    sector: str | None
    size: str | None


@dataclass(frozen=True)
class ValueChange:
    on: date
    nid: int
    at: At
    previous: Decimal
    value: Decimal
    reason: str

    @property
    def change_pct(self) -> Decimal:
        return (self.value - self.previous) / self.previous * 100 if self.previous else Decimal(0)


@dataclass(frozen=True)
class KpiFact:
    name: str
    unit: str
    target: Decimal | None
    acceptable: Decimal | None
    direction: str
    cadence: str
    on: date
    nid: int
    at: At


@dataclass(frozen=True)
class BidFact:
    prime: str
    price: Decimal
    self_delivery_pct: Decimal
    on: date
    nid: int
    at: At
    withdrawn_nid: int | None = None


@dataclass
class PromiseFact:
    prime: str
    subcontractor: str
    terms: Terms
    on: date
    nid: int
    at: At
    answer: str = ""  # "", "acknowledged", "disputed"
    answer_on: date | None = None
    answer_nid: int | None = None
    answer_at: At | None = None
    dispute_reason: str = ""
    explanations: list[tuple[date, int]] = field(default_factory=list)


@dataclass
class VariationFact:
    subcontractor: str
    number: int
    terms: Terms
    reason: str
    on: date
    nid: int
    at: At
    status: str = "proposed"  # proposed, agreed, disputed
    answer_on: date | None = None
    answer_nid: int | None = None
    answer_at: At | None = None


@dataclass
class SubcontractFact:
    prime: str
    subcontractor: str
    issued_terms: Terms
    on: date
    nid: int
    at: At
    terms: Terms  # after agreed variations
    accepted_nid: int | None = None
    failing_processes: list[tuple[date, int]] = field(default_factory=list)


@dataclass(frozen=True)
class ReferralFact:
    subcontractor: str
    period: str
    kind: str  # sent, confirmed
    count: int
    on: date
    nid: int
    at: At


@dataclass(frozen=True)
class PaymentFact:
    amount: Decimal
    paid_on: date
    nid: int
    at: At


@dataclass(frozen=True)
class ReceiptFact:
    """A subcontractor's signed word that it received the payments of an invoice not yet
    confirmed (``amount`` in all), on ``received_on``."""

    amount: Decimal
    received_on: date
    nid: int


@dataclass
class InvoiceFact:
    subcontractor: str
    prime: str
    reference: str
    amount: Decimal
    invoice_date: date
    period: str
    on: date
    nid: int
    at: At
    payments: list[PaymentFact] = field(default_factory=list)
    confirmed: list[ReceiptFact] = field(default_factory=list)

    @property
    def paid(self) -> Decimal:
        return sum((p.amount for p in self.payments), Decimal(0))


@dataclass
class KpiReportFact:
    subcontractor: str
    kpi: str
    period: str
    actual: Decimal
    on: date
    nid: int
    at: At
    attested_nid: int | None = None


@dataclass
class ConcernFact:
    subcontractor: str
    reference: str
    subject: str
    on: date
    nid: int
    at: At
    answers: list[tuple[date, int]] = field(default_factory=list)


@dataclass
class PackageFacts:
    """Everything recorded about one package up to ``as_of``; lists in the order their
    facts took effect (``at``)."""

    reference: str
    commissioner: str
    title: str
    area: str
    value: Decimal  # current, after variations
    original_value: Decimal
    start: date
    end: date
    payment_model: str
    at_risk_pct: Decimal
    on: date
    nid: int
    at: At
    as_of: date
    prime: str | None = None
    awarded_price: Decimal | None = None
    award_on: date | None = None
    award_nid: int | None = None
    award_at: At | None = None
    closed_on: date | None = None
    value_changes: list[ValueChange] = field(default_factory=list)
    kpis: dict[str, KpiFact] = field(default_factory=dict)
    bids: dict[str, BidFact] = field(default_factory=dict)
    promises: list[PromiseFact] = field(default_factory=list)
    subcontracts: dict[str, SubcontractFact] = field(default_factory=dict)
    variations: list[VariationFact] = field(default_factory=list)
    referrals: list[ReferralFact] = field(default_factory=list)
    invoices: list[InvoiceFact] = field(default_factory=list)
    kpi_reports: list[KpiReportFact] = field(default_factory=list)
    concerns: list[ConcernFact] = field(default_factory=list)
    orgs: dict[str, Org] = field(default_factory=dict)

    @property
    def winning_bid(self) -> BidFact | None:
        return self.bids.get(self.prime) if self.prime else None

    def winning_promises(self) -> list[PromiseFact]:
        return [p for p in self.promises if self.prime and p.prime == self.prime]

    @property
    def years(self) -> Decimal:
        """The contract's length in years."""
        return years_between(self.start, self.end + timedelta(days=1))
