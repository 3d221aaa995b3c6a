"""``chainledger audit``: check the ledger's integrity."""

from __future__ import annotations

import json
import sys

import click

from chainledger.cli.main import Runtime


@click.group()
def audit() -> None:
    """Check that nothing in the ledger was altered or removed."""


@audit.command("verify")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    help="Processes for signature checks. [default: one per core on large ledgers]",
)
@click.pass_obj
def verify(runtime: Runtime, fmt: str, workers: int | None) -> None:
    """Verify every event: signature, signer's key at that point, hash chain, versions.

    Exit status 0 when the ledger is clean, 1 when anything fails.
    """
    from chainledger.audit import audit_ledger

    app = runtime.app()
    app.ledger_id  # noqa: B018 - refuse a database that holds no ledger
    total = app.recorder.max_notification_id() or 0
    if sys.stderr.isatty() and fmt == "text":
        with click.progressbar(length=total, label="Verifying", file=sys.stderr) as bar:
            report = audit_ledger(app, workers=workers, progress=bar.update)
    else:
        report = audit_ledger(app, workers=workers)
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
                    "failure_count": report.failure_count,
                    "failures": [f.__dict__ for f in report.failures],
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
        for f in report.failures:
            where = f"notification {f.notification_id}"
            if f.aggregate_id:
                where += f", aggregate {f.aggregate_id} version {f.version} ({f.event_type})"
            click.echo(f"FAILED {where}: {f.message}")
        if report.failure_count > len(report.failures):
            click.echo(f"... and {report.failure_count - len(report.failures)} more failures.")
        click.echo(
            "OK: every signature and chain link verifies."
            if report.ok
            else f"TAMPERED: {report.failure_count} failure(s)."
        )
    if not report.ok:
        raise SystemExit(1)
