"""Bulk import and export of steps as JSON Lines, one step per line.

A line is a JSON object naming its ``step`` (the CLI's ``group.command``) and
the step's parameters under the names the CLI's options use, e.g.::

    {"step": "referral.send", "package": "BAR-ES-2026", "subcontractor": "hope-trust",
     "period": "2026-03", "count": 14}

``import`` records every line as the one organisation given with ``--as``, in
one transaction: all lines or none, the failing line named. ``export`` writes
the steps an organisation signed in the same format.
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from chainledger.application.contracting import Contracting, UnitOfWork
from chainledger.domain import bid, concern, invoice, package, subcontract
from chainledger.domain.events import LedgerEvent, Signer
from chainledger.domain.quantities import parse_date
from chainledger.errors import ChainledgerError, InvalidValue

MAX_LINE = 1_000_000


@dataclass(frozen=True)
class Step:
    """A recordable step: the use case behind it and any fixed arguments."""

    method: str
    fixed: tuple[tuple[str, Any], ...] = ()


STEPS: dict[str, Step] = {
    "package.create": Step("create_package"),
    "kpi.define": Step("define_kpi"),
    "package.award": Step("award_package"),
    "package.vary": Step("vary_contract_value"),
    "package.close": Step("close_package"),
    "concern.respond": Step("respond_to_concern"),
    "bid.submit": Step("submit_bid"),
    "bid.withdraw": Step("withdraw_bid"),
    "bid.explain-shortfall": Step("explain_shortfall"),
    "subcontract.issue": Step("issue_subcontract"),
    "subcontract.failing-process": Step("start_failing_provider_process"),
    "variation.propose": Step("propose_variation"),
    "referral.send": Step("send_referrals"),
    "payment.record": Step("record_payment"),
    "performance.attest": Step("attest_performance"),
    "interest.express": Step("express_interest"),
    "bid.acknowledge": Step("acknowledge_promise"),
    "bid.dispute": Step("dispute_promise"),
    "subcontract.accept": Step("accept_subcontract"),
    "variation.accept": Step("answer_variation", (("accept", True),)),
    "variation.dispute": Step("answer_variation", (("accept", False),)),
    "referral.confirm": Step("confirm_referrals"),
    "invoice.submit": Step("submit_invoice"),
    "payment.confirm": Step("confirm_payment"),
    "performance.report": Step("report_performance"),
    "concern.raise": Step("raise_concern"),
}


def perform(
    contracting: Contracting, signer: Signer, line: dict[str, Any], uow: UnitOfWork
) -> Any:
    """Run one step given as a JSON object, inside ``uow``."""
    name = line.get("step")
    if not isinstance(name, str) or name not in STEPS:
        raise InvalidValue(f"unknown step {name!r}; steps are: {', '.join(sorted(STEPS))}")
    step = STEPS[name]
    method = getattr(contracting, step.method)
    params = {k: v for k, v in line.items() if k not in ("step", "on")}
    if line.get("on") is not None:
        signer = signer.dated(parse_date(line["on"], "on"))
    fixed = dict(step.fixed)
    named, accepts_any = _parameters(Contracting, step.method)
    unknown = set(params) - set(named) - ({*params} if accepts_any else set())
    if unknown or set(params) & set(fixed):
        raise InvalidValue(
            f"unknown field(s) {', '.join(sorted(unknown | (set(params) & set(fixed))))}"
        )
    missing = [
        n for n, p in named.items() if p.default is p.empty and n not in params and n not in fixed
    ]
    if missing:
        raise InvalidValue(f"missing field(s) {', '.join(missing)}")
    return method(signer, **params, **fixed, uow=uow)


@functools.cache
def _parameters(service: type, method: str) -> tuple[dict[str, inspect.Parameter], bool]:
    """A use case's named parameters after the signer, and whether it takes any others."""
    signature = inspect.signature(getattr(service, method))
    parameters = list(signature.parameters.values())[2:]  # self, signer
    accepts_any = any(p.kind is p.VAR_KEYWORD for p in parameters)
    named = {p.name: p for p in parameters if p.kind is not p.VAR_KEYWORD and p.name != "uow"}
    return named, accepts_any


def read_lines(stream: Iterable[str | bytes]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line; malformed lines raise naming the line.

    A binary stream is decoded line by line, so that bytes that are not UTF-8 are
    refused naming their line.
    """
    for number, raw in enumerate(stream, 1):
        if isinstance(raw, bytes):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InvalidValue(f"line {number}: not valid UTF-8 ({exc.reason})") from None
        else:
            text = raw
        if not text.strip():
            continue
        if len(text) > MAX_LINE:
            raise InvalidValue(f"line {number}: longer than {MAX_LINE:,} characters")
        try:
            value = json.loads(text, parse_float=_no_float, parse_constant=_no_constant)
        except (ValueError, RecursionError) as exc:
            raise InvalidValue(f"line {number}: not valid JSON ({exc})") from None
        if not isinstance(value, dict):
            raise InvalidValue(f"line {number}: each line must be a JSON object")
        yield number, value


def _no_float(text: str) -> Any:
    # Money and percentages must not pass through binary floating point.
    raise ValueError(f'{text} is a float; write numbers with decimals as strings, e.g. "{text}"')


def _no_constant(text: str) -> Any:
    raise ValueError(f"{text} is not a number")


def import_steps(
    contracting: Contracting, signer: Signer, lines: Iterable[tuple[int, dict[str, Any]]]
) -> int:
    """Record every step in one transaction; returns the number of events written."""
    uow = UnitOfWork(contracting.ledger)
    count = 0
    for number, line in lines:
        try:
            perform(contracting, signer, line, uow)
        except ChainledgerError as error:
            raise type(error)(f"line {number} ({line.get('step', '?')}): {error}") from None
        except (TypeError, AttributeError) as error:
            raise InvalidValue(f"line {number} ({line.get('step', '?')}): {error}") from None
        count += 1
    if count == 0:
        raise InvalidValue("nothing to import: the file has no steps")
    return len(uow.commit())


# -- export ----------------------------------------------------------------------------


def export_steps(
    events: Iterable[LedgerEvent], *, org: str | None = None, package_ref: str | None = None
) -> Iterator[dict[str, Any]]:
    """The steps that recorded ``events``, in ledger order, as import lines."""
    context: dict[UUID, dict[str, Any]] = {}
    for event in events:
        step = _to_step(event, context)
        if step is None:
            continue
        if org is not None and event.org != org:
            continue
        if package_ref is not None and step.get("package") != package_ref:
            continue
        yield {**step, "on": event.on.isoformat()}


def _to_step(event: LedgerEvent, context: dict[UUID, dict[str, Any]]) -> dict[str, Any] | None:
    ctx = context.setdefault(event.originator_id, {})
    fields = event.fields()
    e = event
    if isinstance(e, package.PackageCreated):
        ctx["package"] = e.reference
        return {"step": "package.create", **fields}
    if isinstance(e, bid.BidSubmitted):
        ctx.update(package=e.package, prime=e.org)
        promises = [{"subcontractor": p["subcontractor"], **p["terms"]} for p in fields["promises"]]
        return {
            "step": "bid.submit",
            "package": e.package,
            "price": fields["price"],
            "self_delivery_pct": fields["self_delivery_pct"],
            "promises": promises,
        }
    if isinstance(e, subcontract.SubcontractIssued):
        ctx.update(package=e.package, subcontractor=e.subcontractor)
        return {
            "step": "subcontract.issue",
            "package": e.package,
            "subcontractor": e.subcontractor,
            **fields["terms"],
        }
    if isinstance(e, invoice.InvoiceSubmitted):
        ctx.update(package=e.package, subcontractor=e.org, invoice=e.reference)
        return {"step": "invoice.submit", **{k: v for k, v in fields.items() if k != "prime"}}
    if isinstance(e, concern.ConcernRaised):
        ctx.update(package=e.package, subcontractor=e.org, concern=e.reference)
        return {"step": "concern.raise", **fields}
    if isinstance(e, concern.InterestExpressed):
        return {"step": "interest.express", **fields}
    if "package" not in ctx:
        return None  # organisation and ledger events are not steps
    convert = _LATER_STEPS.get(type(e))
    if convert is None:
        return None
    name, params = convert(fields, ctx)
    return {"step": name, "package": ctx["package"], **params}


def _sub(ctx: dict[str, Any]) -> dict[str, Any]:
    return {"subcontractor": ctx.get("subcontractor")}


_LATER_STEPS: dict[type, Any] = {
    package.KpiDefined: lambda f, c: ("kpi.define", f["kpi"]),
    package.PackageAwarded: lambda f, c: ("package.award", {"prime": f["prime"]}),
    package.ContractValueVaried: lambda f, c: (
        "package.vary",
        {"value": f["value"], "reason": f["reason"]},
    ),
    package.PackageClosed: lambda f, c: ("package.close", f),
    bid.BidWithdrawn: lambda f, c: ("bid.withdraw", f),
    bid.PromiseAcknowledged: lambda f, c: (
        "bid.acknowledge",
        {"prime": c.get("prime"), "promise_hash": f["promise_hash"]},
    ),
    bid.PromiseDisputed: lambda f, c: (
        "bid.dispute",
        {"prime": c.get("prime"), "reason": f["reason"], "note": f["note"]},
    ),
    bid.ShortfallExplained: lambda f, c: ("bid.explain-shortfall", f),
    subcontract.SubcontractAccepted: lambda f, c: ("subcontract.accept", {}),
    subcontract.VariationProposed: lambda f, c: (
        "variation.propose",
        {**_sub(c), "reason": f["reason"], **f["terms"]},
    ),
    subcontract.VariationAccepted: lambda f, c: ("variation.accept", {"number": f["number"]}),
    subcontract.VariationDisputed: lambda f, c: (
        "variation.dispute",
        {"number": f["number"], "reason": f["reason"]},
    ),
    subcontract.ReferralsSent: lambda f, c: ("referral.send", {**_sub(c), **f}),
    subcontract.ReferralsConfirmed: lambda f, c: ("referral.confirm", f),
    subcontract.PerformanceReported: lambda f, c: ("performance.report", f),
    subcontract.PerformanceAttested: lambda f, c: ("performance.attest", {**_sub(c), **f}),
    subcontract.FailingProviderProcessStarted: lambda f, c: (
        "subcontract.failing-process",
        {**_sub(c), **f},
    ),
    invoice.PaymentRecorded: lambda f, c: (
        "payment.record",
        {**_sub(c), "invoice": c.get("invoice"), **f},
    ),
    invoice.PaymentConfirmed: lambda f, c: (
        "payment.confirm",
        {"invoice": c.get("invoice"), "received_on": f["received_on"]},
    ),
    concern.ConcernResponded: lambda f, c: (
        "concern.respond",
        {**_sub(c), "concern": c.get("concern"), "text": f["text"]},
    ),
}
