"""Ledgers for tests, on SQLite files or PostgreSQL databases alike.

A test that asks for a ledger gets one on each engine (see ``conftest.py``):
``LedgerStore`` hands out ledger locations by name, copies and counts them,
and ``RawEvents`` edits the events table behind the application's back, the
way someone with database access could.
"""

from __future__ import annotations

import itertools
import re
import sqlite3
import uuid
from contextlib import closing
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID

import sqlalchemy
from click.testing import CliRunner
from sqlalchemy import BigInteger, Column, Integer, LargeBinary, MetaData, Table, Text
from sqlalchemy.pool import NullPool
from sqlalchemy_utils.types.uuid import UUIDType

from chainledger.adapters.event_store import EVENTS_TABLE, database_url, sqlite_path
from chainledger.adapters.keystore import Keystore
from chainledger.bootstrap import ChainLedger, open_ledger
from chainledger.domain.values import Role
from tests.conftest import FAST_SCRYPT_N, PASSPHRASE, CliLedger
from tests.served import Services

_events = Table(
    EVENTS_TABLE,
    MetaData(),
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("originator_id", UUIDType(), nullable=False),
    Column("originator_version", BigInteger().with_variant(Integer(), "sqlite"), nullable=False),
    Column("topic", Text(), nullable=False),
    Column("state", LargeBinary(), nullable=False),
)


class RawEvents:
    """The events table of the ledger at ``url``, read and written in plain SQL."""

    table = _events

    def __init__(self, url: str) -> None:
        self.engine = sqlalchemy.create_engine(database_url(url), poolclass=NullPool)

    def __enter__(self) -> RawEvents:
        return self

    def __exit__(self, *exc: object) -> None:
        self.engine.dispose()

    def rows(self) -> list[tuple[int, UUID, int, str, bytes]]:
        """Every row, in notification order."""
        t = self.table
        query = sqlalchemy.select(
            t.c.id, t.c.originator_id, t.c.originator_version, t.c.topic, t.c.state
        ).order_by(t.c.id)
        with self.engine.connect() as connection:
            return [(r[0], r[1], r[2], r[3], bytes(r[4])) for r in connection.execute(query)]

    def count(self) -> int:
        query = sqlalchemy.select(sqlalchemy.func.count()).select_from(self.table)
        with self.engine.connect() as connection:
            return int(connection.execute(query).scalar_one())

    def find(self, aggregate_id: UUID, version: int) -> tuple[int, str] | None:
        """(notification id, topic) of one stored event."""
        t = self.table
        query = sqlalchemy.select(t.c.id, t.c.topic).where(
            t.c.originator_id == aggregate_id, t.c.originator_version == version
        )
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        return None if row is None else (row[0], row[1])

    def state(self, notification_id: int) -> bytes:
        query = sqlalchemy.select(self.table.c.state).where(self.table.c.id == notification_id)
        with self.engine.connect() as connection:
            return bytes(connection.execute(query).scalar_one())

    def set_state(self, notification_id: int, state: bytes) -> int:
        """Overwrite one row's state; returns how many rows changed."""
        statement = (
            sqlalchemy.update(self.table).where(self.table.c.id == notification_id)
            .values(state=state)
        )  # fmt: skip
        with self.engine.begin() as connection:
            return connection.execute(statement).rowcount

    def delete(self, notification_id: int) -> int:
        statement = sqlalchemy.delete(self.table).where(self.table.c.id == notification_id)
        with self.engine.begin() as connection:
            return connection.execute(statement).rowcount

    def append(self, aggregate_id: UUID, version: int, topic: str, state: bytes) -> int:
        """Insert a row at the end of the notification log; returns its notification id."""
        statement = sqlalchemy.insert(self.table).values(
            originator_id=aggregate_id, originator_version=version, topic=topic, state=state
        )
        with self.engine.begin() as connection:
            key = connection.execute(statement).inserted_primary_key
        assert key is not None
        return int(key[0])


def event_count(url: str | Path) -> int:
    """How many events the ledger at ``url`` (a file path or a database URL) holds."""
    with RawEvents(str(url)) as raw:
        return raw.count()


def event_rows(url: str | Path) -> list[tuple[int, UUID, int, str, bytes]]:
    """Every stored event of the ledger at ``url``: to check that nothing was written."""
    with RawEvents(str(url)) as raw:
        return raw.rows()


class LedgerStore:
    """Ledger locations for tests on one engine: files in ``directory`` for SQLite,
    databases on the test server for PostgreSQL (dropped by ``drop_all``).

    ``url(name)`` gives the same location for the same name, so a ledger can be
    opened again; a new name is a new, empty ledger.
    """

    def __init__(self, engine: str, directory: Path, server: str | None = None) -> None:
        if engine not in ("sqlite", "postgresql", "remote"):
            raise ValueError(f"unknown engine {engine!r}")
        if engine == "postgresql" and not server:
            raise ValueError("a PostgreSQL ledger store needs a server URL")
        # ``remote``: SQLite files, each served by its own ``chainledger serve`` to the CLI
        # ledgers made by ``cli`` (tests read and edit the files directly, as the service's
        # operator could).
        self.services = Services(directory / "services") if engine == "remote" else None
        if engine == "remote":
            engine = "sqlite"
        self.engine = engine
        self.directory = directory
        self.server = server
        self._token = uuid.uuid4().hex[:10]
        self._urls: dict[str, str] = {}
        self._copied: dict[str, tuple[str, int]] = {}  # name: (source, events when copied)
        self._serial = itertools.count(1)  # locations are never used twice (verified stores)

    def url(self, name: str = "ledger") -> str:
        if name not in self._urls:
            if self.engine == "sqlite":
                self._urls[name] = str(self.directory / f"{name.removesuffix('.db')}.db")
            else:
                self._urls[name] = self._create_database(name)
        return self._urls[name]

    def cli(self, url: str, keys: Path) -> CliLedger:
        """The ledger at ``url`` driven through the CLI: directly, or through its service
        on the ``remote`` engine."""
        return CliLedger(url, keys, CliRunner(), self.services)

    def copy(self, source: str, name: str) -> str:
        """A consistent copy of the ledger at ``source`` as ``name``; returns its location."""
        if self.engine == "sqlite":
            target = self.url(name)
            if Path(target).exists():
                # A copy over an earlier one goes to a new file: a reader's verified store
                # (kept by location) remembers the earlier ledger there, and would rightly
                # call the new one a rewrite of it.
                if self.services is not None:
                    self.services.stop(target)
                target = str(self.directory / f"{name.removesuffix('.db')}-{next(self._serial)}.db")
                self._urls[name] = target
            with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
                src.backup(dst)
            return target
        source_name = sqlalchemy.make_url(source).database
        target = self._database_url(name)
        with self._admin() as admin:
            if name in self._urls:  # a copy over an earlier one replaces it
                old = sqlalchemy.make_url(self._urls.pop(name)).database
                admin.exec_driver_sql(f'DROP DATABASE IF EXISTS "{old}" WITH (FORCE)')
            # A template must have no other sessions: end any idle ones left open.
            admin.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (source_name,),
            )
            database = sqlalchemy.make_url(target).database
            admin.exec_driver_sql(f'CREATE DATABASE "{database}" TEMPLATE "{source_name}"')
        self._urls[name] = target
        return target

    def fresh(self, source: str, name: str) -> str:
        """A ledger equal to ``source``: the copy ``name`` made earlier if nothing was
        recorded into it since (the events table only grows, so an unchanged count
        means unchanged contents), otherwise a new copy. Creating a PostgreSQL
        database costs far more than counting rows, and most tests of refusals
        record nothing."""
        earlier = self._copied.get(name)
        if (
            earlier is not None
            and earlier[0] == source
            and name in self._urls
            and event_count(self._urls[name]) == earlier[1]
        ):
            return self._urls[name]
        url = self.copy(source, name)
        self._copied[name] = (source, event_count(url))
        return url

    def drop_all(self) -> None:
        """Give every database back: emptied, into the pool the next test draws from
        (on the test server, creating a database takes 0.1-0.2 s and emptying one about
        0.03 s), or dropped when the pool is full."""
        if self.services is not None:
            self.services.stop()
        if self.engine != "postgresql":
            return
        with self._admin() as admin:
            for url in self._urls.values():
                database = sqlalchemy.make_url(url).database
                admin.exec_driver_sql(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    (database,),
                )
                pool = _EMPTIED.setdefault(self.server or "", [])
                if len(pool) < POOL_SIZE and _empty(url):
                    pool.append(url)
                else:
                    admin.exec_driver_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        self._urls.clear()

    def _admin(self) -> Any:
        assert self.server is not None
        engine = sqlalchemy.create_engine(
            self.server, isolation_level="AUTOCOMMIT", poolclass=NullPool
        )
        return engine.connect()

    def _database_url(self, name: str) -> str:
        assert self.server is not None
        slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")[:30]
        database = f"cl_{self._token}_{slug}_{next(self._serial)}"
        url = sqlalchemy.make_url(self.server).set(database=database)
        return url.render_as_string(hide_password=False)

    def _create_database(self, name: str) -> str:
        assert self.server is not None
        pool = _EMPTIED.get(self.server)
        if pool:
            return pool.pop()
        url = self._database_url(name)
        with self._admin() as admin:
            admin.exec_driver_sql(f'CREATE DATABASE "{sqlalchemy.make_url(url).database}"')
        return url


# Emptied PostgreSQL databases, by server, ready for the next ledger (see
# ``LedgerStore.drop_all``).
POOL_SIZE = 40
_EMPTIED: dict[str, list[str]] = {}


def _empty(url: str) -> bool:
    """Drop everything a ledger made in the database at ``url``; True if it is now as new."""
    engine = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("DROP SCHEMA public CASCADE")
            connection.exec_driver_sql("CREATE SCHEMA public")
            connection.exec_driver_sql("GRANT ALL ON SCHEMA public TO PUBLIC")
            left = connection.exec_driver_sql(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')"
            ).scalar_one()
        return left == 0
    except sqlalchemy.exc.SQLAlchemyError:
        return False
    finally:
        engine.dispose()


def is_sqlite(url: str | Path) -> bool:
    return sqlite_path(database_url(str(url))) is not None


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
