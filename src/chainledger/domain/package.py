"""A contract package: what the commissioner buys, its KPIs, its award and its value over time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from chainledger.domain.aggregate import LedgerAggregate
from chainledger.domain.events import LedgerEvent, Signer, ledger_event
from chainledger.domain.ids import package_id
from chainledger.domain.terms import PaymentModel
from chainledger.errors import Refused

if TYPE_CHECKING:
    from chainledger.domain.quantities import Period


class PackageStatus(StrEnum):
    OPEN = "open"  # tendering: bids may be submitted
    AWARDED = "awarded"
    CLOSED = "closed"


class Direction(StrEnum):
    """Whether more of a KPI's measure is better or worse."""

    HIGHER = "higher"
    LOWER = "lower"


@dataclass(frozen=True)
class Kpi:
    """A key performance indicator: what is measured, and what is good enough."""

    name: str
    unit: str
    target: Decimal | None
    acceptable: Decimal | None
    direction: Direction
    cadence: str  # "month" or "quarter"


# What may still be recorded on a closed package: the steps that settle the contract period.
RUN_OFF = ("invoices, payments and their confirmations, referrals and KPI reports for periods "
           "that began before it closed, attestations, shortfall explanations and answers to "
           "concerns")  # fmt: skip


class Package(LedgerAggregate):
    """A contract package, from tender to close. Only its commissioner signs its events."""

    reference: str
    commissioner: str
    title: str
    area: str
    value: Decimal
    original_value: Decimal
    start: date
    end: date
    description: str
    payment_model: PaymentModel
    at_risk_pct: Decimal
    kpis: dict[str, Kpi]
    status: PackageStatus
    prime: str | None
    awarded_price: Decimal | None
    closed_on: date | None = None  # when it was closed (its close event's effective date)

    @classmethod
    def create(
        cls,
        signer: Signer,
        *,
        reference: str,
        title: str,
        area: str,
        value: Decimal,
        start: date,
        end: date,
        description: str,
        payment_model: PaymentModel,
        at_risk_pct: Decimal,
    ) -> Package:
        if end <= start:
            raise Refused("the contract period must end after it starts")
        if payment_model is PaymentModel.FIXED and at_risk_pct:
            raise Refused("a fixed payment model puts nothing at risk: leave --at-risk at 0")
        return cls._create(
            PackageCreated,
            id=package_id(reference),
            ledger_id=signer.ledger_id,
            signer=signer,
            reference=reference,
            title=title,
            area=area,
            value=value,
            start=start,
            end=end,
            description=description,
            payment_model=payment_model,
            at_risk_pct=at_risk_pct,
        )

    def require_open_for_business(self) -> None:
        """Refuse any step on a closed package."""
        if self.status is PackageStatus.CLOSED:
            raise Refused(f"package {self.reference} is closed: nothing more can be recorded "
                          f"but its run-off ({RUN_OFF})")  # fmt: skip

    def require_run_off(self, period: Period | None = None) -> None:
        """Refuse a step that settles the contract period, once the package is closed, if it
        is for a ``period`` that began after the contract ended or the package closed. The
        run-off (``RUN_OFF``) settles what was done while the contract ran: the last
        quarter's invoices, payments and their confirmations, referral counts and KPI
        reports, a prime's explanation of a shortfall, an answer to a concern."""
        if self.status is not PackageStatus.CLOSED or period is None:
            return
        last = min(self.end, self.closed_on or self.end)
        if period.first_day > last:
            raise Refused(f"package {self.reference} closed on {last}: {period} began after it, "
                          "so nothing for it can be recorded")  # fmt: skip

    def define_kpi(self, signer: Signer, kpi: Kpi) -> None:
        self.require_open_for_business()
        if kpi.name in self.kpis:
            raise Refused(f"package {self.reference} already has a KPI named {kpi.name!r}")
        if kpi.target is not None and kpi.acceptable is not None:
            worse = (
                kpi.acceptable > kpi.target
                if kpi.direction is Direction.HIGHER
                else kpi.acceptable < kpi.target
            )
            if worse:
                raise Refused(
                    f"KPI {kpi.name!r}: the acceptable level must not be better than the target"
                )
        self._trigger(KpiDefined, signer, kpi=kpi)

    def award(self, signer: Signer, *, prime: str, bid_hash: str, price: Decimal) -> None:
        self.require_open_for_business()
        if self.status is PackageStatus.AWARDED:
            raise Refused(f"package {self.reference} has already been awarded to {self.prime}")
        self._trigger(PackageAwarded, signer, prime=prime, bid_hash=bid_hash, price=price)

    def vary_value(self, signer: Signer, *, value: Decimal, reason: str) -> None:
        self.require_open_for_business()
        if self.status is not PackageStatus.AWARDED:
            raise Refused(
                f"package {self.reference} is not awarded yet: there is no contract to vary"
            )
        if value == self.value:
            raise Refused(f"package {self.reference} is already worth £{value:,}")
        self._trigger(ContractValueVaried, signer, previous=self.value, value=value, reason=reason)

    def close(self, signer: Signer, *, reason: str) -> None:
        self.require_open_for_business()
        self._trigger(PackageClosed, signer, reason=reason)


@ledger_event("PackageCreated")
class PackageCreated(LedgerEvent):
    creates = Package
    reference: str
    title: str
    area: str
    value: Decimal
    start: date
    end: date
    description: str
    payment_model: PaymentModel
    at_risk_pct: Decimal

    def apply(self, aggregate: Any) -> None:
        aggregate.reference = self.reference
        aggregate.commissioner = self.org
        aggregate.title = self.title
        aggregate.area = self.area
        aggregate.value = aggregate.original_value = self.value
        aggregate.start = self.start
        aggregate.end = self.end
        aggregate.description = self.description
        aggregate.payment_model = self.payment_model
        aggregate.at_risk_pct = self.at_risk_pct
        aggregate.kpis = {}
        aggregate.status = PackageStatus.OPEN
        aggregate.prime = None
        aggregate.awarded_price = None

    def summary(self) -> str:
        return (
            f"package {self.reference} created: {self.title} ({self.area}), £{self.value:,} "
            f"from {self.start} to {self.end}, {self.payment_model.value}"
        )


@ledger_event("KpiDefined")
class KpiDefined(LedgerEvent):
    kpi: Kpi

    def apply(self, aggregate: Any) -> None:
        aggregate.kpis[self.kpi.name] = self.kpi

    def summary(self) -> str:
        k = self.kpi
        return (
            f"KPI {k.name!r} defined: target {k.target if k.target is not None else 'none'} "
            f"{k.unit}, acceptable {k.acceptable if k.acceptable is not None else 'none'}, "
            f"{k.direction.value} is better, per {k.cadence}"
        )


@ledger_event("PackageAwarded")
class PackageAwarded(LedgerEvent):
    prime: str
    bid_hash: str
    price: Decimal

    def apply(self, aggregate: Any) -> None:
        aggregate.status = PackageStatus.AWARDED
        aggregate.prime = self.prime
        aggregate.awarded_price = self.price

    def summary(self) -> str:
        return f"awarded to {self.prime}'s bid at £{self.price:,}"


@ledger_event("ContractValueVaried")
class ContractValueVaried(LedgerEvent):
    previous: Decimal
    value: Decimal
    reason: str

    def apply(self, aggregate: Any) -> None:
        aggregate.value = self.value

    def summary(self) -> str:
        change = (self.value - self.previous) / self.previous * 100 if self.previous else 0
        return (
            f"contract value varied from £{self.previous:,} to £{self.value:,} "
            f"({change:+.1f}%): {self.reason}"
        )


@ledger_event("PackageClosed")
class PackageClosed(LedgerEvent):
    reason: str

    def apply(self, aggregate: Any) -> None:
        aggregate.status = PackageStatus.CLOSED
        aggregate.closed_on = self.on

    def summary(self) -> str:
        return f"package closed: {self.reason}"
