"""The same ledger on PostgreSQL: the README's stories run unchanged and read the same.

Each test gets its own database on the server given by CHAINLEDGER_TEST_POSTGRES
(``scripts/test`` starts a throwaway one).
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
    on_sqlite = _story(CliLedger(tmp_path / "ledger.db", tmp_path / "keys-sqlite", CliRunner()))
    postgres = CliLedger(tmp_path / "unused.db", tmp_path / "keys-pg", CliRunner())
    postgres.path = postgres_url  # type: ignore[assignment] - a URL works wherever a path does
    on_postgres = _story(postgres)
    # Key fingerprints differ (fresh keys), nothing else may.
    for answers in (on_sqlite, on_postgres):
        for org in answers[("org", "list", "--format", "json")]:  # type: ignore[union-attr]
            org.pop("key")
    assert on_postgres == on_sqlite
    audit = postgres.ok("audit", "verify")
    assert "OK: every signature and chain link verifies." in audit.stdout
    assert not Path(tmp_path / "unused.db").exists()


def test_views_caught_up_on_postgresql_equal_a_rebuild(postgres_url: str, tmp_path: Path) -> None:
    ledger = CliLedger(tmp_path / "unused.db", tmp_path / "keys", CliRunner())
    ledger.path = postgres_url  # type: ignore[assignment]
    ledger.ok("init")
    commands = readme_commands()
    half = len(commands) // 2
    for args in commands[:half]:
        ledger.ok(*args)
    ledger.ok("report", "findings")  # catch the views up half way
    for args in commands[half:]:
        ledger.ok(*args)
    before = ledger.ok("report", "findings", "--format", "json").stdout
    rebuilt = ledger.ok("projections", "rebuild").stdout
    assert rebuilt.startswith("Rebuilt the views from ")
    assert ledger.ok("report", "findings", "--format", "json").stdout == before


def test_an_unreachable_server_is_a_plain_error(tmp_path: Path) -> None:
    """No server at the URL: one plain error, exit 1, no traceback, no password shown."""
    ledger = CliLedger(tmp_path / "unused.db", tmp_path / "keys", CliRunner())
    ledger.path = "postgresql+psycopg://chainledger:s3cret-pw@127.0.0.1:1/ledger"  # type: ignore[assignment]
    result = ledger.run("org", "list")
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "Error: cannot open the ledger at postgresql+psycopg://127.0.0.1:1/ledger"
    )
    assert "Traceback" not in result.stderr
    assert "s3cret-pw" not in result.stdout + result.stderr
