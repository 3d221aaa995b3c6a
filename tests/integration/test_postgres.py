"""The same story on both engines reads the same, and a missing server is a plain error.

Every test that uses a ledger runs on SQLite and on PostgreSQL (see conftest.py);
this module compares the two side by side, on the server given by
CHAINLEDGER_TEST_POSTGRES (``scripts/test`` starts a throwaway one).
"""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from tests.conftest import CliLedger
from tests.e2e.test_readme import readme_commands

REPORTS = (
    ("report", "workshare", "--format", "json"),
    ("report", "payments", "--format", "json"),
    ("report", "findings", "--format", "json", "--as", "barnet-council"),
    ("report", "reviews", "--as", "barnet-council", "--format", "json"),
    ("org", "list", "--format", "json"),
)


def _story(ledger: CliLedger) -> dict[tuple[str, ...], object]:
    ledger.ok("init")
    for args in readme_commands() + readme_commands("review"):
        ledger.ok(*args)
    answers: dict[tuple[str, ...], object] = {r: json.loads(ledger.ok(*r).stdout) for r in REPORTS}
    history = ledger.ok("history", "BAR-ES-2026", "--format", "json").stdout
    # Times, hashes and commitments (salted) differ from run to run; nothing else may.
    answers[("history",)] = [
        {k: v for k, v in row.items() if k not in ("recorded_at", "event_hash")
         and not (k == "summary" and row["event_type"] == "RatingCommitted")}
        for row in json.loads(history)
    ]  # fmt: skip
    return answers


def test_the_readme_stories_read_the_same_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    sqlite = str(tmp_path / "ledger.db")
    on_sqlite = _story(CliLedger(sqlite, tmp_path / "keys-sqlite", CliRunner()))
    postgres = CliLedger(postgres_url, tmp_path / "keys-pg", CliRunner())
    on_postgres = _story(postgres)
    # Key fingerprints differ (fresh keys), nothing else may.
    for answers in (on_sqlite, on_postgres):
        for org in answers[("org", "list", "--format", "json")]:  # type: ignore[union-attr]
            org.pop("key")
    assert on_postgres == on_sqlite
    audit = postgres.ok("audit", "verify")
    assert "OK: every signature and chain link verifies." in audit.stdout


def test_an_unreachable_server_is_a_plain_error(tmp_path: Path) -> None:
    """No server at the URL: one plain error, exit 1, no traceback, no password shown."""
    url = "postgresql+psycopg://chainledger:s3cret-pw@127.0.0.1:1/ledger"
    ledger = CliLedger(url, tmp_path / "keys", CliRunner())
    result = ledger.run("org", "list")
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "Error: cannot open the ledger at postgresql+psycopg://127.0.0.1:1/ledger"
    )
    assert "Traceback" not in result.stderr
    assert "s3cret-pw" not in result.stdout + result.stderr
