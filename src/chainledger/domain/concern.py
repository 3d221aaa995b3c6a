"""Concerns a subcontractor raises directly with the commissioner, and expressions of interest.

A concern is its own aggregate signed by the subcontractor: the prime can
neither edit nor suppress it, only the commissioner answers it.
"""

from __future__ import annotations

from typing import Any

from chainledger.domain.aggregate import LedgerAggregate
from chainledger.domain.events import LedgerEvent, Signer, ledger_event
from chainledger.domain.ids import concern_id, interest_id


class Concern(LedgerAggregate):
    package: str
    reference: str
    raised_by: str
    subject: str
    responses: list[tuple[str, str]]

    @classmethod
    def raise_concern(
        cls, signer: Signer, *, package: str, reference: str, subject: str, text: str
    ) -> Concern:
        return cls._create(
            ConcernRaised,
            id=concern_id(package, signer.org, reference),
            ledger_id=signer.ledger_id,
            signer=signer,
            package=package,
            reference=reference,
            subject=subject,
            text=text,
        )

    def respond(self, signer: Signer, *, text: str) -> None:
        self._trigger(ConcernResponded, signer, text=text)


@ledger_event("ConcernRaised")
class ConcernRaised(LedgerEvent):
    creates = Concern
    package: str
    reference: str
    subject: str
    text: str

    def apply(self, aggregate: Any) -> None:
        aggregate.package = self.package
        aggregate.reference = self.reference
        aggregate.raised_by = self.org
        aggregate.subject = self.subject
        aggregate.responses = []

    def summary(self) -> str:
        return f"{self.org} raised concern {self.reference} with the commissioner: {self.subject}"


@ledger_event("ConcernResponded")
class ConcernResponded(LedgerEvent):
    text: str

    def apply(self, aggregate: Any) -> None:
        aggregate.responses.append((self.org, self.text))

    def summary(self) -> str:
        return f"{self.org} responded to the concern: {self.text}"


class ExpressionOfInterest(LedgerAggregate):
    package: str
    prime: str
    subcontractor: str
    offer: str
    document_sha256: str | None

    @classmethod
    def express(
        cls, signer: Signer, *, package: str, prime: str, offer: str, document_sha256: str | None
    ) -> ExpressionOfInterest:
        return cls._create(
            InterestExpressed,
            id=interest_id(package, prime, signer.org),
            ledger_id=signer.ledger_id,
            signer=signer,
            package=package,
            prime=prime,
            offer=offer,
            document_sha256=document_sha256,
        )


@ledger_event("InterestExpressed")
class InterestExpressed(LedgerEvent):
    creates = ExpressionOfInterest
    package: str
    prime: str
    offer: str
    document_sha256: str | None

    def apply(self, aggregate: Any) -> None:
        aggregate.package = self.package
        aggregate.prime = self.prime
        aggregate.subcontractor = self.org
        aggregate.offer = self.offer
        aggregate.document_sha256 = self.document_sha256

    def summary(self) -> str:
        document = (
            f" (document sha256 {self.document_sha256[:12]}…)" if self.document_sha256 else ""
        )
        return f"{self.org} expressed interest to {self.prime}: {self.offer}{document}"
