"""Catching the read models up with the ledger, verifying every event first.

The read models live in the reader's verified store (``chainledger.adapters.local_store``),
an SQLite file on the reader's own machine, never in the ledger's database: a
report must not believe a table that whoever writes to the database could edit.
A catch-up reads the events recorded since the last one, in batches, verifies
each (``chainledger.application.verifier``) and applies only those that verify, writing the
view rows, the verifier's state and the new position in one transaction of the
store. A row that does not verify is kept out of every view and named in the
store (``rejected_rows``), with the package it concerns, so a report on that
package refuses to answer while the others go on. A rebuild verifies the whole
ledger into a new store and replaces the old one only if every event verified.

eventsourcing 9.5's ``ProjectionRunner`` needs database subscriptions, which
SQLite lacks, so views are caught up by reading the notification log (polling).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from chainledger.adapters.local_store import (
    LocalStore,
    Table,
    Transaction,
    placeholders,
    rejected_table,
)
from chainledger.application.audit import KeySpan
from chainledger.application.verifier import Verdict, Verifier, package_named
from chainledger.domain.events import LedgerEvent, split_state
from chainledger.domain.identity import Authority
from chainledger.domain.ledger import LedgerCreated
from chainledger.domain.merkle import HASH_SIZE, append_leaf, edge_root, leaf_hash
from chainledger.errors import NotFound, TamperError
from chainledger.projections.base import Projection, Writer

__all__ = ["ProjectionEngine", "VerifiedHead"]


@dataclass(frozen=True)
class VerifiedHead:
    """How far the reader has verified the ledger: the Merkle tree of every row read."""

    ledger_id: str
    size: int
    position: int  # the last notification id read
    edge: tuple[bytes, ...]
    last_leaf: bytes

    @property
    def root(self) -> bytes:
        return edge_root(list(self.edge))


@dataclass(frozen=True)
class Rejection:
    """A row of the ledger that did not verify, kept out of every view."""

    nid: int
    aggregate_id: str
    version: int
    topic: str
    package: str | None
    message: str

    def describe(self) -> str:
        return (f"event #{self.nid} ({self.topic}, version {self.version} of record "
                f"{self.aggregate_id}): {self.message}")  # fmt: skip


def content_hash(state: bytes) -> bytes:
    """SHA-256 of a stored event's content (what its record's next event links to)."""
    return hashlib.sha256(split_state(state)[1]).digest()


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def micros(moment: datetime) -> int:
    """A time as whole microseconds since 1970 UTC (as verified events keep it)."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


def signed_us(event: LedgerEvent) -> int | None:
    """An event's signed time in microseconds (None for the genesis: nobody signed it)."""
    return None if isinstance(event, LedgerCreated) else micros(event.timestamp)


def _chunks(values: Sequence[Any], size: int = 500) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


MAX_ID = 2**63 - 1  # the largest notification id a 64-bit column holds


@dataclass
class Tail:
    """Where one catch-up has read to, past the head: the rows after the last verified
    one, which did not verify (their leaves, in order)."""

    cursor: int = 0
    pending: list[bytes] = field(default_factory=list)
    position: int | None = None  # the head's position it follows on from

    def follow(self, position: int) -> None:
        """Start again from ``position`` if the head is not where this tail left it (another
        process caught up meanwhile: what this one read past the head may be in it now)."""
        if self.position is not None and self.position != position:
            self.cursor = 0
            self.pending.clear()
        self.position = position


def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


class ProjectionEngine:
    """Keeps a set of projections, in the reader's verified store, up to date with an
    application's notification log, verifying every event before applying it."""

    def __init__(
        self,
        app: Any,
        projections: Iterable[Projection],
        store: LocalStore,
        *,
        batch_size: int = 2000,
    ) -> None:
        self.app = app
        self.projections = list(projections)
        self.store = store
        self.batch_size = batch_size
        self.notes: list[str] = []  # what the last catch-up noticed but did not refuse

    # -- reading -------------------------------------------------------------------------

    @contextmanager
    def session(self) -> Iterator[Transaction]:
        """A read transaction on the verified store (catch up first)."""
        with self.store.reading() as session:
            yield session

    def head(self) -> VerifiedHead | None:
        with self.store.reading() as session:
            return self._head(session)

    @staticmethod
    def _head(session: Transaction) -> VerifiedHead | None:
        row = session.first("SELECT ledger_id, size, position, edge, last_leaf FROM verified_head "
                            "WHERE id = 1")  # fmt: skip
        if row is None:
            return None
        edge = bytes(row.edge)
        return VerifiedHead(
            row.ledger_id, int(row.size), int(row.position),
            tuple(edge[i : i + HASH_SIZE] for i in range(0, len(edge), HASH_SIZE)),
            bytes(row.last_leaf),
        )  # fmt: skip

    def pin(self, aggregate_id: UUID) -> tuple[int, str] | None:
        """(version, content hash) of the newest event of a record this reader verified."""
        with self.store.reading() as session:
            row = session.first("SELECT version, hash FROM verified_chains WHERE aggregate_id = ?",
                                (str(aggregate_id),))  # fmt: skip
        return None if row is None else (int(row[0]), str(row[1]))

    def authority(self) -> Authority:
        """Who could act as registrar, whom they endorsed, and which organisations' keys they
        declared compromised, as this reader verified it (``Authority``)."""
        with self.store.reading() as session:
            return self._authority(session)

    @staticmethod
    def _authority(session: Transaction) -> Authority:
        stored = session.scalar("SELECT state FROM verified_authority WHERE id = 1")
        return Authority.from_state(json.loads(stored)) if stored else Authority()

    def reached(self, since: datetime) -> int | None:
        """The first position this reader verified whose event was signed at or after
        ``since`` (None: the ledger's order has not reached it yet)."""
        with self.store.reading() as session:
            found = session.scalar("SELECT min(nid) FROM verified_events WHERE signed_us >= ?",
                                   (micros(since),))  # fmt: skip
        return None if found is None else int(found)

    def signed_times(self, nids: Sequence[int]) -> dict[int, datetime]:
        """The signed times of these verified events (the genesis has none)."""
        found: dict[int, datetime] = {}
        with self.store.reading() as session:
            for chunk in _chunks(sorted(set(nids))):
                query = (f"SELECT nid, signed_us FROM verified_events WHERE nid IN "
                         f"({placeholders(chunk)}) AND signed_us IS NOT NULL")  # fmt: skip
                found.update((int(nid), _EPOCH + timedelta(microseconds=int(us)))
                             for nid, us in session.execute(query, chunk))  # fmt: skip
        return found

    def checked(self, rows: Sequence[Any], *, whole: bool = False) -> list[Any]:
        """Those of ``rows`` (stored rows read from the ledger) that this reader verified,
        each still as it was verified; rows recorded since the last catch-up are left out.

        Raises ``TamperError`` for a row that differs from the event verified at its
        place, or that did not verify (for any row that did not verify, with ``whole``).
        """
        head = self.head()
        position = head.position if head else 0
        mine = [row for row in rows if row.id <= position]
        known: dict[int, bytes] = {}
        failed: dict[int, Rejection] = {}
        with self.store.reading() as session:
            for chunk in _chunks([row.id for row in mine]):
                query = f"SELECT nid, hash FROM verified_events WHERE nid IN ({placeholders(chunk)})"
                known.update((int(r.nid), bytes(r.hash)) for r in session.execute(query, chunk))
            if whole:
                rejected = self.rejections(session)
                if rejected:
                    more = f" (and {len(rejected) - 1} more)" if len(rejected) > 1 else ""
                    raise TamperError(f"the ledger holds data that does not verify: "
                                      f"{rejected[0].describe()}{more}")  # fmt: skip
            missing = [row.id for row in mine if row.id not in known]
            for chunk in _chunks(missing):
                query = f"{rejected_table.select_sql()} WHERE nid IN ({placeholders(chunk)})"
                for r in session.execute(query, chunk):
                    failed[int(r.nid)] = Rejection(int(r.nid), r.aggregate_id, int(r.version),
                                                   r.topic, r.package, r.message)  # fmt: skip
        for row in mine:
            if row.id in failed:
                raise TamperError(f"{failed[row.id].describe()}")
            if known.get(row.id) != content_hash(row.state):
                raise TamperError(
                    f"event #{row.id} ({row.topic}) is not the event verified at its place "
                    "before: the ledger was rewritten (see what with: chainledger audit verify)"
                )
        return mine

    def last_checkpoint(self, org: str) -> tuple[int, int] | None:
        """(size, last notification id) of ``org``'s last checkpoint signed through this store."""
        with self.store.reading() as session:
            row = session.first("SELECT size, position FROM signed_checkpoints WHERE org = ?",
                                (org,))  # fmt: skip
        return None if row is None else (int(row[0]), int(row[1]))

    def record_checkpoint(self, org: str, head: Any) -> None:
        """Remember that ``org`` signed a checkpoint of ``head`` (a TreeHead) here."""
        with self.store.writing() as session:
            session.execute(
                "INSERT OR REPLACE INTO signed_checkpoints (org, size, position, root) "
                "VALUES (?, ?, ?, ?)", (org, head.size, head.position, head.root),
            )  # fmt: skip

    @staticmethod
    def rejections(session: Transaction, package: str | None = None) -> list[Rejection]:
        """The rows that did not verify: those of ``package`` and those that name no
        package, or every one when ``package`` is None."""
        where, parameters = ("", ()) if package is None else (
            "WHERE package = ? OR package IS NULL", (package,))  # fmt: skip
        query = f"{rejected_table.select_sql()} {where} ORDER BY nid"
        return [
            Rejection(int(r.nid), r.aggregate_id, int(r.version), r.topic, r.package, r.message)
            for r in session.execute(query, parameters)
        ]

    # -- catching up ---------------------------------------------------------------------

    def catch_up(self, *, strict: bool = False) -> int:
        """Verify and apply every new event; returns how many rows were read.

        First the row the reader verified last must still be in the ledger, unchanged
        (a rolled-back or rewritten ledger is caught here). At the end, a stored Merkle
        tree that differs from the tree of the rows verified is noted in ``notes`` (the
        views do not rest on it; checkpoints and proofs, which do, refuse). With
        ``strict``, a row that does not verify stops the catch-up with a ``TamperError``
        naming it, and nothing of its batch is written.
        """
        read = 0
        check_tip = True
        tail = Tail()
        while True:
            count = self._catch_up_batch(check_tip=check_tip, strict=strict, tail=tail)
            check_tip = False
            if count == 0:
                break
            read += count
        self.notes = self._check_stored_tree() if self.app.store.keeps_tree else []
        return read

    def _catch_up_batch(self, *, check_tip: bool, strict: bool, tail: Tail) -> int:
        """Read, verify and apply the next batch of rows after ``tail.cursor``.

        The head (position, tree) moves only up to the last row that verified: rows
        after it that did not are named in ``rejected_rows`` at once, but join the tree
        only when a verified row follows them. So a junk row at a huge id (2**63-1) does
        not carry the position past the ids the application goes on recording at: each
        catch-up reads it again, knows it, and reads the events recorded below it.
        """
        with self.store.writing() as session:
            head = self._head(session)
            position = head.position if head else 0
            tail.follow(position)
            start = max(position, tail.cursor) + 1
            if start > MAX_ID:
                return 0
            with self.app.transaction(commit=False) as ledger:
                if check_tip and head is not None and head.position:
                    self._check_tip(ledger, head)
                rows = self.app.notifications(ledger, start, self.batch_size)
            if not rows:
                return 0
            tail.cursor = rows[-1].id
            known = self._rejected_leaves(session, [row.id for row in rows])
            verifier = self._verifier(session, head, rows)
            writer = Writer(session)
            wanted = [(p, set(p.topics)) for p in self.projections]
            size, edge = (head.size, list(head.edge)) if head else (0, [])
            moved_to: tuple[int, bytes] | None = None  # (position, last leaf) if it moves
            failed: list[Verdict] = []
            verified: list[tuple[int, bytes]] = []
            for row in rows:
                if row.id in known:  # rejected before, and still after the last verified row
                    leaf = leaf_hash(row.state)
                    if known[row.id] in (None, leaf):
                        tail.pending.append(leaf)
                        continue
                    # Another row now stands at that id (the rejected one was deleted and the
                    # id handed out again): forget the old rejection and check this row.
                    session.execute("DELETE FROM rejected_rows WHERE nid = ?", (row.id,))
                    if verifier.tainted.get(row.originator_id) == row.id:
                        del verifier.tainted[row.originator_id]
                verdict = verifier.check(row)
                if verdict.event is None:
                    if strict:
                        raise TamperError(f"event #{row.id} ({row.topic}) does not verify: "
                                          f"{verdict.problem}; nothing was written")  # fmt: skip
                    failed.append(verdict)
                    tail.pending.append(verdict.leaf)
                    continue
                for leaf in (*tail.pending, verdict.leaf):
                    edge, _ = append_leaf(size, edge, leaf)
                    size += 1
                tail.pending.clear()
                moved_to = (row.id, verdict.leaf)
                verified.append((row.id, content_hash(row.state), signed_us(verdict.event)))
                for projection, topics in wanted:
                    if not topics or row.topic in topics:
                        projection.apply(verdict.event, writer)
            writer.flush()
            if strict and verifier.late:
                nid, why = verifier.late[0]
                raise TamperError(f"event #{nid} does not verify: {why}; nothing was written")
            ledger_id = verifier.ledger_id or (head.ledger_id if head else "")
            if verified:
                session.executemany(
                    "INSERT INTO verified_events (nid, hash, signed_us) VALUES (?, ?, ?)", verified
                )
            self._save(session, verifier, failed)
            if moved_to is not None or (head is None and ledger_id):
                at, last_leaf = moved_to or (0, b"")
                self._save_head(session, VerifiedHead(
                    ledger_id, size, at, tuple(edge), last_leaf,
                ))  # fmt: skip
                tail.position = at
            return len(rows)

    @staticmethod
    def _rejected_leaves(session: Transaction, ids: Sequence[int]) -> dict[int, bytes | None]:
        """Of ``ids``, those rejected before, with the leaf hash of the row rejected."""
        found: dict[int, bytes | None] = {}
        for chunk in _chunks(list(ids)):
            query = f"SELECT nid, leaf FROM rejected_rows WHERE nid IN ({placeholders(chunk)})"
            found.update((int(nid), None if leaf is None else bytes(leaf))
                         for nid, leaf in session.execute(query, chunk))  # fmt: skip
        return found

    def _check_tip(self, ledger: Any, head: VerifiedHead) -> None:
        """The last row verified must still be there, as it was."""
        found = self.app.notifications(ledger, head.position, 1)
        if not found or found[0].id != head.position or leaf_hash(found[0].state) != head.last_leaf:
            raise TamperError(
                f"event #{head.position}, the last of the {head.size} you verified in this "
                "ledger, is no longer there as you verified it: the ledger was rolled back or "
                f"rewritten (your verified state: {self.store.path})"
            )

    def _check_stored_tree(self) -> list[str]:
        """What is wrong with the ledger's stored Merkle tree (which proofs and checkpoints
        come from): it must be the tree of the rows verified, and hold no row the log did
        not show in order."""
        head = self.head()
        if head is None:
            return []
        from chainledger.adapters import merkle_store  # only ledgers that keep a tree here

        with (
            self.store.reading() as session,
            self.app.transaction(commit=False) as ledger,
        ):
            stored_size, stored_position = merkle_store.stored_size(ledger)
            if stored_size > head.size and stored_position <= head.position:
                behind = self._behind(session, ledger, head)
                if behind:
                    listed = ", ".join(f"#{nid}" for nid in behind)
                    raise TamperError(
                        f"event(s) {listed} were recorded after event #{head.position} but at "
                        "lower ids, so reading the log in order cannot reach them: a row sits "
                        f"out of place at #{head.position}, and reports would leave out what "
                        "was recorded since (whoever runs the database must move or remove it)"
                    )
                return [f"the ledger's Merkle tree says it holds {stored_size} events, but "
                        f"{head.size} can be read in order up to event #{head.position}: the "
                        "tree was edited (see what with: chainledger audit verify)"]  # fmt: skip
            if stored_size < head.size:
                return []  # rows written behind the application's back, not yet in the tree
            try:
                root = merkle_store.root_at(ledger, head.size)
            except NotFound:
                root = b""
        if root != head.root:
            return [f"the ledger's stored Merkle tree is not the tree of the {head.size} events "
                    "you verified: the log or its tree was rewritten (see what with: chainledger "
                    "audit verify)"]  # fmt: skip
        return []

    def _behind(self, session: Transaction, ledger: Any, head: VerifiedHead) -> list[int]:
        """Rows the application recorded after the last verified one, at lower ids (so
        reading on from it never reaches them): the stored tree's leaves past the verified
        size name them; each must exist and be neither verified nor rejected here (the
        tree alone is a hint a writer could edit, not a reason to refuse)."""
        from chainledger.adapters import merkle_store

        named = [nid for nid in merkle_store.leaves_from(ledger, head.size, 20)
                 if 0 < nid < head.position]  # fmt: skip
        if not named:
            return []
        marks = placeholders(named)
        seen = set(session.column(f"SELECT nid FROM verified_events WHERE nid IN ({marks})",
                                  named))  # fmt: skip
        seen |= set(session.column(f"SELECT nid FROM rejected_rows WHERE nid IN ({marks})",
                                   named))  # fmt: skip
        unseen = [nid for nid in named if nid not in seen]
        if not unseen:
            return []
        # Only rows that verify are hidden events; junk named by an edited tree is not a
        # reason to refuse everyone (it is noted, like any edit of the tree).
        rows = [row for nid in unseen for row in self.app.notifications(ledger, nid, 1)
                if row.id == nid]  # fmt: skip
        if not rows:
            return []
        verifier = self._verifier(session, head, rows)
        return sorted(row.id for row in rows if verifier.check(row).ok)

    def _verifier(self, session: Transaction, head: VerifiedHead | None, rows: Sequence[Any]) -> Verifier:
        spans: dict[str, KeySpan] = {}
        last_signed: dict[str, tuple[datetime, int]] = {}
        for r in session.execute("SELECT * FROM verified_keys"):
            spans[r.key_id] = KeySpan(
                r.org, bytes(r.public_key), int(r.start),
                None if r.end is None else int(r.end), r.ended_by,
                start_at=_when(r.start_at), end_at=_when(r.end_at),
            )  # fmt: skip
            if r.last_at:
                last_signed[r.key_id] = (datetime.fromisoformat(r.last_at), int(r.last_nid))
        ids = sorted({str(row.originator_id) for row in rows})
        chains: dict[UUID, tuple[int, str]] = {}
        tainted: dict[UUID, int] = {}
        for chunk in _chunks(ids):
            marks = placeholders(chunk)
            query = f"SELECT aggregate_id, version, hash FROM verified_chains WHERE aggregate_id IN ({marks})"
            for r in session.execute(query, chunk):
                chains[UUID(r.aggregate_id)] = (int(r.version), r.hash)
            query = f"SELECT aggregate_id, nid FROM rejected_rows WHERE aggregate_id IN ({marks})"
            for aggregate_id, nid in session.execute(query, chunk):
                key = UUID(aggregate_id)
                tainted[key] = min(int(nid), tainted.get(key, int(nid)))
        return Verifier(head.ledger_id if head else None, spans, last_signed, chains, tainted,
                        self._authority(session))  # fmt: skip

    def _save(self, session: Transaction, verifier: Verifier, failed: list[Verdict]) -> None:
        connection = session
        if verifier.changed_authority:
            state = json.dumps(verifier.authority.state())
            connection.execute(
                "INSERT OR REPLACE INTO verified_authority (id, state) VALUES (1, ?)", (state,)
            )
        if verifier.changed_keys:
            rows = []
            for key_id in sorted(verifier.changed_keys):
                span = verifier.spans[key_id]
                last = verifier.last_signed.get(key_id)
                rows.append((
                    key_id, span.org, span.public_key, span.start,
                    span.start_at.isoformat() if span.start_at else "",
                    span.end, span.end_at.isoformat() if span.end_at else None, span.ended_by,
                    last[0].isoformat() if last else None, last[1] if last else None,
                ))  # fmt: skip
            connection.executemany(
                'INSERT OR REPLACE INTO verified_keys (key_id, org, public_key, start, start_at, '
                '"end", end_at, ended_by, last_at, last_nid) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
                rows,
            )
        if verifier.changed_chains:
            connection.executemany(
                "INSERT OR REPLACE INTO verified_chains (aggregate_id, version, hash) "
                "VALUES (?, ?, ?)",
                [(str(a), *verifier.chains[a]) for a in verifier.changed_chains],
            )
        rejections = [
            (v.row.id, str(v.row.originator_id), v.row.originator_version, v.row.topic,
             self._package_of(session, v.row), v.problem, v.leaf)
            for v in failed
        ]  # fmt: skip
        for nid, why in verifier.late:
            rejections.append(self._late(session, nid, why))
        if rejections:
            connection.executemany(
                "INSERT OR IGNORE INTO rejected_rows (nid, aggregate_id, version, topic, package, "
                "message, leaf) VALUES (?, ?, ?, ?, ?, ?, ?)",
                rejections,
            )

    @staticmethod
    def _package_of(session: Transaction, row: Any) -> str | None:
        found = session.scalar("SELECT package FROM view_aggregate_packages WHERE aggregate_id = ?",
                               (str(row.originator_id),))  # fmt: skip
        return found or package_named(row)

    @staticmethod
    def _late(session: Transaction, nid: int, why: str) -> tuple[Any, ...]:
        row = session.first("SELECT aggregate_id, version, event_type, package FROM view_timeline "
                            "WHERE notification_id = ?", (nid,))  # fmt: skip
        if row is None:  # not an event of a package (an organisation's own)
            return (nid, "", 0, "", None, why, None)
        return (nid, row.aggregate_id, row.version, row.event_type, row.package, why, None)

    @staticmethod
    def _save_head(session: Transaction, new: VerifiedHead) -> None:
        session.execute(
            "INSERT OR REPLACE INTO verified_head (id, ledger_id, size, position, edge, last_leaf) "
            "VALUES (1, ?, ?, ?, ?, ?)",
            (new.ledger_id, new.size, new.position, b"".join(new.edge), new.last_leaf),
        )

    # -- rebuilding ----------------------------------------------------------------------

    def tables(self) -> list[Table]:
        return [table for p in self.projections for table in p.tables]

    def rebuild(self) -> int:
        """Verify the whole ledger into a new store, and put it in the old one's place only
        if every event verified: a tampered event stops the rebuild, naming it, and the
        views stay as they were."""
        path = self.store.path
        fresh_path = path.with_name(path.name + ".rebuild")
        fresh_path.unlink(missing_ok=True)
        fresh = LocalStore(fresh_path, self.tables())
        for projection in self.projections:
            projection.reset()
        try:
            count = ProjectionEngine(self.app, self.projections, fresh,
                                     batch_size=self.batch_size).catch_up(strict=True)  # fmt: skip
            columns = "org, size, position, root"
            with self.store.reading() as old, fresh.writing() as new:
                signed = old.execute(f"SELECT {columns} FROM signed_checkpoints").fetchall()
                new.executemany(f"INSERT INTO signed_checkpoints ({columns}) VALUES (?, ?, ?, ?)",
                                signed)  # fmt: skip
        except BaseException:
            fresh.close()
            fresh_path.unlink(missing_ok=True)
            for projection in self.projections:
                projection.reset()
            raise
        fresh.close()
        # Hold the old store's write lock while it is replaced, so no writer is part-way
        # through a transaction on it.
        with self.store.writing():
            os.replace(fresh_path, path)
        self.store.close()
        self.store = LocalStore(path, self.tables())
        return count

