"""``chainledger report …`` and ``chainledger projections rebuild``."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import click

from chainledger.cli.render import FORMATS, render
from chainledger.cli.runtime import Runtime

# The columns a table shows; JSON and CSV carry every field (see the README).
TABLE_COLUMNS = {
    "workshare": ("subcontractor", "promised_value_per_year", "answer", "contracted_value_per_year",
                  "paid_to_date", "value_delivered_pct", "referrals_delivered_pct", "status"),
    "payments": ("payer", "payee", "invoices", "mean_days_to_pay", "paid_within_30_days_pct",
                 "paid_31_60_days_pct", "paid_61_plus_days_pct", "overdue_invoices",
                 "oldest_overdue", "late_payment_interest"),
    "referrals": ("subcontractor", "period", "promised", "sent", "confirmed", "disagreement"),
    "performance": ("kpi", "period", "provider", "actual", "target", "acceptable", "rating",
                    "attested"),
    "findings": ("rule", "severity", "roles", "finding", "evidence"),
    "scorecard": ("area", "rating", "findings", "rules", "metrics"),
}  # fmt: skip


def _report_options(command: Any) -> Any:
    command = click.option("--package", "package_ref", metavar="REF",
                           help="One package [default: every package].")(command)  # fmt: skip
    command = click.option("--as-of", metavar="YYYY-MM-DD",
                           help="Answer as the ledger stood on this date [default: today].")(command)  # fmt: skip
    command = click.option("--format", "fmt", type=click.Choice(FORMATS), default="table",
                           show_default=True)(command)  # fmt: skip
    return _rule_options(command)


def _rule_options(command: Any) -> Any:
    """--threshold and --base-rate: the settings of the Code of Practice's rules."""
    command = click.option("--threshold", "thresholds", multiple=True, metavar="NAME=VALUE",
                           help="Change a rule's threshold (see the README), repeatable.")(command)  # fmt: skip
    return click.option("--base-rate", metavar="PCT",
                        help="Bank of England base rate for late-payment interest [default: 4.00].")(command)  # fmt: skip


@click.group()
def report() -> None:
    """Reports: promised vs delivered, payments, referrals, performance, findings, scorecard,
    and all of it as one web page (html)."""


def _settings(
    as_of: str | None, thresholds: tuple[str, ...], base_rate: str | None
) -> tuple[date, Any]:
    """The as-of date (default today) and the thresholds from the report options."""
    from chainledger.domain.assessment import Thresholds
    from chainledger.domain.quantities import parse_date

    settings = {}
    for item in thresholds:
        key, eq, value = item.partition("=")
        if not eq:
            raise click.BadParameter(f"{item!r}: use NAME=VALUE", param_hint="'--threshold'")
        settings[key.strip()] = value.strip()
    if base_rate is not None:
        settings["base_rate_pct"] = base_rate
    day = parse_date(as_of, "--as-of date") if as_of is not None else date.today()
    return day, Thresholds.parse(settings)


def _run(runtime: Runtime, name: str, package_ref: str | None, as_of: str | None, fmt: str,
         thresholds: tuple[str, ...], base_rate: str | None, prime: str | None = None,
         review_owner: str | None = None) -> None:  # fmt: skip
    day, limits = _settings(as_of, thresholds, base_rate)
    app = runtime.app()
    opener = runtime.opener(review_owner) if review_owner else None
    rows = app.report(
        name, package=package_ref, as_of=day, thresholds=limits, prime=prime, review_opener=opener
    )
    if fmt == "table":
        columns = TABLE_COLUMNS[name]
        if any("compromised_evidence" in row for row in rows):  # signed by a stolen key
            columns = (*columns, "compromised_evidence")
        rows = [{k: _cell(row.get(k)) for k in columns} for row in rows]
        click.echo(f"{name} as of {day}" + (f", package {package_ref}" if package_ref else ""))
        if review_owner:  # the 360 review findings are statistics of the owner's full view
            click.echo(f"with the 360 review findings of the rounds {review_owner} owns: owner "
                       "only, not for sharing (without --as, nothing here is)")  # fmt: skip
    elif fmt == "csv":
        rows = [{k: _cell(v) for k, v in row.items()} for row in rows]
    click.echo(render(rows, fmt, empty=f"Nothing to report as of {day}."))


def _cell(value: Any) -> Any:
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {v}" for k, v in value.items())
    return value


def _make(name: str, doc: str) -> click.Command:
    @_report_options
    @click.pass_obj
    def command(runtime: Runtime, **options: Any) -> None:
        _run(runtime, name, **options)

    command.__doc__ = doc
    return report.command(name)(command)


_make(
    "workshare",
    "Per named subcontractor: promised at bid, acknowledged?, contracted, delivered, status.",
)
_make(
    "payments", "Per payer and payee: days to pay, Procurement Act buckets, overdue, interest owed."
)
_make("referrals", "Per subcontractor and period: referrals promised, sent and confirmed.")
_make("performance", "KPI actuals against target and acceptable levels, rated.")


@report.command("findings")
@click.option(
    "--as", "review_owner", metavar="HANDLE",
    help="Also the 360 review findings of the rounds HANDLE owns (needs its key).",
)  # fmt: skip
@_report_options
@click.pass_obj
def findings(runtime: Runtime, review_owner: str | None, **options: Any) -> None:
    """The audit list: Code of Practice findings, each with the events it rests on.

    Review findings (SELF_OTHER_GAP, LOW_RATED, PERCEPTION_GAP) need the ratings,
    which only the round's owner can open: add --as with the commissioner's handle.
    """
    _run(runtime, "findings", review_owner=review_owner, **options)


@report.command("scorecard")
@click.option("--prime", required=True, metavar="HANDLE", help="The prime to score.")
@_report_options
@click.pass_obj
def scorecard(runtime: Runtime, prime: str, **options: Any) -> None:
    """A prime against the Code of Practice's four Merlin areas, with the metrics behind each."""
    _run(runtime, "scorecard", prime=prime, **options)


@report.command("html")
@click.option(
    "--package", "package_ref", metavar="REF", help="One package [default: every package]."
)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The HTML file to write, e.g. audit.html.")  # fmt: skip
@click.option("--as-of", metavar="YYYY-MM-DD",
              help="Show the ledger as it stood on this date [default: today].")  # fmt: skip
@click.option(
    "--as", "review_owner", metavar="HANDLE",
    help="A 360 review round owner (needs its key): adds its rounds' shared view and review "
    "findings. Without it, ratings stay sealed.",
)  # fmt: skip
@click.option("--full-review", is_flag=True,
              help="With --as: the owner's full review view instead of the shared one "
              "(not for sharing).")  # fmt: skip
@click.option("--checkpoint", "checkpoint_files", multiple=True, metavar="FILE",
              help="A checkpoint you were given (repeatable): the page says whether the ledger "
              "extends it.")  # fmt: skip
@click.option("--no-audit", is_flag=True,
              help="Skip verifying every event (faster on a large ledger); the page then says "
              "it was not checked.")  # fmt: skip
@_rule_options
@click.pass_obj
def html(runtime: Runtime, package_ref: str | None, output: Path, as_of: str | None,
         review_owner: str | None, full_review: bool, checkpoint_files: tuple[str, ...],
         no_audit: bool, thresholds: tuple[str, ...], base_rate: str | None) -> None:  # fmt: skip
    """The audit as one self-contained web page: summary and verification, findings with
    their evidence, and charts of promised vs delivered, payments, referrals, KPIs and the
    360 review.

    The page needs no network and no JavaScript, prints on A4 and reads on a phone;
    every chart has a text alternative and a table of its numbers. Open it in any
    browser, or attach it to a board paper.

    \b
    Example:
      chainledger report html -o audit.html --package BAR-ES-2026 --as barnet-council
    """
    from chainledger.application.audit import Failure
    from chainledger.cli.audit import load_checkpoints
    from chainledger.cli.render import write_output
    from chainledger.errors import TamperError
    from chainledger.report_html import render_page, render_refusal

    if full_review and not review_owner:
        raise click.UsageError("--full-review needs --as HANDLE: only a round's owner may ask")
    if no_audit and checkpoint_files:
        raise click.UsageError("--checkpoint needs the audit: leave out --no-audit")
    day, limits = _settings(as_of, thresholds, base_rate)
    app = runtime.app()
    app.ledger_id  # noqa: B018 - refuse a database that holds no ledger before a passphrase
    checkpoints, unsigned = load_checkpoints(app, checkpoint_files)
    opener = runtime.opener(review_owner) if review_owner else None
    try:
        data = app.report_page(
            package=package_ref, as_of=day, thresholds=limits, review_opener=opener,
            full_review=full_review, audit=not no_audit, checkpoints=checkpoints,
        )  # fmt: skip
    except TamperError as error:
        scope = f"package {package_ref}" if package_ref else "every package"
        page = render_refusal(app.ledger_name(), str(app.ledger_id), scope, day.isoformat(),
                              str(error))  # fmt: skip
        write_output(page, output, "the audit page (marked TAMPERED)")
        raise
    if data.audit is not None:
        for message in unsigned:
            data.audit.add(Failure(0, "", 0, "", message))
    write_output(render_page(data), output, "the audit page")
    if data.audit is not None and not data.audit.ok:
        raise TamperError(f"the audit found {data.audit.failure_count} failure(s); the page shows "
                          "the ledger as TAMPERED (details: chainledger audit verify)")  # fmt: skip


@click.group()
def projections() -> None:
    """The read models behind the reports."""


@projections.command("rebuild")
@click.pass_obj
def rebuild(runtime: Runtime) -> None:
    """Verify the whole ledger again and rebuild your views from it.

    Every event is verified (signature, key, chain, Merkle tree) into a new
    verified store, which replaces yours only if every event verified: a
    tampered event stops the rebuild with an error naming it, and your views
    stay as they were. Your record of the checkpoints you signed is kept.
    """
    app = runtime.app()
    app.ledger_id  # noqa: B018
    count = app.projections.rebuild()
    click.echo(f"Rebuilt the views from {count} events.")
