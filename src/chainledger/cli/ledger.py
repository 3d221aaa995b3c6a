"""``chainledger init``."""

from __future__ import annotations

import click

from chainledger.cli.runtime import Runtime


@click.command()
@click.option("--name", default="chainledger", show_default=True, help="A name for this ledger.")
@click.option("--registrar", "registrar", metavar="NAME",
              help="The organisation that vouches for every other's key (normally the "
                   "commissioner running the programme): created with the ledger.")  # fmt: skip
@click.option("--identifier", metavar="SCHEME-ID",
              help="The registrar's org identifier, e.g. GB-GOR-E09000003.")  # fmt: skip
@click.option("--handle", help="The registrar's handle for --as; default: a slug of its NAME.")
@click.pass_obj
def init(
    runtime: Runtime,
    name: str,
    registrar: str | None,
    identifier: str | None,
    handle: str | None,
) -> None:
    """Create a new ledger with its own id (on the embedded SQLite default, zero set-up).

    The id goes into every signature, so no event can be replayed into another ledger.

    With --registrar, the ledger is created together with its first organisation,
    the registrar, whose key is the ledger's root of identity: every other
    organisation signs nothing on a package until a registrar has endorsed its key
    (`chainledger org endorse`). The registrar is named in the ledger's first event
    and the ledger's id is derived from it, so it cannot be swapped afterwards.

    \b
    Example:
      chainledger init --name "Barnet employment support" \\
          --registrar "Barnet Council" --identifier GB-GOR-E09000003
    """
    from chainledger.adapters.locations import database_url, describe

    if registrar is None and (identifier or handle):
        raise click.UsageError("--identifier and --handle describe the registrar: give --registrar")
    app = runtime.app(create=True)
    where = describe(database_url(runtime.ledger))
    if registrar is None:
        ledger_id = app.init_ledger(name)
        click.echo(f"Created ledger {ledger_id} at {where}")
        click.echo("It has no registrar: nobody vouches for its organisations' keys "
                   "(see chainledger init --help).", err=True)  # fmt: skip
        return
    if app.is_initialised():
        app.init_ledger(name)  # refuses, naming the ledger already there
    passphrase = runtime.passphrase(handle or registrar, confirm=True)
    ledger_id, registrar_handle = app.init_with_registrar(
        name, registrar, passphrase=passphrase, handle=handle, identifier=identifier
    )
    details = app.organisation(registrar_handle)
    click.echo(f"Created ledger {ledger_id} at {where}")
    click.echo(f"Registrar: {registrar_handle} ({details.name}), the root of identity")
    click.echo(f"Key fingerprint: {details.key_id}")
    click.echo(f"Private key: {runtime.keys / (details.key_id + '.key')}")
