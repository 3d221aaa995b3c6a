"""``chainledger audit``: check the ledger's integrity."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

import click

from chainledger.cli.options import WholeNumber
from chainledger.cli.runtime import Runtime


@click.group()
def audit() -> None:
    """Check that nothing in the ledger was altered or removed."""


@audit.command("verify")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.option(
    "--workers",
    type=WholeNumber(1, 64),
    help="Processes for signature checks. [default: one per core on large ledgers]",
)
@click.option(
    "--checkpoint", "checkpoint_files", multiple=True, metavar="FILE",
    help="A checkpoint you were given (repeatable): the ledger must extend it.",
)  # fmt: skip
@click.pass_obj
def verify(
    runtime: Runtime, fmt: str, workers: int | None, checkpoint_files: tuple[str, ...]
) -> None:
    """Verify every event: signature, signer's key at that point, hash chain, versions,
    and the Merkle tree over them all.

    With --checkpoint, also prove that the ledger is an append-only extension of
    each checkpoint: truncation, deletion, reordering or rewriting of history is
    caught even when every remaining signature is valid.

    Exit status 0 when the ledger is clean, 1 when anything fails.
    """
    from chainledger.application.audit import Failure

    app = runtime.app()
    app.ledger_id  # noqa: B018 - refuse a database that holds no ledger
    checkpoints, unsigned = load_checkpoints(app, checkpoint_files)
    total = app.store.max_position()
    if sys.stderr.isatty() and fmt == "text":
        with click.progressbar(length=total, label="Verifying", file=sys.stderr) as bar:
            report = app.audit(workers=workers, progress=bar.update, checkpoints=checkpoints)
    else:
        report = app.audit(workers=workers, checkpoints=checkpoints)
    for message in unsigned:
        report.add(Failure(0, "", 0, "", message))
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    "ok": report.ok,
                    "ledger": report.ledger_id,
                    "events": report.events,
                    "organisations": report.organisations,
                    "signatures": report.signatures,
                    "seconds": round(report.seconds, 3),
                    "events_per_second": round(report.events_per_second),
                    "tree": {"size": report.tree_size, "root": report.tree_root.hex()},
                    "checkpoints": report.checkpoints,
                    "imported_events": report.imported,
                    "failure_count": report.failure_count,
                    "failures": [f.__dict__ for f in report.failures],
                    "marked": [f.__dict__ for f in report.flagged],
                },
                indent=2,
            )
        )
    else:
        click.echo(
            f"Ledger {report.ledger_id}: checked {report.events} events "
            f"({report.signatures} signatures) from {report.organisations} organisations "
            f"in {report.seconds:.2f}s ({report.events_per_second:,.0f} events/s, "
            f"{report.workers} worker{'s' if report.workers > 1 else ''})."
        )
        click.echo(f"Merkle tree: {report.tree_size} events, root {report.tree_root.hex()}.")
        for line in report.checkpoints:
            click.echo(f"OK {line}.")
        if report.imported:
            click.echo(f"Imported from other ledgers: {report.imported} events checked again.")
        for f in report.failures:
            if not f.notification_id:  # the ledger as a whole
                click.echo(f"FAILED: {f.message}")
                continue
            where = f"notification {f.notification_id}"
            if f.aggregate_id:
                where += f", aggregate {f.aggregate_id} version {f.version} ({f.event_type})"
            click.echo(f"FAILED {where}: {f.message}")
        for f in report.flagged:
            click.echo(f"MARKED notification {f.notification_id} ({f.event_type}): {f.message}")
        if report.failure_count > len(report.failures):
            click.echo(f"... and {report.failure_count - len(report.failures)} more failures.")
        click.echo(
            "OK: every signature and chain link verifies."
            if report.ok
            else f"TAMPERED: {report.failure_count} failure(s)."
        )
    if not report.ok:
        raise SystemExit(1)


def load_checkpoints(app: Any, files: Sequence[str]) -> tuple[list[tuple[str, Any]], list[str]]:
    """Each checkpoint file as ``(label, checkpoint)`` for the audit, and a message for each
    one whose signer's key this ledger no longer knows (a failure to report)."""
    from chainledger.cli.transparency import read_checkpoint
    from chainledger.errors import InvalidValue, ProofFailed

    checkpoints, unsigned = [], []
    for path in files:
        signed = read_checkpoint(path)
        if signed.checkpoint.ledger_id != app.ledger_id:
            raise InvalidValue(
                f"{path} is a checkpoint of another ledger ({signed.checkpoint.ledger_id})"
            )
        try:
            handle, _ = app.checkpoint_signer(signed)
        except ProofFailed as error:  # its signer's key is gone from this ledger: report it
            unsigned.append(f"checkpoint {path}: {error}")
            handle = "an unknown key"
        checkpoints.append((f"{path} (signed by {handle})", signed.checkpoint))
    return checkpoints, unsigned
