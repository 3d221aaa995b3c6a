"""Options shared by the recording commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

TERM_OPTIONS = (
    ("service", "--service", "Service or specialism, e.g. 'mental health support'."),
    ("share_pct", "--share", "Share of the contract value, %."),
    ("value_per_year", "--value", "Value per year, £."),
    ("referrals_per_period", "--referrals", "Expected referrals per period."),
    ("referral_cadence", "--cadence", "Referral period: month or quarter [default: quarter]."),
    ("payment_model", "--model", "fixed, fee-plus-outcome or payment-by-results."),
    ("at_risk_pct", "--at-risk", "Share of payment at risk on results, % [default: 0]."),
    ("payment_terms_days", "--terms", "Payment terms, days from invoice."),
    ("management_fee_pct", "--fee", "Management fee the prime keeps, % [default: 0]."),
)

INLINE_KEYS = {option.removeprefix("--"): name for name, option, _ in TERM_OPTIONS}


class WholeNumber(click.ParamType):
    """A whole number written in ASCII digits only, within ``low``..``high``: Python's
    ``int()`` (and so click's) would also take '1_000', Arabic-Indic or full-width digits
    and signs, which no ledger should record as a count."""

    name = "integer"

    def __init__(self, low: int = 0, high: int | None = None) -> None:
        self.low, self.high = low, high

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> int:  # fmt: skip
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        else:
            text = str(value).strip()
            if not (text.isascii() and text.isdigit()):
                self.fail(f"{value!r} is not a whole number (digits 0-9 only)", param, ctx)
            number = int(text)
        if number < self.low or (self.high is not None and number > self.high):
            top = f"{self.high}" if self.high is not None else "any"
            self.fail(f"{number} is not between {self.low} and {top}", param, ctx)
        return number


def _remember_on(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.find_root().obj.on = value


def as_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """--as HANDLE (who signs) and --on DATE (when the fact took effect)."""
    command = click.option(
        "--on",
        metavar="YYYY-MM-DD",
        expose_value=False,
        callback=_remember_on,
        help="The date this took effect, if not today (never in the future).",
    )(command)
    return click.option(
        "--as",
        "handle",
        required=True,
        metavar="HANDLE",
        help="The organisation recording (and signing) this step.",
    )(command)


def term_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--service, --share, --value, … for subcontract terms and variations."""
    for name, option, text in reversed(TERM_OPTIONS):
        command = click.option(option, name, help=text)(command)
    return command


def terms_given(values: dict[str, Any]) -> dict[str, Any]:
    """Only the term options that were given."""
    return {name: values[name] for name, _, _ in TERM_OPTIONS if values.get(name) is not None}


def parse_inline_promise(text: str) -> dict[str, Any]:
    """``HANDLE:key=value,key=value`` (keys as the term options) -> a promise object."""
    handle, sep, rest = text.partition(":")
    if not sep or not handle.strip():
        raise click.BadParameter(
            "use HANDLE:service=...,share=...,value=...,referrals=...,model=...,terms=...",
            param_hint="'--promise'",
        )
    promise: dict[str, Any] = {"subcontractor": handle.strip()}
    for part in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = part.partition("=")
        if not eq or key.strip() not in INLINE_KEYS:
            known = ", ".join(INLINE_KEYS)
            raise click.BadParameter(
                f"{part!r}: use key=value with keys {known}", param_hint="'--promise'"
            )
        promise[INLINE_KEYS[key.strip()]] = value.strip()
    return promise
