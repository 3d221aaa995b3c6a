"""Promised versus delivered, and the Code of Practice as findings backed by evidence.

Pure functions of a package's facts (``domain/facts.py``) as the ledger stood
on ``facts.as_of``. Every finding names the events it rests on (their ids, as
``chainledger history`` shows them), so anyone can check it. Which fact came
first is decided by what was signed (``at``: effective date, then signed
timestamp), never by those ids, which the database assigns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from chainledger.domain.dates import (
    INTEREST_DAYS_PER_YEAR,
    add_months,
    months_between,
)
from chainledger.domain.facts import (
    At,
    InvoiceFact,
    PackageFacts,
    PaymentFact,
    PromiseFact,
    ReceiptFact,
    SubcontractFact,
    VariationFact,
)
from chainledger.domain.quantities import Cadence, Period
from chainledger.domain.terms import Terms
from chainledger.errors import InvalidValue

MAX_WHOLE_THRESHOLD = 3650  # days, months, periods: ten years is more than any contract
MAX_THRESHOLD = Decimal(1_000_000_000_000)
HUNDRED = Decimal(100)
PENNY = Decimal("0.01")


@dataclass(frozen=True)
class Thresholds:
    """The numbers behind the rules; each can be changed with ``--threshold NAME=VALUE``."""

    bid_candy_pct: Decimal = Decimal(25)  # below this % of promised value or referrals…
    bid_candy_months: int = 6  # …this long after award
    late_payment_days: int = 30  # paid later than this, or than the agreed terms
    payment_date_tolerance_days: int = 5  # a receipt this much later than the paid date agrees
    base_rate_pct: Decimal = Decimal("4.00")  # statutory interest: base rate + 8% a year
    referral_shortfall_pct: Decimal = Decimal(75)  # referrals below this % of promised…
    referral_shortfall_periods: int = 2  # …for this many periods in a row
    # A subcontractor's share of payment at risk may exceed the prime's own by at most this
    # many percentage points, by its size (unknown sizes count as small)
    risk_margin_small_pct: Decimal = Decimal(0)  # micro and small organisations
    risk_margin_medium_pct: Decimal = Decimal(10)
    risk_margin_large_pct: Decimal = Decimal(20)
    kpi_large_package_per_year: Decimal = Decimal(5_000_000)  # packages worth more a year…
    kpi_minimum: int = 3  # …need at least this many KPIs
    performance_failing_periods: int = 2  # below acceptable this many periods in a row
    requires_improvement_margin_pct: Decimal = Decimal(10)  # within this % below acceptable
    shortfall_delivered_pct: Decimal = Decimal(90)  # a promise counts as delivered at this %
    shortfall_explanation_days: int = 30  # days after the end to explain a shortfall
    concern_working_days: int = 20  # working days to answer a concern
    review_self_gap: Decimal = Decimal(1)  # self-rating this far above others' median
    review_low_median: Decimal = Decimal(2)  # others' median at or below this is low…
    review_high_median: Decimal = Decimal(4)  # …at or above this is high
    review_min_raters: int = 3  # raters needed for LOW_RATED and PERCEPTION_GAP
    evidence_good_pct: Decimal = Decimal(90)  # a ledger measure at or above this is good…
    evidence_poor_pct: Decimal = Decimal(60)  # …below this is poor

    @classmethod
    def parse(cls, settings: dict[str, str]) -> Thresholds:
        """Thresholds with some defaults replaced, from ``NAME=VALUE`` settings."""
        known = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}
        for name, text in settings.items():
            if name not in known:
                raise InvalidValue(f"unknown threshold {name!r}; thresholds: {', '.join(known)}")
            whole = known[name].type in ("int", int)
            try:
                value = int(text) if whole else Decimal(text)
            except (ValueError, ArithmeticError):
                raise InvalidValue(f"threshold {name} must be a number, not {text!r}") from None
            if isinstance(value, Decimal) and not value.is_finite():
                raise InvalidValue(f"threshold {name} must be a finite number")
            limit = MAX_WHOLE_THRESHOLD if whole else MAX_THRESHOLD
            if not 0 <= value <= limit:
                raise InvalidValue(f"threshold {name} must be between 0 and {limit}")
            values[name] = value
        return cls(**values)

    def as_dict(self) -> dict[str, str]:
        return {f.name: str(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True)
class Finding:
    """One thing the audit found, in one plain sentence, with the events it rests on.

    ``roles`` names the part each of ``organisations`` played in the package (one
    organisation can be a prime in one package and a subcontractor in another).
    """

    rule: str
    severity: str  # high, medium, low
    package: str
    organisations: tuple[str, ...]
    sentence: str
    evidence: tuple[int, ...]
    roles: tuple[str, ...] = ()  # one per organisation, in the same order
    # The money the sentence speaks of, exact, by name (e.g. ``interest_owed``), in pounds
    amounts: tuple[tuple[str, Decimal], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "package": self.package,
            "organisations": list(self.organisations),
            "roles": dict(zip(self.organisations, self.roles, strict=False)),
            "finding": self.sentence,
            # decimal text, as every amount of money the ledger shows: exact to the penny
            "amounts": {name: str(value) for name, value in self.amounts},
            "evidence": list(self.evidence),
        }


def role_in(facts: PackageFacts, handle: str) -> str:
    """The part ``handle`` played in the package: commissioner, prime or subcontractor.

    Its prime is the awarded one; before the award, or for a losing bid, a bidder is a
    prime too, unless it is also named, subcontracted or invoicing there. "" if none.
    """
    if handle == facts.commissioner:
        return "commissioner"
    if handle == facts.prime:
        return "prime"
    if (handle in facts.subcontracts or any(p.subcontractor == handle for p in facts.promises)
            or any(c.subcontractor == handle for c in facts.concerns)
            or any(i.subcontractor == handle for i in facts.invoices)):  # fmt: skip
        return "subcontractor"
    return "prime" if handle in facts.bids else ""


# -- arithmetic on dates and money ----------------------------------------------------------


def working_days_between(start: date, end: date) -> int:
    """Weekdays after ``start`` up to and including ``end`` (bank holidays not counted out)."""
    if end <= start:
        return 0
    days = (end - start).days
    weeks, extra = divmod(days, 7)
    count = weeks * 5
    for offset in range(1, extra + 1):
        if (start + timedelta(days=weeks * 7 + offset)).weekday() < 5:
            count += 1
    return count


def pct(part: Decimal | int, whole: Decimal | int) -> Decimal | None:
    """``part`` as a percentage of ``whole``, unrounded (rules compare it with their
    thresholds exactly: 24.97% is below 25%); None when whole is 0."""
    if not whole:
        return None
    return Decimal(part) * HUNDRED / Decimal(whole)


def shown(percentage: Decimal | None) -> Decimal | None:
    """A percentage as reports show it: to one decimal place. Only for display."""
    return None if percentage is None else percentage.quantize(Decimal("0.1"), ROUND_HALF_UP)


def money(amount: Decimal) -> str:
    return f"£{amount.quantize(PENNY, ROUND_HALF_UP):,}"


def periods_between(first: date, last: date, cadence: str) -> Iterator[Period]:
    """Every period of ``cadence`` that overlaps ``first``..``last``."""
    if last < first:
        return
    months = 3 if cadence == Cadence.QUARTER.value else 1
    start_month = (first.month - 1) // months * months + 1
    current = date(first.year, start_month, 1)
    while current <= last:
        yield Period(current, Cadence(cadence))
        current = add_months(current, months)


# -- what was promised and what was delivered ---------------------------------------------


@dataclass(frozen=True)
class Elapsed:
    """How much of the contract period has passed by the as-of date."""

    days: int
    total_days: int
    months: Decimal = Decimal(0)  # calendar months passed (``chainledger.domain.dates``)

    @classmethod
    def of(cls, facts: PackageFacts, until: date | None = None) -> Elapsed:
        until = min(until or facts.as_of, facts.end)
        total = (facts.end - facts.start).days + 1
        days = max(0, min(total, (until - facts.start).days + 1))
        return cls(days, total, months_between(facts.start, facts.start + timedelta(days=days)))

    @property
    def years(self) -> Decimal:
        return self.months / 12

    def periods(self, cadence: str) -> Decimal:
        return self.months / (3 if cadence == Cadence.QUARTER.value else 1)


@dataclass
class Delivery:
    """A subcontractor's promise against what it has received so far."""

    promise: PromiseFact | None
    contract: SubcontractFact | None
    paid: Decimal = Decimal(0)
    invoiced: Decimal = Decimal(0)  # what it billed: the work it was given, paid or not
    referrals: int = 0
    value_due: Decimal = Decimal(0)
    referrals_due: Decimal = Decimal(0)
    evidence: list[int] = field(default_factory=list)

    @property
    def value_pct(self) -> Decimal | None:
        return pct(self.paid, self.value_due)

    @property
    def referrals_pct(self) -> Decimal | None:
        return pct(self.referrals, self.referrals_due)


def received_referrals(
    facts: PackageFacts, subcontractor: str
) -> dict[str, tuple[int, int, int | None]]:
    """Per period: (referrals received, nid, sent) — the subcontractor's count where it
    confirmed one, otherwise the prime's."""
    sent: dict[str, tuple[int, int]] = {}
    confirmed: dict[str, tuple[int, int]] = {}
    for r in facts.referrals:
        if r.subcontractor == subcontractor:
            (sent if r.kind == "sent" else confirmed)[r.period] = (r.count, r.nid)
    result: dict[str, tuple[int, int, int | None]] = {}
    for period in sent.keys() | confirmed.keys():
        count, nid = confirmed.get(period) or sent[period]
        result[period] = (count, nid, sent[period][0] if period in sent else None)
    return result


def delivery(facts: PackageFacts, subcontractor: str, until: date | None = None) -> Delivery:
    """What ``subcontractor`` was promised in the winning bid, and received, up to ``until``."""
    until = until or facts.as_of
    promise = next((p for p in facts.winning_promises() if p.subcontractor == subcontractor), None)
    contract = facts.subcontracts.get(subcontractor)
    result = Delivery(promise, contract)
    for record in facts.invoices:
        if record.subcontractor == subcontractor:
            if record.invoice_date <= until:
                result.invoiced += record.amount
            for payment in record.payments:
                if payment.paid_on <= until:
                    result.paid += payment.amount
                    result.evidence.append(payment.nid)
    for period, (count, nid, _sent) in received_referrals(facts, subcontractor).items():
        if Period.parse(period).first_day <= until:
            result.referrals += count
            result.evidence.append(nid)
    terms = promise.terms if promise else (contract.terms if contract else None)
    if terms is not None:
        elapsed = Elapsed.of(facts, until)
        result.value_due = terms.value_per_year * elapsed.years
        result.referrals_due = terms.referrals_per_period * elapsed.periods(terms.referral_cadence)
    result.evidence.sort()
    return result


def _status(item: Delivery, elapsed: Elapsed) -> str:
    if elapsed.days == 0:
        return "not started"
    measures = [m for m in (item.value_pct, item.referrals_pct) if m is not None]
    if not measures or max(measures) == 0:
        return "nothing delivered" if item.contract else "no subcontract, nothing delivered"
    worst = min(measures)
    if worst >= 90:
        return "on track"
    return "behind" if worst >= 50 else "far behind"


def workshare(facts: PackageFacts) -> list[dict[str, Any]]:
    """Per named subcontractor: promised at bid, its answer, contracted, delivered, status."""
    elapsed = Elapsed.of(facts)
    named = [p.subcontractor for p in facts.winning_promises()]
    others = [s for s in facts.subcontracts if s not in named]
    rows = []
    for sub in [*named, *others]:
        item = delivery(facts, sub)
        promise, contract = item.promise, item.contract
        answer = "not named in the winning bid"
        if promise is not None:
            answer = promise.answer or "no answer"
            if promise.answer == "disputed":
                answer = f"disputed ({promise.dispute_reason})"
        rows.append({
            "package": facts.reference,
            "prime": facts.prime,
            "subcontractor": sub,
            "promised_share_pct": _s(promise.terms.share_pct) if promise else None,
            "promised_value_per_year": _s(promise.terms.value_per_year) if promise else None,
            "promised_referrals": _referrals(promise.terms) if promise else None,
            "answer": answer,
            "contracted_share_pct": _s(contract.terms.share_pct) if contract else None,
            "contracted_value_per_year": _s(contract.terms.value_per_year) if contract else None,
            "contracted_referrals": _referrals(contract.terms) if contract else None,
            "due_to_date": _s(item.value_due.quantize(PENNY, ROUND_HALF_UP)),
            "paid_to_date": _s(item.paid),
            "referrals_received": item.referrals,
            "elapsed_pct": _p(pct(elapsed.days, elapsed.total_days)),
            "value_delivered_pct": _p(item.value_pct),
            "referrals_delivered_pct": _p(item.referrals_pct),
            "status": _status(item, elapsed),
            "evidence": _evidence(promise.nid if promise else None, contract.nid if contract else None),
        })  # fmt: skip
    return rows


def _s(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _pennies(amount: Decimal) -> Decimal:
    """An amount of money to the penny, for showing (rules compare the exact value)."""
    return amount.quantize(PENNY, ROUND_HALF_UP)


def _whole(count: Decimal) -> Decimal:
    """A count worked out pro rata, as shown: to one decimal place if it is not whole."""
    return count if count == count.to_integral_value() else count.quantize(Decimal("0.1"))


def _p(percentage: Decimal | None) -> str | None:
    return _s(shown(percentage))


def _referrals(terms: Terms) -> str:
    return f"{terms.referrals_per_period}/{terms.referral_cadence}"


def _evidence(*nids: int | None) -> list[int]:
    return sorted({n for n in nids if n is not None})


# -- payment timeliness ---------------------------------------------------------------------


@dataclass(frozen=True)
class DisputedDate:
    """A payment whose paid date, as the payer signed it, and received date, as the payee
    signed it, are further apart than ``payment_date_tolerance_days``."""

    payment: PaymentFact
    receipt: ReceiptFact

    @property
    def days(self) -> int:
        return (self.receipt.received_on - self.payment.paid_on).days


@dataclass(frozen=True)
class InvoiceTiming:
    record: InvoiceFact
    due: date  # the later payment counts as late after this
    terms_days: int
    days_to_pay: int | None  # when fully paid by the as-of date
    outstanding: Decimal
    interest: Decimal
    disputed: tuple[DisputedDate, ...] = ()


def settled_on(record: InvoiceFact, as_of: date, t: Thresholds
               ) -> list[tuple[PaymentFact, date, ReceiptFact | None]]:  # fmt: skip
    """Each payment recorded by ``as_of`` with the date lateness is judged on: the date the
    payer signed, unless the payee signed receiving it more than
    ``payment_date_tolerance_days`` later, then the receipt's date (a payer cannot make a
    payment on time by dating it early). A receipt confirms every payment not yet confirmed
    before it, so payments are matched to receipts by running totals, in signed order."""
    payments = [p for p in record.payments if p.paid_on <= as_of]
    receipts = [r for r in record.confirmed if r.received_on <= as_of]
    found: list[tuple[PaymentFact, date, ReceiptFact | None]] = []
    paid = confirmed = Decimal(0)
    index = 0
    for payment in payments:
        paid += payment.amount
        while index < len(receipts) and confirmed + receipts[index].amount < paid:
            confirmed += receipts[index].amount
            index += 1
        receipt = receipts[index] if index < len(receipts) else None
        late = receipt is not None and (
            (receipt.received_on - payment.paid_on).days > t.payment_date_tolerance_days
        )
        found.append((payment, receipt.received_on if late and receipt else payment.paid_on,
                      receipt if late else None))  # fmt: skip
    return found


def invoice_timing(facts: PackageFacts, record: InvoiceFact, t: Thresholds) -> InvoiceTiming:
    contract = facts.subcontracts.get(record.subcontractor)
    # the payment terms in force when it was invoiced (a later variation does not change
    # when an earlier invoice fell due)
    terms_days = (terms_on(facts, contract, record.invoice_date).payment_terms_days
                  if contract else t.late_payment_days)  # fmt: skip
    allowed = min(terms_days, t.late_payment_days)
    due = record.invoice_date + timedelta(days=allowed)
    rate = (t.base_rate_pct + 8) / HUNDRED
    paid = Decimal(0)
    interest = Decimal(0)
    days_to_pay = None
    disputed = []
    for payment, when, receipt in sorted(settled_on(record, facts.as_of, t),
                                         key=lambda x: x[1]):  # fmt: skip
        if receipt is not None:
            disputed.append(DisputedDate(payment, receipt))
        paid += payment.amount
        if when > due:
            interest += payment.amount * rate * (when - due).days / INTEREST_DAYS_PER_YEAR
        if paid >= record.amount and days_to_pay is None:
            days_to_pay = (when - record.invoice_date).days
    outstanding = record.amount - paid
    if outstanding > 0 and facts.as_of > due:
        interest += outstanding * rate * (facts.as_of - due).days / INTEREST_DAYS_PER_YEAR
    return InvoiceTiming(record, due, terms_days, days_to_pay, outstanding,
                         interest.quantize(PENNY, ROUND_HALF_UP), tuple(disputed))  # fmt: skip


def payments(facts: PackageFacts, t: Thresholds) -> list[dict[str, Any]]:
    """Per payer and payee: how promptly invoices were paid, what is overdue, interest owed."""
    pairs: dict[tuple[str, str], list[InvoiceTiming]] = {}
    for record in facts.invoices:
        pairs.setdefault((record.prime, record.subcontractor), []).append(
            invoice_timing(facts, record, t)
        )
    rows = []
    for (payer, payee), timings in sorted(pairs.items()):
        settled = [x.days_to_pay for x in timings if x.days_to_pay is not None]
        overdue = [x for x in timings if x.outstanding > 0 and facts.as_of > x.due]
        oldest = min(overdue, key=lambda x: x.due, default=None)
        within = sum(1 for d in settled if d <= 30)
        middle = sum(1 for d in settled if 30 < d <= 60)
        rows.append({
            "package": facts.reference,
            "payer": payer,
            "payee": payee,
            "invoices": len(timings),
            "invoiced": _s(sum((x.record.amount for x in timings), Decimal(0))),
            "paid": _s(sum((x.record.amount - x.outstanding for x in timings), Decimal(0))),
            "mean_days_to_pay": _s(
                (Decimal(sum(settled)) / len(settled)).quantize(Decimal("0.1")) if settled else None
            ),
            "paid_within_30_days_pct": _p(pct(within, len(settled))),
            "paid_1_30_days_pct": _p(pct(within, len(settled))),
            "paid_31_60_days_pct": _p(pct(middle, len(settled))),
            "paid_61_plus_days_pct": _p(pct(len(settled) - within - middle, len(settled))),
            "overdue_invoices": len(overdue),
            "overdue_amount": _s(sum((x.outstanding for x in overdue), Decimal("0.00"))),
            "oldest_overdue": oldest.record.reference if oldest else None,
            "oldest_overdue_days": (facts.as_of - oldest.due).days if oldest else None,
            "late_payment_interest": _s(sum((x.interest for x in timings), Decimal(0))),
            "base_rate_pct": str(t.base_rate_pct),
            "evidence": sorted(n for x in timings for n in [x.record.nid, *(p.nid for p in x.record.payments)]),
        })  # fmt: skip
    return rows


def invoice_days(facts: PackageFacts, t: Thresholds) -> list[dict[str, Any]]:
    """Per invoice: how many days it took to pay in full, or how long it has been overdue."""
    rows = []
    for record in sorted(facts.invoices, key=lambda r: (r.prime, r.invoice_date, r.at)):
        timing = invoice_timing(facts, record, t)
        overdue = timing.outstanding > 0 and facts.as_of > timing.due
        rows.append({
            "package": facts.reference,
            "payer": record.prime,
            "payee": record.subcontractor,
            "invoice": record.reference,
            "invoice_date": record.invoice_date.isoformat(),
            "amount": _s(record.amount),
            "days_to_pay": timing.days_to_pay,
            "overdue_days": (facts.as_of - timing.due).days if overdue else None,
            "evidence": sorted([record.nid, *(p.nid for p in record.payments)]),
        })  # fmt: skip
    return rows


# -- referrals and performance ----------------------------------------------------------------


def referrals(facts: PackageFacts) -> list[dict[str, Any]]:
    """Per subcontractor and period: promised, sent by the prime, confirmed by the subcontractor."""
    rows = []
    for sub, contract in sorted(facts.subcontracts.items()):
        records = {}
        for r in facts.referrals:
            if r.subcontractor == sub:
                records.setdefault(r.period, {})[r.kind] = r
        periods = {str(p) for p in _completed_periods(facts, contract)} | records.keys()
        for period in sorted(periods, key=lambda p: Period.parse(p)):
            sent = records.get(period, {}).get("sent")
            confirmed = records.get(period, {}).get("confirmed")
            # the promise of the period's own time (see ``terms_on``)
            promised = terms_on(facts, contract, Period.parse(period).last_day).referrals_per_period
            rows.append({
                "package": facts.reference,
                "subcontractor": sub,
                "period": period,
                "promised": promised,
                "sent": sent.count if sent else None,
                "confirmed": confirmed.count if confirmed else None,
                "sent_vs_promised_pct": _p(pct(sent.count, promised)) if sent else None,
                "disagreement": bool(sent and confirmed and sent.count != confirmed.count),
                "difference": (confirmed.count - sent.count) if sent and confirmed else None,
                "evidence": _evidence(sent.nid if sent else None, confirmed.nid if confirmed else None),
            })  # fmt: skip
    return rows


def _completed_periods(facts: PackageFacts, contract: SubcontractFact) -> Iterator[Period]:
    """Periods that ended by the as-of date, from when the subcontract began: its date, or the
    first period referrals were recorded for, if earlier (a subcontract recorded late)."""
    recorded = [Period.parse(r.period).first_day for r in facts.referrals
                if r.subcontractor == contract.subcontractor]  # fmt: skip
    first = max(facts.start, min([contract.on, *recorded]))
    for period in periods_between(
        first, min(facts.end, facts.as_of), contract.terms.referral_cadence
    ):
        if period.last_day <= facts.as_of:
            yield period


def rating(actual: Decimal, target: Decimal | None, acceptable: Decimal | None, direction: str,
           t: Thresholds) -> str:  # fmt: skip
    """good / approaching target / requires improvement / inadequate."""
    sign = 1 if direction == "higher" else -1
    if target is None and acceptable is None:
        return "no target set"
    if target is not None and sign * (actual - target) >= 0:
        return "good"
    floor = acceptable if acceptable is not None else target
    assert floor is not None
    if sign * (actual - floor) >= 0:
        return "approaching target" if target is not None else "good"
    margin = abs(floor) * t.requires_improvement_margin_pct / HUNDRED
    if sign * (actual - floor) >= -margin:
        return "requires improvement"
    return "inadequate"


BELOW_ACCEPTABLE = ("requires improvement", "inadequate")


def performance(facts: PackageFacts, t: Thresholds) -> list[dict[str, Any]]:
    """KPI actuals against target and acceptable, per period and provider, rated."""
    rows = []
    for r in sorted(
        facts.kpi_reports, key=lambda r: (r.kpi, Period.parse(r.period), r.subcontractor)
    ):
        kpi = facts.kpis.get(r.kpi)
        if kpi is None:
            continue
        rows.append({
            "package": facts.reference,
            "kpi": r.kpi,
            "period": r.period,
            "provider": r.subcontractor,
            "actual": str(r.actual),
            "target": _s(kpi.target),
            "acceptable": _s(kpi.acceptable),
            "direction": kpi.direction,
            "rating": rating(r.actual, kpi.target, kpi.acceptable, kpi.direction, t),
            "attested": r.attested_nid is not None,
            "evidence": _evidence(r.nid, r.attested_nid),
        })  # fmt: skip
    return rows


# The per-package reports by name: each gives one package's rows under the thresholds.
PACKAGE_REPORTS: dict[str, Callable[[PackageFacts, Thresholds], list[dict[str, Any]]]] = {
    "workshare": lambda facts, t: workshare(facts),
    "payments": payments,
    "invoices": invoice_days,
    "referrals": lambda facts, t: referrals(facts),
    "performance": performance,
}


# -- findings: the Code of Practice, rule by rule ---------------------------------------------


def findings(facts: PackageFacts, t: Thresholds) -> list[Finding]:
    """Every rule's findings for the package, most severe first."""
    found: list[Finding] = []
    for rule in RULES:
        found.extend(rule(facts, t))
    order = {"high": 0, "medium": 1, "low": 2}
    return sorted(found, key=lambda f: (order[f.severity], f.rule, f.organisations))


def _finding(facts: PackageFacts, rule: str, severity: str, orgs: list[str | None], sentence: str,
             *evidence: int | None, amounts: dict[str, Decimal] | None = None) -> Finding:  # fmt: skip
    named = tuple(o for o in orgs if o)
    return Finding(rule, severity, facts.reference, named, sentence, tuple(_evidence(*evidence)),
                   tuple(role_in(facts, o) for o in named),
                   tuple((amounts or {}).items()))  # fmt: skip


def bid_candy(facts: PackageFacts, t: Thresholds) -> Iterator[Finding]:
    if facts.award_on is None or facts.as_of < add_months(facts.award_on, t.bid_candy_months):
        return
    if Elapsed.of(facts).days == 0:
        return
    for promise in facts.winning_promises():
        item = delivery(facts, promise.subcontractor)
        short = [
            f"{shown(measure)}% of the promised {what}"
            for measure, what in ((item.value_pct, "value"), (item.referrals_pct, "referrals"))
            if measure is not None and measure < t.bid_candy_pct
        ]
        nothing = item.paid == 0 and item.referrals == 0
        if not short and not nothing:
            continue
        received = "nothing at all" if nothing else " and ".join(short)
        yield _finding(
            facts, "BID_CANDY", "high", [facts.prime, promise.subcontractor],
            f"{promise.subcontractor} was named in {facts.prime}'s winning bid for "
            f"{money(promise.terms.value_per_year)} a year but, {t.bid_candy_months} months after "
            f"award, has received {received} (pro rata to the contract period so far).",
            promise.nid, facts.award_nid, item.contract.nid if item.contract else None, *item.evidence,
            amounts={"promised_value_per_year": promise.terms.value_per_year,
                     "value_due_to_date": _pennies(item.value_due), "paid_to_date": item.paid},
        )  # fmt: skip


def named_without_consent(facts: PackageFacts, t: Thresholds) -> Iterator[Finding]:
    if facts.award_on is None:
        return
    for promise in facts.winning_promises():
        if promise.answer == "disputed":
            sentence = (f"{promise.subcontractor} disputed being named in {facts.prime}'s winning "
                        f"bid ({promise.dispute_reason.replace('-', ' ')}).")  # fmt: skip
            evidence = (promise.nid, promise.answer_nid)
        elif promise.answer != "acknowledged" or _after(promise.answer_at, facts.award_at):
            sentence = (f"{promise.subcontractor} was named in {facts.prime}'s winning bid but never "
                        "acknowledged the promise before the award.")  # fmt: skip
            evidence = (promise.nid, facts.award_nid)
        else:
            continue
        yield _finding(facts, "NAMED_WITHOUT_CONSENT", "high", [facts.prime, promise.subcontractor],
                       sentence, *evidence)  # fmt: skip


def _after(first: At | None, second: At | None) -> bool:
    """Whether a fact signed as taking effect at ``first`` came after one at ``second``."""
    return first is not None and second is not None and first > second


def terms_worsened(facts: PackageFacts, t: Thresholds) -> Iterator[Finding]:
    for promise in facts.winning_promises():
        contract = facts.subcontracts.get(promise.subcontractor)
        if contract is None:
            continue
        worse = worsened(promise.terms, contract.issued_terms)
        if worse:
            yield _finding(
                facts, "TERMS_WORSENED", "medium", [facts.prime, promise.subcontractor],
                f"{promise.subcontractor}'s subcontract is worse than {facts.prime}'s bid promised: "
                f"{'; '.join(worse)}.",
                promise.nid, contract.nid,
                amounts=({"promised_value_per_year": promise.terms.value_per_year,
                          "contracted_value_per_year": contract.issued_terms.value_per_year}
                         if contract.issued_terms.value_per_year < promise.terms.value_per_year
                         else None),
            )  # fmt: skip


def worsened(promised: Terms, actual: Terms) -> list[str]:
    """How ``actual`` terms are worse for the subcontractor than ``promised``."""
    out = []
    if actual.share_pct < promised.share_pct:
        out.append(f"share {actual.share_pct}% against {promised.share_pct}% promised")
    if actual.value_per_year < promised.value_per_year:
        out.append(
            f"{money(actual.value_per_year)} a year against {money(promised.value_per_year)}"
        )
    if actual.payment_terms_days > promised.payment_terms_days:
        out.append(
            f"paid in {actual.payment_terms_days} days against {promised.payment_terms_days}"
        )
    if actual.management_fee_pct > promised.management_fee_pct:
        out.append(
            f"management fee {actual.management_fee_pct}% against {promised.management_fee_pct}%"
        )
    if actual.at_risk_pct > promised.at_risk_pct:
        out.append(f"{actual.at_risk_pct}% of payment at risk against {promised.at_risk_pct}%")
    return out


def _variations_with_prior_terms(facts: PackageFacts) -> Iterator[tuple[Any, Terms]]:
    """Each variation with the subcontract's agreed terms just before it was proposed.

    A subcontract's variations are taken in the order of their signed numbers: one is
    proposed only once the one before it is answered, whatever dates their signers gave.
    """
    current = {sub: c.issued_terms for sub, c in facts.subcontracts.items()}
    for variation in sorted(facts.variations, key=lambda v: (v.subcontractor, v.number)):
        before = current[variation.subcontractor]
        yield variation, before
        if variation.status == "agreed":
            current[variation.subcontractor] = variation.terms


def cut_passed_down(facts: PackageFacts, t: Thresholds) -> Iterator[Finding]:
    cuts = [c for c in facts.value_changes if c.value < c.previous]
    for cut in cuts:
        cut_pct = -cut.change_pct
        for variation, before in _variations_with_prior_terms(facts):
            if variation.at < cut.at or before.value_per_year == 0:
                continue
            sub_cut = (
                (before.value_per_year - variation.terms.value_per_year)
                / before.value_per_year
                * HUNDRED
            )
            if sub_cut > cut_pct:
                yield _finding(
                    facts, "CUT_PASSED_DOWN", "high", [facts.prime, variation.subcontractor],
                    f"After the commissioner cut the contract by {cut_pct:.1f}%, {facts.prime} "
                    f"proposed cutting {variation.subcontractor}'s value by {sub_cut:.1f}% "
                    f"({money(before.value_per_year)} to {money(variation.terms.value_per_year)} a year).",
                    cut.nid, variation.nid,
                    amounts={"value_per_year_before": before.value_per_year,
                             "value_per_year_proposed": variation.terms.value_per_year},
                )  # fmt: skip


def unilateral_variation(facts: PackageFacts, t: Thresholds) -> Iterator[Finding]:
    for variation, before in _variations_with_prior_terms(facts):
        if variation.status == "agreed":
            continue
        sub = variation.subcontractor
        acts: list[int] = []
        new, old = variation.terms, before
        if new.referrals_per_period < old.referrals_per_period:
            for period, (_count, nid, sent) in received_referrals(facts, sub).items():
                first_day = Period.parse(period).first_day
                if (sent is not None and first_day >= variation.on
                        and sent <= new.referrals_per_period
                        and not _superseded(facts, variation, first_day, "referrals")):  # fmt: skip
                    acts.append(nid)
        if new.value_per_year < old.value_per_year and old.value_per_year:
            ratio = new.value_per_year / old.value_per_year
            for record in facts.invoices:
                if (
                    record.subcontractor == sub
                    and record.invoice_date >= variation.on
                    and record.payments
                    and not _superseded(facts, variation, record.invoice_date, "value")
                ) and (
                    0 < record.paid < record.amount and record.paid <= record.amount * ratio + PENNY
                ):
                    acts.extend(p.nid for p in record.payments)
        if acts:
            state = "disputed" if variation.status == "disputed" else "never accepted"
            yield _finding(
                facts, "UNILATERAL_VARIATION", "high", [facts.prime, sub],
                f"{facts.prime} acted on variation {variation.number} to {sub}'s subcontract, which "
                f"{sub} {state}: later referrals or payments follow the varied terms.",
                variation.nid, variation.answer_nid, *acts,
            )  # fmt: skip


def _superseded(facts: PackageFacts, variation: VariationFact, on: date, what: str) -> bool:
    """Whether, by ``on``, the subcontractor had agreed a later variation of its subcontract
    that cuts ``what`` (``referrals`` or ``value``) at least as far as ``variation`` did:
    acting on those terms from then on follows an agreement, not a disputed variation."""
    for later in facts.variations:
        if (later.subcontractor != variation.subcontractor or later.number <= variation.number
                or later.status != "agreed" or later.answer_on is None or later.answer_on > on):
            continue  # fmt: skip
        if what == "referrals" and (
            later.terms.referrals_per_period <= variation.terms.referrals_per_period
        ):
            return True
        if what == "value" and later.terms.value_per_year <= variation.terms.value_per_year:
            return True
    return False


def late_payment(facts: PackageFacts, t: Thresholds) -> Iterator[Finding]:
    pairs: dict[tuple[str, str], list[InvoiceTiming]] = {}
    for record in facts.invoices:
        timing = invoice_timing(facts, record, t)
        paid_late = (
            timing.days_to_pay is not None
            and record.invoice_date + timedelta(timing.days_to_pay) > timing.due
        )
        unpaid_overdue = (
            timing.days_to_pay is None and timing.outstanding > 0 and facts.as_of > timing.due
        )
        if paid_late or unpaid_overdue:
            pairs.setdefault((record.prime, record.subcontractor), []).append(timing)
    for (payer, payee), late in sorted(pairs.items()):
        paid = [x.days_to_pay for x in late if x.days_to_pay is not None]
        unpaid = len(late) - len(paid)
        parts = []
        if paid:
            parts.append(f"paid {len(paid)} invoice(s) late (up to {max(paid)} days)")
        if unpaid:
            parts.append(f"has {unpaid} invoice(s) unpaid past the due date")
        interest = sum((x.interest for x in late), Decimal(0))
        yield _finding(
            facts, "LATE_PAYMENT", "high" if any(d > 60 for d in paid) or unpaid else "medium",
            [payer, payee],
            f"{payer} {' and '.join(parts)} to {payee}, against terms of "
            f"{min(late[0].terms_days, t.late_payment_days)} days; late-payment interest owed "
            f"{money(interest)}.",
            *(n for x in late for n in [x.record.nid, *(p.nid for p in x.record.payments)]),
            amounts={"interest_owed": interest},
        )  # fmt: skip


def payment_date_disputed(facts: PackageFacts, t: Thresholds) -> Iterator[Finding]:
    pairs: dict[tuple[str, str], list[DisputedDate]] = {}
    for record in facts.invoices:
        for disputed in invoice_timing(facts, record, t).disputed:
            pairs.setdefault((record.prime, record.subcontractor), []).append(disputed)
    for (payer, payee), found in sorted(pairs.items()):
        widest = max(found, key=lambda d: d.days)
        yield _finding(
            facts, "PAYMENT_DATE_DISPUTED", "medium", [payer, payee],
            f"{payer} signed {len(found)} payment(s) to {payee} as paid on dates that {payee} "
            f"signed receiving up to {widest.days} days later (e.g. paid {widest.payment.paid_on},"
            f" received {widest.receipt.received_on}): more than "
            f"{t.payment_date_tolerance_days} days apart, so lateness is judged on the date "
            "received.",
            *(n for d in found for n in (d.payment.nid, d.receipt.nid)),
        )  # fmt: skip


def terms_on(facts: PackageFacts, contract: SubcontractFact, day: date) -> Terms:
    """The subcontract's terms in force on ``day``: as issued, changed by each variation the
    subcontractor had agreed by then, in the order agreed. A period is judged by the terms
    of its time: a variation agreed later does not rewrite what was owed before it."""
    agreed = sorted(
        (v for v in facts.variations
         if v.subcontractor == contract.subcontractor and v.status == "agreed"
         and v.answer_on is not None and v.answer_on <= day),
        key=lambda v: (v.answer_on, v.answer_at or v.at),
    )  # fmt: skip
    return agreed[-1].terms if agreed else contract.issued_terms


def referral_shortfall(facts: PackageFacts, t: Thresholds) -> Iterator[Finding]:
    for sub, contract in sorted(facts.subcontracts.items()):
        received = received_referrals(facts, sub)
        run: list[tuple[str, int, int | None, int]] = []  # (period, count, nid, promised)
        for period in _completed_periods(facts, contract):
            # the promise of the period's own time: the terms in force on its last day
            promised = terms_on(facts, contract, period.last_day).referrals_per_period
            count, nid, _sent = received.get(str(period), (0, None, None))
            if promised and Decimal(count) < promised * t.referral_shortfall_pct / HUNDRED:
                run.append((str(period), count, nid, promised))
                if len(run) >= t.referral_shortfall_periods:
                    break
            else:
                run = []
        if len(run) >= t.referral_shortfall_periods:
            promises = {promised for *_, promised in run}
            if len(promises) == 1:
                counts = ", ".join(f"{c} in {p}" for p, c, _, _ in run)
                against = f"against {promises.pop()} promised"
            else:
                counts = ", ".join(f"{c} in {p} (of {m})" for p, c, _, m in run)
                against = "against what was promised"
            yield _finding(
                facts, "REFERRAL_SHORTFALL", "medium", [facts.prime, sub],
                f"{sub} received {counts} {against} per "
                f"{contract.terms.referral_cadence}: below {t.referral_shortfall_pct}% for "
                f"{len(run)} periods in a row, so a review discussion is due.",
                contract.nid, *(n for _, _, n, _ in run),
            )  # fmt: skip


def prime_self_delivery(facts: PackageFacts, t: Thresholds) -> Iterator[Finding]:
    bid = facts.winning_bid
    if bid is not None and bid.self_delivery_pct > 0:
        yield _finding(
            facts, "PRIME_SELF_DELIVERY", "low", [facts.prime],
            f"{facts.prime} primes this package and keeps {bid.self_delivery_pct}% of the delivery "
            "itself; the Code of Practice says a prime should not both prime and deliver in the "
            "same contract package area.",
            bid.nid, facts.award_nid,
        )  # fmt: skip


def risk_margin(size: str | None, t: Thresholds) -> Decimal:
    """How many percentage points more of its payment a subcontractor of ``size`` may have
    at risk than the prime has in its own contract (unknown sizes count as small)."""
    if size == "large":
        return t.risk_margin_large_pct
    if size == "medium":
        return t.risk_margin_medium_pct
    return t.risk_margin_small_pct


def disproportionate_risk(facts: PackageFacts, t: Thresholds) -> Iterator[Finding]:
    for sub, contract in sorted(facts.subcontracts.items()):
        org = facts.orgs.get(sub)
        size = org.size if org is not None else None
        margin = risk_margin(size, t)
        if contract.terms.at_risk_pct > facts.at_risk_pct + margin:
            what = (f"a {size} voluntary-sector organisation" if org is not None
                    and org.sector == "vcs" and size else
                    f"a {size} organisation" if size else "an organisation of unstated size")  # fmt: skip
            allowed = (f"more than the {facts.at_risk_pct}% at risk in {facts.prime}'s own "
                       "contract" if margin == 0 else
                       f"more than {margin} points above the {facts.at_risk_pct}% at risk in "
                       f"{facts.prime}'s own contract")  # fmt: skip
            yield _finding(
                facts, "DISPROPORTIONATE_RISK", "medium", [facts.prime, sub],
                f"{sub}, {what}, has {contract.terms.at_risk_pct}% of its payment at risk, "
                f"{allowed}.",
                facts.nid, contract.nid,
            )  # fmt: skip


def kpi_undefined(facts: PackageFacts, t: Thresholds) -> Iterator[Finding]:
    for kpi in facts.kpis.values():
        missing = [
            w
            for w, v in (("target", kpi.target), ("acceptable level", kpi.acceptable))
            if v is None
        ]
        if missing:
            yield _finding(facts, "KPI_UNDEFINED", "low", [facts.commissioner],
                           f"KPI {kpi.name!r} has no {' and no '.join(missing)}.", kpi.nid)  # fmt: skip
    per_year = facts.value / facts.years if facts.years else facts.value
    if per_year > t.kpi_large_package_per_year and len(facts.kpis) < t.kpi_minimum:
        yield _finding(
            facts, "KPI_UNDEFINED", "low", [facts.commissioner],
            f"The package is worth {money(per_year)} a year but has {len(facts.kpis)} KPI(s); "
            f"packages over {money(t.kpi_large_package_per_year)} a year need at least {t.kpi_minimum}.",
            facts.nid, *(k.nid for k in facts.kpis.values()),
            amounts={"value_per_year": _pennies(per_year)},
        )  # fmt: skip


def performance_failing(facts: PackageFacts, t: Thresholds) -> Iterator[Finding]:
    by_provider: dict[tuple[str, str], list[Any]] = {}
    for r in facts.kpi_reports:
        by_provider.setdefault((r.subcontractor, r.kpi), []).append(r)
    for (sub, name), reports in sorted(by_provider.items()):
        kpi = facts.kpis.get(name)
        if kpi is None:
            continue
        run: list[Any] = []
        for r in sorted(reports, key=lambda r: Period.parse(r.period)):
            if rating(r.actual, kpi.target, kpi.acceptable, kpi.direction, t) in BELOW_ACCEPTABLE:
                run.append(r)
                if len(run) >= t.performance_failing_periods:
                    break
            else:
                run = []
        if len(run) < t.performance_failing_periods:
            continue
        contract = facts.subcontracts.get(sub)
        since = Period.parse(run[0].period).first_day
        if contract and any(on >= since for on, _ in contract.failing_processes):
            continue
        periods = ", ".join(f"{r.actual} in {r.period}" for r in run)
        yield _finding(
            facts, "PERFORMANCE_FAILING", "medium", [facts.prime, sub],
            f"{sub} was below the acceptable level of {kpi.acceptable} for {name!r} ({periods}) "
            f"and {facts.prime} has recorded no failing-provider process.",
            *(r.nid for r in run),
        )  # fmt: skip


def unexplained_shortfall(facts: PackageFacts, t: Thresholds) -> Iterator[Finding]:
    deadline = facts.end + timedelta(days=t.shortfall_explanation_days)
    if facts.as_of <= deadline:
        return
    for promise in facts.winning_promises():
        # Everything received so far counts: work done in the contract is often paid after it.
        item = delivery(facts, promise.subcontractor)
        # Value billed counts as delivered: what was billed and not paid is the money's
        # lateness (LATE_PAYMENT), not a promise undelivered (one fact, one finding).
        billed = max(item.paid, item.invoiced)
        measures = [m for m in (pct(billed, item.value_due), item.referrals_pct) if m is not None]
        if measures and min(measures) >= t.shortfall_delivered_pct:
            continue
        if any(on <= deadline for on, _ in promise.explanations):
            continue
        yield _finding(
            facts, "UNEXPLAINED_SHORTFALL", "medium", [facts.prime, promise.subcontractor],
            f"The promise to {promise.subcontractor} was not delivered by the contract's end "
            f"({facts.end}: {money(billed)} billed of {money(item.value_due)} due, "
            f"{item.referrals} of {_whole(item.referrals_due)} referrals) and {facts.prime} gave "
            f"no signed explanation within {t.shortfall_explanation_days} days.",
            promise.nid, *item.evidence,
            amounts={"value_due": _pennies(item.value_due), "value_billed": billed,
                     "shortfall_value": _pennies(max(Decimal(0), item.value_due - billed))},
        )  # fmt: skip


def concern_unanswered(facts: PackageFacts, t: Thresholds) -> Iterator[Finding]:
    for concern in facts.concerns:
        if concern.answers:
            continue
        waited = working_days_between(concern.on, facts.as_of)
        if waited > t.concern_working_days:
            yield _finding(
                facts, "CONCERN_UNANSWERED", "medium", [facts.commissioner, concern.subcontractor],
                f"{concern.subcontractor}'s concern {concern.reference!r} ({concern.subject}) has had "
                f"no recorded response from {facts.commissioner} in {waited} working days.",
                concern.nid,
            )  # fmt: skip


RULES = (
    bid_candy, named_without_consent, terms_worsened, cut_passed_down, unilateral_variation,
    late_payment, payment_date_disputed, referral_shortfall, prime_self_delivery, disproportionate_risk, kpi_undefined,
    performance_failing, unexplained_shortfall, concern_unanswered,
)  # fmt: skip
RULE_IDS = tuple(rule.__name__.upper() for rule in RULES)


# -- the prime against the Code of Practice's four Merlin areas -----------------------------

MERLIN_AREAS = {
    "Supply Chain Design": ("PRIME_SELF_DELIVERY", "DISPROPORTIONATE_RISK"),
    "Commitment": ("BID_CANDY", "NAMED_WITHOUT_CONSENT", "TERMS_WORSENED", "CUT_PASSED_DOWN"),
    "Conduct": (
        "LATE_PAYMENT",
        "PAYMENT_DATE_DISPUTED",
        "UNILATERAL_VARIATION",
        "REFERRAL_SHORTFALL",
        "PERFORMANCE_FAILING",
    ),
    "Review": ("UNEXPLAINED_SHORTFALL", "CONCERN_UNANSWERED"),
}


def scorecard(prime: str, packages: list[PackageFacts], t: Thresholds) -> list[dict[str, Any]]:
    """The prime's record across the packages it primes, by Merlin area, with its metrics."""
    mine = [f for f in packages if f.prime == prime]
    found = [x for f in mine for x in findings(f, t) if prime in x.organisations]
    promises = [p for f in mine for p in f.winning_promises()]
    deliveries = [delivery(f, p.subcontractor) for f in mine for p in f.winning_promises()]
    timings = [invoice_timing(f, r, t) for f in mine for r in f.invoices]
    settled = [x.days_to_pay for x in timings if x.days_to_pay is not None]
    self_shares = [f.winning_bid.self_delivery_pct for f in mine if f.winning_bid]
    subcontracted = [c for f in mine for c in f.subcontracts.values()]
    vcs = [c for f in mine for c in f.subcontracts.values()
           if (o := f.orgs.get(c.subcontractor)) and o.sector == "vcs"]  # fmt: skip
    value_all = sum((c.terms.value_per_year for c in subcontracted), Decimal(0))
    value_vcs = sum((c.terms.value_per_year for c in vcs), Decimal(0))
    paid = sum((d.paid for d in deliveries), Decimal(0))
    due = sum((d.value_due for d in deliveries), Decimal(0))
    concerns = [c for f in mine for c in f.concerns]
    metrics = {
        "Supply Chain Design": {
            "packages primed": len(mine),
            "mean self-delivery share %": _s(_mean(self_shares)),
            "subcontractors": len(subcontracted),
            "voluntary-sector share of subcontracted value %": _p(pct(value_vcs, value_all)),
        },
        "Commitment": {
            "promises made in winning bids": len(promises),
            "promises acknowledged %": _p(
                pct(sum(p.answer == "acknowledged" for p in promises), len(promises))
            ),
            "promised value delivered to date %": _p(pct(paid, due)),
        },
        "Conduct": {
            "invoices": len(timings),
            "paid within 30 days %": _p(pct(sum(d <= 30 for d in settled), len(settled))),
            "mean days to pay": _s(_mean([Decimal(d) for d in settled])),
            "late-payment interest owed £": _s(sum((x.interest for x in timings), Decimal(0))),
        },
        "Review": {
            "concerns raised by its subcontractors": len(concerns),
            "concerns answered %": _p(pct(sum(bool(c.answers) for c in concerns), len(concerns))),
            "failing-provider processes recorded": sum(
                len(c.failing_processes) for c in subcontracted
            ),
        },
    }
    rows = []
    for area, rules in MERLIN_AREAS.items():
        area_findings = [x for x in found if x.rule in rules]
        severities = {x.severity for x in area_findings}
        rows.append({
            "prime": prime,
            "area": area,
            "rating": "red" if "high" in severities else ("amber" if area_findings else "green"),
            "findings": len(area_findings),
            "rules": sorted({x.rule for x in area_findings}),
            "metrics": metrics[area],
            "evidence": sorted({n for x in area_findings for n in x.evidence}),
        })  # fmt: skip
    return rows


def _mean(values: list[Decimal]) -> Decimal | None:
    return (sum(values, Decimal(0)) / len(values)).quantize(Decimal("0.1")) if values else None


# -- ledger measures set beside 360 review ratings ------------------------------------------


@dataclass(frozen=True)
class Measure:
    """A ledger measure shown beside a review dimension, with the events it rests on."""

    label: str
    value: Decimal | None  # a percentage; None when there is nothing yet to measure
    evidence: tuple[int, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"measure": self.label, "value": _p(self.value), "evidence": list(self.evidence)}


def review_evidence(facts: PackageFacts, ratee: str, t: Thresholds) -> dict[str, Measure]:
    """Per review dimension (by slug), what the ledger shows about ``ratee`` in the package.

    Only the prime has measures so far: payment reliability beside the share of its
    subcontractors' invoices paid within the late-payment threshold, and honouring
    commitments beside the promised value it has delivered to date.
    """
    if not facts.prime or ratee != facts.prime:
        return {}
    timings = [invoice_timing(facts, r, t) for r in facts.invoices if r.prime == ratee]
    settled = [x for x in timings if x.days_to_pay is not None]
    on_time = sum(
        1 for x in settled if x.days_to_pay is not None and x.days_to_pay <= t.late_payment_days
    )
    deliveries = [delivery(facts, p.subcontractor) for p in facts.winning_promises()]
    paid = sum((d.paid for d in deliveries), Decimal(0))
    due = sum((d.value_due for d in deliveries), Decimal(0))
    return {
        "payment": Measure(
            f"invoices paid within {t.late_payment_days} days %",
            pct(on_time, len(settled)),
            tuple(_evidence(*(x.record.nid for x in settled))),
        ),
        "commitments": Measure(
            "promised value delivered to date %",
            pct(paid, due),
            tuple(_evidence(*(p.nid for p in facts.winning_promises()),
                            *(n for d in deliveries for n in d.evidence))),
        ),
    }  # fmt: skip
