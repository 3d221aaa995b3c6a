"""``chainledger export``, ``import`` and ``imported``: steps as JSON Lines, and signed
bundles carried between ledgers."""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import click

from chainledger.cli.render import format_option, render, write_output
from chainledger.cli.runtime import Runtime


@click.command("import")
@click.argument("file", type=click.File("rb"), metavar="FILE")
@click.option(
    "--as",
    "handle",
    metavar="HANDLE",
    help="For a steps file: the organisation recording (and signing) every line.",
)
@click.option("--on", metavar="YYYY-MM-DD",
              help="For a steps file: the date the lines took effect, if not today.")  # fmt: skip
@click.pass_obj
def import_(
    runtime: Runtime, file: click.utils.LazyFile, handle: str | None, on: str | None
) -> None:
    """Import FILE: a bundle exported from another ledger, or a JSON Lines file of steps.

    \b
    A bundle (from `chainledger export --package REF --as HANDLE`) keeps its
    events' own signatures. Every event, signature, chain link and Merkle proof
    is checked before anything is kept, and one that fails refuses the whole
    bundle, naming it. Importing the same events again changes nothing. See
    what was imported with `chainledger imported`.

    \b
    A steps file has one JSON object per line, {"step": "referral.send",
    "package": ..., ...}, with an optional "on": "YYYY-MM-DD"; every line is
    recorded and signed as --as HANDLE, all lines or none, a failing line named.
    See the README for the format. Use - for stdin.
    """
    from chainledger.application.bundles import is_bundle

    first = file.readline()
    if first.strip() == b"{":  # perhaps a pretty-printed bundle: read it whole
        first += file.read()
    if is_bundle(first):
        if handle is not None or on is not None:
            raise click.UsageError(
                "--as and --on are for steps files: a bundle's events keep the signatures "
                "and dates they were recorded with"
            )
        _import_bundle(runtime, first + file.read())
        return
    if handle is None:
        raise click.UsageError("Missing option '--as': who records and signs the steps.")
    from chainledger.application.bulk import import_steps, read_lines

    runtime.on = on
    app = runtime.app()
    signer = runtime.signer(handle)
    lines = itertools.chain(first.splitlines(keepends=True), file)
    count = import_steps(app.contracting, signer, read_lines(lines))  # type: ignore[arg-type]
    click.echo(f"Imported {count} events signed by {handle}.")


def _import_bundle(runtime: Runtime, data: bytes) -> None:
    from chainledger.application.bundles import load_bundle

    document = load_bundle(data)
    app = runtime.app()
    done = app.with_retries(lambda: app.import_bundle(document))
    held = done.events - done.new
    click.echo(
        f"Verified {done.events} events of package {done.package} from ledger "
        f"{done.ledger_name!r} ({done.ledger_id}): every signature, chain link and proof "
        f"holds against its checkpoint of {done.size} events signed by {done.signer}."
    )
    click.echo(
        f"Imported {done.new} new events"
        + (f"; {held} were already here, unchanged." if held else ".")
    )


@click.group(invoke_without_command=True)
@click.option(
    "--package", "package_ref", metavar="REF", help="The package to export (required for a bundle)."
)
@click.option(
    "--as",
    "handle",
    metavar="HANDLE",
    help="Bundle: the organisation that signs its checkpoint. "
    "Steps: only the steps this organisation signed.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["bundle", "steps"]),
    default="bundle",
    show_default=True,
    help="bundle: signed events for another ledger to import. "
    "steps: JSON Lines of steps, to record again with `import --as`.",
)
@click.option("-o", "--output", type=click.File("w", encoding="utf-8"), default="-",
              show_default=True, help="Where to write.")  # fmt: skip
@click.pass_context
def export(
    ctx: click.Context,
    package_ref: str | None,
    handle: str | None,
    fmt: str,
    output: click.utils.LazyFile,
) -> None:
    """Write a package as a signed bundle for another ledger, or steps as JSON Lines;
    or, with `export ocds`, the ledger as open contracting data.

    \b
    A bundle carries the package's events with their own signatures, the keys
    of everyone who signed them, each event's place in this ledger's Merkle
    tree, and a checkpoint signed by --as HANDLE:
      chainledger export --package BAR-ES-2026 --as northgate -o bar-es.bundle
    The other ledger checks all of it with `chainledger import bar-es.bundle`.
    """
    if ctx.invoked_subcommand is not None:
        return
    runtime: Runtime = ctx.obj
    app = runtime.app()
    app.ledger_id  # noqa: B018 - refuse a database that holds no ledger
    to_file = output is not sys.stdout and getattr(output, "name", "-") != "<stdout>"
    if fmt == "bundle":
        if package_ref is None or handle is None:
            raise click.UsageError(
                "a bundle needs --package REF (what it carries) and --as HANDLE (who signs "
                "its checkpoint); for JSON Lines of steps, use --format steps"
            )
        document = app.export_bundle(package_ref, runtime.signer(handle))
        output.write(json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n")
        if to_file:
            click.echo(
                f"Wrote a bundle of {len(document['events'])} events of package {package_ref} "
                f"to {output.name}, its checkpoint signed by {handle}.",
                err=True,
            )
        return
    from chainledger.application.bulk import export_steps

    if handle:
        app.organisation(handle)
    count = 0
    for step in export_steps(app.all_events(), org=handle, package_ref=package_ref):
        output.write(json.dumps(step, ensure_ascii=False) + "\n")
        count += 1
    if to_file:
        click.echo(f"Exported {count} steps.", err=True)


@click.command()
@click.argument("package_ref", metavar="[PACKAGE]", required=False)
@format_option()
@click.pass_obj
def imported(runtime: Runtime, package_ref: str | None, fmt: str) -> None:
    """List the ledgers bundles were imported from, or PACKAGE's imported events.

    Imported events are kept apart from this ledger's own, exactly as they were
    signed; `chainledger audit verify` checks them again.
    """
    app = runtime.app()
    if package_ref is None:
        rows = app.imported_ledgers()
        click.echo(render(rows, fmt, empty="Nothing was imported into this ledger."))
    else:
        click.echo(render(app.imported_history(package_ref), fmt))


@export.command("ocds")
@click.option("--package", "package_ref", metavar="REF", help="Only this package [default: all].")
@click.option(
    "--compiled",
    is_flag=True,
    help="A record package: each package's releases and its compiled release (the state now).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "csv"]),
    default="json",
    show_default=True,
    help="json: an OCDS package. csv: flat tables of the same data, one file "
    "each, written to the directory -o names.",
)
@click.option(
    "--ocid-prefix",
    envvar="CHAINLEDGER_OCID_PREFIX",
    metavar="PREFIX",
    help="Your registered OCID prefix (e.g. ocds-213czf). Env: CHAINLEDGER_OCID_PREFIX. "
    "[default: ocds-chainledger, which is not registered: a note on standard error says so]",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    help="The file to write (a directory for csv) [default: standard output].",
)
@click.pass_obj
def export_ocds(runtime: Runtime, package_ref: str | None, compiled: bool, fmt: str,
                ocid_prefix: str | None, output: Path | None) -> None:  # fmt: skip
    """Publish the ledger in the Open Contracting Data Standard (OCDS 1.1).

    \b
    One release per event that changes the public picture: the tender and its
    KPIs, bids, the award with the workshare its bid promised (subcontracting
    extension) and the referrals and KPI levels agreed (metrics extension),
    the contract and its amendments, subcontracts, payments to subcontractors
    (implementation transactions), referrals and KPI results per period
    (implementation metrics). Counts only: nothing identifies a service user.
      chainledger export ocds --package BAR-ES-2026 -o bar-es-2026.ocds.json
    """
    from chainledger.application.open_data import write_json

    if fmt == "csv" and output is None:
        raise click.UsageError("--format csv writes several files: give -o DIRECTORY")
    from chainledger.projections.ocds import DEFAULT_OCID_PREFIX

    app = runtime.app()
    prefix = ocid_prefix if ocid_prefix is not None else DEFAULT_OCID_PREFIX
    document = app.ocds(prefix, package_ref, compiled=compiled or fmt == "csv")
    if ocid_prefix is None:
        click.echo(f"Note: {DEFAULT_OCID_PREFIX} is not a registered OCID prefix, so these "
                   "OCIDs are not unique worldwide: register one with the Open Contracting "
                   "Partnership and give it with --ocid-prefix", err=True)  # fmt: skip
    if fmt == "csv":
        from chainledger.projections.ocds import write_tables

        assert output is not None
        written = write_tables(document, output)
        click.echo(f"Wrote {', '.join(p.name for p in written)} to {output}", err=True)
        return
    kind = "records" if compiled else "releases"
    write_output(write_json(document) + "\n", output, f"{len(document[kind])} {kind}")
