"""Load one package's facts from the supply-chain view, as the ledger stood on a date."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

from chainledger.adapters.local_store import Table, Transaction, placeholders
from chainledger.domain.facts import (
    At,
    BidFact,
    ConcernFact,
    InvoiceFact,
    KpiFact,
    KpiReportFact,
    Org,
    PackageFacts,
    PaymentFact,
    PromiseFact,
    ReceiptFact,
    ReferralFact,
    SubcontractFact,
    ValueChange,
    VariationFact,
)
from chainledger.domain.terms import TERM_FIELDS, Terms
from chainledger.projections import supply_chain as sc
from chainledger.projections.organisations import organisations_table


def _rows(session: Transaction, table: Table, reference: str, as_of: date) -> list[Any]:
    """The package's rows that took effect by ``as_of``, in signed order: effective date,
    then signed timestamp; the notification id (not signed) only breaks exact ties."""
    query = (f'{table.select_sql()} WHERE package = ? AND "on" <= ? '
             'ORDER BY "on", ts, nid')  # fmt: skip
    return session.execute(query, (reference, as_of.isoformat())).fetchall()


def _d(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def _day(text: str) -> date:
    return date.fromisoformat(text)


def _at(row: Any) -> At:
    return (_day(row.on), row.ts)


def _terms(row: Any) -> Terms:
    return Terms.parse({name: getattr(row, name) for name in TERM_FIELDS})


def _first_then_answers(rows: list[Any], first: str) -> list[Any]:
    """Rows of kind ``first`` (proposals, KPI reports, concerns) before the rows that answer
    them, each in signed order: a signer may date an answer before what it answers."""
    return [r for r in rows if r.kind == first] + [r for r in rows if r.kind != first]


def load_facts(session: Transaction, reference: str, as_of: date) -> PackageFacts | None:
    """The package's facts recorded as taking effect on or before ``as_of``; None if none."""
    created = _rows(session, sc.packages, reference, as_of)
    if not created:
        return None
    p = created[0]
    facts = PackageFacts(
        reference=reference, commissioner=p.commissioner, title=p.title, area=p.area,
        value=Decimal(p.value), original_value=Decimal(p.value), start=_day(p.start),
        end=_day(p.end), payment_model=p.payment_model, at_risk_pct=Decimal(p.at_risk_pct),
        on=_day(p.on), nid=p.nid, at=_at(p), as_of=as_of,
    )  # fmt: skip
    for row in _rows(session, sc.package_changes, reference, as_of):
        if row.kind == "award":
            facts.prime, facts.awarded_price = row.prime, Decimal(row.price)
            facts.award_on, facts.award_nid, facts.award_at = _day(row.on), row.nid, _at(row)
        elif row.kind == "vary":
            change = ValueChange(_day(row.on), row.nid, _at(row), Decimal(row.previous),
                                 Decimal(row.value), row.reason)  # fmt: skip
            facts.value_changes.append(change)
            facts.value = change.value
        else:
            facts.closed_on = _day(row.on)
    for row in _rows(session, sc.kpis, reference, as_of):
        facts.kpis[row.name] = KpiFact(row.name, row.unit, _d(row.target), _d(row.acceptable),
                                       row.direction, row.cadence, _day(row.on), row.nid,
                                       _at(row))  # fmt: skip
    for row in _rows(session, sc.bids, reference, as_of):
        facts.bids[row.prime] = BidFact(row.prime, Decimal(row.price),
                                        Decimal(row.self_delivery_pct), _day(row.on), row.nid,
                                        _at(row))  # fmt: skip
    for row in _rows(session, sc.promises, reference, as_of):
        facts.promises.append(
            PromiseFact(row.prime, row.subcontractor, _terms(row), _day(row.on), row.nid, _at(row))
        )
    promise_of = {(f.prime, f.subcontractor): f for f in facts.promises}
    for row in _rows(session, sc.bid_answers, reference, as_of):
        if row.kind == "withdrawn":
            old = facts.bids.get(row.prime)
            if old is not None:
                facts.bids[row.prime] = replace(old, withdrawn_nid=row.nid)
            continue
        promise = promise_of.get((row.prime, row.subcontractor))
        if promise is None:
            continue
        if row.kind == "explained":
            promise.explanations.append((_day(row.on), row.nid))
        else:
            promise.answer, promise.answer_on = row.kind, _day(row.on)
            promise.answer_nid, promise.answer_at = row.nid, _at(row)
            promise.dispute_reason = row.reason or ""
    for row in _rows(session, sc.subcontracts, reference, as_of):
        terms = _terms(row)
        facts.subcontracts[row.subcontractor] = SubcontractFact(
            row.prime, row.subcontractor, terms, _day(row.on), row.nid, _at(row), terms
        )
    variations: dict[tuple[str, int], VariationFact] = {}
    changes = _rows(session, sc.subcontract_changes, reference, as_of)
    for row in _first_then_answers(changes, "proposed"):
        contract = facts.subcontracts.get(row.subcontractor)
        if contract is None:
            continue
        if row.kind == "accepted":
            contract.accepted_nid = row.nid
        elif row.kind == "failing":
            contract.failing_processes.append((_day(row.on), row.nid))
        elif row.kind == "proposed":
            variation = VariationFact(row.subcontractor, row.number, _terms(row), row.reason or "",
                                      _day(row.on), row.nid, _at(row))  # fmt: skip
            variations[(row.subcontractor, row.number)] = variation
            facts.variations.append(variation)
        elif (row.subcontractor, row.number) in variations:
            variation = variations[(row.subcontractor, row.number)]
            variation.status, variation.answer_on = row.kind, _day(row.on)
            variation.answer_nid, variation.answer_at = row.nid, _at(row)
            if row.kind == "agreed":
                contract.terms = variation.terms
    facts.referrals = [
        ReferralFact(r.subcontractor, r.period, r.kind, r.count, _day(r.on), r.nid, _at(r))
        for r in _rows(session, sc.referrals, reference, as_of)
    ]
    by_invoice: dict[tuple[str, str], InvoiceFact] = {}
    for row in _rows(session, sc.invoices, reference, as_of):
        record = InvoiceFact(row.subcontractor, row.prime, row.reference, Decimal(row.amount),
                             _day(row.invoice_date), row.period, _day(row.on), row.nid,
                             _at(row))  # fmt: skip
        by_invoice[(row.subcontractor, row.reference)] = record
        facts.invoices.append(record)
    for row in _rows(session, sc.payments, reference, as_of):
        record = by_invoice.get((row.subcontractor, row.reference))
        if record is None:
            continue
        if row.kind == "paid":
            record.payments.append(
                PaymentFact(Decimal(row.amount), _day(row.date), row.nid, _at(row))
            )
        else:
            record.confirmed.append(ReceiptFact(Decimal(row.amount), _day(row.date), row.nid))
    reports: dict[tuple[str, str, str], KpiReportFact] = {}
    kpi_rows = _rows(session, sc.kpi_reports, reference, as_of)
    for row in _first_then_answers(kpi_rows, "reported"):
        key = (row.subcontractor, row.kpi, row.period)
        if row.kind == "reported":
            reports[key] = KpiReportFact(row.subcontractor, row.kpi, row.period,
                                         Decimal(row.actual), _day(row.on), row.nid,
                                         _at(row))  # fmt: skip
        elif key in reports:
            reports[key].attested_nid = row.nid
    facts.kpi_reports = list(reports.values())
    by_concern: dict[tuple[str, str], ConcernFact] = {}
    concern_rows = _rows(session, sc.concerns, reference, as_of)
    for row in _first_then_answers(concern_rows, "raised"):
        if row.kind == "raised":
            record = ConcernFact(row.subcontractor, row.reference, row.subject or "",
                                 _day(row.on), row.nid, _at(row))  # fmt: skip
            by_concern[(row.subcontractor, row.reference)] = record
            facts.concerns.append(record)
        elif (row.subcontractor, row.reference) in by_concern:
            by_concern[(row.subcontractor, row.reference)].answers.append((_day(row.on), row.nid))
    handles = {facts.commissioner, *facts.bids, *(p.subcontractor for p in facts.promises),
               *facts.subcontracts}  # fmt: skip
    wanted = sorted(handles)
    query = f"{organisations_table.select_sql()} WHERE handle IN ({placeholders(wanted)})"
    for org in session.execute(query, wanted):
        facts.orgs[org.handle] = Org(org.handle, org.role, org.sector, org.size)
    return facts


def package_references(session: Transaction) -> list[str]:
    """Every package in the view, in the order they were created (signed order)."""
    return session.column('SELECT package FROM sc_packages ORDER BY "on", ts, nid')
