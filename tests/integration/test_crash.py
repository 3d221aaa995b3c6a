"""Crash safety: a bulk import killed with SIGKILL at random points leaves all of it or none.

Each trial copies a prepared ledger, starts ``chainledger import`` of a few
hundred invoices in its own process, kills it (SIGKILL: no clean-up runs) at a
random moment between start and a little after its usual end, and then checks
that the ledger holds every line of the import or none, that ``audit verify``
is clean, and that the views, caught up, equal a rebuild from the whole ledger.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from chainledger.application import ChainLedger
from chainledger.persistence import EVENTS_TABLE
from tests.conftest import PASSPHRASE, CliLedger

TRIALS = 20
LINES = 300
SUB = "hope-trust"
PACKAGE = "CRASH-1"


def _count(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute(f"SELECT COUNT(*) FROM {EVENTS_TABLE}").fetchone()[0])


def _copy(source: Path, target: Path) -> None:
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A ledger with a subcontract to invoice against, and an import file of invoices."""
    from chainledger.bootstrap import open_ledger
    from chainledger.domain.values import Role
    from chainledger.keystore import Keystore
    from tests.conftest import FAST_SCRYPT_N

    root = tmp_path_factory.mktemp("crash")
    app: ChainLedger = open_ledger(str(root / "base.db"), root / "keys", create=True)
    app.keystore = Keystore(root / "keys", scrypt_n=FAST_SCRYPT_N)
    app.init_ledger("crash trials")
    for handle, role in (("council", Role.COMMISSIONER), ("prime", Role.PRIME),
                         (SUB, Role.SUBCONTRACTOR)):  # fmt: skip
        app.create_organisation(handle, role, passphrase=PASSPHRASE, handle=handle)
    sign = {h: app.signer(h, PASSPHRASE).dated(date(2025, 1, 5)) for h in ("council", "prime", SUB)}
    app.create_package(sign["council"], PACKAGE, "t", "a", "9000000", "2025-01-01",
                       "2027-12-31", "d", "fixed")  # fmt: skip
    app.submit_bid(sign["prime"], PACKAGE, "8000000", "50", [])
    app.award_package(sign["council"], PACKAGE, "prime")
    app.issue_subcontract(sign["prime"], PACKAGE, SUB, service="x", share_pct="10",
                          value_per_year="100000", referrals_per_period="1",
                          payment_model="fixed", payment_terms_days="30")  # fmt: skip
    app.accept_subcontract(sign[SUB], PACKAGE)
    lines = root / "invoices.jsonl"
    with lines.open("w") as out:
        for i in range(LINES):
            out.write(json.dumps({"step": "invoice.submit", "package": PACKAGE,
                                  "reference": f"INV-{i:05d}", "amount": "10.00",
                                  "invoice_date": "2025-06-30", "period": "2025-Q2",
                                  "on": "2025-07-01"}) + "\n")  # fmt: skip
    return root / "base.db", root / "keys", lines


def _import(ledger: Path, keys: Path, lines: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CHAINLEDGER_LEDGER": str(ledger), "CHAINLEDGER_KEYS": str(keys),
           "CHAINLEDGER_PASSPHRASE": PASSPHRASE}  # fmt: skip
    return subprocess.Popen(
        [sys.executable, "-m", "chainledger", "import", str(lines), "--as", SUB],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def test_a_killed_import_leaves_all_or_nothing(
    prepared: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    base, keys, lines = prepared
    before = _count(base)

    # How long a whole import takes here, to spread the kills across it.
    whole = tmp_path / "whole.db"
    _copy(base, whole)
    started = time.monotonic()
    finished = _import(whole, keys, lines)
    _, stderr = finished.communicate(timeout=120)
    duration = time.monotonic() - started
    assert finished.returncode == 0, stderr.decode()
    assert _count(whole) == before + LINES

    rng = random.Random(20261122)
    outcomes = {"none": 0, "all": 0}
    for trial in range(TRIALS):
        ledger = tmp_path / f"trial-{trial}.db"
        _copy(base, ledger)
        process = _import(ledger, keys, lines)
        time.sleep(rng.uniform(0.05, 1.1) * duration)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)

        count = _count(ledger)
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
