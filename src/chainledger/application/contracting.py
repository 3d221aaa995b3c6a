"""Use cases of the contracting lifecycle, with who may sign each step.

Every method takes the signer first, then primitive values (strings, numbers)
that it checks itself, so the CLI and bulk import share one path and one set
of rules. Each runs in a ``UnitOfWork``: on its own it saves on success; in a
bulk import many steps share one unit and are saved all together or not at all.

An organisation's role is per package, whatever it stated when it registered:
whoever creates a package is its commissioner; any other organisation may bid for
it (a prime) or be named, subcontracted or offer its service in it (a
subcontractor), but never as its own subcontractor, nor in a package it commissions.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from chainledger.application.steps import signed_step
from chainledger.application.unit_of_work import (  # noqa: F401 - also read from here
    MAX_TEXT,
    UnitOfWork,
    text_field,
    unit_of_work,
)
from chainledger.domain.bid import Bid, BidStatus, DisputeReason
from chainledger.domain.concern import Concern, ExpressionOfInterest
from chainledger.domain.events import Signer
from chainledger.domain.ids import (
    bid_id,
    concern_id,
    interest_id,
    invoice_id,
    package_id,
    subcontract_id,
)
from chainledger.domain.invoice import Invoice
from chainledger.domain.package import Direction, Kpi, Package, PackageStatus
from chainledger.domain.quantities import (
    Cadence,
    Period,
    parse_count,
    parse_date,
    parse_decimal,
    parse_money,
    parse_percent,
)
from chainledger.domain.subcontract import Subcontract
from chainledger.domain.terms import TERM_FIELDS, PaymentModel, Promise, Terms
from chainledger.domain.values import (
    Role,
    check_handle,
    check_reference,
    parse_enum,
)
from chainledger.errors import InvalidValue, NotFound, Refused
from chainledger.projections.supply_chain import parts_in

if TYPE_CHECKING:
    from chainledger.application.ports import LedgerPort

SUBCONTRACTOR_PART = "be a subcontractor in it"


class Contracting:
    """The supply chain's lifecycle: packages, bids, subcontracts, referrals, invoices,
    payments, performance and concerns, each step signed by the one who may take it."""

    def __init__(self, ledger: LedgerPort) -> None:
        self.ledger = ledger

    @staticmethod
    def _not_commissioner(package: Package, handle: str, part: str) -> None:
        """Refuse ``handle`` taking ``part`` (bid, be a subcontractor…) in a package it commissions."""
        if handle == package.commissioner:
            raise Refused(
                f"{handle} is the commissioner of {package.reference}, so it cannot {part}"
            )

    @staticmethod
    def _not_own_subcontractor(prime: str, subcontractor: str) -> None:
        if prime == subcontractor:
            raise Refused(f"{prime} cannot be its own subcontractor")

    def _role_in(self, uow: UnitOfWork, package: Package, handle: str) -> Role | None:
        """The part ``handle`` plays in the package, or None if it plays none.

        Its commissioner; its prime (or a bidder for it); a subcontractor where it is
        named in a bid, has offered its service or holds a subcontract. An organisation
        that bid and is also named in another's bid is a subcontractor there.
        """
        if handle == package.commissioner:
            return Role.COMMISSIONER
        if handle == package.prime:
            return Role.PRIME
        if uow.get(subcontract_id(package.reference, handle)) is not None:
            return Role.SUBCONTRACTOR
        if package.prime is not None:
            awarded = uow.get(bid_id(package.reference, package.prime))
            if awarded is not None and handle in awarded.promises:
                return Role.SUBCONTRACTOR
            if uow.get(interest_id(package.reference, package.prime, handle)) is not None:
                return Role.SUBCONTRACTOR
        # Named in a losing bid, or interested before award: the read model knows.
        with self.ledger.views(package.reference) as session:  # type: ignore[attr-defined]
            parts = parts_in(session, package.reference, handle)
        if Role.SUBCONTRACTOR.value in parts:
            return Role.SUBCONTRACTOR
        if Role.PRIME.value in parts or uow.get(bid_id(package.reference, handle)) is not None:
            return Role.PRIME
        return None

    def _package(self, uow: UnitOfWork, reference: str, *, run_off: bool = False,
                 period: Period | None = None) -> Package:  # fmt: skip
        """The package, refused when closed, unless the step is part of its run-off (which
        settles the contract period: then refused only for a ``period`` after it)."""
        package = uow.get(package_id(check_reference(reference, "package reference")))
        if package is None:
            raise NotFound(f"no package {reference!r} in this ledger")
        if run_off:
            package.require_run_off(period)
        else:
            package.require_open_for_business()
        return package

    @staticmethod
    def _commissioner_only(package: Package, signer: Signer, step: str) -> None:
        if signer.org != package.commissioner:
            raise Refused(
                f"only {package.commissioner}, the commissioner of {package.reference}, can {step}"
            )

    @staticmethod
    def _awarded_prime_only(package: Package, signer: Signer, step: str) -> None:
        if package.prime is None:  # (awarded, or awarded and then closed: its run-off)
            raise Refused(f"package {package.reference} has not been awarded yet")
        if signer.org != package.prime:
            raise Refused(f"only {package.prime}, the prime of {package.reference}, can {step}")

    def _bid(self, uow: UnitOfWork, package: Package, prime: str) -> Bid:
        bid = uow.get(bid_id(package.reference, check_handle(prime)))
        if bid is None:
            raise NotFound(f"{prime} has no bid for package {package.reference}")
        return bid

    def _subcontract(self, uow: UnitOfWork, package: Package, subcontractor: str) -> Subcontract:
        subcontract = uow.get(subcontract_id(package.reference, check_handle(subcontractor)))
        if subcontract is None:
            raise Refused(f"{subcontractor} has no subcontract in package {package.reference}")
        return subcontract

    def _own_subcontract(self, uow: UnitOfWork, package: Package, signer: Signer) -> Subcontract:
        subcontract = uow.get(subcontract_id(package.reference, signer.org))
        if subcontract is None:
            raise Refused(f"{signer.org} has no subcontract in package {package.reference}")
        return subcontract

    # -- commissioner ---------------------------------------------------------------

    @signed_step
    def create_package(
        self,
        signer: Signer,
        reference: str,
        title: str,
        area: str,
        value: Any,
        start: Any,
        end: Any,
        description: str,
        payment_model: str,
        at_risk_pct: Any = "0",
        *,
        uow: UnitOfWork | None = None,
    ) -> str:
        """An organisation creates a contract package to tender, and so is its commissioner."""
        reference = check_reference(reference, "package reference")
        with unit_of_work(self.ledger, uow) as unit:
            unit.organisation(signer.org)
            if unit.get(package_id(reference)) is not None:
                raise Refused(f"package {reference!r} already exists")
            package = Package.create(
                signer,
                reference=reference,
                title=text_field(title, "title", max_length=200),
                area=text_field(area, "area", max_length=200),
                value=parse_money(value, "contract value"),
                start=parse_date(start, "start date"),
                end=parse_date(end, "end date"),
                description=text_field(description, "service description"),
                payment_model=parse_enum(PaymentModel, str(payment_model), "payment model"),
                at_risk_pct=parse_percent(at_risk_pct, "at-risk %"),
            )
            unit.add(package)
        return reference

    @signed_step
    def define_kpi(
        self,
        signer: Signer,
        package: str,
        name: str,
        unit: str,
        target: Any = None,
        acceptable: Any = None,
        direction: str = "higher",
        cadence: str = "quarter",
        *,
        uow: UnitOfWork | None = None,
    ) -> None:
        """The commissioner defines a KPI: target, acceptable minimum, direction, period."""
        with unit_of_work(self.ledger, uow) as work:
            contract = self._package(work, package)
            self._commissioner_only(contract, signer, "define its KPIs")
            kpi = Kpi(
                name=text_field(name, "KPI name", max_length=100),
                unit=text_field(unit, "KPI unit", max_length=50),
                target=None if target in (None, "") else parse_decimal(target, "target"),
                acceptable=None
                if acceptable in (None, "")
                else parse_decimal(acceptable, "acceptable level"),
                direction=parse_enum(Direction, str(direction), "direction"),
                cadence=parse_enum(Cadence, str(cadence), "reporting period").value,
            )
            contract.define_kpi(signer, kpi)

    @signed_step
    def award_package(
        self, signer: Signer, package: str, prime: str, *, uow: UnitOfWork | None = None
    ) -> None:
        """The commissioner awards the package to one prime's bid."""
        with unit_of_work(self.ledger, uow) as work:
            contract = self._package(work, package)
            self._commissioner_only(contract, signer, "award it")
            bid = self._bid(work, contract, prime)
            if bid.status is BidStatus.WITHDRAWN:
                raise Refused(f"{prime}'s bid for {contract.reference} was withdrawn")
            contract.award(signer, prime=bid.prime, bid_hash=bid.head, price=bid.price)

    @signed_step
    def vary_contract_value(
        self,
        signer: Signer,
        package: str,
        value: Any,
        reason: str,
        *,
        uow: UnitOfWork | None = None,
    ) -> None:
        """The commissioner changes the contract's value (a budget cut, say), with its reason."""
        with unit_of_work(self.ledger, uow) as work:
            contract = self._package(work, package)
            self._commissioner_only(contract, signer, "vary its value")
            contract.vary_value(
                signer,
                value=parse_money(value, "new contract value"),
                reason=text_field(reason, "reason"),
            )

    @signed_step
    def close_package(
        self,
        signer: Signer,
        package: str,
        reason: str = "contract ended",
        *,
        uow: UnitOfWork | None = None,
    ) -> None:
        """The commissioner closes the package: nothing more can be recorded on it."""
        with unit_of_work(self.ledger, uow) as work:
            contract = self._package(work, package)
            self._commissioner_only(contract, signer, "close it")
            contract.close(signer, reason=text_field(reason, "reason"))

    @signed_step
    def respond_to_concern(
        self,
        signer: Signer,
        package: str,
        subcontractor: str,
        concern: str,
        text: str,
        *,
        uow: UnitOfWork | None = None,
    ) -> None:
        """The commissioner answers a subcontractor's concern."""
        with unit_of_work(self.ledger, uow) as work:
            contract = self._package(work, package, run_off=True)
            self._commissioner_only(contract, signer, "respond to concerns")
            record = work.get(
                concern_id(
                    contract.reference, check_handle(subcontractor), check_reference(concern)
                )
            )
            if record is None:
                raise NotFound(
                    f"no concern {concern!r} from {subcontractor} on {contract.reference}"
                )
            record.respond(signer, text=text_field(text, "response"))

    # -- prime ----------------------------------------------------------------------

    @signed_step
    def submit_bid(
        self,
        signer: Signer,
        package: str,
        price: Any,
        self_delivery_pct: Any,
        promises: Any = (),
        *,
        uow: UnitOfWork | None = None,
    ) -> None:
        """A prime bids: its price, its own share, and a workshare promise per named subcontractor.

        Any organisation but the package's commissioner may bid, and name any but itself
        and the commissioner.
        """
        with unit_of_work(self.ledger, uow) as work:
            contract = self._package(work, package)
            self._not_commissioner(contract, signer.org, "bid for it")
            if contract.status is not PackageStatus.OPEN:
                raise Refused(f"package {contract.reference} is no longer open for bids")
            if work.get(bid_id(contract.reference, signer.org)) is not None:
                raise Refused(f"{signer.org} has already bid for {contract.reference}")
            if not isinstance(promises, (list, tuple)):
                raise InvalidValue("promises must be a list of objects")
            parsed = []
            for index, raw in enumerate(promises, 1):
                if not isinstance(raw, dict) or "subcontractor" not in raw:
                    raise InvalidValue(
                        f"promise {index} must be an object naming its subcontractor"
                    )
                fields = {k: v for k, v in raw.items() if k != "subcontractor"}
                sub = check_handle(str(raw["subcontractor"]))
                work.organisation(sub, "subcontractor")
                self._not_own_subcontractor(signer.org, sub)
                self._not_commissioner(contract, sub, SUBCONTRACTOR_PART)
                parsed.append(Promise(sub, Terms.parse(fields, f"promise to {sub}")))
            bid = Bid.submit(
                signer,
                package=contract.reference,
                price=parse_money(price, "bid price"),
                self_delivery_pct=parse_percent(self_delivery_pct, "self-delivery share"),
                promises=tuple(parsed),
            )
            work.add(bid)

    @signed_step
    def withdraw_bid(
        self, signer: Signer, package: str, reason: str, *, uow: UnitOfWork | None = None
    ) -> None:
        """A prime withdraws its bid."""
        with unit_of_work(self.ledger, uow) as work:
            contract = self._package(work, package)
            bid = self._bid(work, contract, signer.org)
            if contract.prime == signer.org:
                raise Refused(f"{signer.org}'s bid has been awarded: it cannot be withdrawn")
            bid.withdraw(signer, reason=text_field(reason, "reason"))

    @signed_step
    def issue_subcontract(
        self,
        signer: Signer,
        package: str,
        subcontractor: str,
        *,
        uow: UnitOfWork | None = None,
        **terms: Any,
    ) -> None:
        """After award, the prime issues a subcontract with its actual terms."""
        with unit_of_work(self.ledger, uow) as work:
            contract = self._package(work, package)
            self._awarded_prime_only(contract, signer, "issue subcontracts")
            sub = work.organisation(subcontractor, "subcontractor")
            self._not_own_subcontractor(signer.org, sub.handle)
            self._not_commissioner(contract, sub.handle, SUBCONTRACTOR_PART)
            if work.get(subcontract_id(contract.reference, sub.handle)) is not None:
                raise Refused(
                    f"{sub.handle} already has a subcontract in {contract.reference}; "
                    "propose a variation instead"
                )
            work.add(
                Subcontract.issue(
                    signer,
                    package=contract.reference,
                    subcontractor=sub.handle,
                    terms=Terms.parse(terms, "subcontract terms"),
                    contract_start=contract.start,
                    contract_end=contract.end,
                )
            )

    @signed_step
    def propose_variation(
        self,
        signer: Signer,
        package: str,
        subcontractor: str,
        reason: str,
        *,
        uow: UnitOfWork | None = None,
        **changes: Any,
    ) -> int:
        """The prime proposes changed terms for a subcontract; returns the variation number."""
        unknown = set(changes) - set(TERM_FIELDS)
        if unknown:
            raise InvalidValue(f"unknown term(s): {', '.join(sorted(unknown))}")
        changes = {k: v for k, v in changes.items() if v not in (None, "")}
        if not changes:
            raise InvalidValue("a variation must change at least one term")
        with unit_of_work(self.ledger, uow) as work:
            contract = self._package(work, package)
            self._awarded_prime_only(contract, signer, "vary subcontracts")
            subcontract = self._subcontract(work, contract, subcontractor)
            return subcontract.propose_variation(
                signer,
                terms=subcontract.terms.replace(**changes),
                reason=text_field(reason, "reason"),
            )

    @signed_step
    def send_referrals(
        self,
        signer: Signer,
        package: str,
        subcontractor: str,
        period: str,
        count: Any,
        *,
        uow: UnitOfWork | None = None,
    ) -> None:
        """The prime records the referrals it sent a subcontractor in a period."""
        with unit_of_work(self.ledger, uow) as work:
            contract = self._package(work, package, run_off=True,
                                     period=Period.parse(period))
            self._awarded_prime_only(contract, signer, "send referrals")
            self._subcontract(work, contract, subcontractor).send_referrals(
                signer, period=Period.parse(period), count=parse_count(count, "referrals")
            )

    @signed_step
    def record_payment(
        self,
        signer: Signer,
        package: str,
        subcontractor: str,
        invoice: str,
        amount: Any,
        paid_on: Any,
        *,
        uow: UnitOfWork | None = None,
    ) -> None:
        """The prime records a payment against a subcontractor's invoice."""
        with unit_of_work(self.ledger, uow) as work:
            contract = self._package(work, package, run_off=True)
            record = work.get(
                invoice_id(
                    contract.reference, check_handle(subcontractor), check_reference(invoice)
                )
            )
            if record is None:
                raise NotFound(
                    f"no invoice {invoice!r} from {subcontractor} on {contract.reference}"
                )
            if signer.org != record.prime:
                raise Refused(f"only {record.prime}, who was invoiced, can record its payment")
            record.record_payment(
                signer,
                amount=parse_money(amount, "payment"),
                paid_on=parse_date(paid_on, "payment date"),
            )

    @signed_step
    def attest_performance(
        self,
        signer: Signer,
        package: str,
        subcontractor: str,
        kpi: str,
        period: str,
        *,
        uow: UnitOfWork | None = None,
    ) -> None:
        """The prime attests a subcontractor's KPI report."""
        with unit_of_work(self.ledger, uow) as work:
            contract = self._package(work, package, run_off=True,
                                     period=Period.parse(period))
            self._awarded_prime_only(contract, signer, "attest performance reports")
            self._subcontract(work, contract, subcontractor).attest_performance(
                signer, kpi=text_field(kpi, "KPI"), period=Period.parse(period)
            )

    @signed_step
    def start_failing_provider_process(
        self,
        signer: Signer,
        package: str,
        subcontractor: str,
        reason: str,
        *,
        uow: UnitOfWork | None = None,
    ) -> None:
        """The prime records that it has started a failing-provider process."""
        with unit_of_work(self.ledger, uow) as work:
            contract = self._package(work, package)
            self._awarded_prime_only(contract, signer, "start a failing-provider process")
            self._subcontract(work, contract, subcontractor).start_failing_provider_process(
                signer, reason=text_field(reason, "reason")
            )

    @signed_step
    def explain_shortfall(
        self,
        signer: Signer,
        package: str,
        subcontractor: str,
        explanation: str,
        *,
        uow: UnitOfWork | None = None,
    ) -> None:
        """The prime explains in writing why a promise in its bid was not delivered."""
        with unit_of_work(self.ledger, uow) as work:
            contract = self._package(work, package, run_off=True)
            bid = self._bid(work, contract, signer.org)
            bid.explain_shortfall(
                signer,
                subcontractor=check_handle(subcontractor),
                explanation=text_field(explanation, "explanation"),
            )

    # -- subcontractor --------------------------------------------------------------

    @signed_step
    def express_interest(
        self,
        signer: Signer,
        package: str,
        prime: str,
        offer: str,
        document_sha256: str | None = None,
        *,
        uow: UnitOfWork | None = None,
    ) -> None:
        """A subcontractor offers its service to a prime for a package."""
        with unit_of_work(self.ledger, uow) as work:
            contract = self._package(work, package)
            self._not_commissioner(contract, signer.org, SUBCONTRACTOR_PART)
            prime = work.organisation(prime, "prime").handle
            self._not_own_subcontractor(prime, signer.org)
            self._not_commissioner(contract, prime, "be a prime in it")
            if contract.status is not PackageStatus.OPEN:
                raise Refused(f"package {contract.reference} is no longer open for bids")
            if work.get(interest_id(contract.reference, prime, signer.org)) is not None:
                raise Refused(f"{signer.org} has already expressed interest to {prime}")
            digest = None
            if document_sha256:
                digest = str(document_sha256).strip().lower()
                if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                    raise InvalidValue("document SHA-256 must be 64 hexadecimal characters")
            work.add(
                ExpressionOfInterest.express(
                    signer,
                    package=contract.reference,
                    prime=prime,
                    offer=text_field(offer, "offer"),
                    document_sha256=digest,
                )
            )

    @signed_step
    def acknowledge_promise(
        self,
        signer: Signer,
        package: str,
        prime: str,
        promise_hash: str | None = None,
        *,
        uow: UnitOfWork | None = None,
    ) -> str:
        """A named subcontractor signs the hash of the promise made in its name."""
        with unit_of_work(self.ledger, uow) as work:
            contract = self._package(work, package)
            bid = self._bid(work, contract, prime)
            return bid.acknowledge(signer, expected_hash=promise_hash or None)

    @signed_step
    def dispute_promise(
        self,
        signer: Signer,
        package: str,
        prime: str,
        reason: str,
        note: str = "",
        *,
        uow: UnitOfWork | None = None,
    ) -> None:
        """A named subcontractor disputes a promise: named without consent, or terms differ."""
        with unit_of_work(self.ledger, uow) as work:
            contract = self._package(work, package)
            bid = self._bid(work, contract, prime)
            bid.dispute(
                signer,
                reason=parse_enum(DisputeReason, str(reason), "dispute reason"),
                note=text_field(note, "note", required=False),
            )

    @signed_step
    def accept_subcontract(
        self, signer: Signer, package: str, *, uow: UnitOfWork | None = None
    ) -> None:
        """The subcontractor accepts its subcontract."""
        with unit_of_work(self.ledger, uow) as work:
            contract = self._package(work, package)
            self._own_subcontract(work, contract, signer).accept(signer)

    @signed_step
    def answer_variation(
        self,
        signer: Signer,
        package: str,
        number: Any,
        accept: bool,
        reason: str = "",
        *,
        uow: UnitOfWork | None = None,
    ) -> None:
        """The subcontractor accepts or disputes a proposed variation."""
        with unit_of_work(self.ledger, uow) as work:
            contract = self._package(work, package)
            subcontract = self._own_subcontract(work, contract, signer)
            if not accept and not str(reason or "").strip():
                raise InvalidValue("say why the variation is disputed (--reason)")
            subcontract.answer_variation(
                signer,
                number=parse_count(number, "variation number"),
                accept=bool(accept),
                reason=text_field(reason, "reason", required=not accept),
            )

    @signed_step
    def confirm_referrals(
        self,
        signer: Signer,
        package: str,
        period: str,
        count: Any,
        *,
        uow: UnitOfWork | None = None,
    ) -> None:
        """The subcontractor confirms how many referrals it received in a period."""
        with unit_of_work(self.ledger, uow) as work:
            contract = self._package(work, package, run_off=True,
                                     period=Period.parse(period))
            self._own_subcontract(work, contract, signer).confirm_referrals(
                signer, period=Period.parse(period), count=parse_count(count, "referrals")
            )

    @signed_step
    def submit_invoice(
        self,
        signer: Signer,
        package: str,
        reference: str,
        amount: Any,
        invoice_date: Any,
        period: str,
        *,
        uow: UnitOfWork | None = None,
    ) -> None:
        """The subcontractor invoices its prime."""
        with unit_of_work(self.ledger, uow) as work:
            contract = self._package(work, package, run_off=True,
                                     period=Period.parse(period))
            subcontract = self._own_subcontract(work, contract, signer)
            reference = check_reference(reference, "invoice reference")
            if work.get(invoice_id(contract.reference, signer.org, reference)) is not None:
                raise Refused(f"invoice {reference!r} has already been submitted")
            work.add(
                Invoice.submit(
                    signer,
                    package=contract.reference,
                    prime=subcontract.prime,
                    reference=reference,
                    amount=parse_money(amount, "invoice amount"),
                    invoice_date=parse_date(invoice_date, "invoice date"),
                    period=str(Period.parse(period)),
                )
            )

    @signed_step
    def confirm_payment(
        self,
        signer: Signer,
        package: str,
        invoice: str,
        received_on: Any,
        *,
        uow: UnitOfWork | None = None,
    ) -> Decimal:
        """The subcontractor confirms it received what was paid against an invoice."""
        with unit_of_work(self.ledger, uow) as work:
            contract = self._package(work, package, run_off=True)
            record = work.get(invoice_id(contract.reference, signer.org, check_reference(invoice)))
            if record is None:
                raise NotFound(f"{signer.org} has no invoice {invoice!r} on {contract.reference}")
            return record.confirm_payment(
                signer, received_on=parse_date(received_on, "date received")
            )

    @signed_step
    def report_performance(
        self,
        signer: Signer,
        package: str,
        kpi: str,
        period: str,
        actual: Any,
        *,
        uow: UnitOfWork | None = None,
    ) -> None:
        """The subcontractor reports a KPI's actual value for a period."""
        with unit_of_work(self.ledger, uow) as work:
            contract = self._package(work, package, run_off=True,
                                     period=Period.parse(period))
            definition = contract.kpis.get(str(kpi))
            if definition is None:
                known = ", ".join(sorted(contract.kpis)) or "none defined yet"
                raise NotFound(f"package {contract.reference} has no KPI {kpi!r} (KPIs: {known})")
            self._own_subcontract(work, contract, signer).report_performance(
                signer,
                kpi=definition,
                period=Period.parse(period),
                actual=parse_decimal(actual, "actual"),
            )

    @signed_step
    def raise_concern(
        self,
        signer: Signer,
        package: str,
        subject: str,
        text: str,
        reference: str | None = None,
        *,
        uow: UnitOfWork | None = None,
    ) -> str:
        """A subcontractor raises a concern directly with the commissioner; returns its reference."""
        with unit_of_work(self.ledger, uow) as work:
            contract = self._package(work, package)
            role = self._role_in(work, contract, signer.org)
            if role is None:
                raise Refused(f"{signer.org} is not a party to package {contract.reference}")
            if role is not Role.SUBCONTRACTOR:
                part = ("the commissioner of" if role is Role.COMMISSIONER
                        else f"a {role.value} in")  # fmt: skip
                raise Refused(
                    f"only a subcontractor can raise a concern; {signer.org} is {part} "
                    f"{contract.reference}"
                )
            if not reference:
                # The first free c-1, c-2, …: made from the records, so that a service running
                # the step again makes the same one (a concern raised meanwhile is a conflict).
                number = 1
                while work.get(concern_id(contract.reference, signer.org, f"c-{number}")) is not None:
                    number += 1
                reference = f"c-{number}"
            reference = check_reference(reference, "concern reference")
            if work.get(concern_id(contract.reference, signer.org, reference)) is not None:
                raise Refused(f"concern {reference!r} already exists")
            work.add(
                Concern.raise_concern(
                    signer,
                    package=contract.reference,
                    reference=reference,
                    subject=text_field(subject, "subject", max_length=200),
                    text=text_field(text, "concern"),
                )
            )
            return reference


def file_sha256(data: bytes) -> str:
    """The SHA-256 of a shared document, which is all the ledger keeps of it."""
    return hashlib.sha256(data).hexdigest()
