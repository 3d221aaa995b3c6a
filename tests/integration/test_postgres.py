"""The same story on both engines reads the same, and a missing server is a plain error.

Every test that uses a ledger runs on SQLite and on PostgreSQL (see conftest.py);
this module compares the two side by side, on the server given by
CHAINLEDGER_TEST_POSTGRES (``scripts/test`` starts a throwaway one).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from click.testing import CliRunner

from tests.conftest import CliLedger
from tests.e2e.test_readme import readme_commands
from tests.ledgers import event_rows

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


def test_a_server_lost_mid_command_is_a_plain_error_and_saves_nothing(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connection dies inside the recording transaction (as when the server is
    stopped mid-command): one plain error, exit 1, and nothing of the step saved."""
    from chainledger.adapters import merkle_store

    ledger = CliLedger(postgres_url, tmp_path / "keys", CliRunner())
    ledger.ok("init")
    before = event_rows(postgres_url)
    real_append = merkle_store.append

    def server_gone(session: Any, *args: Any) -> None:
        session.execute(sqlalchemy.text("SELECT pg_terminate_backend(pg_backend_pid())"))
        real_append(session, *args)

    monkeypatch.setattr(merkle_store, "append", server_gone)
    result = ledger.run("org", "create", "Hope Trust", "--role", "subcontractor")
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert result.stderr == (
        "Error: the ledger's database failed while recording "
        "(terminating connection due to administrator command); nothing was saved\n"
    )
    assert "Traceback" not in result.stderr
    assert "bug in chainledger" not in result.stderr
    monkeypatch.setattr(merkle_store, "append", real_append)
    assert event_rows(postgres_url) == before
    assert "OK: every signature" in ledger.ok("audit", "verify").stdout


def test_a_server_lost_while_reading_is_a_plain_error(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chainledger.application.catch_up import ProjectionEngine

    ledger = CliLedger(postgres_url, tmp_path / "keys", CliRunner())
    ledger.ok("init")
    real = ProjectionEngine.catch_up

    def server_gone(self: ProjectionEngine) -> int:
        with self.app.store.recorder.datastore.engine.connect() as connection:
            connection.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database()"
            )
        return real(self)

    monkeypatch.setattr(ProjectionEngine, "catch_up", server_gone)
    result = ledger.run("report", "workshare")
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert result.stderr.startswith("Error: the ledger's database failed during the command (")
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
    assert "bug in chainledger" not in result.stderr
