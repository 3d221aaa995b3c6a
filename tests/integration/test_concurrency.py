"""Concurrent writers and readers: 8 processes × 120 payments into one package, on
SQLite and PostgreSQL, while 2 more processes keep catching the views up.

The package has 8 invoices and every process pays all of them in turn (its
n-th payment goes to invoice (process + n) mod 8), so the processes keep
writing into the same records at once and losing races to each other: a lost
race writes nothing and is retried (``LedgerCore.with_retries``, the same path
the CLI takes). Afterwards the counts are exact, every invoice's versions are
contiguous, nothing is duplicated, ``audit verify`` is clean, and the views
the readers caught up (racing each other) equal a rebuild from the ledger.
"""

from __future__ import annotations

import json
import multiprocessing
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from chainledger.application.contracting import UnitOfWork
from chainledger.bootstrap import open_ledger
from chainledger.domain.ids import invoice_id
from tests.conftest import PASSPHRASE, CliLedger
from tests.ledgers import LedgerStore, subcontracted

WRITERS = 8
READERS = 2
EACH = 60
PACKAGE = "CONC-1"
SUB = "hope-trust"
INVOICES = [f"INV-{n}" for n in range(WRITERS)]
PAID_ON = date(2025, 8, 1)


def _prepare(url: str, keys: Path) -> None:
    app, sign = subcontracted(url, keys, package=PACKAGE, sub=SUB, name="concurrency")
    for reference in INVOICES:
        app.submit_invoice(sign[SUB], PACKAGE, reference, "1000.00", "2025-06-30", "2025-Q2")
    app.close()


def _writer(url: str, keys: str, number: int, results: Any) -> None:
    """One process: record EACH payments of 1p, each its own unit of work, retried."""
    app = open_ledger(url, Path(keys))
    signer = app.signer("prime", PASSPHRASE).dated(PAID_ON)
    recorded = 0
    for n in range(EACH):
        invoice = INVOICES[(number + n) % len(INVOICES)]

        def attempt(invoice: str = invoice) -> list[Any]:
            unit = UnitOfWork(app)
            app.record_payment(signer, PACKAGE, SUB, invoice, "0.01", PAID_ON.isoformat(), uow=unit)
            return unit.commit()

        recorded += len(app.with_retries(attempt, attempts=100))
    results.put(recorded)


def _reader(url: str, keys: str, done: Any, results: Any) -> None:
    """One process: catch the views up and read a report, over and over, until told to stop."""
    app = open_ledger(url, Path(keys))
    passes = 0
    while not done.is_set() or passes == 0:
        app.report("payments", package=PACKAGE)
        passes += 1
    results.put(passes)


def _run(url: str, keys: Path) -> tuple[list[int], list[int]]:
    """Run the writers and readers; (payments each writer recorded, passes each reader made)."""
    context = multiprocessing.get_context("spawn")
    written, read, done = context.Queue(), context.Queue(), context.Event()
    writers = [
        context.Process(target=_writer, args=(url, str(keys), number, written))
        for number in range(WRITERS)
    ]
    readers = [
        context.Process(target=_reader, args=(url, str(keys), done, read)) for _ in range(READERS)
    ]
    for process in writers + readers:
        process.start()
    for process in writers:
        process.join(timeout=600)
        assert process.exitcode == 0
    done.set()
    for process in readers:
        process.join(timeout=120)
        assert process.exitcode == 0
    return (
        sorted(written.get(timeout=5) for _ in writers),
        sorted(read.get(timeout=5) for _ in readers),
    )


def test_eight_writers_into_one_record(ledgers: LedgerStore, tmp_path: Path) -> None:
    url, keys = ledgers.url("ledger"), tmp_path / "keys"
    _prepare(url, keys)

    written, passes = _run(url, keys)
    assert written == [EACH] * WRITERS
    assert all(n > 1 for n in passes), passes  # the readers did race the writers

    app = open_ledger(url, keys)
    every = list(app.all_events())
    assert len({e.content for e in every}) == len(every)  # nothing recorded twice
    per_invoice = WRITERS * EACH // len(INVOICES)
    for reference in INVOICES:
        invoice = app.load(invoice_id(PACKAGE, SUB, reference))  # verifies signatures and links
        assert invoice.version == 1 + per_invoice
        versions = [e.originator_version for e in every if e.originator_id == invoice.id]
        assert versions == list(range(1, 2 + per_invoice))  # contiguous, in the global order

    cli = CliLedger(url, keys, CliRunner())
    reports = [("report", name, "--format", "json") for name in ("payments", "workshare")]
    caught_up = [cli.ok(*args).stdout for args in reports]
    (row,) = json.loads(caught_up[0])
    assert Decimal(row["paid"]) == Decimal("0.01") * WRITERS * EACH
    assert "OK: every signature and chain link verifies." in cli.ok("audit", "verify").stdout
    cli.ok("projections", "rebuild")
    assert [cli.ok(*args).stdout for args in reports] == caught_up


def test_the_cli_retries_a_lost_race(
    cli_ledger: CliLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A step that loses a race to another writer is read, checked and written again."""
    from chainledger.application.ledger import LedgerCore
    from chainledger.errors import Conflict

    cli_ledger.ok("org", "create", "Barnet Council", "--role", "commissioner")
    real = LedgerCore.save_aggregates
    calls: list[int] = []

    def lose_twice(self: LedgerCore, *aggregates: Any) -> Any:
        calls.append(len(aggregates))
        if len(calls) <= 2:
            raise Conflict("someone else recorded into the same record at the same moment")
        return real(self, *aggregates)

    monkeypatch.setattr(LedgerCore, "save_aggregates", lose_twice)
    args = ("package", "create", "P-1", "--as", "barnet-council", "--title", "t", "--area", "a",
            "--value", "1000", "--start", "2026-01-01", "--end", "2026-12-31",
            "--description", "d", "--payment-model", "fixed")  # fmt: skip
    result = cli_ledger.ok(*args)
    assert len(calls) == 3
    assert result.stdout.count("Recorded #") == 1
    monkeypatch.setattr(LedgerCore, "save_aggregates", real)
    history = json.loads(cli_ledger.ok("history", "P-1", "--format", "json").stdout)
    assert [row["event_type"] for row in history] == ["PackageCreated"]

    # A conflict that never clears is refused plainly, and nothing is written.
    def always_lose(self: LedgerCore, *aggregates: Any) -> Any:
        raise Conflict("someone else recorded into the same record at the same moment")

    monkeypatch.setattr(LedgerCore, "save_aggregates", always_lose)
    monkeypatch.setattr("chainledger.application.ledger.time.sleep", lambda _seconds: None)
    refused = cli_ledger.run(*args[:2], "P-2", *args[3:])
    assert refused.exit_code == 1
    assert refused.stderr.startswith("Error: someone else recorded into the same record")
