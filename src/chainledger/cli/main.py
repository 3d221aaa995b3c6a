"""``chainledger``: the command-line entry point.

Heavy modules (SQLAlchemy, eventsourcing, cryptography) are imported only when
a command runs, so ``chainledger --help`` starts fast; and a command imports only
its own command module (``chainledger report findings``: ``cli/reports.py``), never
the others. ``--help`` imports them all, for each command's one-line help.
"""

from __future__ import annotations

import os
from functools import cached_property
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


# Each command of ``chainledger``: its name -> "module:attribute", imported only when
# that command is run (or ``--help`` lists them all). Shown sorted, as click does.
COMMANDS: dict[str, str] = {
    "init": "chainledger.cli.ledger:init",
    "org": "chainledger.cli.org:org",
    "package": "chainledger.cli.contracting:package",
    "kpi": "chainledger.cli.contracting:kpi",
    "bid": "chainledger.cli.contracting:bid",
    "interest": "chainledger.cli.contracting:interest",
    "subcontract": "chainledger.cli.contracting:subcontract",
    "variation": "chainledger.cli.contracting:variation",
    "referral": "chainledger.cli.contracting:referral",
    "invoice": "chainledger.cli.contracting:invoice",
    "payment": "chainledger.cli.contracting:payment",
    "performance": "chainledger.cli.contracting:performance",
    "concern": "chainledger.cli.contracting:concern",
    "history": "chainledger.cli.contracting:history",
    "import": "chainledger.cli.bulk:import_",
    "export": "chainledger.cli.bulk:export",
    "imported": "chainledger.cli.bulk:imported",
    "review": "chainledger.cli.review:review",
    "report": "chainledger.cli.reports:report",
    "projections": "chainledger.cli.reports:projections",
    "audit": "chainledger.cli.audit:audit",
    "checkpoint": "chainledger.cli.transparency:checkpoint",
    "prove": "chainledger.cli.transparency:prove",
    "verify-proof": "chainledger.cli.transparency:verify_proof",
    "demo": "chainledger.cli.demo:demo",
    "serve": "chainledger.cli.service:serve",
}
# Subcommands defined in another module than their group's: added to the group when it
# is loaded, and imported themselves only when run (``report reviews`` is the review
# module's, so ``report findings`` does not import it).
SUBCOMMANDS: dict[str, dict[str, str]] = {
    "report": {"reviews": "chainledger.cli.review:report_reviews"},
}


def _load(target: str) -> click.Command:
    """The command at ``target``, "module:attribute", importing its module."""
    module, _, attribute = target.partition(":")
    # ``__import__`` rather than ``importlib.import_module``: only the former shows in
    # ``python -X importtime``, which is how the start-up cost is measured (BENCHMARKS.md).
    command = getattr(__import__(module, fromlist=[attribute]), attribute)
    if not isinstance(command, click.Command):
        raise TypeError(f"{target} is not a click command")
    return command


# click 8.4+ suggests close command names ("Did you mean …?"); older clicks do not.
_NO_SUCH_COMMAND: Any = getattr(click.exceptions, "NoSuchCommand", None)


class _LazySubcommand(click.Command):
    """Stands in a group for a command of another module, imported when first used."""

    def __init__(self, name: str, target: str) -> None:
        super().__init__(name)
        self.target = target

    @cached_property
    def command(self) -> click.Command:
        return _load(self.target)

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        return self.command.make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        return self.command.invoke(ctx)

    def get_short_help_str(self, limit: int = 45) -> str:
        return self.command.get_short_help_str(limit)

    def to_info_dict(self, ctx: click.Context) -> dict[str, Any]:
        return self.command.to_info_dict(ctx)


class LazyGroup(click.Group):
    """A group whose commands (``COMMANDS``) are imported only when asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        if cmd_name not in COMMANDS:
            return None
        command = _load(COMMANDS[cmd_name])
        if isinstance(command, click.Group):
            for name, target in SUBCOMMANDS.get(cmd_name, {}).items():
                if name not in command.commands:
                    command.add_command(_LazySubcommand(name, target))
        return command

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as error:
            # click suggests names from ``self.commands``, which holds none of the lazy ones
            if _NO_SUCH_COMMAND is None or not isinstance(error, _NO_SUCH_COMMAND):
                raise
            raise _NO_SUCH_COMMAND(
                error.command_name, possibilities=self.list_commands(ctx), ctx=ctx
            ) from None


class ChainledgerGroup(LazyGroup):
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


def main() -> None:
    cli(prog_name="chainledger")
