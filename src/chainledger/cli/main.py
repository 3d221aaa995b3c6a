"""``chainledger``: the command-line entry point.

Heavy modules (SQLAlchemy, eventsourcing, cryptography) are imported only when
a command runs, so ``chainledger --help`` starts fast.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from chainledger import __version__
from chainledger.errors import ChainledgerError

if TYPE_CHECKING:
    from chainledger.application import ChainLedger

DEFAULT_LEDGER = "chainledger.db"
PASSPHRASE_ENV = "CHAINLEDGER_PASSPHRASE"  # noqa: S105 - a variable name, not a secret


def default_keys() -> Path:
    return Path(click.get_app_dir("chainledger")) / "keys"


class Runtime:
    """What every command shares: where the ledger and the keys are."""

    def __init__(self, ledger: str, keys: Path, state: Path | None = None) -> None:
        self.ledger = ledger
        self.keys = keys
        self.state = state
        self._app: ChainLedger | None = None
        self.on: str | None = None  # --on: when the recorded facts took effect
        self._passphrases: dict[str, str] = {}  # asked once per command, never shown

    def app(self, *, create: bool = False) -> ChainLedger:
        if self._app is None:
            from chainledger.bootstrap import open_ledger

            self._app = open_ledger(self.ledger, self.keys, create=create, state=self.state)
        return self._app

    def close(self) -> None:
        """Release the ledger's database connections (a shared server counts them), and say
        what the command noticed on the way (rows that do not verify, say)."""
        if self._app is not None:
            for note in self._app.notes:
                click.echo(f"Warning: {note}", err=True)
            self._app.close()
            self._app = None

    def opener(self, handle: str) -> Any:
        """Opens what was sealed to ``handle``'s encryption keys (same passphrase as signing)."""
        app = self.app()
        app.organisation(handle)
        return app.opener(handle, self.passphrase(handle))

    def record(self, handle: str, action: Callable[[ChainLedger, Any, Any], Any]) -> Any:
        """Sign and record one step as ``handle``; prints what was recorded.

        ``action(app, signer, unit_of_work)`` calls one use case; everything it
        changes is saved in one transaction, or nothing is if it fails.
        """
        from chainledger.contracting import UnitOfWork

        app = self.app()
        signer = self.signer(handle)

        def attempt() -> tuple[Any, list[Any]]:
            unit = UnitOfWork(app)
            result = action(app, signer, unit)
            return result, unit.commit()

        # Another writer may record into the same record between our read and our
        # write; nothing is written then, and the step is read and checked afresh.
        result, events = app.with_retries(attempt)
        for event in events:
            click.echo(
                f"Recorded #{event.notification_id or '?'} {event.type_name}: {event.summary()}"
            )
        return result

    def signer(self, handle: str) -> Any:
        """``handle``'s signer, unlocked, dated by --on if given."""
        from chainledger.domain.quantities import parse_date

        on = parse_date(self.on, "--on date") if self.on else None
        app = self.app()
        app.organisation(handle)  # an unknown handle fails before the passphrase prompt
        return app.signer(handle, self.passphrase(handle)).dated(on)

    def passphrase(self, who: str, *, confirm: bool = False) -> str:
        """The passphrase from CHAINLEDGER_PASSPHRASE, or asked for at the terminal (once)."""
        value = os.environ.get(PASSPHRASE_ENV)
        if value:
            return value
        if who in self._passphrases and not confirm:
            return self._passphrases[who]
        if not sys.stdin.isatty():
            raise click.UsageError(
                f"no passphrase for {who}'s key: set {PASSPHRASE_ENV} or run in a terminal"
            )
        value = str(
            click.prompt(
                f"Passphrase for {who}'s key", hide_input=True, confirmation_prompt=confirm
            )
        )
        self._passphrases[who] = value
        return value


def _database_failure(error: Exception) -> str | None:
    """A plain message if ``error`` is the database failing (e.g. the server stopped)."""
    import sqlalchemy.exc
    from eventsourcing.persistence import PersistenceError

    from chainledger.persistence import EDITED_INTO_TEXT, edited_into_text, failure_reason

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


_register_commands()


def main() -> None:
    cli(prog_name="chainledger")
