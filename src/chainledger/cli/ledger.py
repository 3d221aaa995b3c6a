"""``chainledger init``."""

from __future__ import annotations

import click

from chainledger.cli.main import Runtime


@click.command()
@click.option("--name", default="chainledger", show_default=True, help="A name for this ledger.")
@click.pass_obj
def init(runtime: Runtime, name: str) -> None:
    """Create a new ledger with its own id (on the embedded SQLite default, zero set-up).

    The id goes into every signature, so no event can be replayed into another ledger.
    """
    from chainledger.persistence import database_url, describe

    app = runtime.app(create=True)
    ledger_id = app.init_ledger(name)
    click.echo(f"Created ledger {ledger_id} at {describe(database_url(runtime.ledger))}")
