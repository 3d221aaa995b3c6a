"""``audit verify``: check every event in the ledger, in notification order.

For each stored event: its content matches its row (aggregate, version, type);
it was signed for this ledger; versions are contiguous and each event links to
the hash of its predecessor; it was signed by a key that belonged to the
signing organisation at that point in the ledger's order; and the Ed25519
signature verifies. "The key valid at that time" means valid at that position
in the global order, which a signer cannot backdate, and valid at the time the
event was signed: its signed timestamp must not be earlier than that of the
event that introduced the key, nor as late as that of the key change that ended
it (so the holder of a revoked key cannot sign a new event and slip its row in
before the revocation). Across the whole log, signed timestamps must not run
backwards by more than ``TIMESTAMP_TOLERANCE``.

It works in two passes. The first reads only the genesis and the
organisations' own events (a few per organisation) and builds each key's span
of positions, accepting a key change only if its signature, its proof of
possession and its signer (the organisation's current key) all check out. The
second reads the whole ledger in ranges of ``RANGE`` stored rows (bounded by the
notification ids that exist, so a gap in the ids costs nothing, however wide):
worker processes, one per core, each read their own range from the database and
do everything that does not depend on other events — parsing, the row checks,
the key at that position and time, the signatures — and send back a compact
row per event. The main process walks those rows in order for what does: gaps
in the notification ids, version sequences, hash chains and signed times that
run backwards. Memory grows with the number of aggregates, not of events.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from chainledger.adapters.crypto import verify
from chainledger.domain.canonical import GENESIS_HASH, digest
from chainledger.domain.checkpoint import Checkpoint
from chainledger.domain.events import (
    CONTENT_FORMAT,
    UNSIGNED,
    decode_event,
    registered,
    split_state,
)
from chainledger.domain.identity import (
    IDENTITY_TYPES,
    RECOVERY_TYPE,
    Authority,
    KeyRecoveryRequested,
    compromised_flag,
    recovery_request_id,
)
from chainledger.domain.ids import LEDGER_AGGREGATE_ID, organisation_id
from chainledger.domain.keys import decode_key, key_fingerprint, possession_statement
from chainledger.domain.ledger import ANCHORED_VERSION, LedgerCreated, anchored_ledger_id
from chainledger.domain.merkle import append_leaf, edge_root, leaf_hash
from chainledger.domain.organisation import (
    OrganisationRegistered,
    SigningKeyRevoked,
    SigningKeyRotated,
)
from chainledger.errors import ChainledgerError, TamperError

RANGE = 10_000  # stored rows per task
PARALLEL_THRESHOLD = 20_000
MAX_REPORTED_FAILURES = 1000
KEY_CHANGE_TYPES = {SigningKeyRotated.type_name, SigningKeyRevoked.type_name}
# The events the first pass reads: the genesis, keys, and registrars' events (who vouched).
KEY_TYPES = (LedgerCreated.type_name, OrganisationRegistered.type_name, *KEY_CHANGE_TYPES,
             *sorted(IDENTITY_TYPES))  # fmt: skip
# How far an event's signed timestamp may fall behind the latest one signed before it in
# the log before the audit calls it reordered or back-dated. Events are signed on different
# organisations' machines, whose clocks disagree by seconds to minutes, and a signed event
# reaches the log some time after it was signed (a slow network, a transaction retried), so
# the log order and the signed times may disagree a little; by more than this, they do not
# by accident.
TIMESTAMP_TOLERANCE = timedelta(minutes=10)


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
    tree_size: int = 0
    tree_root: bytes = b""
    checkpoints: list[str] = field(default_factory=list)  # what each checkpoint showed
    imported: int = 0  # events imported from other ledgers, checked again
    # Events that verify but were signed with a key a registrar later declared compromised
    # (organisation recovered): marked, not failed.
    flagged: list[Failure] = field(default_factory=list)

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


@dataclass(frozen=True)
class KeySpan:
    """Where in the global order a key could sign: after ``start``, up to ``end``; and
    when, by the signed timestamps: from ``start_at``, before ``end_at``."""

    org: str
    public_key: bytes
    start: int  # the position of the event that introduced it
    end: int | None = None  # the position of the event that replaced it (signed by it)
    ended_by: str = ""
    start_at: datetime | None = None  # the signed timestamp of the event that introduced it
    end_at: datetime | None = None  # the signed timestamp of the key change that ended it

    def key_id_matches(self, key_id: str | None) -> bool:
        return key_id == key_fingerprint(self.public_key)


# -- reading rows ----------------------------------------------------------------------------


def signed_time(envelope: dict[str, Any]) -> datetime | None:
    """The signed timestamp of an event's content: an ISO 8601 time with its UTC offset
    (None if it is missing or not one: the event's own checks report it)."""
    value = envelope.get("timestamp")
    if not isinstance(value, str):
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return None
    return at if at.utcoffset() is not None else None


def key_spans(
    rows: Iterator[tuple[int, UUID, int, str, bytes]],
) -> tuple[str | None, dict[str, KeySpan], int, Authority]:
    """(ledger id, key id -> span, organisations, who could vouch and who was vouched for)
    from the genesis, the organisations' events and the registrars' events.

    Only changes that fully check out move a key; anything else is left for the
    second pass to report where it stands. Each span also holds the signed
    timestamps of the events that introduced and ended the key (None where one
    cannot be read; the second pass reports that event).
    """
    ledger_id: str | None = None
    spans: dict[str, KeySpan] = {}
    current: dict[str, str] = {}
    authority = Authority()
    handles: dict[UUID, str] = {}  # organisation record -> handle
    for nid, aggregate, _version, topic, state in rows:
        signature, content = split_state(state)
        try:
            envelope = json.loads(content)
            org, key_id, fields = envelope["org"], envelope["key"], envelope["fields"]
            if topic == LedgerCreated.type_name:
                if aggregate == LEDGER_AGGREGATE_ID and ledger_id is None:
                    ledger_id = envelope["ledger"]
                    authority.root = genesis_root(envelope)
                continue
            if envelope["ledger"] != ledger_id:
                continue
            if topic in IDENTITY_TYPES:
                span = spans.get(current.get(org, ""))
                target = handles.get(aggregate)
                if (
                    span is not None and span.key_id_matches(key_id) and target is not None
                    and verify(span.public_key, signature, content)
                ):  # fmt: skip
                    fingerprint = fields.get("fingerprint")
                    refused = authority.apply(
                        topic, org, target, nid, fields=fields, at=signed_time(envelope),
                        key_of_target=fingerprint is None
                        or (fingerprint in spans and spans[fingerprint].org == target),
                    )  # fmt: skip
                    if (refused is None and topic == RECOVERY_TYPE and target in current
                            and authority.is_registrar(org, nid, signed_time(envelope))):  # fmt: skip
                        new_key = decode_key(fields["new_public_key"])
                        new_id = key_fingerprint(new_key)
                        if new_id not in spans:
                            at = signed_time(envelope)
                            spans[current[target]] = replace(spans[current[target]], end=nid,
                                                             ended_by="recovered", end_at=at)  # fmt: skip
                            spans[new_id] = KeySpan(target, new_key, nid, start_at=at)
                            current[target] = new_id
                continue
            if topic == OrganisationRegistered.type_name:
                public_key = decode_key(fields["public_key"])
                if (
                    org not in current
                    and fields["handle"] == org
                    and aggregate == organisation_id(org)
                    and key_fingerprint(public_key) == key_id
                    and verify(public_key, signature, content)
                ):
                    spans[key_id] = KeySpan(org, public_key, nid, start_at=signed_time(envelope))
                    current[org] = key_id
                    handles[aggregate] = org
                continue
            old = spans.get(current.get(org, ""))
            new_key = decode_key(fields["new_public_key"])
            new_id = key_fingerprint(new_key)
            proof = base64.b64decode(fields["proof"], validate=True)
            if (
                old is not None
                and current[org] == key_id
                and aggregate == organisation_id(org)
                and new_id not in spans
                and verify(old.public_key, signature, content)
                and verify(new_key, proof, possession_statement(UUID(ledger_id or ""), org, new_id))
            ):
                ended_by = "revoked" if topic == SigningKeyRevoked.type_name else "rotated"
                at = signed_time(envelope)
                spans[key_id] = replace(old, end=nid, ended_by=ended_by, end_at=at)
                spans[new_id] = KeySpan(org, new_key, nid, start_at=at)
                current[org] = new_id
        except (ValueError, KeyError, TypeError):
            continue  # unreadable: the second pass reports it
    return ledger_id, spans, len(current), authority


def _anchored_id(ledger: str) -> bool:
    """Whether ``ledger`` is an id derived from a genesis naming a registrar."""
    try:
        return UUID(ledger).version == ANCHORED_VERSION
    except ValueError:
        return False


def genesis_root(envelope: dict[str, Any]) -> str | None:
    """The first registrar a genesis names, if it carries the ledger id derived from what
    it says (else None: the second pass reports the genesis as rewritten)."""
    fields = envelope.get("fields")
    if not isinstance(fields, dict):
        return None
    registrar, key, nonce = (fields.get(k) for k in ("registrar", "registrar_key", "nonce"))
    if not all(isinstance(v, str) for v in (registrar, key, nonce, fields.get("name"))):
        return None
    try:
        derived = anchored_ledger_id(fields["name"], registrar, key, nonce)
    except (TypeError, ValueError, KeyError):
        return None
    return str(registrar) if str(derived) == envelope["ledger"] else None


# -- pass 2: each event on its own, in parallel ---------------------------------------------

_worker: dict[str, Any] = {}


def _start_worker(
    url: str,
    table: str,
    ledger_id: str | None,
    spans: dict[str, KeySpan],
    types: frozenset[str],
    authority: Authority,
) -> None:
    from chainledger.adapters.event_store import EventRows

    _know(EventRows.at(url, table), ledger_id, spans, types, authority)


def _know(rows: Any, ledger_id: str | None, spans: dict[str, KeySpan], types: frozenset[str],
          authority: Authority) -> None:  # fmt: skip
    """What ``check_range`` reads from and knows, in this process."""
    _worker.update(rows=rows, ledger_id=ledger_id, spans=spans, types=types, authority=authority)


@dataclass
class RangeResult:
    """What a worker found in one range: a compact row per event, and the failures."""

    # nid, aggregate, version, type, the hash it links to (None if unreadable), its own hash,
    # its signed timestamp (None if unreadable, or if the event failed its own checks: a time
    # nobody verifiably signed moves nothing)
    chain: list[tuple[int, UUID, int, str, str | None, str, datetime | None]] = field(
        default_factory=list
    )
    failures: list[tuple[int, str, int, str, str]] = field(default_factory=list)
    flagged: list[tuple[int, str, int, str, str]] = field(default_factory=list)
    # events signed before a compromise their signer's recovery named, but perhaps placed
    # after it: nid, aggregate, version, type, signer, the signer's compromised windows
    suspects: list[tuple[int, str, int, str, str, list[Any]]] = field(default_factory=list)
    signatures: int = 0
    leaves: list[bytes] = field(default_factory=list)  # every row's Merkle leaf hash, in order


def check_range(bounds: tuple[int, int]) -> RangeResult:
    """Check every event with a notification id from ``first`` to ``last`` (both included)."""
    first, last = bounds
    return check_rows(_worker["rows"].range(first, last), _worker)


def check_rows(
    rows: Iterable[tuple[int, UUID, int, str, bytes]], known: dict[str, Any]
) -> RangeResult:
    """Check each of ``rows`` on its own, knowing the ledger's id, its key spans and the event
    types (``known``: ``ledger_id``, ``spans``, ``types``)."""
    result = RangeResult()
    for nid, aggregate, version, topic, state in rows:
        result.leaves.append(leaf_hash(state))
        failed = False
        for message in _check_event(nid, aggregate, version, topic, state, result, known):
            result.failures.append((nid, str(aggregate), version, topic, message))
            failed = True
        if failed and result.chain and result.chain[-1][0] == nid:
            result.chain[-1] = (*result.chain[-1][:-1], None)
    return result


def _check_event(
    nid: int,
    aggregate: UUID,
    version: int,
    topic: str,
    state: bytes,
    result: RangeResult,
    known: dict[str, Any],
) -> Iterator[str]:
    signature, content = split_state(state)
    try:
        envelope = json.loads(content)
        event_type = envelope["type"]
        org, key_id, fields = envelope["org"], envelope["key"], envelope["fields"]
        same_row = (
            envelope["aggregate"] == str(aggregate)
            and envelope["version"] == version
            and event_type == topic
        )
        ledger, prev, content_format = envelope["ledger"], envelope["prev"], envelope["format"]
        if not (
            all(isinstance(v, str) for v in (event_type, ledger, prev))
            and all(v is None or isinstance(v, str) for v in (org, key_id))
            and isinstance(fields, dict)
        ):
            raise TypeError("a field of the envelope has the wrong type")
    except (ValueError, KeyError, TypeError):
        result.chain.append((nid, aggregate, version, topic, None, digest(content), None))
        yield "stored event cannot be read: its bytes were altered"
        return
    at = signed_time(envelope)
    # The genesis is unsigned: its time is nobody's signed word, and orders nothing.
    ordered_at = None if event_type == LedgerCreated.type_name else at
    result.chain.append((nid, aggregate, version, topic, str(prev), digest(content), ordered_at))
    if len(signature) < 64 or content_format != CONTENT_FORMAT:
        yield "stored event is truncated or in an unknown format"
        return
    if at is None:
        yield (
            f"its signed timestamp {envelope.get('timestamp')!r} is not an ISO 8601 time "
            "with a UTC offset"
        )
    if not same_row:
        yield "content belongs to another aggregate, version or type: events were moved or swapped"
    if event_type not in known["types"]:
        yield f"unknown event type {event_type!r}"
    elif same_row and event_type in registered():  # (a worker knows the domain's own types)
        try:  # a signed event must also be one the application can read
            decode_event(state, originator_id=aggregate, originator_version=version, topic=topic)
        except TamperError as error:
            yield f"the event cannot be read as a {event_type}: {error.reason}"

    if event_type == LedgerCreated.type_name:
        if aggregate != LEDGER_AGGREGATE_ID or ledger != known["ledger_id"]:
            yield "a second genesis event"
        if signature != UNSIGNED or org is not None:
            yield "the genesis event carries a signature it cannot have"
        if genesis_root(envelope) is None and (
            fields.get("registrar") is not None or _anchored_id(ledger)
        ):
            yield "the genesis does not match the ledger's id: its name or registrar was rewritten"
        return
    if known["ledger_id"] is None:
        yield "the ledger does not start with its genesis event"
        return
    if ledger != known["ledger_id"]:
        yield "signed for another ledger"
        return

    if event_type in _SELF_SIGNED:
        yield from _self_signed(event_type, aggregate, org, key_id, fields, signature, content,
                                result)  # fmt: skip
        return
    span: KeySpan | None = known["spans"].get(key_id or "")
    if span is None or span.org != org or nid <= span.start:
        yield f"signed with key {str(key_id)[:16]}…, which is not a key of {org}"
        return
    if span.end is not None and nid > span.end:
        yield f"signed with {org}'s key {key_id[:16]}… after it was {span.ended_by}"
        return
    # By its signed time too: a key's holder may sign whatever he likes, but not a time
    # before the key was his, nor one after he gave it up (the key change itself, signed
    # by the key it ends, carries the end time).
    if at is not None and span.start_at is not None and at < span.start_at:
        yield (
            f"signed with {org}'s key {key_id[:16]}… at {at.isoformat()}, before it was "
            f"introduced at {span.start_at.isoformat()}"
        )
        return
    if at is not None and span.end_at is not None and nid != span.end and at >= span.end_at:
        yield (
            f"signed with {org}'s key {key_id[:16]}… at {at.isoformat()}, after it was "
            f"{span.ended_by} at {span.end_at.isoformat()}"
        )
        return
    result.signatures += 1
    if not verify(span.public_key, signature, content):
        yield f"signature by {org} does not verify"
        return
    authority: Authority | None = known.get("authority")
    if authority is not None:
        problem = authority.problem(event_type, org, aggregate == organisation_id(org), nid, at)
        if problem is not None:
            yield problem
            return
        flag = authority.flag(org, at, nid)
        if flag is not None:
            result.flagged.append((nid, str(aggregate), version, topic, flag))
        elif authority.suspect(org, nid):  # marked if it follows the compromise in log order
            result.suspects.append((nid, str(aggregate), version, topic, org,
                                    authority.compromised[org]))  # fmt: skip
    if event_type in KEY_CHANGE_TYPES:
        if aggregate != organisation_id(org) or (span.end is not None and span.end != nid):
            yield "a key change not signed by the organisation's current key"
            return
        try:
            new_key = decode_key(fields["new_public_key"])
            proof = base64.b64decode(fields["proof"], validate=True)
        except (ValueError, KeyError, TypeError):
            yield "key change with an unreadable new key"
            return
        statement = possession_statement(UUID(ledger), org, key_fingerprint(new_key))
        result.signatures += 1
        if not verify(new_key, proof, statement):
            yield "the new key's proof of possession does not verify"


# The events signed by the key they carry (nobody's key yet, so no key span covers them):
# type -> (what it is called, what it does with the key, the record it must be on, whose
# signature fails)
_SELF_SIGNED: dict[str, tuple[str, str, Callable[[str, str], UUID], str]] = {
    OrganisationRegistered.type_name: ("registration", "registers",
                                       lambda org, key: organisation_id(org),
                                       "registration signature of {org}"),
    KeyRecoveryRequested.type_name: ("recovery request", "offers", recovery_request_id,
                                     "signature of the recovery request"),
}  # fmt: skip


def _self_signed(
    event_type: str,
    aggregate: UUID,
    org: str,
    key_id: str,
    fields: dict[str, Any],
    signature: bytes,
    content: bytes,
    result: RangeResult,
) -> Iterator[str]:
    """A registration or a key offered for recovery: signed by the key it carries, on the
    record of the organisation that signed it."""
    what, does, record, unverified = _SELF_SIGNED[event_type]
    try:
        public_key = decode_key(fields["public_key"])
        handle = fields["handle"]
    except (ValueError, KeyError, TypeError):
        yield f"{what} with an unreadable public key"
        return
    if handle != org or aggregate != record(str(org), str(key_id)):
        yield f"{what} of one organisation signed as another"
    if key_fingerprint(public_key) != key_id:
        yield f"{what} not signed by the key it {does}"
        return
    result.signatures += 1
    if not verify(public_key, signature, content):
        yield f"{unverified.format(org=org)} does not verify"


# -- putting it together --------------------------------------------------------------------


class TreeWalk:
    """The Merkle tree recomputed from the events as the audit reads them, with the
    root at each size a checkpoint names."""

    def __init__(self, sizes: Sequence[int]) -> None:
        self.size = 0
        self.edge: list[bytes] = []
        self.wanted = set(sizes)
        self.roots: dict[int, bytes] = {}
        # A digest of every complete subtree's hash, level by level in index order (level
        # 0: the leaves): what the stored tree's tables must hold, every node of them.
        self.levels: list[Any] = []
        self.last_nid = 0  # the notification id of the last row added

    def add(self, leaves: Sequence[bytes], nids: Sequence[int] = ()) -> None:
        """Add leaves in order (with the notification ids of their rows, which the stored
        leaves must name: a proof or bundle finds an event's leaf by its id)."""
        for i, leaf in enumerate(leaves):
            self.edge, completed = append_leaf(self.size, self.edge, leaf)
            self.last_nid = nids[i] if nids else 0
            for level, index, node in completed:
                if level == len(self.levels):
                    self.levels.append(hashlib.sha256())
                named = self.last_nid.to_bytes(8, "big", signed=True) if level == 0 else b""
                self.levels[level].update(index.to_bytes(8, "big") + named + node)
            self.size += 1
            if self.size in self.wanted:
                self.roots[self.size] = edge_root(self.edge)

    def level_digests(self) -> list[bytes]:
        return [h.digest() for h in self.levels]

    @property
    def root(self) -> bytes:
        return edge_root(self.edge)


def check_checkpoints(
    report: AuditReport, walk: TreeWalk, checkpoints: Sequence[tuple[str, Checkpoint]]
) -> None:
    """Is today's ledger an append-only extension of each checkpoint?"""
    for label, checkpoint in checkpoints:
        if checkpoint.size > walk.size:
            report.add(Failure(0, "", 0, "",
                               f"checkpoint {label} covers {checkpoint.size} events but the ledger "
                               f"holds {walk.size}: history was truncated"))  # fmt: skip
        elif walk.roots.get(checkpoint.size) != checkpoint.root:
            report.add(Failure(0, "", 0, "",
                               f"checkpoint {label}: the ledger's first {checkpoint.size} events "
                               "are not the ones it signed: history was rewritten, reordered or "
                               "removed"))  # fmt: skip
        else:
            report.checkpoints.append(
                f"checkpoint {label} ({checkpoint.size} events): the ledger extends it"
            )


def audit_ledger(
    app: Any,
    *,
    imported: Callable[[], tuple[int, list[str]]] | None = None,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
    checkpoints: Sequence[tuple[str, Checkpoint]] = (),
) -> AuditReport:
    """Verify the whole ledger; never raises on bad data, reports it instead.

    The Merkle tree is recomputed from the events themselves and compared with
    the stored one (through a ledger service: the one it signed) and with each
    ``(label, checkpoint)`` given. ``app`` is the ledger core (on an SQL database, the
    audit's workers read it by URL); ``imported``
    checks the events imported from other ledgers again (``Exchange.audit_imported``;
    None: none are checked).
    """
    started = time.perf_counter()
    remote = not app.store.keeps_tree  # a ledger service's: its rows, read through it
    if remote:
        rows = app.store.rows
        url = table = ""
    else:
        url = app.store.url
        table = app.store.recorder.events_table_name
        from chainledger.adapters.event_store import EventRows

        rows = EventRows.at(url, table)
    # Cut by the ids that exist, not by their values: one row with id 2**63-1 must not
    # make the audit walk 2**63 ids.
    ranges, total = rows.ranges(RANGE)
    if workers is None or remote:
        workers = (os.cpu_count() or 1) if total >= PARALLEL_THRESHOLD and not remote else 1
    report = AuditReport(workers=workers)
    # SQLite hands out notification ids without gaps, so a gap means a deleted
    # row. PostgreSQL sequences skip ids on rolled-back inserts, so there a gap
    # proves nothing; Merkle checkpoints cover deletion on every engine.
    gaps_are_deletions = (not remote
                          and app.store.recorder.datastore.engine.dialect.name == "sqlite")  # fmt: skip

    ledger_id, spans, organisations, authority = key_spans(rows.of_types(KEY_TYPES))
    report.ledger_id, report.organisations = ledger_id, organisations
    # The event types this process knows (a worker process imports only the domain's own).
    initargs = (url, table, ledger_id, spans, frozenset(registered()), authority)
    chains: dict[UUID, tuple[int, str]] = {}
    expected = 1
    latest = LatestSigned()
    walk = TreeWalk([c.size for _, c in checkpoints])
    if workers > 1:
        from concurrent.futures import ProcessPoolExecutor
        from multiprocessing import get_context

        pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"),
                                   initializer=_start_worker, initargs=initargs)  # fmt: skip
        results: Iterator[RangeResult] = pool.map(check_range, ranges)
    else:
        pool = None
        _know(rows, *initargs[2:])
        results = map(check_range, ranges)
    try:
        for result in results:
            expected = walk_chains(result, report, chains, expected, gaps_are_deletions, latest)
            walk.add(result.leaves, [entry[0] for entry in result.chain])
            if progress is not None:
                progress(len(result.chain))  # events read
    finally:
        if pool is not None:
            pool.shutdown()
    report.tree_size, report.tree_root = walk.size, walk.root
    if remote:  # the tree the service signed for the rows it gave must be their tree
        for message in app.store.rows.tree_problems(walk.size, walk.root):
            report.add(Failure(0, "", 0, "", message))
    else:
        _check_stored_tree(app, report, walk)
    check_checkpoints(report, walk, checkpoints)
    report.imported, problems = imported() if imported is not None else (0, [])
    for message in problems:
        report.add(Failure(0, "", 0, "", message))
    report.failures.sort(key=lambda f: f.notification_id)
    report.flagged.sort(key=lambda f: f.notification_id)
    report.seconds = time.perf_counter() - started
    return report


def _check_stored_tree(app: Any, report: AuditReport, walk: TreeWalk) -> None:
    """The stored tree (which proofs and checkpoints are made from) must be the events' tree."""
    from chainledger.adapters import merkle_store

    try:
        with app.store.transaction(commit=False) as session:
            head = merkle_store.read_head(session)
    except ChainledgerError as error:
        report.add(Failure(0, "", 0, "", f"the stored Merkle tree cannot be read: {error}"))
        return
    if (head.size, head.root, head.position) != (walk.size, walk.root, walk.last_nid):
        report.add(Failure(0, "", 0, "",
                           f"the stored Merkle tree ({head.size} events, root "
                           f"{head.root.hex()[:16]}…, last #{head.position}) is not the tree of "
                           f"the events ({walk.size}, root {walk.root.hex()[:16]}…, last "
                           f"#{walk.last_nid}): "
                           "the log was edited behind the application's back, or its tree was"))  # fmt: skip
        return
    # Every node, not only those the root is made of: a stored hash off the root's path
    # would make the proofs that pass through it fail.
    stored = _stored_level_digests(app)
    for level, want in enumerate(walk.level_digests()):
        if stored.get(level) != want:
            what = "leaves" if level == 0 else f"nodes at level {level}"
            report.add(Failure(0, "", 0, "",
                               f"the stored Merkle tree's {what} are not those of the events' "
                               "tree (a stored hash was edited, added or removed): proofs that "
                               "pass through them would fail"))  # fmt: skip
    extra = sorted(set(stored) - set(range(len(walk.levels))))
    if extra:
        report.add(Failure(0, "", 0, "",
                           f"the stored Merkle tree holds nodes at level {extra[0]}, which the "
                           "events' tree does not have"))  # fmt: skip


def _id_bytes(nid: int) -> bytes:
    try:
        return nid.to_bytes(8, "big", signed=True)
    except OverflowError:  # no notification id is that large: it cannot match
        return b"\xff" * 9


def _stored_level_digests(app: Any) -> dict[int, bytes]:
    """The stored tree's nodes, digested as ``TreeWalk.level_digests`` digests the events'
    tree (read in key order, streamed)."""
    from sqlalchemy import literal, select

    from chainledger.adapters import merkle_store

    leaves, nodes = merkle_store.leaves_table, merkle_store.nodes_table
    digests: dict[int, Any] = {}
    with app.store.transaction(commit=False) as session:
        connection = session.connection().execution_options(stream_results=True,
                                                             yield_per=10_000)  # fmt: skip
        queries = (
            select(literal(0), leaves.c.idx, leaves.c.notification_id, leaves.c.hash)
            .order_by(leaves.c.idx),
            select(nodes.c.level, nodes.c.idx, literal(None), nodes.c.hash)
            .order_by(nodes.c.level, nodes.c.idx),
        )
        for query in queries:
            for level, index, nid, node in connection.execute(query):
                digest_ = digests.get(level)
                if digest_ is None:
                    digest_ = digests[level] = hashlib.sha256()
                named = b"" if nid is None else _id_bytes(int(nid))
                digest_.update(int(index).to_bytes(8, "big") + named + bytes(node))
    return {level: h.digest() for level, h in digests.items()}


@dataclass
class LatestSigned:
    """The latest signed timestamp met so far in log order, and the event that carries it."""

    at: datetime | None = None
    nid: int = 0


def walk_chains(
    result: RangeResult,
    report: AuditReport,
    chains: dict[UUID, tuple[int, str]],
    expected: int,
    gaps_are_deletions: bool,
    latest: LatestSigned | None = None,
) -> int:
    """The checks that need the events before: gaps, version sequences, hash chains, and
    signed timestamps that run backwards against the log order (by more than
    ``TIMESTAMP_TOLERANCE`` behind the latest one before; ``latest`` carries it from one
    call to the next)."""
    if latest is None:
        latest = LatestSigned()
    report.signatures += result.signatures
    for nid, aggregate, version, topic, message in result.failures:
        report.add(Failure(nid, aggregate, version, topic, message))
    for nid, aggregate, version, topic, message in result.flagged:
        report.flagged.append(Failure(nid, aggregate, version, topic, message))
    suspects = {s[0]: s for s in result.suspects}
    for nid, aggregate, version, topic, prev, digest_, at in result.chain:
        if nid in suspects:  # signed before the compromise, but placed after it?
            _, _, _, _, org, windows = suspects[nid]
            flag = compromised_flag(org, windows, at, nid, latest.at)
            if flag is not None:
                report.flagged.append(Failure(nid, str(aggregate), version, topic, flag))
        report.events += 1
        if nid < 1:
            report.add(Failure(nid, str(aggregate), version, topic,
                               f"notification id {nid} is not one the log hands out (they start "
                               "at 1): the row was inserted behind the application's back"))  # fmt: skip
        elif gaps_are_deletions and nid != expected:
            report.add(Failure(expected, "", 0, "",
                               f"{nid - expected} notification(s) missing before {nid}: "
                               "events were removed"))  # fmt: skip
        expected = max(expected, nid + 1)
        if at is not None:
            if latest.at is not None and latest.at - at > TIMESTAMP_TOLERANCE:
                report.add(Failure(nid, str(aggregate), version, topic,
                                   f"signed at {at.isoformat()}, {_duration(latest.at - at)} "
                                   f"before event #{latest.nid} (signed at "
                                   f"{latest.at.isoformat()}) which precedes it in the log: "
                                   "events were reordered or back-dated"))  # fmt: skip
            if latest.at is None or at > latest.at:
                latest.at, latest.nid = at, nid
        last_version, last_hash = chains.get(aggregate, (0, GENESIS_HASH))
        if version != last_version + 1:
            report.add(Failure(nid, str(aggregate), version, topic,
                               f"version {version} follows version {last_version}: "
                               "an event is missing or duplicated"))  # fmt: skip
        elif prev is not None and prev != last_hash:
            report.add(Failure(nid, str(aggregate), version, topic,
                               "hash chain broken: the previous event is not the one this event "
                               "was signed after"))  # fmt: skip
        chains[aggregate] = (version, digest_)
    return expected


def _duration(delta: timedelta) -> str:
    """A time difference in words, rounded down: "12 min", "3 h", "5 days"."""
    minutes = int(delta.total_seconds() // 60)
    if minutes < 120:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h"
    return f"{minutes // (24 * 60)} days"
