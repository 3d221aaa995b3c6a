"""A subcontractor's invoice to its prime, the prime's payments, and their confirmation."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from chainledger.domain.aggregate import LedgerAggregate
from chainledger.domain.events import LedgerEvent, Signer, ledger_event, not_in_future
from chainledger.domain.ids import invoice_id
from chainledger.errors import Refused


class Invoice(LedgerAggregate):
    """One invoice: submitted by the subcontractor, paid by the prime."""

    package: str
    subcontractor: str
    prime: str
    reference: str
    amount: Decimal
    invoice_date: date
    period: str
    payments: list[tuple[Decimal, date]]
    paid: Decimal
    confirmed: Decimal

    @classmethod
    def submit(
        cls,
        signer: Signer,
        *,
        package: str,
        prime: str,
        reference: str,
        amount: Decimal,
        invoice_date: date,
        period: str,
    ) -> Invoice:
        if amount <= 0:
            raise Refused("an invoice must be for more than £0")
        not_in_future(invoice_date, "invoice date")
        return cls._create(
            InvoiceSubmitted,
            id=invoice_id(package, signer.org, reference),
            ledger_id=signer.ledger_id,
            signer=signer,
            package=package,
            prime=prime,
            reference=reference,
            amount=amount,
            invoice_date=invoice_date,
            period=period,
        )

    @property
    def outstanding(self) -> Decimal:
        return self.amount - self.paid

    def record_payment(self, signer: Signer, *, amount: Decimal, paid_on: date) -> None:
        if amount <= 0:
            raise Refused("a payment must be more than £0")
        if amount > self.outstanding:
            raise Refused(
                f"invoice {self.reference} has £{self.outstanding:,} outstanding: "
                f"a payment of £{amount:,} is more than that"
            )
        not_in_future(paid_on, "payment date")
        if paid_on < self.invoice_date:
            raise Refused(
                f"payment date {paid_on} is before invoice {self.reference}'s date {self.invoice_date}"
            )
        self._trigger(PaymentRecorded, signer, amount=amount, paid_on=paid_on)

    def confirm_payment(self, signer: Signer, *, received_on: date) -> Decimal:
        """Confirm receipt of everything paid so far; returns the amount confirmed."""
        unconfirmed = self.paid - self.confirmed
        if unconfirmed <= 0:
            raise Refused(f"no payment of invoice {self.reference} is waiting to be confirmed")
        not_in_future(received_on, "date received")
        last_paid = self.payments[-1][1]
        if received_on < last_paid:
            raise Refused(f"received on {received_on}, before it was paid on {last_paid}")
        self._trigger(PaymentConfirmed, signer, amount=unconfirmed, received_on=received_on)
        return unconfirmed


@ledger_event("InvoiceSubmitted")
class InvoiceSubmitted(LedgerEvent):
    creates = Invoice
    package: str
    prime: str
    reference: str
    amount: Decimal
    invoice_date: date
    period: str

    def apply(self, aggregate: Any) -> None:
        aggregate.package = self.package
        aggregate.subcontractor = self.org
        aggregate.prime = self.prime
        aggregate.reference = self.reference
        aggregate.amount = self.amount
        aggregate.invoice_date = self.invoice_date
        aggregate.period = self.period
        aggregate.payments = []
        aggregate.paid = Decimal(0)
        aggregate.confirmed = Decimal(0)

    def summary(self) -> str:
        return (
            f"{self.org} invoiced {self.prime} £{self.amount:,} ({self.reference}, "
            f"{self.period}) on {self.invoice_date}"
        )


@ledger_event("PaymentRecorded")
class PaymentRecorded(LedgerEvent):
    amount: Decimal
    paid_on: date

    def apply(self, aggregate: Any) -> None:
        aggregate.payments.append((self.amount, self.paid_on))
        aggregate.paid += self.amount

    def summary(self) -> str:
        return f"{self.org} paid £{self.amount:,} on {self.paid_on}"


@ledger_event("PaymentConfirmed")
class PaymentConfirmed(LedgerEvent):
    amount: Decimal
    received_on: date

    def apply(self, aggregate: Any) -> None:
        aggregate.confirmed += self.amount

    def summary(self) -> str:
        return f"{self.org} confirmed receiving £{self.amount:,} on {self.received_on}"
