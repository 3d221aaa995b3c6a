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

    return tabulate([list(r.values()) for r in rows], headers=list(rows[0]), tablefmt="simple")
