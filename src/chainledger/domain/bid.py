"""A prime's bid for a package, with the workshare it promises each named subcontractor.

A named subcontractor acknowledges the promise by signing its hash, or disputes
it: named without consent, or terms that differ from what was agreed. This is
the record that makes "bid candy" visible.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from chainledger.domain.aggregate import LedgerAggregate
from chainledger.domain.events import LedgerEvent, Signer, ledger_event
from chainledger.domain.ids import bid_id
from chainledger.domain.terms import Promise, Terms, promise_hash
from chainledger.errors import Refused


class BidStatus(StrEnum):
    SUBMITTED = "submitted"
    WITHDRAWN = "withdrawn"


class DisputeReason(StrEnum):
    NAMED_WITHOUT_CONSENT = "named-without-consent"
    TERMS_DIFFER = "terms-differ"


@dataclass(frozen=True)
class Response:
    """A named subcontractor's answer to its promise."""

    acknowledged: bool
    reason: DisputeReason | None
    note: str


class Bid(LedgerAggregate):
    """One prime's bid for one package."""

    package: str
    prime: str
    price: Decimal
    self_delivery_pct: Decimal
    promises: dict[str, Terms]
    status: BidStatus
    responses: dict[str, Response]
    explanations: dict[str, list[str]]

    @classmethod
    def submit(
        cls,
        signer: Signer,
        *,
        package: str,
        price: Decimal,
        self_delivery_pct: Decimal,
        promises: tuple[Promise, ...],
    ) -> Bid:
        names = [p.subcontractor for p in promises]
        if len(set(names)) != len(names):
            raise Refused("a bid names each subcontractor once")
        if signer.org in names:
            raise Refused("a prime cannot promise workshare to itself; use --self-share")
        total = self_delivery_pct + sum((p.terms.share_pct for p in promises), Decimal(0))
        if total > 100:
            raise Refused(
                f"the self-delivery share plus the promised shares come to {total}%: at most 100%"
            )
        return cls._create(
            BidSubmitted,
            id=bid_id(package, signer.org),
            ledger_id=signer.ledger_id,
            signer=signer,
            package=package,
            price=price,
            self_delivery_pct=self_delivery_pct,
            promises=promises,
        )

    def promise_hash(self, subcontractor: str) -> str:
        return promise_hash(
            self.package, self.prime, Promise(subcontractor, self.promises[subcontractor])
        )

    def _named(self, signer: Signer) -> None:
        if signer.org not in self.promises:
            raise Refused(f"{self.prime}'s bid for {self.package} does not name {signer.org}")
        if signer.org in self.responses:
            answer = "acknowledged" if self.responses[signer.org].acknowledged else "disputed"
            raise Refused(f"{signer.org} has already {answer} this bid")

    def explain_shortfall(self, signer: Signer, *, subcontractor: str, explanation: str) -> None:
        """The prime's written explanation for a promise it did not deliver."""
        if subcontractor not in self.promises:
            raise Refused(f"{self.prime}'s bid made no promise to {subcontractor}")
        self._trigger(
            ShortfallExplained, signer, subcontractor=subcontractor, explanation=explanation
        )

    def withdraw(self, signer: Signer, *, reason: str) -> None:
        if self.status is BidStatus.WITHDRAWN:
            raise Refused(f"{self.prime}'s bid for {self.package} is already withdrawn")
        self._trigger(BidWithdrawn, signer, reason=reason)

    def acknowledge(self, signer: Signer, *, expected_hash: str | None = None) -> str:
        """Sign the hash of the promise naming ``signer``: "these are the terms we agreed"."""
        self._named(signer)
        current = self.promise_hash(signer.org)
        if expected_hash is not None and expected_hash != current:
            raise Refused(
                "the promise's terms are not the ones you were shown (its hash is "
                f"{current[:16]}…); read them again with: chainledger bid show"
            )
        self._trigger(PromiseAcknowledged, signer, promise_hash=current)
        return current

    def dispute(self, signer: Signer, *, reason: DisputeReason, note: str) -> None:
        self._named(signer)
        self._trigger(
            PromiseDisputed,
            signer,
            promise_hash=self.promise_hash(signer.org),
            reason=reason,
            note=note,
        )


@ledger_event("BidSubmitted")
class BidSubmitted(LedgerEvent):
    creates = Bid
    package: str
    price: Decimal
    self_delivery_pct: Decimal
    promises: tuple[Promise, ...]

    def apply(self, aggregate: Any) -> None:
        aggregate.package = self.package
        aggregate.prime = self.org
        aggregate.price = self.price
        aggregate.self_delivery_pct = self.self_delivery_pct
        aggregate.promises = {p.subcontractor: p.terms for p in self.promises}
        aggregate.status = BidStatus.SUBMITTED
        aggregate.responses = {}
        aggregate.explanations = {}

    def summary(self) -> str:
        named = ", ".join(
            f"{p.subcontractor} {p.terms.share_pct}% (£{p.terms.value_per_year:,}/yr)"
            for p in self.promises
        )
        return (
            f"bid £{self.price:,}; self-delivery {self.self_delivery_pct}%; "
            f"names {named or 'no subcontractors'}"
        )


@ledger_event("BidWithdrawn")
class BidWithdrawn(LedgerEvent):
    reason: str

    def apply(self, aggregate: Any) -> None:
        aggregate.status = BidStatus.WITHDRAWN

    def summary(self) -> str:
        return f"bid withdrawn: {self.reason}"


@ledger_event("PromiseAcknowledged")
class PromiseAcknowledged(LedgerEvent):
    promise_hash: str

    def apply(self, aggregate: Any) -> None:
        aggregate.responses[self.org] = Response(True, None, "")

    def summary(self) -> str:
        return f"{self.org} acknowledged the promise made in its name ({self.promise_hash[:12]}…)"


@ledger_event("PromiseDisputed")
class PromiseDisputed(LedgerEvent):
    promise_hash: str
    reason: DisputeReason
    note: str

    def apply(self, aggregate: Any) -> None:
        aggregate.responses[self.org] = Response(False, self.reason, self.note)

    def summary(self) -> str:
        note = f": {self.note}" if self.note else ""
        return f"{self.org} disputed the promise made in its name ({self.reason.value}){note}"


@ledger_event("ShortfallExplained")
class ShortfallExplained(LedgerEvent):
    subcontractor: str
    explanation: str

    def apply(self, aggregate: Any) -> None:
        aggregate.explanations.setdefault(self.subcontractor, []).append(self.explanation)

    def summary(self) -> str:
        return f"{self.org} explained the undelivered promise to {self.subcontractor}: {self.explanation}"
