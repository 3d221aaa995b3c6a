"""Helpers for tests that handle ledger files and build small ledgers directly."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import date
from pathlib import Path
from typing import Any

from chainledger.application import ChainLedger
from chainledger.bootstrap import open_ledger
from chainledger.domain.values import Role
from chainledger.keystore import Keystore
from chainledger.persistence import EVENTS_TABLE
from tests.conftest import FAST_SCRYPT_N, PASSPHRASE


def event_count(path: Path) -> int:
    """How many events an SQLite ledger file holds."""
    with closing(sqlite3.connect(path)) as db:
        return int(db.execute(f"SELECT COUNT(*) FROM {EVENTS_TABLE}").fetchone()[0])


def copy_ledger(source: Path, target: Path) -> None:
    """A consistent copy of an SQLite ledger file, including what is still in its WAL."""
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


def subcontracted(
    url: str, keys: Path, *, package: str, sub: str, name: str
) -> tuple[ChainLedger, dict[str, Any]]:
    """A new ledger at ``url`` (fast keys): council, prime and ``sub``, with ``package``
    awarded to the prime and ``sub``'s subcontract accepted. Returns the app and signers."""
    app = open_ledger(url, keys, create=True)
    app.keystore = Keystore(keys, scrypt_n=FAST_SCRYPT_N)
    app.init_ledger(name)
    for handle, role in (("council", Role.COMMISSIONER), ("prime", Role.PRIME),
                         (sub, Role.SUBCONTRACTOR)):  # fmt: skip
        app.create_organisation(handle, role, passphrase=PASSPHRASE, handle=handle)
    sign = {h: app.signer(h, PASSPHRASE).dated(date(2025, 1, 5)) for h in ("council", "prime", sub)}
    app.create_package(sign["council"], package, "t", "a", "9000000", "2025-01-01",
                       "2027-12-31", "d", "fixed")  # fmt: skip
    app.submit_bid(sign["prime"], package, "8000000", "50", [])
    app.award_package(sign["council"], package, "prime")
    app.issue_subcontract(sign["prime"], package, sub, service="x", share_pct="10",
                          value_per_year="100000", referrals_per_period="1",
                          payment_model="fixed", payment_terms_days="30")  # fmt: skip
    app.accept_subcontract(sign[sub], package)
    return app, sign
