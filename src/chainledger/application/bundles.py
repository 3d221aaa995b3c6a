"""Bundles: one package's signed events, carried from the ledger they were recorded in
to another (a prime's own ledger to its commissioner's, say), and checked on arrival.

A bundle is one JSON document::

    {"format": "chainledger-bundle/1", "ledger": <origin ledger id>, "package": REF,
     "checkpoint": <the origin's tree head, signed by the exporting organisation>,
     "events": [{"position", "aggregate", "version", "type", "state", "path"}, ...]}

``events`` holds the origin's genesis, every event of the package's records,
and every event of the organisations that signed them (their keys), each with
its place in the origin's Merkle tree (``position``, the leaf index) and its
audit path to the checkpoint's root. Events keep their own signatures; nobody
re-signs them on the way.

Checking a bundle is the audit of a small ledger: every event must be in the
checkpointed tree at its position; every signature must verify with the key
its organisation held at that position (so a revoked key's signature cannot
be passed off as older than the revocation: positions are fixed by the signed
tree) and at its signed time (no earlier than the key's introduction, before
its end); signed times must not run backwards along the events by more than
the audit's tolerance; every record's versions must run from 1 without a gap,
each event linked to the hash of the one before; and the checkpoint must be
signed by the current key of an organisation in the bundle. Any failure
refuses the whole bundle, naming the event.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from chainledger.adapters.crypto import verify
from chainledger.application.audit import (
    KEY_TYPES,
    AuditReport,
    KeySpan,
    check_rows,
    key_spans,
    walk_chains,
)
from chainledger.application.proofs import b64, required_field, unb64
from chainledger.domain.checkpoint import SignedCheckpoint, parse_checkpoint
from chainledger.domain.events import SIGNATURE_LENGTH, registered, split_state
from chainledger.domain.ids import LEDGER_AGGREGATE_ID, package_id
from chainledger.domain.ledger import LedgerCreated
from chainledger.domain.merkle import HASH_SIZE, leaf_hash, verify_inclusion
from chainledger.domain.organisation import OrganisationRegistered
from chainledger.domain.package import PackageCreated
from chainledger.domain.values import check_reference
from chainledger.errors import InvalidValue, ProofFailed

BUNDLE = "chainledger-bundle/1"
MAX_BUNDLE_BYTES = 512 * 1024 * 1024
MAX_PATH = 64  # hashes in an audit path: a tree of up to 2^64 events


@dataclass(frozen=True)
class BundleEvent:
    """One signed event as the bundle carries it."""

    position: int  # leaf index in the origin ledger's Merkle tree
    aggregate: UUID
    version: int
    topic: str
    state: bytes  # signature ‖ canonical content, exactly as the origin stores it
    path: tuple[bytes, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "aggregate": str(self.aggregate),
            "version": self.version,
            "type": self.topic,
            "state": b64(self.state),
            "path": [b64(h) for h in self.path],
        }

    def describe(self) -> str:
        """The event in words, for a message that must name it."""
        signer = ""
        try:
            org = json.loads(split_state(self.state)[1]).get("org")
            signer = f", signed by {org}" if isinstance(org, str) else ""
        except (ValueError, AttributeError):
            pass
        return (
            f"event {self.position + 1} ({self.topic}, version {self.version} of record "
            f"{self.aggregate}{signer})"
        )


@dataclass(frozen=True)
class VerifiedBundle:
    """A bundle whose every event, signature, chain link and proof checked out."""

    ledger_id: UUID
    ledger_name: str
    package: str
    checkpoint: SignedCheckpoint
    signer: str  # the organisation whose current key signed the checkpoint
    events: tuple[BundleEvent, ...]
    packages: dict[UUID, str]  # the package each of the package's records belongs to

    @property
    def size(self) -> int:
        return self.checkpoint.checkpoint.size


def bundle_document(
    package: str, checkpoint: SignedCheckpoint, events: Sequence[BundleEvent]
) -> dict[str, Any]:
    """The JSON document of a bundle."""
    return {
        "format": BUNDLE,
        "ledger": str(checkpoint.checkpoint.ledger_id),
        "package": package,
        "checkpoint": checkpoint.text(),
        "events": [event.as_json() for event in events],
    }


def is_bundle(start: bytes) -> bool:
    """Whether a file that begins with ``start`` is a bundle rather than steps: a bundle's
    first key is its format (a step's is ``step``)."""
    return re.match(rb'\s*\{\s*"format"\s*:\s*"chainledger-bundle/', start) is not None


def load_bundle(data: bytes) -> dict[str, Any]:
    """The bundle document in ``data``; anything that is not one is an ``InvalidValue``."""
    if len(data) > MAX_BUNDLE_BYTES:
        raise InvalidValue(f"the file is larger than a bundle may be ({MAX_BUNDLE_BYTES:,} bytes)")
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidValue("not a bundle: the file is not JSON") from None
    if not isinstance(document, dict) or document.get("format") != BUNDLE:
        found = document.get("format") if isinstance(document, dict) else None
        raise InvalidValue(
            f"not a chainledger bundle (format {found!r}; this version reads {BUNDLE})"
        )
    return document


def _event(entry: Any, number: int) -> BundleEvent:
    what = f"event entry {number}"
    position = required_field(entry, "position", int, f"{what}: position")
    version = required_field(entry, "version", int, f"{what}: version")
    if position < 0 or version < 1:
        raise InvalidValue(f"the bundle's {what} has a negative position or a version below 1")
    try:
        aggregate = UUID(required_field(entry, "aggregate", str, f"{what}: record id"))
    except ValueError:
        raise InvalidValue(f"the bundle's {what} has a malformed record id") from None
    state = unb64(required_field(entry, "state", str, f"{what}: state"), f"{what}'s state")
    path = required_field(entry, "path", list, f"{what}: audit path")
    if len(path) > MAX_PATH:
        raise InvalidValue(f"the bundle's {what} has an audit path longer than any tree's")
    hashes = tuple(unb64(h, f"a hash in {what}'s audit path") for h in path)
    if len(state) <= SIGNATURE_LENGTH or any(len(h) != HASH_SIZE for h in hashes):
        raise InvalidValue(f"the bundle's {what} has a truncated state or hash")
    return BundleEvent(position, aggregate, version,
                       required_field(entry, "type", str, f"{what}: type"), state, hashes)  # fmt: skip


def _refuse(event: BundleEvent, reason: str) -> ProofFailed:
    return ProofFailed(f"the bundle is refused: {event.describe()}: {reason}")


def verify_bundle(document: dict[str, Any]) -> VerifiedBundle:
    """Check everything a bundle claims, with nothing but the bundle; raise if anything fails.

    Raises ``InvalidValue`` for a document that is not a well-formed bundle and
    ``ProofFailed`` for one that is, but whose events or checkpoint do not hold up.
    """
    try:
        ledger_id = UUID(required_field(document, "ledger", str, "ledger id"))
    except ValueError:
        raise InvalidValue("the bundle's ledger id is malformed") from None
    package = check_reference(
        required_field(document, "package", str, "package"), "package reference"
    )
    signed = parse_checkpoint(required_field(document, "checkpoint", str, "checkpoint"))
    head = signed.checkpoint
    if head.ledger_id != ledger_id:
        raise ProofFailed(
            f"the bundle's checkpoint is for ledger {head.ledger_id}, not {ledger_id}"
        )
    entries = required_field(document, "events", list, "events")
    events = tuple(_event(entry, number) for number, entry in enumerate(entries, 1))
    if not events:
        raise InvalidValue("the bundle holds no events")
    for before, event in itertools.pairwise(events):
        if event.position <= before.position:
            raise _refuse(event, "events are not in the ledger's order")

    # Each event is in the checkpointed tree, at the position it claims.
    for event in events:
        if event.position >= head.size or not verify_inclusion(
            event.position, head.size, leaf_hash(event.state), list(event.path), head.root
        ):
            raise _refuse(
                event,
                f"it is not in ledger {ledger_id} as its checkpoint of {head.size} events "
                "signs it: the event was altered, forged or moved",
            )

    genesis = events[0]
    spans, failures = audit_events(events, ledger_id)
    if failures:
        event, message = failures[0]
        raise _refuse(event, message)
    packages = _packages(events, package)
    if package_id(package) not in packages:
        raise InvalidValue(f"the bundle holds no package {package!r}, only other records")
    return VerifiedBundle(
        ledger_id=ledger_id,
        ledger_name=str(_envelope(genesis)["fields"].get("name", "")),
        package=package,
        checkpoint=signed,
        signer=_checkpoint_signer(signed, spans),
        events=events,
        packages=packages,
    )


def audit_events(
    events: Sequence[BundleEvent], ledger_id: UUID
) -> tuple[dict[str, KeySpan], list[tuple[BundleEvent, str]]]:
    """The audit of a small ledger, positions standing in for notification ids: the
    genesis first, each signature by the key its organisation held at that position and
    signed time, signed times that do not run backwards (beyond the audit's tolerance),
    each record's versions from 1 without a gap, each event linked to the one before.

    Returns the key spans and the failures, in the ledger's order.
    """
    genesis = events[0]
    if genesis.topic != LedgerCreated.type_name or genesis.aggregate != LEDGER_AGGREGATE_ID:
        return {}, [(genesis, "the events do not start with their ledger's genesis event")]
    rows = [(e.position + 1, e.aggregate, e.version, e.topic, e.state) for e in events]
    found_id, spans, _, authority = key_spans(r for r in rows if r[3] in KEY_TYPES)
    if found_id != str(ledger_id):
        return {}, [(genesis, f"the genesis is not that of ledger {ledger_id}")]
    result = check_rows(rows, {"ledger_id": found_id, "spans": spans, "authority": authority,
                               "types": frozenset(registered())})  # fmt: skip
    report = AuditReport()
    walk_chains(result, report, {}, 1, gaps_are_deletions=False)
    by_position = {e.position + 1: e for e in events}
    failures = sorted(report.failures, key=lambda f: f.notification_id)
    return spans, [(by_position[f.notification_id], f.message) for f in failures]


def _envelope(event: BundleEvent) -> dict[str, Any]:
    envelope = json.loads(split_state(event.state)[1])  # readable: the audit checked it
    assert isinstance(envelope, dict)
    return envelope


def _packages(events: Sequence[BundleEvent], package: str) -> dict[UUID, str]:
    """The package of every record that is not the genesis or an organisation's; each
    must be ``package`` (its first event names it)."""
    packages: dict[UUID, str] = {}
    for event in events:
        if event.version != 1 or event.topic in (
            LedgerCreated.type_name,
            OrganisationRegistered.type_name,
        ):
            continue
        fields = _envelope(event)["fields"]
        named = fields.get("reference" if event.topic == PackageCreated.type_name else "package")
        if named != package:
            raise _refuse(event, f"it belongs to package {named!r}, not to the bundle's {package}")
        packages[event.aggregate] = package
    return packages


def _checkpoint_signer(signed: SignedCheckpoint, spans: dict[str, KeySpan]) -> str:
    """The organisation whose current key (in the bundle's own key history) signed it."""
    for signature in signed.signatures:
        for span in spans.values():
            if (
                span.org == signature.name
                and span.end is None
                and signed.verified_by(signature.name, span.public_key, verify)
            ):
                return span.org
    names = ", ".join(s.name for s in signed.signatures)
    raise ProofFailed(
        f"the bundle's checkpoint (signed by {names}) is not signed by the current key of an "
        "organisation whose registration the bundle carries"
    )
