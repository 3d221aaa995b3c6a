"""``chainledger demo``."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo"),
    show_default=True,
    help="Where the demo writes its ledger and keys (replaced on each run).",
)
def demo(directory: Path) -> None:
    """Record a small supply chain, verify it, tamper with a copy, and show what is caught."""
    from chainledger.tools.demo import run_demo

    if not run_demo(directory, click.echo):
        raise click.ClickException("the demo did not end as expected")
