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
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from keyword import iskeyword
from operator import itemgetter
from pathlib import Path
from typing import Any

from chainledger.errors import KeyProblem, LedgerUnavailable

STATE_ENV = "CHAINLEDGER_STATE"
BUSY_TIMEOUT_SECONDS = 60
# The layout of the store's tables (SQLite's user_version). A store of another layout is set
# aside (renamed, not deleted) and the ledger verified again from its first event.
STORE_VERSION = 5

# The store is always an SQLite file on the reader's machine, so it is read and written with
# Python's own sqlite3 and SQL written out here: a command that only reads its verified store
# (every command of a service's client) does not load SQLAlchemy, whose import alone took
# longer than the rest of such a command.


def quoted(name: str) -> str:
    """A table or column name as SQL (names here are the module's own, never user input)."""
    return f'"{name}"'


class Column:
    """One column of a store table: its SQLite type and whether it may be NULL."""

    __slots__ = ("index", "name", "nullable", "type")

    def __init__(self, name: str, type_: str = "TEXT", *, nullable: bool = True,
                 index: bool = False) -> None:  # fmt: skip
        self.name, self.type, self.nullable, self.index = name, type_, nullable, index

    def ddl(self) -> str:
        return f"{quoted(self.name)} {self.type}" + ("" if self.nullable else " NOT NULL")


def text(name: str, *, nullable: bool = True, index: bool = False) -> Column:
    return Column(name, "TEXT", nullable=nullable, index=index)


def integer(name: str, *, nullable: bool = True, index: bool = False) -> Column:
    return Column(name, "INTEGER", nullable=nullable, index=index)


def blob(name: str, *, nullable: bool = True) -> Column:
    return Column(name, "BLOB", nullable=nullable)


class Table:
    """A table of the verified store: its columns, primary key and indexes, as SQL."""

    def __init__(self, name: str, *columns: Column, key: Sequence[str] = (),
                 without_rowid: bool = False) -> None:  # fmt: skip
        self.name = name
        self.columns = tuple(columns)
        self.names = tuple(column.name for column in columns)
        self.key = tuple(key)
        self.without_rowid = without_rowid
        self._inserts: dict[tuple[str, ...], str] = {}
        TABLES[name] = self

    def ddl(self) -> list[str]:
        """CREATE statements for the table and its indexes (for tables not there yet)."""
        parts = [column.ddl() for column in self.columns]
        if self.key:
            parts.append(f"PRIMARY KEY ({', '.join(map(quoted, self.key))})")
        suffix = " WITHOUT ROWID" if self.without_rowid else ""
        name = quoted(self.name)
        statements = [f"CREATE TABLE IF NOT EXISTS {name} ({', '.join(parts)}){suffix}"]
        statements += [
            f"CREATE INDEX IF NOT EXISTS {quoted(f'ix_{self.name}_{c.name}')} ON {name} "
            f"({quoted(c.name)})"
            for c in self.columns if c.index
        ]  # fmt: skip
        return statements

    def insert_sql(self, keys: tuple[str, ...], verb: str = "INSERT") -> str:
        """``INSERT INTO`` this table's ``keys``, one ``?`` each (made once per key set)."""
        cache_key = (verb, *keys)
        if cache_key not in self._inserts:
            self._inserts[cache_key] = (f"{verb} INTO {quoted(self.name)} "
                                        f"({', '.join(map(quoted, keys))}) "
                                        f"VALUES ({placeholders(keys)})")  # fmt: skip
        return self._inserts[cache_key]

    def select_sql(self) -> str:
        """``SELECT`` every column ``FROM`` this table (add the WHERE and ORDER BY)."""
        return f"SELECT {', '.join(map(quoted, self.names))} FROM {quoted(self.name)}"


TABLES: dict[str, Table] = {}  # every table of the store by name: the verifier's and the views'

head_table = Table(
    "verified_head",
    integer("id"),
    text("ledger_id", nullable=False),
    integer("size", nullable=False),  # rows read: leaves of the Merkle tree
    integer("position", nullable=False),  # the last notification id read
    blob("edge", nullable=False),  # the tree's right edge, 32 bytes a hash
    blob("last_leaf", nullable=False),  # leaf hash of the row at ``position``
    key=("id",),
)

chains_table = Table(
    "verified_chains",
    text("aggregate_id"),
    integer("version", nullable=False),
    text("hash", nullable=False),  # SHA-256 of the newest verified content
    key=("aggregate_id",),
    without_rowid=True,
)

keys_table = Table(
    "verified_keys",
    text("key_id"),
    text("org", nullable=False),
    blob("public_key", nullable=False),
    integer("start", nullable=False),
    text("start_at", nullable=False),
    integer("end"),
    text("end_at"),
    text("ended_by", nullable=False),
    # The latest signed time of an event this key signed, and where: a key change dated
    # before it shows the key signed after it was replaced, wherever that event was put.
    text("last_at"),
    integer("last_nid"),
    key=("key_id",),
)

events_table = Table(
    "verified_events",
    integer("nid"),
    blob("hash", nullable=False),  # SHA-256 of the verified content
    # its signed time, microseconds since 1970 UTC (None for the unsigned genesis): where
    # the ledger's order first reached a moment, e.g. when a key was compromised
    integer("signed_us"),
    key=("nid",),
)

rejected_table = Table(
    "rejected_rows",
    integer("nid"),
    text("aggregate_id", nullable=False, index=True),
    integer("version", nullable=False),
    text("topic", nullable=False),
    text("package", index=True),  # None: the row names no package
    text("message", nullable=False),
    # The row's leaf hash when it was rejected (None for a row found out later): a row read
    # again at that id with other bytes is another row, and is checked afresh.
    blob("leaf"),
    key=("nid",),
)

checkpoints_table = Table(
    "signed_checkpoints",
    text("org"),
    integer("size", nullable=False),
    integer("position", nullable=False),  # the last notification id it covers
    blob("root", nullable=False),
    key=("org",),
)

authority_table = Table(
    "verified_authority",
    integer("id"),
    # chainledger.domain.identity.Authority as JSON: the first registrar, who was endorsed
    # where, and the registrars' spans of positions.
    text("state", nullable=False),
    key=("id",),
)

VERIFIER_TABLES = (head_table, chains_table, keys_table, events_table, rejected_table,
                   checkpoints_table, authority_table)  # fmt: skip

_ROW_CLASSES: dict[tuple[str, ...], type] = {}


def _row_class(names: tuple[str, ...]) -> type:
    """A tuple whose items can also be read by column name (``row.package``), like
    SQLAlchemy's rows; made once per set of column names."""
    namespace: dict[str, Any] = {"__slots__": (), "_fields": names}
    for i, name in enumerate(names):
        if name.isidentifier() and not iskeyword(name):
            namespace[name] = property(itemgetter(i))
    namespace["_mapping"] = property(lambda self: dict(zip(names, self, strict=True)))
    return type("Row", (tuple,), namespace)


def _make_row(cursor: sqlite3.Cursor, values: tuple[Any, ...]) -> Any:
    names = tuple(d[0] for d in cursor.description)
    cls = _ROW_CLASSES.get(names)
    if cls is None:
        cls = _ROW_CLASSES[names] = _row_class(names)
    return cls(values)


def placeholders(values: Sequence[Any]) -> str:
    """``?, ?, …`` for an ``IN (…)`` of ``values``."""
    return ", ".join("?" * len(values))


class Transaction:
    """A transaction on the verified store: plain SQL with ``?`` parameters, rows readable by
    column name."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self._connection.execute(sql, parameters)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self._connection.executemany(sql, rows)

    def first(self, sql: str, parameters: Sequence[Any] = ()) -> Any:
        """The first row the query finds, or None."""
        return self._connection.execute(sql, parameters).fetchone()

    def scalar(self, sql: str, parameters: Sequence[Any] = ()) -> Any:
        """The first value of the first row, or None."""
        row = self._connection.execute(sql, parameters).fetchone()
        return None if row is None else row[0]

    def column(self, sql: str, parameters: Sequence[Any] = ()) -> list[Any]:
        """The first value of every row."""
        return [row[0] for row in self._connection.execute(sql, parameters)]


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
        # One connection per thread (a service answers in several), each opened when first used.
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        try:
            connection = self._connect()
            statements = [sql for table in (*VERIFIER_TABLES, *tables) for sql in table.ddl()]
            if any(not self._exists(connection, table) for table in (*VERIFIER_TABLES, *tables)):
                connection.execute("BEGIN IMMEDIATE")
                try:
                    for sql in statements:
                        connection.execute(sql)
                    connection.execute(f"PRAGMA user_version = {STORE_VERSION}")
                    connection.execute("COMMIT")
                except BaseException:
                    connection.execute("ROLLBACK")
                    raise
            elif connection.execute("PRAGMA user_version").fetchone()[0] != STORE_VERSION:
                connection.execute(f"PRAGMA user_version = {STORE_VERSION}")
            if os.name == "posix":
                path.chmod(0o600)
        except (sqlite3.Error, OSError) as exc:  # an unreadable or foreign file: say where it is
            self.close()
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise LedgerUnavailable(
                f"cannot open the verified store {path} ({reason}); "
                "remove it and run: chainledger projections rebuild"
            ) from None

    def _connect(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            # Transactions are begun here, by hand, so a writer can take the file's write
            # lock up front (BEGIN IMMEDIATE) and two processes catching up at once take
            # turns instead of failing.
            connection = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECONDS,
                                         isolation_level=None, check_same_thread=False)  # fmt: skip
            connection.row_factory = _make_row
            self._local.connection = connection
            self._connections.append(connection)
        return connection

    @staticmethod
    def _exists(connection: sqlite3.Connection, table: Table) -> bool:
        found = connection.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table.name,)
        ).fetchone()
        return found is not None

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
    def _transaction(self, begin: str) -> Iterator[Transaction]:
        connection = self._connect()
        if connection.in_transaction:  # nested: part of the transaction already open
            yield Transaction(connection)
            return
        connection.execute(begin)
        try:
            yield Transaction(connection)
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    @contextmanager
    def reading(self) -> Iterator[Transaction]:
        """A read-only transaction on the store."""
        with self._transaction("BEGIN") as transaction:
            yield transaction

    @contextmanager
    def writing(self) -> Iterator[Transaction]:
        """A transaction holding the store's write lock, committed at the end."""
        with self._transaction("BEGIN IMMEDIATE") as transaction:
            yield transaction

    def close(self) -> None:
        for connection in self._connections:
            connection.close()
        self._connections.clear()
        self._local = threading.local()
