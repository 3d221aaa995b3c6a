"""The demo story: a small supply chain recorded, verified, then tampered with.

It runs through the same application API as the CLI, on an embedded SQLite
ledger in its own directory, and reports what it found as it goes.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

from chainledger.audit import AuditReport, audit_ledger
from chainledger.bootstrap import open_ledger
from chainledger.domain.values import Role, Sector, Size
from chainledger.persistence import EVENTS_TABLE

DEMO_PASSPHRASE = "demo passphrase, not a secret"  # noqa: S105 - the demo publishes it

ORGANISATIONS = (
    ("Barnet Council", Role.COMMISSIONER, Sector.PUBLIC, Size.LARGE, "GB-LAE-BNE"),
    ("Northgate Employment Services", Role.PRIME, Sector.PRIVATE, Size.LARGE, "GB-COH-04567890"),
    ("Hope Trust", Role.SUBCONTRACTOR, Sector.VCS, Size.SMALL, "GB-CHC-1089464"),
    ("Mind in Barnet", Role.SUBCONTRACTOR, Sector.VCS, Size.MEDIUM, "GB-CHC-1041637"),
    ("Refugee Advice Collective", Role.SUBCONTRACTOR, Sector.VCS, Size.MICRO, None),
)


def run_demo(directory: Path, say: Callable[[str], None]) -> bool:
    """Run the story in ``directory`` (replaced if it exists); True if all went as expected."""
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    ledger_path = directory / "chainledger.db"
    app = open_ledger(str(ledger_path), directory / "keys", create=True)

    ledger_id = app.init_ledger("Barnet employment support programme")
    say(f"Created ledger {ledger_id} at {ledger_path}")
    for name, role, sector, size, identifier in ORGANISATIONS:
        details = app.create_organisation(
            name, role, passphrase=DEMO_PASSPHRASE, sector=sector, size=size, identifier=identifier
        )
        say(f"  {details.handle:<32} {details.role:<14} key {details.key_id[:16]}…")
    app.rotate_key("northgate-employment-services", DEMO_PASSPHRASE)
    say("Northgate rotated its key (routine): the new key was announced, signed by the old one.")
    app.revoke_key("hope-trust", DEMO_PASSPHRASE, "laptop stolen")
    say("Hope Trust revoked its key (laptop stolen) and installed a new one.")

    clean = audit_ledger(app)
    say(_summary("Audit of the ledger as recorded", clean))

    tampered_path = directory / "tampered.db"
    _copy_database(ledger_path, tampered_path)
    target = _flip_a_byte(tampered_path, "Hope Trust")
    say(f"An operator with database access edits one byte of {target} in a copy…")
    tampered_app = open_ledger(str(tampered_path), directory / "keys")
    caught = audit_ledger(tampered_app)
    say(_summary("Audit of the edited copy", caught))
    for failure in caught.failures:
        where = f"notification {failure.notification_id} ({failure.event_type})"
        say(f"  FAILED {where}: {failure.message}")
    return clean.ok and not caught.ok


def _summary(title: str, report: AuditReport) -> str:
    verdict = "clean" if report.ok else f"{report.failure_count} failure(s)"
    return (
        f"{title}: {report.events} events, {report.signatures} signatures, "
        f"{report.organisations} organisations — {verdict}."
    )


def _copy_database(source: Path, target: Path) -> None:
    """A consistent copy of an SQLite ledger, including what is still in its WAL."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)


def _flip_a_byte(path: Path, text: str) -> str:
    """Change one letter of ``text`` inside the stored event that contains it."""
    with sqlite3.connect(path) as db:
        row_id, state = db.execute(
            f"SELECT id, state FROM {EVENTS_TABLE} WHERE instr(state, ?) > 0 ORDER BY id LIMIT 1",
            (text.encode(),),
        ).fetchone()
        at = state.index(text.encode())
        edited = state[:at] + b"J" + state[at + 1 :]
        db.execute(f"UPDATE {EVENTS_TABLE} SET state = ? WHERE id = ?", (edited, row_id))
    return f"notification {row_id} ('{text}' becomes 'J{text[1:]}')"
