"""One renderer for every listing: table (tabulate), JSON or CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

import click

FORMATS = ("table", "json", "csv")


def format_option(default: str = "table") -> Any:
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(FORMATS),
        default=default,
        show_default=True,
        help="Output as a table, JSON or CSV.",
    )


def write_output(text: str, output: Any, what: str) -> None:
    """``text`` to the file ``output`` (a Path), saying so on stderr, or to stdout if None."""
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as error:
        raise click.ClickException(f"cannot write {output}: {error.strerror}") from None
    click.echo(f"Wrote {what} to {output}", err=True)


def render(rows: Sequence[dict[str, Any]], fmt: str, *, empty: str = "Nothing to show.") -> str:
    """Rows as text in the chosen format (a table's rows have equal keys)."""
    if fmt == "json":
        return json.dumps(list(rows), indent=2, default=str)
    if fmt == "csv":
        buffer = io.StringIO()
        if rows:
            # every row's fields, in order of first appearance (a field only some rows
            # have, such as compromised_evidence, is left empty in the others)
            fields = list(dict.fromkeys(k for row in rows for k in row))
            writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        return buffer.getvalue().rstrip("\n")
    if not rows:
        return empty
    from tabulate import tabulate

    headers = list(rows[0])
    money = [header in MONEY_FIELDS for header in headers]
    cells = [[_pounds(v) if is_money else v for v, is_money in zip(r.values(), money, strict=False)]
             for r in rows]  # fmt: skip
    # Values as they are written (no parsing: "184.80" stays 184.80, not 184.8), money as
    # pounds to the penny with thousands separated, right-aligned like the numbers it is.
    numeric = [all(_is_number(row[i]) for row in cells if row[i] not in (None, ""))
               for i in range(len(headers))]  # fmt: skip
    return tabulate(cells, headers=headers, tablefmt="simple", disable_numparse=True,
                    colalign=["right" if m or n else "left"
                              for m, n in zip(money, numeric, strict=True)])  # fmt: skip


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    text = str(value)
    return text.startswith("£") or text.replace(".", "", 1).lstrip("-").isdigit()


# Fields that hold money (decimal text in JSON and CSV): shown in tables as £1,950,000.00.
MONEY_FIELDS = frozenset({
    "value", "price", "amount", "paid", "invoiced", "overdue_amount", "late_payment_interest",
    "due_to_date", "paid_to_date", "promised_value_per_year", "contracted_value_per_year",
    "interest", "awarded_price", "original_value", "value_per_year",
})  # fmt: skip


def _pounds(value: Any) -> Any:
    """A decimal amount as pounds and pence (left as it is if it is not one)."""
    from decimal import Decimal, InvalidOperation

    if value is None or value == "" or isinstance(value, bool):
        return value
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return value
    if not amount.is_finite():
        return value
    return f"£{amount:,.2f}"
