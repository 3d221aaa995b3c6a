"""The contracting lifecycle on the command line: one command per step, grouped by noun.

Each command names the package first and the organisation recording it with
``--as``; it parses, calls one use case, and prints what was recorded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from chainledger.cli.options import (
    WholeNumber,
    as_option,
    parse_inline_promise,
    term_options,
    terms_given,
)
from chainledger.cli.render import format_option, render
from chainledger.cli.runtime import Runtime

PAYMENT_MODELS = ("fixed", "fee-plus-outcome", "payment-by-results")
CADENCES = ("month", "quarter")


# -- package and KPIs (commissioner) -----------------------------------------------------


@click.group()
def package() -> None:
    """Contract packages: create, award, vary the value, close (commissioner)."""


@package.command("create")
@click.argument("reference")
@as_option
@click.option("--title", required=True, help="What is bought, e.g. 'Employment support'.")
@click.option("--area", required=True, help="Where, e.g. 'London Borough of Barnet'.")
@click.option("--value", required=True, help="Total contract value, £.")
@click.option("--start", required=True, metavar="YYYY-MM-DD", help="First day of the contract.")
@click.option("--end", required=True, metavar="YYYY-MM-DD", help="Last day of the contract.")
@click.option("--description", required=True, help="The service to be delivered.")
@click.option("--payment-model", type=click.Choice(PAYMENT_MODELS), required=True,
              help="How the commissioner pays the prime.")  # fmt: skip
@click.option("--at-risk", default="0", show_default=True, help="Share paid on results, %.")
@click.pass_obj
def package_create(runtime: Runtime, reference: str, handle: str, **o: Any) -> None:
    """Create contract package REFERENCE to tender.

    \b
    Example:
      chainledger package create BAR-ES-2026 --as barnet-council \\
        --title "Employment support" --area Barnet --value 2400000 \\
        --start 2026-01-01 --end 2027-12-31 --description "Support into work" \\
        --payment-model fee-plus-outcome --at-risk 20
    """
    runtime.record(
        handle,
        lambda app, signer, uow: app.create_package(
            signer, reference, o["title"], o["area"], o["value"], o["start"], o["end"],
            o["description"], o["payment_model"], o["at_risk"], uow=uow,
        ),
    )  # fmt: skip


@package.command("award")
@click.argument("reference")
@as_option
@click.option("--bid", "prime", required=True, metavar="PRIME", help="The prime whose bid wins.")
@click.pass_obj
def package_award(runtime: Runtime, reference: str, handle: str, prime: str) -> None:
    """Award package REFERENCE to one prime's bid."""
    runtime.record(handle, lambda app, s, uow: app.award_package(s, reference, prime, uow=uow))


@package.command("vary")
@click.argument("reference")
@as_option
@click.option("--value", required=True, help="The new total contract value, £.")
@click.option("--reason", required=True, help="Why, e.g. 'budget cut 2027/28'.")
@click.pass_obj
def package_vary(runtime: Runtime, reference: str, handle: str, value: str, reason: str) -> None:
    """Vary the contract value of package REFERENCE (e.g. a budget cut), with the reason."""
    runtime.record(
        handle, lambda app, s, uow: app.vary_contract_value(s, reference, value, reason, uow=uow)
    )


@package.command("close")
@click.argument("reference")
@as_option
@click.option("--reason", default="contract ended", show_default=True)
@click.pass_obj
def package_close(runtime: Runtime, reference: str, handle: str, reason: str) -> None:
    """Close package REFERENCE: nothing more can be recorded on it."""
    runtime.record(handle, lambda app, s, uow: app.close_package(s, reference, reason, uow=uow))


@click.group()
def kpi() -> None:
    """Key performance indicators of a package (commissioner)."""


@kpi.command("define")
@click.argument("package_ref", metavar="PACKAGE")
@as_option
@click.option("--name", required=True, help="e.g. 'job starts'.")
@click.option("--unit", required=True, help="e.g. 'people' or '%'.")
@click.option("--target", help="Target level.")
@click.option("--acceptable", help="Acceptable minimum (or maximum, if lower is better).")
@click.option("--direction", type=click.Choice(("higher", "lower")), default="higher",
              show_default=True, help="Which way is better.")  # fmt: skip
@click.option("--period", "cadence", type=click.Choice(CADENCES), default="quarter",
              show_default=True, help="Reporting period.")  # fmt: skip
@click.pass_obj
def kpi_define(runtime: Runtime, package_ref: str, handle: str, **o: Any) -> None:
    """Define a KPI for PACKAGE: target, acceptable level, direction, reporting period."""
    runtime.record(
        handle,
        lambda app, s, uow: app.define_kpi(
            s, package_ref, o["name"], o["unit"], o["target"], o["acceptable"],
            o["direction"], o["cadence"], uow=uow,
        ),
    )  # fmt: skip


# -- bids (prime; subcontractors answer) --------------------------------------------------


@click.group()
def bid() -> None:
    """Bids with workshare promises; named subcontractors acknowledge or dispute them."""


@bid.command("submit")
@click.argument("package_ref", metavar="PACKAGE")
@as_option
@click.option("--price", required=True, help="Bid price, £.")
@click.option("--self-share", required=True, help="Share of the work the prime delivers itself, %.")
@click.option("--promise", "inline", multiple=True, metavar="HANDLE:KEY=VALUE,...",
              help="A workshare promise, repeatable: keys service, share, value, referrals, "
              "cadence, model, at-risk, terms, fee.")  # fmt: skip
@click.option("--promises", "promises_file", type=click.File("r"), metavar="FILE.json",
              help="Promises as a JSON list of objects with the term fields and 'subcontractor'.")  # fmt: skip
@click.pass_obj
def bid_submit(runtime: Runtime, package_ref: str, handle: str, price: str, self_share: str,
               inline: tuple[str, ...], promises_file: Any) -> None:  # fmt: skip
    """Submit a bid for PACKAGE naming subcontractors and what each is promised.

    \b
    Example:
      chainledger bid submit BAR-ES-2026 --as northgate --price 2350000 --self-share 40 \\
        --promise "hope-trust:service=mental health support,share=15,value=180000,\\
      referrals=60,model=fixed,terms=30,fee=5"
    """
    promises = [parse_inline_promise(text) for text in inline]
    if promises_file is not None:
        try:
            loaded = json.load(promises_file, parse_float=str)
        except ValueError as exc:
            raise click.BadParameter(f"not valid JSON: {exc}", param_hint="'--promises'") from None
        if not isinstance(loaded, list):
            raise click.BadParameter("must hold a JSON list", param_hint="'--promises'")
        promises.extend(loaded)
    runtime.record(
        handle,
        lambda app, s, uow: app.submit_bid(s, package_ref, price, self_share, promises, uow=uow),
    )


@bid.command("withdraw")
@click.argument("package_ref", metavar="PACKAGE")
@as_option
@click.option("--reason", required=True)
@click.pass_obj
def bid_withdraw(runtime: Runtime, package_ref: str, handle: str, reason: str) -> None:
    """Withdraw your bid for PACKAGE."""
    runtime.record(handle, lambda app, s, uow: app.withdraw_bid(s, package_ref, reason, uow=uow))


@bid.command("show")
@click.argument("package_ref", metavar="PACKAGE")
@click.option("--prime", required=True, help="Whose bid.")
@format_option()
@click.pass_obj
def bid_show(runtime: Runtime, package_ref: str, prime: str, fmt: str) -> None:
    """Show a bid's promises, each with the hash a subcontractor acknowledges."""
    view = runtime.app().bid_view(package_ref, prime)
    if fmt == "table":
        click.echo(
            f"{view['prime']}'s bid for {view['package']}: £{view['price']}, "
            f"self-delivery {view['self_delivery_pct']}%, {view['status']}"
        )
    rows = view["promises"]
    if fmt == "table":
        rows = [{k: v for k, v in r.items() if k not in ("payment_model",)} for r in rows]
    click.echo(render(rows, fmt, empty="The bid names no subcontractors."))


@bid.command("acknowledge")
@click.argument("package_ref", metavar="PACKAGE")
@as_option
@click.option("--prime", required=True, help="Whose bid names you.")
@click.option("--hash", "promise_hash", help="The promise hash you were shown (recommended).")
@click.pass_obj
def bid_acknowledge(runtime: Runtime, package_ref: str, handle: str, prime: str,
                    promise_hash: str | None) -> None:  # fmt: skip
    """Acknowledge being named in PRIME's bid with exactly the terms shown (signs their hash)."""
    runtime.record(
        handle,
        lambda app, s, uow: app.acknowledge_promise(s, package_ref, prime, promise_hash, uow=uow),
    )


@bid.command("dispute")
@click.argument("package_ref", metavar="PACKAGE")
@as_option
@click.option("--prime", required=True, help="Whose bid names you.")
@click.option(
    "--reason", type=click.Choice(("named-without-consent", "terms-differ")), required=True
)
@click.option("--note", default="", help="What was agreed instead, if anything.")
@click.pass_obj
def bid_dispute(runtime: Runtime, package_ref: str, handle: str, prime: str, reason: str,
                note: str) -> None:  # fmt: skip
    """Dispute being named in PRIME's bid: without consent, or on terms you did not agree."""
    runtime.record(
        handle,
        lambda app, s, uow: app.dispute_promise(s, package_ref, prime, reason, note, uow=uow),
    )


@bid.command("explain-shortfall")
@click.argument("package_ref", metavar="PACKAGE")
@as_option
@click.option("--sub", "subcontractor", required=True, metavar="HANDLE")
@click.option("--explanation", required=True)
@click.pass_obj
def bid_explain(runtime: Runtime, package_ref: str, handle: str, subcontractor: str,
                explanation: str) -> None:  # fmt: skip
    """Record a written explanation for a promise to a subcontractor that was not delivered."""
    runtime.record(
        handle,
        lambda app, s, uow: app.explain_shortfall(
            s, package_ref, subcontractor, explanation, uow=uow
        ),
    )


@click.group()
def interest() -> None:
    """Expressions of interest from subcontractors to primes."""


@interest.command("express")
@click.argument("package_ref", metavar="PACKAGE")
@as_option
@click.option("--prime", required=True, help="The prime you offer your service to.")
@click.option("--offer", required=True, help="What you offer.")
@click.option("--document", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A document you shared; only its SHA-256 goes on the ledger.")  # fmt: skip
@click.pass_obj
def interest_express(runtime: Runtime, package_ref: str, handle: str, prime: str, offer: str,
                     document: Path | None) -> None:  # fmt: skip
    """Submit an expression of interest to PRIME for PACKAGE."""
    from chainledger.application.contracting import file_sha256

    digest = file_sha256(document.read_bytes()) if document else None
    runtime.record(
        handle,
        lambda app, s, uow: app.express_interest(s, package_ref, prime, offer, digest, uow=uow),
    )


# -- subcontracts and variations ----------------------------------------------------------


@click.group()
def subcontract() -> None:
    """Subcontracts after award: issue (prime), accept (subcontractor)."""


@subcontract.command("issue")
@click.argument("package_ref", metavar="PACKAGE")
@as_option
@click.option("--sub", "subcontractor", required=True, metavar="HANDLE")
@term_options
@click.pass_obj
def subcontract_issue(runtime: Runtime, package_ref: str, handle: str, subcontractor: str,
                      **terms: Any) -> None:  # fmt: skip
    """Issue a subcontract with its actual terms (the same fields as a bid promise)."""
    given = terms_given(terms)
    runtime.record(
        handle,
        lambda app, s, uow: app.issue_subcontract(s, package_ref, subcontractor, uow=uow, **given),
    )


@subcontract.command("accept")
@click.argument("package_ref", metavar="PACKAGE")
@as_option
@click.pass_obj
def subcontract_accept(runtime: Runtime, package_ref: str, handle: str) -> None:
    """Accept your subcontract in PACKAGE."""
    runtime.record(handle, lambda app, s, uow: app.accept_subcontract(s, package_ref, uow=uow))


@subcontract.command("failing-process")
@click.argument("package_ref", metavar="PACKAGE")
@as_option
@click.option("--sub", "subcontractor", required=True, metavar="HANDLE")
@click.option("--reason", required=True)
@click.pass_obj
def subcontract_failing(runtime: Runtime, package_ref: str, handle: str, subcontractor: str,
                        reason: str) -> None:  # fmt: skip
    """Record that you started a failing-provider process with a subcontractor."""
    runtime.record(
        handle,
        lambda app, s, uow: app.start_failing_provider_process(
            s, package_ref, subcontractor, reason, uow=uow
        ),
    )


@click.group()
def variation() -> None:
    """Variations to subcontracts: proposed by the prime, accepted or disputed by the subcontractor."""


@variation.command("propose")
@click.argument("package_ref", metavar="PACKAGE")
@as_option
@click.option("--sub", "subcontractor", required=True, metavar="HANDLE")
@click.option("--reason", required=True)
@term_options
@click.pass_obj
def variation_propose(runtime: Runtime, package_ref: str, handle: str, subcontractor: str,
                      reason: str, **terms: Any) -> None:  # fmt: skip
    """Propose changed terms (give only what changes), with the reason."""
    given = terms_given(terms)
    number = runtime.record(
        handle,
        lambda app, s, uow: app.propose_variation(
            s, package_ref, subcontractor, reason, uow=uow, **given
        ),
    )
    click.echo(f"Variation number: {number}")


@variation.command("accept")
@click.argument("package_ref", metavar="PACKAGE")
@as_option
@click.option("--number", required=True, type=WholeNumber())
@click.pass_obj
def variation_accept(runtime: Runtime, package_ref: str, handle: str, number: int) -> None:
    """Accept variation NUMBER to your subcontract."""
    runtime.record(
        handle, lambda app, s, uow: app.answer_variation(s, package_ref, number, True, uow=uow)
    )


@variation.command("dispute")
@click.argument("package_ref", metavar="PACKAGE")
@as_option
@click.option("--number", required=True, type=WholeNumber())
@click.option("--reason", required=True)
@click.pass_obj
def variation_dispute(runtime: Runtime, package_ref: str, handle: str, number: int,
                      reason: str) -> None:  # fmt: skip
    """Dispute variation NUMBER to your subcontract, saying why."""
    runtime.record(
        handle,
        lambda app, s, uow: app.answer_variation(s, package_ref, number, False, reason, uow=uow),
    )


# -- flows: referrals, invoices, payments, performance -------------------------------------


@click.group()
def referral() -> None:
    """Referrals: sent by the prime, confirmed by the subcontractor (counts only)."""


@referral.command("send")
@click.argument("package_ref", metavar="PACKAGE")
@as_option
@click.option("--sub", "subcontractor", required=True, metavar="HANDLE")
@click.option("--period", required=True, metavar="2026-03|2026-Q1")
@click.option("--count", required=True, type=WholeNumber())
@click.pass_obj
def referral_send(runtime: Runtime, package_ref: str, handle: str, subcontractor: str,
                  period: str, count: int) -> None:  # fmt: skip
    """Record how many referrals you sent a subcontractor in a period."""
    runtime.record(
        handle,
        lambda app, s, uow: app.send_referrals(
            s, package_ref, subcontractor, period, count, uow=uow
        ),
    )


@referral.command("confirm")
@click.argument("package_ref", metavar="PACKAGE")
@as_option
@click.option("--period", required=True, metavar="2026-03|2026-Q1")
@click.option("--count", required=True, type=WholeNumber())
@click.pass_obj
def referral_confirm(runtime: Runtime, package_ref: str, handle: str, period: str,
                     count: int) -> None:  # fmt: skip
    """Confirm how many referrals you received in a period."""
    runtime.record(
        handle, lambda app, s, uow: app.confirm_referrals(s, package_ref, period, count, uow=uow)
    )


@click.group()
def invoice() -> None:
    """Invoices from subcontractors to their prime."""


@invoice.command("submit")
@click.argument("package_ref", metavar="PACKAGE")
@as_option
@click.option("--ref", "reference", required=True, help="Your invoice reference.")
@click.option("--amount", required=True, help="£.")
@click.option("--date", "invoice_date", required=True, metavar="YYYY-MM-DD")
@click.option("--period", required=True, metavar="2026-03|2026-Q1", help="Period invoiced for.")
@click.pass_obj
def invoice_submit(runtime: Runtime, package_ref: str, handle: str, reference: str, amount: str,
                   invoice_date: str, period: str) -> None:  # fmt: skip
    """Submit an invoice to your prime."""
    runtime.record(
        handle,
        lambda app, s, uow: app.submit_invoice(
            s, package_ref, reference, amount, invoice_date, period, uow=uow
        ),
    )


@click.group()
def payment() -> None:
    """Payments against invoices: recorded by the prime, confirmed by the subcontractor."""


@payment.command("record")
@click.argument("package_ref", metavar="PACKAGE")
@as_option
@click.option("--sub", "subcontractor", required=True, metavar="HANDLE")
@click.option(
    "--invoice", "invoice_ref", required=True, help="The subcontractor's invoice reference."
)
@click.option("--amount", required=True, help="£.")
@click.option("--date", "paid_on", required=True, metavar="YYYY-MM-DD")
@click.pass_obj
def payment_record(runtime: Runtime, package_ref: str, handle: str, subcontractor: str,
                   invoice_ref: str, amount: str, paid_on: str) -> None:  # fmt: skip
    """Record a payment against a subcontractor's invoice."""
    runtime.record(
        handle,
        lambda app, s, uow: app.record_payment(
            s, package_ref, subcontractor, invoice_ref, amount, paid_on, uow=uow
        ),
    )


@payment.command("confirm")
@click.argument("package_ref", metavar="PACKAGE")
@as_option
@click.option("--invoice", "invoice_ref", required=True, help="Your invoice reference.")
@click.option("--date", "received_on", required=True, metavar="YYYY-MM-DD")
@click.pass_obj
def payment_confirm(runtime: Runtime, package_ref: str, handle: str, invoice_ref: str,
                    received_on: str) -> None:  # fmt: skip
    """Confirm you received what was paid against your invoice."""
    runtime.record(
        handle,
        lambda app, s, uow: app.confirm_payment(s, package_ref, invoice_ref, received_on, uow=uow),
    )


@click.group()
def performance() -> None:
    """KPI actuals: reported by the subcontractor, attested by the prime."""


@performance.command("report")
@click.argument("package_ref", metavar="PACKAGE")
@as_option
@click.option("--kpi", required=True, help="The KPI's name.")
@click.option("--period", required=True, metavar="2026-03|2026-Q1")
@click.option("--actual", required=True)
@click.pass_obj
def performance_report(runtime: Runtime, package_ref: str, handle: str, kpi: str, period: str,
                       actual: str) -> None:  # fmt: skip
    """Report a KPI's actual value for a period."""
    runtime.record(
        handle,
        lambda app, s, uow: app.report_performance(s, package_ref, kpi, period, actual, uow=uow),
    )


@performance.command("attest")
@click.argument("package_ref", metavar="PACKAGE")
@as_option
@click.option("--sub", "subcontractor", required=True, metavar="HANDLE")
@click.option("--kpi", required=True)
@click.option("--period", required=True, metavar="2026-03|2026-Q1")
@click.pass_obj
def performance_attest(runtime: Runtime, package_ref: str, handle: str, subcontractor: str,
                       kpi: str, period: str) -> None:  # fmt: skip
    """Attest a subcontractor's KPI report."""
    runtime.record(
        handle,
        lambda app, s, uow: app.attest_performance(
            s, package_ref, subcontractor, kpi, period, uow=uow
        ),
    )


@click.group()
def concern() -> None:
    """Concerns raised with the commissioner directly: the prime cannot edit or suppress them."""


@concern.command("raise")
@click.argument("package_ref", metavar="PACKAGE")
@as_option
@click.option("--subject", required=True)
@click.option("--text", required=True, help="No personal data about service users, please.")
@click.option("--ref", "reference", help="Your reference for it [default: the first free c-1, c-2, …].")
@click.pass_obj
def concern_raise(runtime: Runtime, package_ref: str, handle: str, subject: str, text: str,
                  reference: str | None) -> None:  # fmt: skip
    """Raise a concern with the package's commissioner."""
    ref = runtime.record(
        handle,
        lambda app, s, uow: app.raise_concern(s, package_ref, subject, text, reference, uow=uow),
    )
    click.echo(f"Concern reference: {ref}")


@concern.command("respond")
@click.argument("package_ref", metavar="PACKAGE")
@as_option
@click.option("--sub", "subcontractor", required=True, metavar="HANDLE", help="Who raised it.")
@click.option("--ref", "reference", required=True, help="The concern's reference.")
@click.option("--text", required=True)
@click.pass_obj
def concern_respond(runtime: Runtime, package_ref: str, handle: str, subcontractor: str,
                    reference: str, text: str) -> None:  # fmt: skip
    """Respond to a subcontractor's concern (commissioner)."""
    runtime.record(
        handle,
        lambda app, s, uow: app.respond_to_concern(
            s, package_ref, subcontractor, reference, text, uow=uow
        ),
    )


@click.command()
@click.argument("package_ref", metavar="PACKAGE")
@format_option()
@click.pass_obj
def history(runtime: Runtime, package_ref: str, fmt: str) -> None:
    """Print PACKAGE's timeline: when, who signed (in what role in PACKAGE), what."""
    rows = runtime.app().history(package_ref)
    if fmt == "table":
        data = [
            {"id": r.notification_id, "recorded": r.recorded_at.replace("+00:00", "Z"),
             "signed by": r.org, "role": r.role, "event": r.event_type, "what": r.summary}
            for r in rows
        ]  # fmt: skip
    else:
        data = [r.__dict__ for r in rows]
    click.echo(render(data, fmt))
