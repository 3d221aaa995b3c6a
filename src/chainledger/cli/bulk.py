"""``chainledger import`` and ``chainledger export``: steps as JSON Lines."""

from __future__ import annotations

import json
import sys

import click

from chainledger.cli.main import Runtime
from chainledger.cli.options import as_option


@click.command("import")
@click.argument("file", type=click.File("rb"), metavar="FILE.jsonl")
@as_option
@click.pass_obj
def import_(runtime: Runtime, file: click.utils.LazyFile, handle: str) -> None:
    """Record many steps of one organisation from FILE.jsonl in one transaction.

    One JSON object per line: {"step": "referral.send", "package": ..., ...},
    with an optional "on": "YYYY-MM-DD" for when it took effect (default: --on,
    or today). All lines are recorded or none; a failing line is named. Use -
    for stdin.
    See the README for the format, or `chainledger export` for examples.
    """
    from chainledger.bulk import import_steps, read_lines

    app = runtime.app()
    signer = runtime.signer(handle)
    count = import_steps(app, signer, read_lines(file))  # type: ignore[arg-type]
    click.echo(f"Imported {count} events signed by {handle}.")


@click.command()
@click.option("--as", "handle", metavar="HANDLE", help="Only steps this organisation signed.")
@click.option("--package", "package_ref", metavar="REF", help="Only steps on this package.")
@click.option("-o", "--output", type=click.File("w", encoding="utf-8"), default="-",
              show_default=True, help="Where to write the JSON Lines.")  # fmt: skip
@click.pass_obj
def export(
    runtime: Runtime, handle: str | None, package_ref: str | None, output: click.utils.LazyFile
) -> None:
    """Write recorded steps as JSON Lines, in the format `chainledger import` reads."""
    from chainledger.bulk import export_steps

    app = runtime.app()
    app.ledger_id  # noqa: B018 - refuse a database that holds no ledger
    if handle:
        app.organisation(handle)
    count = 0
    for step in export_steps(app.all_events(), org=handle, package_ref=package_ref):
        output.write(json.dumps(step, ensure_ascii=False) + "\n")
        count += 1
    if output is not sys.stdout and getattr(output, "name", "-") != "<stdout>":
        click.echo(f"Exported {count} steps.", err=True)
