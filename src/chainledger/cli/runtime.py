"""What every command shares: where the ledger, the keys and the reader's state are; the
application, opened once per command; passphrases, asked once.

Commands receive it as click's context object (``@click.pass_obj``)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from chainledger.bootstrap import ChainLedger

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
        from chainledger.application.contracting import UnitOfWork

        app = self.app()
        signer = self.signer(handle)

        def attempt() -> tuple[Any, list[Any]]:
            unit = UnitOfWork(app.core)
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
