"""Shared fixtures: each test gets its own ledger and key directory.

A test that uses a ledger (through ``cli_ledger``, ``make_app``, ``app``,
``ledgers`` or ``module_ledgers``) runs twice: on an SQLite file and on a
PostgreSQL database. The PostgreSQL server comes from CHAINLEDGER_TEST_POSTGRES
(``scripts/test`` starts one); without it those runs are skipped, except under
CI, where that is a failure.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner, Result

from chainledger.adapters.keystore import Keystore
from chainledger.bootstrap import ChainLedger
from chainledger.cli.main import cli

if TYPE_CHECKING:  # tests.ledgers imports this module
    from tests.ledgers import LedgerStore
    from tests.served import Services

PASSPHRASE = "correct horse battery staple"

# Keys made in tests use a cheaper scrypt cost (see _cheap_key_derivation).
FAST_SCRYPT_N = 2**10


ENGINES = ("sqlite", "postgresql")
# ``remote``: an SQLite ledger behind ``chainledger serve``, driven through the service with
# --ledger http://…; suites marked ``also_remote`` run on it as a third engine.
REMOTE = "remote"
POSTGRES_ENV = "CHAINLEDGER_TEST_POSTGRES"
POSTGRES_SERVER = os.environ.get(POSTGRES_ENV)  # read before tests clear CHAINLEDGER_* variables
# Every reader's verified views (see chainledger.adapters.local_store) go to one directory for the
# session, never the user's own: each ledger has its own store there, by location and id.
STATE_DIR = tempfile.mkdtemp(prefix="chainledger-state-")
os.environ["CHAINLEDGER_STATE"] = STATE_DIR


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sqlite_only(reason): run on the SQLite engine only, for the reason given"
    )
    config.addinivalue_line(
        "markers", "also_remote: run on the remote engine too (through chainledger serve)"
    )
    config.addinivalue_line(
        "markers", "real_scrypt: create keys with the real scrypt cost, not the tests' cheap one"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test that uses a ledger runs on each engine: SQLite and PostgreSQL."""
    if "engine" in metafunc.fixturenames:
        only_sqlite = metafunc.definition.get_closest_marker("sqlite_only") is not None
        engines = ["sqlite"] if only_sqlite else list(ENGINES)
        if metafunc.definition.get_closest_marker("also_remote") is not None:
            engines.append(REMOTE)
        metafunc.parametrize("engine", engines, indirect=True, scope="module")


def _require_postgres() -> str:
    """The test server's URL; without one a PostgreSQL test is skipped (failed under CI)."""
    if not POSTGRES_SERVER:
        if os.environ.get("CI"):
            pytest.fail(f"{POSTGRES_ENV} is not set: CI must run the PostgreSQL tests")
        pytest.skip(f"no PostgreSQL server ({POSTGRES_ENV} is not set)")
    return POSTGRES_SERVER


@pytest.fixture(scope="module")
def engine(request: pytest.FixtureRequest) -> str:
    """The database engine a test's ledgers are on (parametrised: see pytest_generate_tests)."""
    kind = str(getattr(request, "param", "sqlite"))
    if kind == "postgresql":
        _require_postgres()
    return kind


@pytest.fixture
def ledgers(engine: str, tmp_path: Path) -> Iterator[LedgerStore]:
    """Ledger locations for one test, on the test's engine."""
    from tests.ledgers import LedgerStore

    store = LedgerStore(engine, tmp_path, POSTGRES_SERVER)
    yield store
    store.drop_all()


@pytest.fixture(scope="module")
def module_ledgers(engine: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LedgerStore]:
    """Ledger locations shared by one module's tests (for ledgers built once per module)."""
    from tests.ledgers import LedgerStore

    store = LedgerStore(engine, tmp_path_factory.mktemp(engine), POSTGRES_SERVER)
    yield store
    store.drop_all()


@dataclass
class CliLedger:
    """A ledger (file path or database URL) and key directory driven through the real CLI."""

    url: str
    keys: Path
    runner: CliRunner
    # On the remote engine: the services commands go through (all but ``init``, which the
    # service's operator runs on the database before serving it).
    services: Services | None = None

    @property
    def env(self) -> dict[str, str]:
        return {
            "CHAINLEDGER_LEDGER": self.url,
            "CHAINLEDGER_KEYS": str(self.keys),
            "CHAINLEDGER_PASSPHRASE": PASSPHRASE,
        }

    def run(self, *args: str, env: dict[str, str | None] | None = None) -> Result:
        merged: dict[str, str | None] = {**self.env, **(env or {})}
        if self.services is not None and args[:1] != ("init",):
            address, state = self.services.address(self.url)
            merged = {**self.env, "CHAINLEDGER_LEDGER": address,
                      "CHAINLEDGER_STATE": str(state), **(env or {})}  # fmt: skip
        return self.runner.invoke(cli, list(args), env=merged, catch_exceptions=False)

    def ok(self, *args: str) -> Result:
        result = self.run(*args)
        assert result.exit_code == 0, (result.stdout, result.stderr)
        return result


@pytest.fixture
def cli_ledger(ledgers: LedgerStore, tmp_path: Path) -> CliLedger:
    """An initialised, empty ledger driven through the CLI."""
    ledger = ledgers.cli(ledgers.url("ledger"), tmp_path / "keys")
    ledger.ok("init")
    return ledger


@pytest.fixture
def make_app(ledgers: LedgerStore, tmp_path: Path) -> Iterator[Callable[..., ChainLedger]]:
    """Open (and by default create) an application on a ledger named ``name``."""
    from chainledger.bootstrap import open_ledger

    opened: list[ChainLedger] = []

    def make(name: str = "app", *, create: bool = True) -> ChainLedger:
        app = open_ledger(ledgers.url(name), tmp_path / "keys", create=create)
        app.keystore = Keystore(tmp_path / "keys", scrypt_n=FAST_SCRYPT_N)
        opened.append(app)
        return app

    yield make
    for app in opened:
        app.close()


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
    monkeypatch.setenv("CHAINLEDGER_STATE", STATE_DIR)


@pytest.fixture(autouse=True)
def _cheap_key_derivation(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keys made in tests use a cheap scrypt cost: what is tested is the ledger, not the
    key derivation (tests marked ``real_scrypt`` keep the real default)."""
    if request.node.get_closest_marker("real_scrypt") is None:
        monkeypatch.setattr("chainledger.adapters.keystore.SCRYPT_N", FAST_SCRYPT_N)


@pytest.fixture
def postgres_url(tmp_path: Path) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test that compares the engines itself."""
    from tests.ledgers import LedgerStore

    store = LedgerStore("postgresql", tmp_path, _require_postgres())
    yield store.url("postgres")
    store.drop_all()


@dataclass(frozen=True)
class DemoRun:
    """The demo, run once for the session through the CLI: its directory and what it printed.
    Tests only read it (its ledger, keys, report.html); a test that writes makes a copy."""

    directory: Path
    stdout: str

    @property
    def ledger(self) -> Path:
        return self.directory / "chainledger.db"

    def env(self) -> dict[str, str]:
        from chainledger.tools.demo import DEMO_PASSPHRASE

        return {"CHAINLEDGER_KEYS": str(self.directory / "keys"),
                "CHAINLEDGER_PASSPHRASE": DEMO_PASSPHRASE}  # fmt: skip

    def run(self, *args: str) -> Result:
        return CliRunner().invoke(cli, ["--ledger", str(self.ledger), *args], env=self.env())


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    directory = tmp_path_factory.mktemp("demo-run") / "demo"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("chainledger.adapters.keystore.SCRYPT_N", FAST_SCRYPT_N)
        result = CliRunner().invoke(cli, ["demo", "--dir", str(directory)])
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return DemoRun(directory, result.stdout)
