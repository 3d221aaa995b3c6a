"""A ledger reached over HTTP (``--ledger https://…``): the event store of a client that
trusts no server.

Every answer comes with a checkpoint signed by the service's log key. The client
pins that key (and the ledger's id) on first contact, in the user's state directory,
and keeps there the newest checkpoint it verified. Each answer's checkpoint must be
signed by the pinned key for the pinned ledger, must not be smaller than the one kept
(a rollback) nor of the same size with another root (a fork); and once the reader
has verified the rows up to a checkpoint's last event, the tree it computed from them
must be that checkpoint's tree (``confirm``): a service cannot serve an altered,
dropped or inserted row without signing a tree that contradicts it. Any of these stops
the command with ``SecurityError`` and writes both signed checkpoints to an evidence
file.

Only the standard library is used here (``http.client``, one kept-alive connection per
command; ``urllib`` where a proxy is configured), so that a client does not load the
service's database stack.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import urllib.parse
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from chainledger.adapters.crypto import verify
from chainledger.adapters.locations import StoredRow
from chainledger.domain.checkpoint import (
    EVIDENCE_FORMAT,
    ORIGIN_PREFIX,
    SignedCheckpoint,
    parse_checkpoint,
    parse_verifier_key,
)
from chainledger.domain.events import located, split_state, stored_state
from chainledger.domain.ids import LEDGER_AGGREGATE_ID
from chainledger.domain.merkle import verify_consistency
from chainledger.errors import Conflict, InvalidValue, LedgerUnavailable, Refused, SecurityError

TIMEOUT = 30  # seconds for one request
SEEN = 16  # current heads remembered, to catch a fork before it is verified
MAX_ANSWER = 64 * 1024 * 1024  # bytes: a batch of rows, with room to spare


def is_remote(ledger: str) -> bool:
    return ledger.startswith(("http://", "https://"))


@dataclass
class Claim:
    """What the service last signed: a checkpoint, and the notification id of its last event."""

    checkpoint: SignedCheckpoint
    position: int


class Witness:
    """What this client holds about one service: the ledger and log key it pinned on first
    contact, the newest checkpoint it verified, and for each organisation that recorded
    through it the checkpoint the service signed in answer (a 0600 file in the state
    directory)."""

    def __init__(self, state_dir: Path, url: str) -> None:
        self.directory = state_dir / "services"
        name = hashlib.sha256(url.encode()).hexdigest()[:24]
        self.path = self.directory / f"{name}.json"
        self.url = url
        self.data: dict[str, Any] = {}
        if self.path.exists():
            try:
                self.data = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                raise SecurityError(f"the record of what you verified from {url} ({self.path}) "
                                    "cannot be read: it was damaged or edited") from None  # fmt: skip

    @property
    def pinned(self) -> bool:
        return "log_key" in self.data

    def pin(self, ledger_id: str, log_key: str) -> None:
        self.data = {"url": self.url, "ledger": ledger_id, "log_key": log_key}
        self._save()

    def keep(self, checkpoint: SignedCheckpoint) -> None:
        self.data["checkpoint"] = checkpoint.text()
        self._save()

    def see(self, checkpoint: SignedCheckpoint) -> None:
        """Remember a head the service signed as current (the newest few, by size): another
        root for one of those sizes later is a fork, even before it was verified."""
        seen = dict(self.data.get("seen", {}))
        key = str(checkpoint.checkpoint.size)
        if seen.get(key) == checkpoint.text():
            return
        seen[key] = checkpoint.text()
        newest = sorted(seen, key=int)[-SEEN:]
        self.data["seen"] = {k: seen[k] for k in newest}
        self._save()

    def receive(self, org: str, checkpoint: SignedCheckpoint) -> None:
        """Keep, for the organisation whose step the service recorded, the checkpoint it
        signed as current in answer (the newest per organisation): its receipt. A service
        that later signs a smaller log as current has dropped what it acknowledged."""
        receipts = dict(self.data.get("receipts", {}))
        held = receipts.get(org)
        if held is None or parse_checkpoint(held).checkpoint.size <= checkpoint.checkpoint.size:
            receipts[org] = checkpoint.text()
            self.data["receipts"] = receipts
            self._save()

    def receipts(self) -> dict[str, SignedCheckpoint]:
        return {org: parse_checkpoint(text)
                for org, text in self.data.get("receipts", {}).items()}  # fmt: skip

    def seen(self, size: int) -> SignedCheckpoint | None:
        text = self.data.get("seen", {}).get(str(size))
        return parse_checkpoint(text) if text else None

    def kept(self) -> SignedCheckpoint | None:
        text = self.data.get("checkpoint")
        return parse_checkpoint(text) if text else None

    def evidence(self, what: str, *checkpoints: str) -> Path:
        """Write the log-signed checkpoints that contradict each other (or what the client
        found against one) to a file anyone can check with ``verify-proof``; its path."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        path = self.directory / f"evidence-{stamp}.json"
        document = {"format": EVIDENCE_FORMAT, "service": self.url,
                    "ledger": self.data.get("ledger"), "log_key": self.data.get("log_key"),
                    "claim": what, "checkpoints": list(checkpoints)}  # fmt: skip
        self._write(path, json.dumps(document, indent=2) + "\n")
        return path

    def _save(self) -> None:
        self._write(self.path, json.dumps(self.data, indent=2, sort_keys=True))

    def _write(self, path: Path, text: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = path.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)


class RemoteEventStore:
    """The event store behind a chainledger service (see the module's notes)."""

    keeps_tree = False  # the service's tree is checked through its signed checkpoints

    def known_ledger_id(self) -> str | None:
        """The ledger pinned on first contact (every genesis read is checked against it)."""
        return str(self.witness.data["ledger"]) if self.witness.pinned else None

    def __init__(self, url: str, state_dir: Path) -> None:
        self.url = url.rstrip("/")
        self.location = self.url
        self.rows = RemoteRows(self)
        self.tree = RemoteTree(self)
        self.imported = RemoteImported(self)
        self.witness = Witness(state_dir, self.url)
        self.http = Http(self.url)
        self.claim: Claim | None = None
        self._log: tuple[str, bytes] | None = None
        self.steps: list[dict[str, Any]] = []  # run here since the last append
        self._consistent: set[tuple[int, int, bytes]] = set()  # (kept, larger, its root) proven

    # -- talking to the service -----------------------------------------------------------

    def get(self, path: str, **query: Any) -> dict[str, Any]:
        target = path + (f"?{urllib.parse.urlencode(query)}" if query else "")
        return self._ask("GET", target, None)

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._ask("POST", path, json.dumps(body).encode())

    def _ask(self, method: str, path: str, data: bytes | None) -> dict[str, Any]:
        try:
            status, body = self.http.exchange(method, path, data)
        except OSError as error:
            reason = getattr(error, "reason", error)
            raise LedgerUnavailable(f"cannot reach the ledger service at {self.url}: "
                                    f"{reason}") from None  # fmt: skip
        if status != 200:
            reason = _reason(status, body)
            if status == 409:
                raise Conflict(reason) from None
            if status in (400, 403, 404):
                raise Refused(reason) from None  # the service's own one-line refusal
            raise LedgerUnavailable(f"the ledger service at {self.url} failed: {reason}") from None
        if len(body) > MAX_ANSWER:
            raise LedgerUnavailable(f"the ledger service at {self.url} answered too much")
        try:
            value = json.loads(body)
        except (ValueError, RecursionError):
            raise LedgerUnavailable(f"the ledger service at {self.url} did not answer in "
                                    "JSON: is it a chainledger service?") from None  # fmt: skip
        if not isinstance(value, dict):
            raise LedgerUnavailable(f"the ledger service at {self.url} answered nonsense")
        return value

    def log_key(self) -> tuple[str, bytes]:
        """The pinned (name, public key) of the service's log, pinned on first contact."""
        if self._log is None:
            if not self.witness.pinned:
                described = self.get("/v1/log")
                try:
                    UUID(str(described["ledger"]))
                    parse_verifier_key(str(described["log_key"]))
                except (KeyError, ValueError, InvalidValue):
                    raise LedgerUnavailable(f"the ledger service at {self.url} does not say "
                                            "which ledger and log key it serves") from None  # fmt: skip
                self.witness.pin(str(described["ledger"]), str(described["log_key"]))
            self._log = parse_verifier_key(self.witness.data["log_key"])
        return self._log

    def signed(self, answer: dict[str, Any]) -> tuple[SignedCheckpoint, list[StoredRow]]:
        """An answer's checkpoint, checked against what this client verified before, and its
        rows (not yet verified: the reader does that)."""
        name, public_key = self.log_key()
        try:
            checkpoint = parse_checkpoint(str(answer["checkpoint"]))
            rows = [StoredRow(int(r["id"]), UUID(r["aggregate"]), int(r["version"]),
                              str(r["topic"]), base64.b64decode(r["state"], validate=True))
                    for r in answer["rows"]]  # fmt: skip
        except (KeyError, TypeError, ValueError, InvalidValue) as error:
            raise LedgerUnavailable(f"the ledger service at {self.url} answered with data "
                                    f"that cannot be read ({error})") from None  # fmt: skip
        ledger = self.witness.data["ledger"]
        if checkpoint.checkpoint.origin != f"{ORIGIN_PREFIX}{ledger}" or not \
                checkpoint.verified_by(name, public_key, verify):  # fmt: skip
            raise SecurityError(
                f"the ledger service at {self.url} answered with a checkpoint its log key did "
                f"not sign for ledger {ledger}",
                self.witness.evidence("a checkpoint not signed by the pinned log key",
                                      checkpoint.text()),
            )
        # An older prefix of the log (rows read again by id) is checked row by row against
        # what this reader verified; a head the service says is current must not be behind
        # the one kept, nor another tree of the same size.
        self._against_kept(checkpoint, current=answer.get("current") is True)
        for row in rows:  # the genesis names the ledger: the one pinned, no other
            if row.originator_id == LEDGER_AGGREGATE_ID and row.originator_version == 1:
                self._genesis_is_pinned(row, ledger, checkpoint)
        return checkpoint, rows

    def _genesis_is_pinned(self, row: StoredRow, ledger: str,
                           checkpoint: SignedCheckpoint) -> None:  # fmt: skip
        try:
            named = json.loads(split_state(row.state)[1])["ledger"]
        except (ValueError, KeyError, TypeError, RecursionError):
            named = None
        if named != ledger:
            raise SecurityError(
                f"the ledger service at {self.url} serves the genesis of ledger {named}, not "
                f"of ledger {ledger}, which it named when you first contacted it",
                self.witness.evidence(f"a genesis of another ledger ({named})",
                                      checkpoint.text()),
            )

    def _against_kept(self, checkpoint: SignedCheckpoint, *, current: bool) -> None:
        seen = self.witness.seen(checkpoint.checkpoint.size)
        if seen is not None:
            self._one_root_per_size(seen, checkpoint)
        for org, receipt in self.witness.receipts().items():
            if current:
                self._not_smaller(receipt, checkpoint,
                                  f"it recorded a step of {org}'s in a log of "
                                  f"{receipt.checkpoint.size}: it was rolled back, dropping "
                                  "what it acknowledged",
                                  f"rolled back: a smaller tree signed after {org}'s receipt")  # fmt: skip
            self._one_root_per_size(receipt, checkpoint, f" ({org}'s receipt and another)")
        kept = self.witness.kept()
        if kept is not None:
            if current:
                self._not_smaller(kept, checkpoint,
                                  f"you verified {kept.checkpoint.size} before: it was rolled back",
                                  "rolled back: a smaller tree signed after a larger one")  # fmt: skip
            self._one_root_per_size(kept, checkpoint)
            if checkpoint.checkpoint.size > kept.checkpoint.size:
                self._extends(kept, checkpoint)
        if current:  # remembered only once it contradicts nothing kept
            self.witness.see(checkpoint)

    def _one_root_per_size(self, earlier: SignedCheckpoint, checkpoint: SignedCheckpoint,
                           whose: str = "") -> None:  # fmt: skip
        """Two trees of one size signed by the service are a fork."""
        old, new = earlier.checkpoint, checkpoint.checkpoint
        if new.size == old.size and new.root != old.root:
            raise SecurityError(
                f"the ledger service at {self.url} signs two different logs of {new.size} "
                "events: it forked its history",
                self.witness.evidence(f"forked: two roots signed for one size{whose}",
                                      earlier.text(), checkpoint.text()),
            )

    def _not_smaller(self, earlier: SignedCheckpoint, checkpoint: SignedCheckpoint, why: str,
                     claim: str) -> None:  # fmt: skip
        """A current tree smaller than one the service signed before is a rollback."""
        if checkpoint.checkpoint.size < earlier.checkpoint.size:
            raise SecurityError(
                f"the ledger service at {self.url} now signs a log of "
                f"{checkpoint.checkpoint.size} events, but {why}",
                self.witness.evidence(claim, earlier.text(), checkpoint.text()),
            )

    def _extends(self, kept: SignedCheckpoint, checkpoint: SignedCheckpoint) -> None:
        """The service proves that its larger tree extends the one this client verified
        (a consistency proof, checked here), once per tree in a command: a history that
        does not extend it is a fork, even before the client reads its rows."""
        old, new = kept.checkpoint, checkpoint.checkpoint
        if (old.size, new.size, new.root) in self._consistent:
            return
        proof = self.tree.prove_consistency(None, old.size, new.size)
        if not verify_consistency(old.size, new.size, old.root, new.root, proof):
            raise SecurityError(
                f"the ledger service at {self.url} signs a log of {new.size} events that does "
                f"not extend the log of {old.size} events you verified: it forked its history",
                self.witness.evidence("forked: a larger tree that does not extend the one "
                                      "verified", kept.text(), checkpoint.text()),
            )
        self._consistent.add((old.size, new.size, new.root))

    # -- the event store --------------------------------------------------------------------

    def append(self, events: Any) -> None:
        """Send the steps run since the last append, with the events they made and signed
        here; the service runs them again and records exactly these events, or nothing."""
        steps, self.steps = self.steps, []
        self.rows.forget()
        if not steps:
            raise Refused(
                f"this cannot be recorded through a ledger service yet ({self.url}): do it on "
                "the service's machine"
            )
        body = {"steps": steps,
                "events": [base64.b64encode(stored_state(e)).decode("ascii") for e in events]}  # fmt: skip
        answer = self.post("/v1/steps", body)
        try:
            positions = [int(p) for p in answer["positions"]]
        except (KeyError, TypeError, ValueError):
            raise LedgerUnavailable(f"the ledger service at {self.url} did not say where it "
                                    "recorded the events") from None  # fmt: skip
        if len(positions) != len(events):
            raise LedgerUnavailable(f"the ledger service at {self.url} recorded {len(positions)} "
                                    f"of {len(events)} events")  # fmt: skip
        checkpoint, _ = self.signed({**answer, "rows": []})
        for org in sorted({str(step.get("org")) for step in steps}):
            self.witness.receive(org, checkpoint)
        head = answer.get("position")
        if type(head) is not int or any(
            not 0 < p <= head for p in positions
        ) or positions != sorted(set(positions)):
            raise SecurityError(
                f"the ledger service at {self.url} says it recorded the events at positions "
                f"{positions[:3]}… that its signed head (ending at {head}) does not hold",
                self.witness.evidence("positions outside the signed head", checkpoint.text()),
            )
        for event, position in zip(events, positions, strict=True):
            located(event, position)

    def transaction(self, *, commit: bool = False) -> Any:
        """No database here: what needs one (the stored tree, imported events, the audit's
        own reading) is refused plainly, not attempted."""
        return nullcontext(NoDatabase(self.url))

    def note_step(self, step: dict[str, Any]) -> None:
        self.steps.append(step)

    def drop_step(self, step: dict[str, Any]) -> None:
        if step in self.steps:
            self.steps.remove(step)

    def max_position(self) -> int:
        """Where the log ends: as the service says now, or, while records read earlier in
        this command are used, where it ended when the first of them was read."""
        if self.rows.floor is not None:
            return self.rows.floor
        position = self.get("/health").get("position", 0)
        if type(position) is not int or position < 0:
            raise LedgerUnavailable(f"the ledger service at {self.url} gave no position")
        return position

    def confirm(self, head: Any) -> None:
        """The reader verified the rows up to ``head``: if that is where the service's last
        signed checkpoint ends, the two trees must be one; then it is kept."""
        claim, self.claim = self.claim, None
        if claim is None or head is None or head.position != claim.position:
            return
        signed = claim.checkpoint.checkpoint
        if (head.size, head.root) != (signed.size, signed.root):
            raise SecurityError(
                f"the ledger service at {self.url} signed a tree of {signed.size} events that "
                f"is not the tree of the {head.size} events it served you (up to event "
                f"#{head.position}): it served altered, dropped or added events",
                self.witness.evidence(
                    f"served events whose tree is {head.root.hex()} at size {head.size}",
                    claim.checkpoint.text()),
            )
        kept = self.witness.kept()
        if kept is None or signed.size >= kept.checkpoint.size:
            self.witness.keep(claim.checkpoint)

    def close(self) -> None:
        """Close the connection to the service."""
        self.http.close()


class RemoteTree:
    """The service's Merkle tree, read through it (``merkle_store``'s reads, the session
    ignored). Nothing here is trusted: callers check each root and proof against the tree
    the reader computed itself."""

    def __init__(self, store: RemoteEventStore) -> None:
        self.store = store

    def _read(self, name: str, *args: Any) -> Any:
        answer = self.store.get(f"/v1/tree/{name}", args=json.dumps(list(args)))
        if "result" not in answer:
            raise LedgerUnavailable(f"the ledger service at {self.store.url} did not answer")
        return answer["result"]

    def stored_size(self, session: Any) -> tuple[int, int]:
        size, position = self._read("stored_size")
        return int(size), int(position)

    def root_at(self, session: Any, size: int) -> bytes:
        return _bytes(self._read("root_at", size))

    def leaf_of(self, session: Any, notification_id: int) -> tuple[int, bytes] | None:
        found = self._read("leaf_of", notification_id)
        return None if found is None else (int(found[0]), _bytes(found[1]))

    def prove_inclusion(self, session: Any, index: int, size: int) -> list[bytes]:
        return [_bytes(h) for h in self._read("prove_inclusion", index, size)]

    def prove_inclusions(self, session: Any, indexes: Any, size: int) -> dict[int, list[bytes]]:
        return {int(i): [_bytes(h) for h in path]
                for i, path in self._read("prove_inclusions", list(indexes), size)}  # fmt: skip

    def leaf_indexes(self, session: Any, notification_ids: Any) -> dict[int, int]:
        return {int(n): int(i) for n, i in self._read("leaf_indexes", list(notification_ids))}

    def prove_consistency(self, session: Any, old: int, new: int) -> list[bytes]:
        return [_bytes(h) for h in self._read("prove_consistency", old, new)]

    def head_at(self, session: Any, position: int) -> Any:
        from chainledger.adapters.merkle_store import TreeHead

        size, root, last = self._read("head_at", position)
        return TreeHead(int(size), _bytes(root), int(last))


def _bytes(text: Any) -> bytes:
    try:
        return base64.b64decode(str(text), validate=True)
    except ValueError:
        raise LedgerUnavailable("the ledger service sent a hash that is not base64") from None


class RemoteImported:
    """The events the service's ledger imported from other ledgers, read through it, and
    bundles sent for it to import. Nothing read is trusted: the reader checks every event
    again (signatures, keys, versions, hash chains), as it does on its own database."""

    def __init__(self, store: RemoteEventStore) -> None:
        self.store = store
        self._held: tuple[list[Any], list[Any]] | None = None

    def _read(self) -> tuple[list[Any], list[Any]]:
        from chainledger.adapters.imported_store import HeldEvent, HeldLedger

        if self._held is None:
            answer = self.store.get("/v1/imported")
            try:
                held = [HeldLedger(str(e["ledger_id"]), str(e["name"]), int(e["size"]),
                                   _bytes(e["root"]), str(e["checkpoint"]), str(e["signer"]),
                                   str(e["updated_at"]))
                        for e in answer["ledgers"]]  # fmt: skip
                events = [HeldEvent(str(e["ledger_id"]), int(e["position"]),
                                    str(UUID(e["aggregate_id"])), int(e["version"]),
                                    str(e["topic"]), _bytes(e["state"]),
                                    None if e["package"] is None else str(e["package"]))
                          for e in answer["events"]]  # fmt: skip
            except (KeyError, TypeError, ValueError, AttributeError):
                raise LedgerUnavailable(f"the ledger service at {self.store.url} answered with "
                                        "imported events that cannot be read") from None  # fmt: skip
            # How many events are held from each ledger, and of which packages, are counted
            # from the events given (those the reader checks), not taken from the service.
            ledgers = [(h, sum(1 for e in events if e.ledger_id == h.ledger_id),
                        sorted({e.package for e in events
                                if e.ledger_id == h.ledger_id and e.package is not None}))
                       for h in held]  # fmt: skip
            self._held = (ledgers, events)
        return self._held

    def ledgers(self) -> list[Any]:
        return self._read()[0]

    def package_events(self, package: str) -> list[Any]:
        held = [e for e in self._read()[1] if e.package == package]
        return sorted(held, key=lambda e: (e.ledger_id, e.position))

    def all_events(self, ledger_id: str) -> list[Any]:
        return sorted((e for e in self._read()[1] if e.ledger_id == ledger_id),
                      key=lambda e: e.position)  # fmt: skip

    def submit(self, document: dict[str, Any]) -> dict[str, Any]:
        """Send the bundle (checked here already) for the service to check and keep."""
        self._held = None
        return self.store.post("/v1/imports", document)


class NoDatabase:
    """Stands where a database session would be, for a command that needs one."""

    def __init__(self, url: str) -> None:
        self._url = url

    def __getattr__(self, name: str) -> Any:
        raise Refused(
            f"this command reads the ledger's database itself, which only the service at "
            f"{self._url} holds: run it on the service's machine (through a service it is "
            "not available yet)"
        )


class RemoteRows:
    """The reads the ledger core makes, as requests to the service."""

    def __init__(self, store: RemoteEventStore) -> None:
        self.store = store
        self._all: list[StoredRow] | None = None
        self._all_claim: Claim | None = None
        # Each record as read in this command, until it records something or the reader
        # verifies newer events (the newest event of a record verified here must be in the
        # record loaded): a step loads the same records (its signers' organisations above
        # all) many times, and a record read once is as good as one read again (the service
        # runs the step again on the records as they are when it arrives: a record changed
        # meanwhile is a conflict).
        self._records: dict[UUID, list[StoredRow]] = {}
        # The log's position when the earliest of those was read: what the ledger is known
        # to hold "now" while they are used (``RemoteEventStore.max_position``), so that no
        # record is taken to know more than was recorded when it was read.
        self.floor: int | None = None

    def forget(self) -> None:
        """Records change when something is recorded: read them afresh after."""
        self._records.clear()
        self.floor = None

    def _record(self, aggregate_id: UUID) -> list[StoredRow]:
        if aggregate_id not in self._records:
            answer = self.store.get(f"/v1/records/{aggregate_id}")
            _, rows = self.store.signed(answer)
            position = answer.get("position")
            if type(position) is not int or position < 0:
                raise LedgerUnavailable(f"the ledger service at {self.store.url} did not say "
                                        "where its log ends")  # fmt: skip
            self._records[aggregate_id] = [r for r in rows if r.originator_id == aggregate_id]
            self.floor = position if self.floor is None else min(self.floor, position)
        return self._records[aggregate_id]

    def aggregate(self, aggregate_id: UUID) -> list[tuple[int, int, str, bytes]]:
        rows = sorted(self._record(aggregate_id), key=lambda row: row.originator_version)
        return [(row.id, row.originator_version, row.topic, row.state) for row in rows]

    def exists(self, aggregate_id: UUID) -> bool:
        return bool(self._record(aggregate_id))

    def notification_id(self, aggregate_id: UUID, version: int) -> int | None:
        for row in self._record(aggregate_id):
            if row.originator_version == version:
                return row.id
        return None

    def notifications(self, session: Any, start: int, limit: int) -> list[StoredRow]:
        answer = self.store.get("/v1/rows", start=start, limit=limit)
        checkpoint, rows = self.store.signed(answer)
        try:
            position = int(answer["position"])
        except (KeyError, TypeError, ValueError):
            raise LedgerUnavailable("the ledger service did not say where its checkpoint "
                                    "ends") from None  # fmt: skip
        if rows and rows[-1].id != position:
            raise SecurityError(f"the ledger service at {self.store.url} signed a checkpoint "
                                "that does not end with the rows it gave")  # fmt: skip
        if not rows and answer.get("current") is not True:
            raise SecurityError(f"the ledger service at {self.store.url} gave no more rows but "
                                "did not sign the log's current head")  # fmt: skip
        self.store.claim = Claim(checkpoint, position)
        if rows:  # the reader verifies newer events: a record read before may be behind them
            self.forget()
        return rows

    def rows_at(self, session: Any, ids: Any) -> list[StoredRow]:
        found = []
        for nid in sorted(set(ids)):
            _, rows = self.store.signed(self.store.get("/v1/rows", start=nid, limit=1))
            found += [row for row in rows if row.id == nid]
        return found

    # -- the whole log, for the audit ------------------------------------------------------

    def _everything(self) -> list[StoredRow]:
        """Every row, in order, read once; the checkpoint signed for the last is kept."""
        if self._all is None:
            rows: list[StoredRow] = []
            start = 1
            while True:
                answer = self.store.get("/v1/rows", start=start, limit=5000)
                checkpoint, page = self.store.signed(answer)
                if not page:
                    break
                rows += page
                self._all_claim = Claim(checkpoint, page[-1].id)
                start = page[-1].id + 1
            self._all = rows
        return self._all

    def ranges(self, size: int) -> tuple[list[tuple[int, int]], int]:
        rows = self._everything()
        return ([(rows[i].id, rows[min(i + size, len(rows)) - 1].id)
                 for i in range(0, len(rows), size)], len(rows))  # fmt: skip

    def range(self, first: int, last: int) -> list[tuple[int, UUID, int, str, bytes]]:
        return [(r.id, r.originator_id, r.originator_version, r.topic, r.state)
                for r in self._everything() if first <= r.id <= last]  # fmt: skip

    def of_types(self, topics: Any) -> list[tuple[int, UUID, int, str, bytes]]:
        wanted = set(topics)
        return [(r.id, r.originator_id, r.originator_version, r.topic, r.state)
                for r in self._everything() if r.topic in wanted]  # fmt: skip

    def tree_problems(self, size: int, root: bytes) -> list[str]:
        """Whether the tree computed from every row read is the one the service signed for
        them (empty: it is)."""
        claim = self._all_claim
        if claim is None:
            return [] if size == 0 else ["the service signed no tree for the rows it gave"]
        signed = claim.checkpoint.checkpoint
        if (signed.size, signed.root) == (size, root):
            return []
        evidence = self.store.witness.evidence(
            f"served events whose tree is {root.hex()} at size {size}", claim.checkpoint.text())
        return [f"SECURITY: the service signed a tree of {signed.size} events that is not the "
                f"tree of the {size} events it gave (evidence: {evidence})"]

    def rows_of(self, session: Any, aggregate_ids: Any) -> list[StoredRow]:
        found = [row for a in set(aggregate_ids) for row in self._record(a)]
        return sorted(found, key=lambda row: row.id)


def _reason(status: int, body: bytes) -> str:
    try:
        return str(json.loads(body[: 64 * 1024])["error"])
    except (ValueError, KeyError, TypeError, RecursionError):
        return f"HTTP {status}"


_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy")


class Http:
    """Requests to one service over one connection, kept alive between the requests of a
    command (a command makes several: one connection each cost a TCP, and for https a
    TLS, handshake apiece). A configured proxy (``https_proxy``…) is honoured through
    ``urllib``, which knows proxies, with a connection per request."""

    def __init__(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        self.https = parts.scheme == "https"
        self.host = parts.hostname or ""
        self.port = parts.port
        self.base = url.rstrip("/")
        self.prefix = parts.path.rstrip("/")
        self._connection: Any = None
        self._used = False  # whether the open connection served a request already
        self.proxied = any(os.environ.get(name) or os.environ.get(name.upper())
                           for name in _PROXY_VARIABLES)  # fmt: skip

    def exchange(self, method: str, path: str, data: bytes | None) -> tuple[int, bytes]:
        """(status, body) of one request; the body is read up to ``MAX_ANSWER`` + 1 bytes."""
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if self.proxied:
            return self._through_urllib(method, path, data, headers)
        # A kept-alive connection the service has since closed fails on its next request;
        # a read is sent again on a new connection, a write always goes on a fresh one
        # (so that a step is never sent twice).
        if method != "GET" and self._used:
            self.close()
        for attempt in (0, 1):
            reused = self._used
            connection = self._connect()
            try:
                connection.request(method, self.prefix + path, body=data, headers=headers)
                response = connection.getresponse()
                body = response.read(MAX_ANSWER + 1)
            except OSError as error:
                self.close()
                if reused and attempt == 0 and method == "GET" and _dropped(error):
                    continue
                raise
            self._used = True
            if response.will_close or len(body) > MAX_ANSWER:
                self.close()
            return response.status, body
        raise AssertionError("unreachable")  # pragma: no cover

    def _connect(self) -> Any:
        if self._connection is None:
            import http.client

            if self.https:
                import ssl

                self._connection = http.client.HTTPSConnection(
                    self.host, self.port, timeout=TIMEOUT, context=ssl.create_default_context()
                )
            else:
                self._connection = http.client.HTTPConnection(self.host, self.port,
                                                              timeout=TIMEOUT)  # fmt: skip
            self._used = False
        return self._connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        self._used = False

    def _through_urllib(self, method: str, path: str, data: bytes | None,
                        headers: dict[str, str]) -> tuple[int, bytes]:  # fmt: skip
        import urllib.error
        import urllib.request

        request = urllib.request.Request(f"{self.base}{path}", data=data, method=method,  # noqa: S310 - is_remote: http(s) only
                                         headers=headers)  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:  # noqa: S310 - http(s) only
                return answer.status, answer.read(MAX_ANSWER + 1)
        except urllib.error.HTTPError as error:
            return error.code, error.read(64 * 1024)
        except urllib.error.URLError as error:
            raise OSError(error.reason) from None


def _dropped(error: OSError) -> bool:
    """Whether ``error`` is a kept-alive connection the other side had closed."""
    import http.client

    return isinstance(error, http.client.RemoteDisconnected | ConnectionResetError
                      | BrokenPipeError | ConnectionAbortedError)
