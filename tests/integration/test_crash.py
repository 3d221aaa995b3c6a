"""Crash safety: a bulk import killed with SIGKILL at random points leaves all of it or none.

On each engine, each trial copies a prepared ledger, starts ``chainledger import`` of a few
hundred invoices in its own process, kills it (SIGKILL: no clean-up runs) at a
random moment in its own slice of the span from its start to half as long again as it
usually takes (so that every part of the import is hit; on a machine loaded enough that
none landed after the commit, a few more trials kill later), and then checks
that the ledger holds every line of the import or none, that ``audit verify``
is clean, and that the views, caught up, equal a rebuild from the whole ledger.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import PASSPHRASE, CliLedger
from tests.ledgers import LedgerStore, event_count, subcontracted

TRIALS = 6
LINES = 300
SUB = "hope-trust"
PACKAGE = "CRASH-1"


@pytest.fixture(scope="module")
def prepared(module_ledgers: LedgerStore) -> tuple[str, Path, Path]:
    """A ledger with a subcontract to invoice against, and an import file of invoices."""
    root = module_ledgers.directory
    base = module_ledgers.url("base")
    app, _ = subcontracted(base, root / "keys", package=PACKAGE, sub=SUB, name="crash trials")
    app.close()
    lines = root / "invoices.jsonl"
    with lines.open("w") as out:
        for i in range(LINES):
            out.write(json.dumps({"step": "invoice.submit", "package": PACKAGE,
                                  "reference": f"INV-{i:05d}", "amount": "10.00",
                                  "invoice_date": "2025-06-30", "period": "2025-Q2",
                                  "on": "2025-07-01"}) + "\n")  # fmt: skip
    return base, root / "keys", lines


def _import(ledger: str, keys: Path, lines: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CHAINLEDGER_LEDGER": ledger, "CHAINLEDGER_KEYS": str(keys),
           "CHAINLEDGER_PASSPHRASE": PASSPHRASE}  # fmt: skip
    return subprocess.Popen(
        [sys.executable, "-m", "chainledger", "import", str(lines), "--as", SUB],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def test_a_killed_import_leaves_all_or_nothing(
    prepared: tuple[str, Path, Path], ledgers: LedgerStore
) -> None:
    base, keys, lines = prepared
    before = event_count(base)

    # How long a whole import takes here, to spread the kills across it.
    whole = ledgers.copy(base, "whole")
    started = time.monotonic()
    finished = _import(whole, keys, lines)
    _, stderr = finished.communicate(timeout=120)
    duration = time.monotonic() - started
    assert finished.returncode == 0, stderr.decode()
    assert event_count(whole) == before + LINES

    rng = random.Random(20261122)
    outcomes = {"none": 0, "all": 0}
    # Stratified: one kill at a random moment in each of TRIALS equal slices of the span,
    # so that every part of the import, the commit included, is hit. On a machine busier
    # than when the whole import was timed, every kill may land before the commit: then
    # up to three more trials kill later and later, until one lands after it.
    low, high = 0.05, 1.5
    width = (high - low) / TRIALS
    moments = [rng.uniform(low + trial * width, low + (trial + 1) * width) for trial in range(TRIALS)]
    trial = 0
    while trial < len(moments) or (outcomes["all"] == 0 and trial < TRIALS + 3):
        if trial >= len(moments):
            moments.append(high * 2 ** (trial - TRIALS + 1))
        ledger = ledgers.copy(base, f"trial-{trial}")
        process = _import(ledger, keys, lines)
        time.sleep(moments[trial] * duration)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        trial += 1

        count = event_count(ledger)
        assert count in (before, before + LINES), f"trial {trial}: {count - before} events"
        outcomes["all" if count == before + LINES else "none"] += 1

        cli = CliLedger(ledger, keys, CliRunner())
        audit = cli.ok("audit", "verify")
        assert "OK: every signature and chain link verifies." in audit.stdout
        caught_up = cli.ok("report", "workshare", "--format", "json").stdout
        history = cli.ok("history", PACKAGE, "--format", "json").stdout
        cli.ok("projections", "rebuild")
        assert cli.ok("report", "workshare", "--format", "json").stdout == caught_up
        assert cli.ok("history", PACKAGE, "--format", "json").stdout == history
    # The kills landed both before and after the commit, so both outcomes were tested.
    assert outcomes["none"] > 0, outcomes
    assert outcomes["all"] > 0, outcomes
