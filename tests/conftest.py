"""Shared fixtures: each test gets its own ledger file and key directory."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from chainledger.application import ChainLedger
from chainledger.cli.main import cli
from chainledger.keystore import Keystore

PASSPHRASE = "correct horse battery staple"

# Tests that drive the application directly use a cheaper scrypt cost: what they
# test is the ledger, not the key derivation. CLI tests use the real default.
FAST_SCRYPT_N = 2**10


@dataclass
class CliLedger:
    """A ledger file and key directory driven through the real CLI."""

    path: Path
    keys: Path
    runner: CliRunner

    @property
    def env(self) -> dict[str, str]:
        return {
            "CHAINLEDGER_LEDGER": str(self.path),
            "CHAINLEDGER_KEYS": str(self.keys),
            "CHAINLEDGER_PASSPHRASE": PASSPHRASE,
        }

    def run(self, *args: str, env: dict[str, str | None] | None = None) -> Result:
        merged: dict[str, str | None] = {**self.env, **(env or {})}
        return self.runner.invoke(cli, list(args), env=merged, catch_exceptions=False)

    def ok(self, *args: str) -> Result:
        result = self.run(*args)
        assert result.exit_code == 0, (result.stdout, result.stderr)
        return result


@pytest.fixture
def cli_ledger(tmp_path: Path) -> CliLedger:
    """An initialised, empty ledger driven through the CLI."""
    ledger = CliLedger(tmp_path / "ledger.db", tmp_path / "keys", CliRunner())
    ledger.ok("init")
    return ledger


@pytest.fixture
def make_app(tmp_path: Path) -> Callable[..., ChainLedger]:
    """Open (and by default create) an application on a file in tmp_path."""

    def make(name: str = "app.db", *, create: bool = True) -> ChainLedger:
        from chainledger.bootstrap import open_ledger

        app = open_ledger(str(tmp_path / name), tmp_path / "keys", create=create)
        app.keystore = Keystore(tmp_path / "keys", scrypt_n=FAST_SCRYPT_N)
        return app

    return make


@pytest.fixture
def app(make_app: Callable[..., ChainLedger]) -> ChainLedger:
    """An initialised application with no organisations."""
    application = make_app()
    application.init_ledger("test ledger")
    return application


@pytest.fixture(autouse=True)
def _no_stray_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("CHAINLEDGER_"):
            monkeypatch.delenv(name)


POSTGRES_ENV = "CHAINLEDGER_TEST_POSTGRES"
POSTGRES_SERVER = os.environ.get(POSTGRES_ENV)  # read before tests clear CHAINLEDGER_* variables


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards.

    The server comes from CHAINLEDGER_TEST_POSTGRES (scripts/test starts one).
    Without it the test is skipped — except under CI, where that is a failure.
    """
    server = POSTGRES_SERVER
    if not server:
        if os.environ.get("CI"):
            pytest.fail(f"{POSTGRES_ENV} is not set: CI must run the PostgreSQL tests")
        pytest.skip(f"no PostgreSQL server ({POSTGRES_ENV} is not set)")
    import uuid

    import sqlalchemy

    name = f"chainledger_test_{uuid.uuid4().hex[:16]}"
    admin = sqlalchemy.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sqlalchemy.make_url(server).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        from sqlalchemy.pool import NullPool

        sqlalchemy.create_engine(url, poolclass=NullPool).dispose()
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
