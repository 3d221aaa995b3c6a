"""The reader's own verified store: kept on the reader's machine, outside the ledger's database.

Whoever can write to the ledger's database (its operator, or a participant on a
shared server) must not be able to change what a report says. So nothing a
report reads comes from a table that writer could edit: every process catches
up by reading the new events from the ledger, verifying each one (signature,
the signer's key at that point, the record's hash chain, its leaf of the
Merkle tree) and only then applying it to the read models, which live here, in
an SQLite file in the reader's state directory. What was verified once stays
verified: a later edit of the ledger's rows cannot reach a read model, and the
store pins each record's newest verified event by hash, so a record read back
from the ledger must still end with it.

The store is keyed by the ledger's location and id, so two ledgers never share
one, and a ledger that was rolled back or rewritten under a location is caught
against what was verified there before.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
)

from chainledger.adapters.event_store import create_missing_tables, failure_reason
from chainledger.errors import KeyProblem, LedgerUnavailable

STATE_ENV = "CHAINLEDGER_STATE"
BUSY_TIMEOUT_SECONDS = 60
# The layout of the store's tables (SQLite's user_version). A store of another layout is set
# aside (renamed, not deleted) and the ledger verified again from its first event.
STORE_VERSION = 5

metadata = MetaData()  # every table of the store: the verifier's below, and the read models'

head_table = Table(
    "verified_head",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("ledger_id", String(36), nullable=False),
    Column("size", BigInteger, nullable=False),  # rows read: leaves of the Merkle tree
    Column("position", BigInteger, nullable=False),  # the last notification id read
    Column("edge", LargeBinary, nullable=False),  # the tree's right edge, 32 bytes a hash
    Column("last_leaf", LargeBinary, nullable=False),  # leaf hash of the row at ``position``
)

chains_table = Table(
    "verified_chains",
    metadata,
    Column("aggregate_id", String(36), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("hash", String(64), nullable=False),  # SHA-256 of the newest verified content
    sqlite_with_rowid=False,
)

keys_table = Table(
    "verified_keys",
    metadata,
    Column("key_id", String(64), primary_key=True),
    Column("org", String(40), nullable=False),
    Column("public_key", LargeBinary(32), nullable=False),
    Column("start", BigInteger, nullable=False),
    Column("start_at", String(40), nullable=False),
    Column("end", BigInteger),
    Column("end_at", String(40)),
    Column("ended_by", String(10), nullable=False),
    # The latest signed time of an event this key signed, and where: a key change dated
    # before it shows the key signed after it was replaced, wherever that event was put.
    Column("last_at", String(40)),
    Column("last_nid", BigInteger),
)

events_table = Table(
    "verified_events",
    metadata,
    Column("nid", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("hash", LargeBinary(32), nullable=False),  # SHA-256 of the verified content
    # its signed time, microseconds since 1970 UTC (None for the unsigned genesis): where
    # the ledger's order first reached a moment, e.g. when a key was compromised
    Column("signed_us", BigInteger),
)

rejected_table = Table(
    "rejected_rows",
    metadata,
    Column("nid", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("aggregate_id", String(36), nullable=False, index=True),
    Column("version", BigInteger, nullable=False),
    Column("topic", String(100), nullable=False),
    Column("package", String(64), index=True),  # None: the row names no package
    Column("message", Text, nullable=False),
    # The row's leaf hash when it was rejected (None for a row found out later): a row read
    # again at that id with other bytes is another row, and is checked afresh.
    Column("leaf", LargeBinary),
)

checkpoints_table = Table(
    "signed_checkpoints",
    metadata,
    Column("org", String(40), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("position", BigInteger, nullable=False),  # the last notification id it covers
    Column("root", LargeBinary(32), nullable=False),
)

authority_table = Table(
    "verified_authority",
    metadata,
    Column("id", Integer, primary_key=True),
    # chainledger.domain.identity.Authority as JSON: the first registrar, who was endorsed
    # where, and the registrars' spans of positions.
    Column("state", Text, nullable=False),
)

VERIFIER_TABLES = (head_table, chains_table, keys_table, events_table, rejected_table,
                   checkpoints_table, authority_table)  # fmt: skip


class Transaction:
    """A transaction on the verified store: a connection of SQLAlchemy's Core, with the two
    things the read models ask of a session (``execute``, ``connection()``), so that reading
    a store does not load SQLAlchemy's ORM (a client of a service never needs it)."""

    def __init__(self, connection: Any) -> None:
        self._connection = connection

    def execute(self, statement: Any, parameters: Any = None) -> Any:
        return self._connection.execute(statement, parameters)

    def connection(self) -> Any:
        return self._connection


def default_state_dir() -> Path:
    """Where a user's verified stores live: ``$CHAINLEDGER_STATE``, else the XDG state
    directory (``~/.local/state/chainledger``)."""
    configured = os.environ.get(STATE_ENV)
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base).expanduser() / "chainledger"


def store_path(state_dir: Path, location: str, ledger_id: str) -> Path:
    """The verified store of the ledger ``ledger_id`` at ``location`` (a URL without password)."""
    tag = hashlib.sha256(f"{location}\n{ledger_id}".encode()).hexdigest()[:16]
    return state_dir / f"{ledger_id}-{tag}.sqlite"


def prepare_state_dir(state_dir: Path) -> None:
    """Create the state directory, private to its user (0700)."""
    try:
        state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise LedgerUnavailable(
            f"cannot create the state directory {state_dir} ({exc.strerror}); "
            f"point {STATE_ENV} or --state at a directory you can write"
        ) from None
    if not os.access(state_dir, os.W_OK | os.X_OK):
        raise LedgerUnavailable(
            f"cannot write the state directory {state_dir}; point {STATE_ENV} or --state at "
            "a directory you can write"
        )
    mode = state_dir.stat().st_mode & 0o777
    if mode & 0o022:
        raise KeyProblem(
            f"the state directory {state_dir} can be written by other users (mode {mode:o}): "
            f"your verified state must be yours alone; run: chmod 700 {state_dir}"
        )


class LocalStore:
    """One verified store: an SQLite file on the reader's machine."""

    def __init__(self, path: Path, tables: Sequence[Table]) -> None:
        self.path = path
        self.notes: list[str] = []  # what opening it did that the user should know
        self._set_aside_if_old(path)
        self.engine = create_engine(f"sqlite:///{path}")
        timeout_ms = BUSY_TIMEOUT_SECONDS * 1000

        @event.listens_for(self.engine, "connect")
        def _connect(dbapi_connection: Any, _record: Any) -> None:
            # Transactions are begun by the "begin" hook below, so a writer can take the
            # file's write lock up front (BEGIN IMMEDIATE) and two processes catching up
            # at once take turns instead of failing.
            dbapi_connection.isolation_level = None
            dbapi_connection.execute(f"PRAGMA busy_timeout = {timeout_ms}")

        @event.listens_for(self.engine, "begin")
        def _begin(connection: Any) -> None:
            immediate = connection.get_execution_options().get("immediate")
            connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        self._writer = self.engine.execution_options(immediate=True)
        try:
            create_missing_tables(self.engine, [*VERIFIER_TABLES, *tables])
            with self.engine.begin() as connection:
                connection.exec_driver_sql(f"PRAGMA user_version = {STORE_VERSION}")
            if os.name == "posix":
                path.chmod(0o600)
        except Exception as exc:  # an unreadable or foreign file: say where it is
            self.engine.dispose()
            raise LedgerUnavailable(
                f"cannot open the verified store {path} ({failure_reason(exc)}); "
                "remove it and run: chainledger projections rebuild"
            ) from None

    def _set_aside_if_old(self, path: Path) -> None:
        if not path.exists() or path.stat().st_size == 0:
            return
        try:
            connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                version = connection.execute("PRAGMA user_version").fetchone()[0]
            finally:
                connection.close()
        except sqlite3.Error:
            return  # not a store at all: opening it below says so
        if version == STORE_VERSION:
            return
        old = path.with_name(f"{path.name}.v{version}")
        os.replace(path, old)
        self.notes.append(
            f"your verified store was made by another version of chainledger: it was set "
            f"aside as {old} and the ledger is verified again from its first event"
        )

    @contextmanager
    def reading(self) -> Iterator[Transaction]:
        """A read-only transaction on the store."""
        with self.engine.begin() as connection:
            yield Transaction(connection)

    @contextmanager
    def writing(self) -> Iterator[Transaction]:
        """A transaction holding the store's write lock, committed at the end."""
        with self._writer.begin() as connection:
            yield Transaction(connection)

    def close(self) -> None:
        self.engine.dispose()
