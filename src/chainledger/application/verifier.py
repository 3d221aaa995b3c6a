"""Verifying the ledger's new rows one by one, in log order, against what was verified before.

The reader's verified store (``local_store``) keeps what this needs between runs:
each key's span (where and when it could sign), the newest verified event of each
record, and the records whose events were rejected. Each row gets the audit's own
per-event checks (``audit.check_rows``: its content matches its row, it was signed
for this ledger by a key its signer held at that point, and the signature
verifies), then the checks that need the events before it: its record's version
sequence and hash chain, and the signed times of key changes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from uuid import UUID

from chainledger.adapters.locations import StoredRow
from chainledger.application.audit import KeySpan, check_rows
from chainledger.domain.canonical import GENESIS_HASH
from chainledger.domain.events import LedgerEvent, registered, split_state
from chainledger.domain.identity import IDENTITY_TYPES, Authority, OrganisationRecovered
from chainledger.domain.ids import LEDGER_AGGREGATE_ID, organisation_id
from chainledger.domain.keys import decode_key, key_fingerprint
from chainledger.domain.ledger import LedgerCreated
from chainledger.domain.merkle import leaf_hash
from chainledger.domain.organisation import (
    OrganisationRegistered,
    SigningKeyRevoked,
    SigningKeyRotated,
)
from chainledger.errors import TamperError


@dataclass(frozen=True)
class Verdict:
    """One row, checked: its event if it verifies, else why not."""

    row: StoredRow
    leaf: bytes  # its leaf of the Merkle tree (every row is a leaf, verified or not)
    event: LedgerEvent | None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass
class Verifier:
    """What was verified before the rows it is given, and what checking them changes."""

    ledger_id: str | None
    spans: dict[str, KeySpan]
    last_signed: dict[str, tuple[datetime, int]]  # key id -> latest signed time, its event
    chains: dict[UUID, tuple[int, str]]  # record -> (newest verified version, its hash)
    tainted: dict[UUID, int]  # record -> the notification id of its rejected event
    authority: Authority = field(default_factory=Authority)  # who could vouch, who was vouched
    changed_keys: set[str] = field(default_factory=set)
    changed_authority: bool = False
    changed_chains: set[UUID] = field(default_factory=set)
    # Events verified earlier that a later key change shows were signed after their key
    # was replaced: (notification id, why).
    late: list[tuple[int, str]] = field(default_factory=list)

    def check(self, row: StoredRow) -> Verdict:
        leaf = leaf_hash(row.state)
        aggregate = row.originator_id
        if aggregate in self.tainted:
            return self._reject(row, leaf, f"follows event #{self.tainted[aggregate]} of its "
                                            "record, which did not verify")  # fmt: skip
        if self.ledger_id is None:
            self.ledger_id = _genesis_ledger_id(row)
        known = {"ledger_id": self.ledger_id, "spans": self.spans, "authority": self.authority,
                 "types": frozenset(registered())}  # fmt: skip
        result = check_rows(
            [(row.id, aggregate, row.originator_version, row.topic, row.state)], known
        )
        if result.failures:
            return self._reject(row, leaf, result.failures[0][4])
        version, prev, content_hash = result.chain[0][2], result.chain[0][4], result.chain[0][5]
        last_version, last_hash = self.chains.get(aggregate, (0, GENESIS_HASH))
        if version != last_version + 1:
            return self._reject(row, leaf, f"version {version} follows version {last_version}: "
                                           "an event is missing or duplicated")  # fmt: skip
        if prev != last_hash:
            return self._reject(row, leaf, "hash chain broken: the previous event is not the one "
                                           "this event was signed after")  # fmt: skip
        try:
            event = row.event()
        except TamperError as error:
            return self._reject(row, leaf, error.reason)
        problem = self._identity(event) or self._keys(event)
        if problem is not None:
            return self._reject(row, leaf, problem)
        self.chains[aggregate] = (version, content_hash)
        self.changed_chains.add(aggregate)
        return Verdict(row, leaf, event)

    def _reject(self, row: StoredRow, leaf: bytes, problem: str) -> Verdict:
        self.tainted.setdefault(row.originator_id, row.id)
        return Verdict(row, leaf, None, problem)

    def _keys(self, event: LedgerEvent) -> str | None:
        """Move the signer's keys on a registration or key change; remember when each key
        last signed."""
        nid = event.notification_id or 0
        at = event.timestamp
        if isinstance(event, OrganisationRegistered):
            self._set(event.key_id, KeySpan(event.handle, event.registered_key, nid, start_at=at))
            return None
        if event.key_id is None or event.org is None:
            return None  # the genesis
        if isinstance(event, OrganisationRecovered):
            target = self._handle_of(event.originator_id)
            current = next((k for k, span in self.spans.items()
                            if span.org == target and span.end is None), None)  # fmt: skip
            if target is None or current is None:
                return "a recovery of an organisation that has no key"
            new_id = event.new_key_id
            if new_id in self.spans:
                return f"a recovery to key {new_id[:16]}…, which was in use before"
            at = event.timestamp
            last = self.last_signed.get(current)
            if last is not None and last[0] >= at:
                self.late.append((last[1], f"signed with {target}'s key {current[:16]}… at "
                                           f"{last[0].isoformat()}, after a registrar recovered "
                                           f"{target} at {at.isoformat()} (event #{nid})"))  # fmt: skip
            self._set(current, replace(self.spans[current], end=nid, ended_by="recovered",
                                       end_at=at))  # fmt: skip
            self._set(new_id, KeySpan(target, decode_key(event.new_public_key), nid, start_at=at))
        if event.key_id not in self.spans:
            return None  # a recovery request, signed by the key it offers
        if isinstance(event, SigningKeyRotated):
            new_id = key_fingerprint(event.new_key)
            if new_id in self.spans:
                return f"a key change to key {new_id[:16]}…, which was in use before"
            ended_by = "revoked" if isinstance(event, SigningKeyRevoked) else "rotated"
            old = self.spans[event.key_id]
            last = self.last_signed.get(event.key_id)
            if last is not None and last[0] >= at:
                self.late.append((last[1], f"signed with {event.org}'s key "
                                           f"{event.key_id[:16]}… at {last[0].isoformat()}, after "
                                           f"it was {ended_by} at {at.isoformat()} (event #{nid})"))  # fmt: skip
            self._set(event.key_id, replace(old, end=nid, ended_by=ended_by, end_at=at))
            self._set(new_id, KeySpan(event.org, event.new_key, nid, start_at=at))
        last = self.last_signed.get(event.key_id)
        if last is None or at > last[0]:
            self.last_signed[event.key_id] = (at, nid)
            self.changed_keys.add(event.key_id)
        return None

    def _identity(self, event: LedgerEvent) -> str | None:
        """Take in a verified genesis or registrar's event (who may vouch, who is vouched
        for); returns why the rules do not allow it, if they do not."""
        nid = event.notification_id or 0
        if isinstance(event, LedgerCreated):
            if event.registrar is not None:  # its anchor was checked with the row
                self.authority.root = event.registrar
                self.changed_authority = True
            return None
        if event.type_name not in IDENTITY_TYPES:
            return None
        target = self._handle_of(event.originator_id)
        fingerprint = getattr(event, "fingerprint", None)
        self.changed_authority = True
        return self.authority.apply(
            event.type_name, event.org, target, nid, fields=event.fields(), at=event.timestamp,
            key_of_target=fingerprint is None
            or (fingerprint in self.spans and self.spans[fingerprint].org == target),
        )  # fmt: skip

    def _handle_of(self, aggregate_id: UUID) -> str | None:
        """The handle of the organisation whose record ``aggregate_id`` is."""
        return next((span.org for span in self.spans.values()
                     if organisation_id(span.org) == aggregate_id), None)  # fmt: skip

    def _set(self, key_id: str, span: KeySpan) -> None:
        self.spans[key_id] = span
        self.changed_keys.add(key_id)


def _genesis_ledger_id(row: StoredRow) -> str | None:
    """The ledger id a genesis row names (the genesis is unsigned: the first one counts)."""
    if row.originator_id != LEDGER_AGGREGATE_ID or row.topic != LedgerCreated.type_name:
        return None
    try:
        return str(UUID(json.loads(split_state(row.state)[1])["ledger"]))
    except (ValueError, KeyError, TypeError):
        return None


def package_named(row: StoredRow) -> str | None:
    """The package a row's content names, if it can be read at all (for rows that fail)."""
    try:
        envelope = json.loads(split_state(row.state)[1])
        fields = envelope["fields"]
        value = fields.get("package") or (
            fields.get("reference") if envelope.get("type") == "PackageCreated" else None
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return value if isinstance(value, str) and 0 < len(value) <= 64 else None
