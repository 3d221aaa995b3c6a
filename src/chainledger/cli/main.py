"""``chainledger``: the command-line entry point.

Heavy modules (SQLAlchemy, eventsourcing, cryptography) are imported only when
a command runs, so ``chainledger --help`` starts fast.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from chainledger import __version__
from chainledger.cli.runtime import DEFAULT_LEDGER, Runtime, default_keys
from chainledger.errors import ChainledgerError


def _database_failure(error: Exception) -> str | None:
    """A plain message if ``error`` is the database failing (e.g. the server stopped)."""
    import sqlalchemy.exc
    from eventsourcing.persistence import PersistenceError

    from chainledger.adapters.locations import EDITED_INTO_TEXT, edited_into_text, failure_reason

    if not isinstance(error, (sqlalchemy.exc.SQLAlchemyError, PersistenceError)):
        return None
    if edited_into_text(error):
        return f"tampered ledger data: {EDITED_INTO_TEXT}; nothing was saved"
    return (
        f"the ledger's database failed during the command ({failure_reason(error)}); "
        "nothing was saved"
    )


class ChainledgerGroup(click.Group):
    """Turns chainledger's errors into ``Error: …`` and exit 1, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ChainledgerError as error:
            raise click.ClickException(str(error)) from None
        except (click.exceptions.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as error:  # a bug: say so plainly, and keep the trace for debugging
            if os.environ.get("CHAINLEDGER_DEBUG"):
                raise
            database_failure = _database_failure(error)
            if database_failure is not None:
                raise click.ClickException(database_failure) from None
            raise click.ClickException(
                f"unexpected {type(error).__name__}: {error} "
                "(this is a bug in chainledger; set CHAINLEDGER_DEBUG=1 for details)"
            ) from None


@click.group(cls=ChainledgerGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--ledger",
    envvar="CHAINLEDGER_LEDGER",
    default=DEFAULT_LEDGER,
    show_default=True,
    metavar="PATH|URL",
    help="The ledger: an SQLite file path, or an SQLAlchemy URL. Env: CHAINLEDGER_LEDGER.",
)
@click.option(
    "--keys",
    envvar="CHAINLEDGER_KEYS",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    metavar="DIR",
    help="Directory of encrypted private keys. Env: CHAINLEDGER_KEYS. "
    "[default: your config directory]/keys",
)
@click.option(
    "--state",
    envvar="CHAINLEDGER_STATE",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    metavar="DIR",
    help="Directory of your verified views of each ledger (kept outside the ledger's "
    "database, so that whoever writes to it cannot change what a report says). "
    "Env: CHAINLEDGER_STATE. [default: ~/.local/state/chainledger]",
)
@click.version_option(__version__, prog_name="chainledger")
@click.pass_context
def cli(ctx: click.Context, ledger: str, keys: Path | None, state: Path | None) -> None:
    """chainledger: a signed ledger of what public-service supply chains promise and deliver.

    Every fact is an event signed by the organisation accountable for it, so
    nobody can alter or drop one unnoticed. Start with:

    \b
      chainledger init
      chainledger org create "Barnet Council" --sector public
      chainledger audit verify

    Passphrases come from CHAINLEDGER_PASSPHRASE or a prompt.
    """
    ctx.obj = Runtime(ledger, keys or default_keys(), state)
    ctx.call_on_close(ctx.obj.close)


def _register_commands() -> None:
    from chainledger.cli import (
        audit,
        bulk,
        contracting,
        demo,
        ledger,
        org,
        reports,
        review,
        service,
        transparency,
    )

    cli.add_command(ledger.init)
    cli.add_command(org.org)
    for group in contracting.GROUPS:
        cli.add_command(group)
    cli.add_command(contracting.history)
    cli.add_command(bulk.import_)
    cli.add_command(bulk.export)
    cli.add_command(bulk.imported)
    cli.add_command(review.review)
    reports.report.add_command(review.report_reviews)
    cli.add_command(reports.report)
    cli.add_command(reports.projections)
    cli.add_command(audit.audit)
    cli.add_command(transparency.checkpoint)
    cli.add_command(transparency.prove)
    cli.add_command(transparency.verify_proof)
    cli.add_command(demo.demo)
    cli.add_command(service.serve)


_register_commands()


def main() -> None:
    cli(prog_name="chainledger")
