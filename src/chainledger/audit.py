"""``audit verify``: check every event in the ledger, in notification order.

For each stored event: its content matches its row (aggregate, version, type);
it was signed for this ledger; versions are contiguous and each event links to
the hash of its predecessor; it was signed by a key that belonged to the
signing organisation at that point in the ledger's order; and the Ed25519
signature verifies. Keys are tracked as the walk goes, so "the key valid at
that time" means valid at that position in the global order, which a signer
cannot backdate.

The walk streams in batches (memory grows with the number of aggregates, not
of events). Signature checks, the expensive part, run in worker processes, one
per core, while the main process does the sequential checks.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from typing import Any
from uuid import UUID

from sqlalchemy import select

from chainledger.crypto import verify
from chainledger.domain.canonical import GENESIS_HASH, digest
from chainledger.domain.events import CONTENT_FORMAT, EVENT_TYPES, UNSIGNED, split_state
from chainledger.domain.ids import LEDGER_AGGREGATE_ID, organisation_id
from chainledger.domain.ledger import LedgerCreated
from chainledger.domain.organisation import (
    OrganisationRegistered,
    SigningKeyRevoked,
    SigningKeyRotated,
    decode_key,
    key_fingerprint,
    possession_statement,
)

READ_BATCH = 2000
VERIFY_BATCH = 1000
PARALLEL_THRESHOLD = 20_000
MAX_REPORTED_FAILURES = 1000
KEY_CHANGE_TYPES = {SigningKeyRotated.type_name, SigningKeyRevoked.type_name}


@dataclass(frozen=True)
class Failure:
    """One check that failed, and where."""

    notification_id: int
    aggregate_id: str
    version: int
    event_type: str
    message: str


@dataclass
class AuditReport:
    """What ``audit verify`` found."""

    ledger_id: str | None = None
    events: int = 0
    organisations: int = 0
    signatures: int = 0  # Ed25519 verifications: event signatures and proofs of possession
    failure_count: int = 0
    failures: list[Failure] = field(default_factory=list)
    seconds: float = 0.0
    workers: int = 1

    @property
    def ok(self) -> bool:
        return self.failure_count == 0

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    def add(self, failure: Failure) -> None:
        self.failure_count += 1
        if len(self.failures) < MAX_REPORTED_FAILURES:
            self.failures.append(failure)


@dataclass
class _Key:
    org: str
    public_key: bytes
    active: bool = True
    ended_by: str = ""


@dataclass(frozen=True)
class _Row:
    notification_id: int
    aggregate_id: UUID
    version: int
    topic: str
    state: bytes


def verify_batch(items: list[tuple[int, bytes, bytes, bytes]]) -> list[int]:
    """Tags of the (tag, public key, signature, message) items that do not verify."""
    return [
        tag
        for tag, public_key, signature, message in items
        if not verify(public_key, signature, message)
    ]


class _Verifier:
    """Runs signature checks inline or in a pool, keeping a bounded number in flight."""

    def __init__(self, workers: int, on_failure: Callable[[Any], None]) -> None:
        self.workers = workers
        self.on_failure = on_failure
        self.items: list[tuple[int, bytes, bytes, bytes]] = []
        self.contexts: list[Any] = []
        self.in_flight: deque[tuple[Future[list[int]], list[Any]]] = deque()
        self.count = 0
        self.pool = (
            ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"))
            if workers > 1
            else None
        )

    def check(self, public_key: bytes, signature: bytes, message: bytes, context: Any) -> None:
        self.count += 1
        self.items.append((len(self.contexts), public_key, signature, message))
        self.contexts.append(context)
        if len(self.items) >= VERIFY_BATCH:
            self._submit()

    def _submit(self) -> None:
        items, contexts = self.items, self.contexts
        self.items, self.contexts = [], []
        if not items:
            return
        if self.pool is None:
            for tag in verify_batch(items):
                self.on_failure(contexts[tag])
            return
        self.in_flight.append((self.pool.submit(verify_batch, items), contexts))
        while len(self.in_flight) > 2 * self.workers:
            self._collect_one()

    def _collect_one(self) -> None:
        future, contexts = self.in_flight.popleft()
        for tag in future.result():
            self.on_failure(contexts[tag])

    def finish(self) -> None:
        self._submit()
        while self.in_flight:
            self._collect_one()
        if self.pool is not None:
            self.pool.shutdown()


def _rows(app: Any, last_id: int) -> Iterator[_Row]:
    table = app.recorder.events_record_cls.__table__
    engine = app.recorder.datastore.engine
    while True:
        query = (
            select(
                table.c.id,
                table.c.originator_id,
                table.c.originator_version,
                table.c.topic,
                table.c.state,
            )
            .where(table.c.id > last_id)
            .order_by(table.c.id)
            .limit(READ_BATCH)
        )
        with engine.connect() as connection:
            batch = connection.execute(query).all()
        if not batch:
            return
        for row in batch:
            yield _Row(row[0], row[1], row[2], row[3], bytes(row[4]))
        last_id = batch[-1][0]


def audit_ledger(
    app: Any,
    *,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> AuditReport:
    """Verify the whole ledger; never raises on bad data, reports it instead."""
    started = time.perf_counter()
    total = app.recorder.max_notification_id() or 0
    if workers is None:
        workers = (os.cpu_count() or 1) if total >= PARALLEL_THRESHOLD else 1
    report = AuditReport(workers=workers)
    dialect = app.recorder.datastore.engine.dialect.name
    # SQLite hands out notification ids without gaps, so a gap means a deleted
    # row. PostgreSQL sequences skip ids on rolled-back inserts, so there a gap
    # proves nothing; Merkle checkpoints cover deletion on every engine.
    gaps_are_deletions = dialect == "sqlite"

    def signature_failed(context: tuple[_Row, str]) -> None:
        row, what = context
        report.add(
            Failure(row.notification_id, str(row.aggregate_id), row.version, row.topic, what)
        )

    verifier = _Verifier(workers, signature_failed)
    chains: dict[UUID, tuple[int, str]] = {}
    keys: dict[str, _Key] = {}
    current_key: dict[str, str] = {}
    expected_id = 1
    try:
        for row in _rows(app, 0):
            report.events += 1
            if gaps_are_deletions and row.notification_id != expected_id:
                missing = row.notification_id - expected_id
                report.add(
                    Failure(
                        expected_id,
                        "",
                        0,
                        "",
                        f"{missing} notification(s) missing before {row.notification_id}: "
                        "events were removed",
                    )
                )
            expected_id = row.notification_id + 1
            for message in _check_row(row, report, chains, keys, current_key, verifier):
                signature_failed((row, message))
            if progress is not None and report.events % READ_BATCH == 0:
                progress(READ_BATCH)
    finally:
        verifier.finish()
    if progress is not None:
        progress(report.events % READ_BATCH)
    report.organisations = len(current_key)
    report.signatures = verifier.count
    report.failures.sort(key=lambda f: f.notification_id)
    report.seconds = time.perf_counter() - started
    return report


def _check_row(
    row: _Row,
    report: AuditReport,
    chains: dict[UUID, tuple[int, str]],
    keys: dict[str, _Key],
    current_key: dict[str, str],
    verifier: _Verifier,
) -> Iterator[str]:
    """Sequential checks on one row; yields failure messages, queues signature checks."""
    signature, content = split_state(row.state)
    try:
        envelope = json.loads(content)
        event_type = envelope["type"]
        org, key_id, fields = envelope["org"], envelope["key"], envelope["fields"]
        same_row = (
            envelope["aggregate"] == str(row.aggregate_id)
            and envelope["version"] == row.version
            and event_type == row.topic
        )
        ledger = envelope["ledger"]
        prev = envelope["prev"]
        content_format = envelope["format"]
    except (ValueError, KeyError, TypeError):
        yield "stored event cannot be read: its bytes were altered"
        return
    if len(signature) < 64 or content_format != CONTENT_FORMAT:
        yield "stored event is truncated or in an unknown format"
        return
    if not same_row:
        yield "content belongs to another aggregate, version or type: events were moved or swapped"
    if event_type not in EVENT_TYPES:
        yield f"unknown event type {event_type!r}"

    # The hash chain and version sequence of the aggregate.
    last_version, last_hash = chains.get(row.aggregate_id, (0, GENESIS_HASH))
    if row.version != last_version + 1:
        yield (
            f"version {row.version} follows version {last_version}: "
            "an event is missing or duplicated"
        )
    elif prev != last_hash:
        yield "hash chain broken: the previous event is not the one this event was signed after"
    chains[row.aggregate_id] = (row.version, digest(content))

    if event_type == LedgerCreated.type_name:
        if report.ledger_id is not None or row.aggregate_id != LEDGER_AGGREGATE_ID:
            yield "a second genesis event"
        if signature != UNSIGNED or org is not None:
            yield "the genesis event carries a signature it cannot have"
        report.ledger_id = report.ledger_id or ledger
        return
    if report.ledger_id is None:
        yield "the ledger does not start with its genesis event"
    elif ledger != report.ledger_id:
        yield "signed for another ledger"

    if event_type == OrganisationRegistered.type_name:
        yield from _registration(
            row, envelope, fields, keys, current_key, verifier, signature, content
        )
        return

    key = keys.get(key_id or "")
    if key is None or key.org != org:
        yield f"signed with key {str(key_id)[:16]}…, which is not a key of {org}"
        return
    if not key.active:
        yield f"signed with {org}'s key {key_id[:16]}… after it was {key.ended_by}"
        return
    verifier.check(key.public_key, signature, content, (row, f"signature by {org} does not verify"))

    if event_type in KEY_CHANGE_TYPES:
        if row.aggregate_id != organisation_id(org) or current_key.get(org) != key_id:
            yield "a key change not signed by the organisation's current key"
            return
        try:
            new_key = decode_key(fields["new_public_key"])
            proof = _b64(fields["proof"])
        except (ValueError, KeyError, TypeError):
            yield "key change with an unreadable new key"
            return
        new_id = key_fingerprint(new_key)
        statement = possession_statement(UUID(report.ledger_id or ledger), org, new_id)
        verifier.check(
            new_key, proof, statement, (row, "the new key's proof of possession does not verify")
        )
        key.active = False
        key.ended_by = "revoked" if event_type == SigningKeyRevoked.type_name else "rotated"
        keys[new_id] = _Key(org, new_key)
        current_key[org] = new_id


def _registration(
    row: _Row,
    envelope: dict[str, Any],
    fields: dict[str, Any],
    keys: dict[str, _Key],
    current_key: dict[str, str],
    verifier: _Verifier,
    signature: bytes,
    content: bytes,
) -> Iterator[str]:
    org, key_id = envelope["org"], envelope["key"]
    try:
        public_key = decode_key(fields["public_key"])
        handle = fields["handle"]
    except (ValueError, KeyError, TypeError):
        yield "registration with an unreadable public key"
        return
    if handle != org or row.aggregate_id != organisation_id(str(handle)):
        yield "registration of one organisation signed as another"
    if key_fingerprint(public_key) != key_id:
        yield "registration not signed by the key it registers"
        return
    if org in current_key:
        yield f"{org} registered twice"
        return
    verifier.check(
        public_key, signature, content, (row, f"registration signature of {org} does not verify")
    )
    keys[key_id] = _Key(org, public_key)
    current_key[org] = key_id


def _b64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)
