"""A subcontract after award: its terms and variations, and what flows along it.

The prime signs what it issues, proposes, sends and attests; the subcontractor
signs what it accepts, disputes, confirms and reports. Both sides of each flow
are on the record, so disagreement is visible rather than deniable.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any

from chainledger.domain.aggregate import LedgerAggregate
from chainledger.domain.events import LedgerEvent, Signer, ledger_event
from chainledger.domain.ids import subcontract_id
from chainledger.domain.package import Kpi
from chainledger.domain.quantities import Period
from chainledger.domain.terms import Terms
from chainledger.errors import Refused


class VariationStatus(StrEnum):
    PROPOSED = "proposed"
    ACCEPTED = "accepted"
    DISPUTED = "disputed"


@dataclass
class Variation:
    number: int
    terms: Terms
    reason: str
    status: VariationStatus = VariationStatus.PROPOSED
    dispute: str = ""


@dataclass
class KpiReport:
    actual: Decimal
    attested: bool = False


class Subcontract(LedgerAggregate):
    """One subcontractor's contract under one package."""

    package: str
    prime: str
    subcontractor: str
    contract_start: date
    contract_end: date
    issued_terms: Terms
    terms: Terms
    accepted: bool
    variations: dict[int, Variation]
    referrals_sent: dict[str, int]
    referrals_confirmed: dict[str, int]
    performance: dict[tuple[str, str], KpiReport]
    failing_processes: list[str]

    @classmethod
    def issue(
        cls,
        signer: Signer,
        *,
        package: str,
        subcontractor: str,
        terms: Terms,
        contract_start: date,
        contract_end: date,
    ) -> Subcontract:
        return cls._create(
            SubcontractIssued,
            id=subcontract_id(package, subcontractor),
            ledger_id=signer.ledger_id,
            signer=signer,
            package=package,
            subcontractor=subcontractor,
            terms=terms,
            contract_start=contract_start,
            contract_end=contract_end,
        )

    # -- the subcontractor's side -------------------------------------------------

    def accept(self, signer: Signer) -> None:
        if self.accepted:
            raise Refused(f"{self.subcontractor} has already accepted its subcontract")
        self._trigger(SubcontractAccepted, signer)

    def answer_variation(
        self, signer: Signer, *, number: int, accept: bool, reason: str = ""
    ) -> None:
        variation = self.variations.get(number)
        if variation is None:
            raise Refused(f"there is no variation {number} to {self.subcontractor}'s subcontract")
        if variation.status is not VariationStatus.PROPOSED:
            raise Refused(f"variation {number} has already been {variation.status.value}")
        if accept:
            self._trigger(VariationAccepted, signer, number=number)
        else:
            self._trigger(VariationDisputed, signer, number=number, reason=reason)

    def confirm_referrals(self, signer: Signer, *, period: Period, count: int) -> None:
        self._check_period(period, self.terms.referral_cadence, "referrals")
        self._trigger(ReferralsConfirmed, signer, period=str(period), count=count)

    def report_performance(
        self, signer: Signer, *, kpi: Kpi, period: Period, actual: Decimal
    ) -> None:
        self._check_period(period, kpi.cadence, f"KPI {kpi.name!r}")
        self._trigger(PerformanceReported, signer, kpi=kpi.name, period=str(period), actual=actual)

    # -- the prime's side ---------------------------------------------------------

    def propose_variation(self, signer: Signer, *, terms: Terms, reason: str) -> int:
        if terms == self.terms:
            raise Refused("the proposed terms are the same as the current ones")
        pending = [
            v.number for v in self.variations.values() if v.status is VariationStatus.PROPOSED
        ]
        if pending:
            raise Refused(f"variation {pending[0]} is still awaiting {self.subcontractor}'s answer")
        number = len(self.variations) + 1
        self._trigger(VariationProposed, signer, number=number, terms=terms, reason=reason)
        return number

    def send_referrals(self, signer: Signer, *, period: Period, count: int) -> None:
        self._check_period(period, self.terms.referral_cadence, "referrals")
        self._trigger(ReferralsSent, signer, period=str(period), count=count)

    def attest_performance(self, signer: Signer, *, kpi: str, period: Period) -> None:
        report = self.performance.get((kpi, str(period)))
        if report is None:
            raise Refused(
                f"{self.subcontractor} has not reported KPI {kpi!r} for {period}: nothing to attest"
            )
        if report.attested:
            raise Refused(f"KPI {kpi!r} for {period} is already attested")
        self._trigger(PerformanceAttested, signer, kpi=kpi, period=str(period))

    def start_failing_provider_process(self, signer: Signer, *, reason: str) -> None:
        self._trigger(FailingProviderProcessStarted, signer, reason=reason)

    def _check_period(self, period: Period, cadence: str, what: str) -> None:
        if period.cadence.value != cadence:
            raise Refused(
                f"{what} are counted per {cadence} here, so give a {cadence}, not {period}"
            )
        if period.last_day < self.contract_start or period.first_day > self.contract_end:
            raise Refused(
                f"{period} is outside the contract period "
                f"({self.contract_start} to {self.contract_end})"
            )


@ledger_event("SubcontractIssued")
class SubcontractIssued(LedgerEvent):
    creates = Subcontract
    package: str
    subcontractor: str
    terms: Terms
    contract_start: date
    contract_end: date

    def apply(self, aggregate: Any) -> None:
        aggregate.package = self.package
        aggregate.prime = self.org
        aggregate.subcontractor = self.subcontractor
        aggregate.contract_start = self.contract_start
        aggregate.contract_end = self.contract_end
        aggregate.issued_terms = aggregate.terms = self.terms
        aggregate.accepted = False
        aggregate.variations = {}
        aggregate.referrals_sent = {}
        aggregate.referrals_confirmed = {}
        aggregate.performance = {}
        aggregate.failing_processes = []

    def summary(self) -> str:
        t = self.terms
        return (
            f"subcontract issued to {self.subcontractor}: {t.service}, {t.share_pct}% "
            f"(£{t.value_per_year:,}/yr), {t.referrals_per_period} referrals per "
            f"{t.referral_cadence}, {t.payment_model.value} with {t.at_risk_pct}% at risk, "
            f"paid within {t.payment_terms_days} days, {t.management_fee_pct}% management fee"
        )


@ledger_event("SubcontractAccepted")
class SubcontractAccepted(LedgerEvent):
    def apply(self, aggregate: Any) -> None:
        aggregate.accepted = True

    def summary(self) -> str:
        return f"{self.org} accepted its subcontract"


@ledger_event("VariationProposed")
class VariationProposed(LedgerEvent):
    number: int
    terms: Terms
    reason: str

    def apply(self, aggregate: Any) -> None:
        aggregate.variations[self.number] = Variation(self.number, self.terms, self.reason)

    def summary(self) -> str:
        return (
            f"variation {self.number} proposed: £{self.terms.value_per_year:,}/yr, "
            f"{self.terms.share_pct}% — {self.reason}"
        )


@ledger_event("VariationAccepted")
class VariationAccepted(LedgerEvent):
    number: int

    def apply(self, aggregate: Any) -> None:
        variation = aggregate.variations[self.number]
        variation.status = VariationStatus.ACCEPTED
        aggregate.terms = variation.terms

    def summary(self) -> str:
        return f"{self.org} accepted variation {self.number}"


@ledger_event("VariationDisputed")
class VariationDisputed(LedgerEvent):
    number: int
    reason: str

    def apply(self, aggregate: Any) -> None:
        variation = aggregate.variations[self.number]
        variation.status = VariationStatus.DISPUTED
        variation.dispute = self.reason

    def summary(self) -> str:
        return f"{self.org} disputed variation {self.number}: {self.reason}"


@ledger_event("ReferralsSent")
class ReferralsSent(LedgerEvent):
    period: str
    count: int

    def apply(self, aggregate: Any) -> None:
        aggregate.referrals_sent[self.period] = self.count

    def summary(self) -> str:
        return f"{self.org} sent {self.count} referrals for {self.period}"


@ledger_event("ReferralsConfirmed")
class ReferralsConfirmed(LedgerEvent):
    period: str
    count: int

    def apply(self, aggregate: Any) -> None:
        aggregate.referrals_confirmed[self.period] = self.count

    def summary(self) -> str:
        return f"{self.org} confirmed receiving {self.count} referrals for {self.period}"


@ledger_event("PerformanceReported")
class PerformanceReported(LedgerEvent):
    kpi: str
    period: str
    actual: Decimal

    def apply(self, aggregate: Any) -> None:
        aggregate.performance[(self.kpi, self.period)] = KpiReport(self.actual)

    def summary(self) -> str:
        return f"{self.org} reported {self.kpi!r} = {self.actual} for {self.period}"


@ledger_event("PerformanceAttested")
class PerformanceAttested(LedgerEvent):
    kpi: str
    period: str

    def apply(self, aggregate: Any) -> None:
        aggregate.performance[(self.kpi, self.period)].attested = True

    def summary(self) -> str:
        return f"{self.org} attested the {self.kpi!r} report for {self.period}"


@ledger_event("FailingProviderProcessStarted")
class FailingProviderProcessStarted(LedgerEvent):
    reason: str

    def apply(self, aggregate: Any) -> None:
        aggregate.failing_processes.append(self.reason)

    def summary(self) -> str:
        return f"{self.org} started a failing-provider process: {self.reason}"
