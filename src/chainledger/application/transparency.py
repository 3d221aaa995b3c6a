"""Use cases of the tamper-evident log: checkpoints, and proofs anyone can check offline.

The tree itself is kept by ``merkle_store`` as
events are recorded; these read it, sign tree heads, and package proofs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from chainledger.adapters import merkle_store
from chainledger.adapters.crypto import Ed25519Signer, verify
from chainledger.application.proofs import CONSISTENCY, INCLUSION, b64
from chainledger.domain.checkpoint import (
    Checkpoint,
    SignedCheckpoint,
    sign_checkpoint,
    verifier_key,
)
from chainledger.domain.events import UNSIGNED, split_state
from chainledger.domain.ids import organisation_id
from chainledger.domain.keys import key_fingerprint
from chainledger.domain.merkle import edge_root, leaf_hash, verify_consistency, verify_inclusion
from chainledger.errors import InvalidValue, NotFound, ProofFailed, TamperError

if TYPE_CHECKING:
    from chainledger.application.ports import LedgerPort


class Transparency:
    """Checkpoints, and proofs anyone can check offline."""

    def __init__(self, ledger: LedgerPort) -> None:
        self.ledger = ledger

    def tree_head(self) -> merkle_store.TreeHead:
        """The tree of every event this reader has verified, caught up now."""
        self.ledger.ledger_id  # noqa: B018 - refuse a database that holds no ledger
        self.ledger.catch_up(noting=False)
        return self.verified_head()

    def verified_head(self) -> merkle_store.TreeHead:
        """The tree of every event this reader has verified so far (no catch-up)."""
        head = self.ledger.projections.head()
        if head is None:
            return merkle_store.TreeHead(0, edge_root([]), 0)
        return merkle_store.TreeHead(head.size, head.root, head.position)

    def checkpoint(
        self, signer: Ed25519Signer, head: merkle_store.TreeHead | None = None
    ) -> SignedCheckpoint:
        """The tree head this reader verified (or ``head``), signed by ``signer``'s
        organisation."""
        head = head or self.tree_head()
        return sign_checkpoint(
            Checkpoint(self.ledger.ledger_id, head.size, head.root),
            signer.org,
            signer.public_key,
            signer.sign,
        )

    def keep_checkpoint(
        self, signer: Ed25519Signer, deliver: Callable[[SignedCheckpoint], None]
    ) -> tuple[SignedCheckpoint, str]:
        """A checkpoint of the tree this reader verified, signed by ``signer`` and handed to
        ``deliver`` (which writes it out), and what was verified for it. It counts as the
        signer's last checkpoint here only once ``deliver`` returns.

        Refuses to sign over a row that did not verify since the signer's last
        checkpoint signed here, and over a stored tree that is not the tree verified
        (proofs come from the stored tree).
        """
        head = self._proven_head()
        last = self.ledger.projections.last_checkpoint(signer.org)
        since, since_position = last or (0, 0)
        with self.ledger.projections.session() as session:
            rejected = [r for r in self.ledger.projections.rejections(session)
                        if r.nid > since_position]  # fmt: skip
        if rejected:
            more = f" (and {len(rejected) - 1} more)" if len(rejected) > 1 else ""
            raise TamperError(
                f"not signing: since {signer.org}'s last checkpoint here ({since} events) the "
                f"ledger took a row that does not verify: {rejected[0].describe()}{more}"
            )
        signed = self.checkpoint(signer, head)
        deliver(signed)
        self.ledger.projections.record_checkpoint(signer.org, head)
        if last is None:
            verified = f"verified all {head.size} events of the ledger"
        else:
            verified = (f"verified the {head.size - since} events since {signer.org}'s last "
                        f"checkpoint here ({since} events)")  # fmt: skip
        return signed, verified

    def _stored_event(self, notification_id: int) -> tuple[int, list[Any]]:
        """(leaf index, [row]) of event ``notification_id`` as the ledger stores it."""
        with self.ledger.transaction(commit=False) as session:
            leaf = self.ledger.tree.leaf_of(session, notification_id)
            rows = self.ledger.notifications(session, notification_id, 1)
        if leaf is None:
            if rows and rows[0].id == notification_id:
                raise TamperError(f"event #{notification_id} is in the log but the ledger's "
                                  "stored Merkle tree does not list it: run chainledger audit "
                                  "verify")  # fmt: skip
            raise NotFound(f"no event #{notification_id} in this ledger")
        if not rows or rows[0].id != notification_id:
            raise TamperError(f"event #{notification_id} is in the Merkle tree but not in the log")
        return leaf[0], rows

    def _proven_head(self) -> merkle_store.TreeHead:
        """The verified tree head, caught up now, once the ledger's stored tree (which
        proofs come from) is found to be that tree: the same size, ending at the same
        event, with the same root. A stored tree ahead of it is caught up with once (an
        event may have been recorded in between); any other difference is refused.
        """
        for attempt in range(2):
            head = self.tree_head()
            with self.ledger.transaction(commit=False) as session:
                size, position = self.ledger.tree.stored_size(session)
                try:
                    root = self.ledger.tree.root_at(session, head.size) if size >= head.size else b""
                except NotFound:
                    root = b""
            if (size, position, root) == (head.size, head.position, head.root):
                return head
            if size > head.size and attempt == 0:
                continue
            found = (f"{size} events" if root == head.root
                     else f"{size} events, another root at {head.size}")  # fmt: skip
            raise TamperError(
                f"the ledger's stored Merkle tree ({found}) is not the tree of the {head.size} "
                "events you verified, so what it proves would not be what you verified (see "
                "what with: chainledger audit verify)"
            )
        raise AssertionError("unreachable")  # pragma: no cover

    def checkpoint_signer(self, signed: SignedCheckpoint) -> tuple[str, str]:
        """(handle, key id) of an organisation of this ledger whose key signed ``signed``."""
        if signed.checkpoint.ledger_id != self.ledger.ledger_id:
            raise ProofFailed(
                f"the checkpoint is for ledger {signed.checkpoint.ledger_id}, "
                f"not this one ({self.ledger.ledger_id})"
            )
        for signature in signed.signatures:
            try:
                organisation = self.ledger.organisation_record(signature.name)
            except (NotFound, InvalidValue):
                continue
            for key in organisation.keys.values():
                if signed.verified_by(signature.name, key.public_key, verify):
                    return signature.name, key.key_id
        names = ", ".join(s.name for s in signed.signatures) or "nobody"
        raise ProofFailed(
            f"the checkpoint's signature ({names}) is not by a key of an organisation in this ledger"
        )

    def _signer_entry(self, signer: Ed25519Signer) -> dict[str, str]:
        return {
            "org": signer.org,
            "key": signer.key_id,
            "verifier_key": verifier_key(signer.org, signer.public_key),
        }

    def inclusion_bundle(
        self, notification_id: int, signer: Ed25519Signer
    ) -> dict[str, Any]:
        """An event, its signer's key, its audit path and a checkpoint signed by ``signer``."""
        try:
            head = self._proven_head()
        except TamperError:
            self._stored_event(notification_id)  # a more precise refusal, if there is one
            raise
        index, rows = self._stored_event(notification_id)
        with self.ledger.transaction(commit=False) as session:
            if index >= head.size:
                raise NotFound(f"event #{notification_id} is newer than what you verified")
            path = self.ledger.tree.prove_inclusion(session, index, head.size)
        row = rows[0]
        self.ledger.projections.checked(rows)
        if not verify_inclusion(index, head.size, leaf_hash(row.state), path, head.root):
            raise TamperError(
                f"the ledger's stored Merkle tree does not prove event #{notification_id} in the "
                "tree you verified: run chainledger audit verify"
            )
        state = row.state
        signature, content = split_state(state)
        bundle: dict[str, Any] = {
            "format": INCLUSION,
            "ledger": str(self.ledger.ledger_id),
            "event": {
                "notification_id": notification_id,
                "aggregate": str(row.originator_id),
                "version": row.originator_version,
                "type": row.topic,
                "state": b64(state),
            },
            "proof": {"leaf_index": index, "tree_size": head.size, "path": [b64(p) for p in path]},
            "checkpoint": self.checkpoint(signer, head).text(),
            "checkpoint_signer": self._signer_entry(signer),
        }
        if signature != UNSIGNED:
            envelope = json.loads(content)
            organisation = self.ledger.load(organisation_id(envelope["org"]))
            key = organisation.keys.get(envelope["key"])
            if key is None:
                raise TamperError(f"event #{notification_id} names a key its signer never had")
            bundle["event_signer"] = {
                "org": envelope["org"],
                "key": key_fingerprint(key.public_key),
                "public_key": b64(key.public_key),
            }
            if self.ledger.registry.has_registrar():
                bundle["vouched"] = self._vouching(envelope["org"], head)
        return bundle

    def _vouching(self, org: str, head: merkle_store.TreeHead) -> list[dict[str, Any]]:
        """Who vouched for ``org``, as events proven in the same tree: the genesis (naming the
        first registrar), then each endorsement (and appointment) up from ``org`` to it."""
        wanted: list[int] = []
        seen: set[str] = set()
        todo = [org]
        root = self.ledger.registry.genesis().registrar
        while todo:
            handle = todo.pop()
            if handle in seen:
                continue
            seen.add(handle)
            organisation = self.ledger.organisation_record(handle)
            endorsement = organisation.endorsement
            if endorsement is None or endorsement.position is None:
                raise NotFound(f"{handle} is not endorsed: nobody vouched for its key")
            wanted.append(endorsement.position)
            if handle != root and organisation.registrar_spans and handle != org:
                start = organisation.registrar_spans[-1][0]
                if start is not None:
                    wanted.append(start)
            if handle != org:  # a registrar: its key changes lead from the key vouched for
                first = min(k.from_position or 0 for k in organisation.keys.values())
                wanted += [k.from_position for k in organisation.keys.values()
                           if k.from_position is not None and k.from_position != first
                           and k.from_position <= head.position]  # fmt: skip
            if endorsement.registrar != handle:
                todo.append(endorsement.registrar)
        entries: list[dict[str, Any]] = []
        with self.ledger.transaction(commit=False) as session:
            genesis_rows = self.ledger.notifications(session, 1, 1)
            rows = [*genesis_rows[:1], *(row for nid in sorted(set(wanted))
                                         for row in self.ledger.notifications(session, nid, 1)
                                         if row.id == nid)]  # fmt: skip
            self.ledger.projections.checked(rows)
            indexes = self.ledger.tree.leaf_indexes(session, [row.id for row in rows])
            for row in rows:
                index = indexes[row.id]
                path = self.ledger.tree.prove_inclusion(session, index, head.size)
                entry: dict[str, Any] = {"state": b64(row.state), "leaf_index": index,
                                         "path": [b64(p) for p in path]}  # fmt: skip
                signature, content = split_state(row.state)
                if signature != UNSIGNED:
                    envelope = json.loads(content)
                    signer = self.ledger.organisation_record(envelope["org"]).keys[envelope["key"]]
                    entry["public_key"] = b64(signer.public_key)
                entries.append(entry)
        return entries

    def consistency_bundle(
        self,
        old_size: int,
        signer: Ed25519Signer,
        *,
        new_size: int | None = None,
        expected: Sequence[tuple[int, bytes]] = (),
        old_checkpoint: SignedCheckpoint | None = None,
    ) -> dict[str, Any]:
        """A proof that the tree of ``new_size`` (default: now) extends the tree of
        ``old_size``, with a checkpoint of the newer one signed by ``signer``.

        ``expected`` holds (size, root) of the caller's checkpoints: the ledger's
        tree at each size must have that root, or this ledger is not the one
        those checkpoints were signed for. ``old_checkpoint``, the checkpoint OLD
        came from, goes into the bundle with its signer's key, so that a checker
        sees who vouched for the old tree head too.
        """
        head = self.tree_head()
        with self.ledger.transaction(commit=False) as session:
            size = head.size if new_size is None else new_size
            if not 0 < old_size <= size <= head.size:
                raise InvalidValue(
                    f"sizes must satisfy 0 < old ≤ new ≤ {head.size} (the ledger's size); "
                    f"got {old_size} and {size}"
                )
            old_root = self.ledger.tree.root_at(session, old_size)
            new_root = self.ledger.tree.root_at(session, size)
            proof = self.ledger.tree.prove_consistency(session, old_size, size)
            # The stored tree must be the verified one: its root at the verified size, and
            # the tree of ``size`` a prefix of it.
            verified_root = self.ledger.tree.root_at(session, head.size)
            to_verified = (self.ledger.tree.prove_consistency(session, size, head.size)
                           if size < head.size else [])  # fmt: skip
        if verified_root != head.root or (
            size < head.size
            and not verify_consistency(size, head.size, new_root, head.root, to_verified)
        ):
            raise TamperError(
                "the ledger's stored Merkle tree is not the tree of the events you verified: "
                "run chainledger audit verify"
            )
        for at, root in expected:
            if {old_size: old_root, size: new_root}.get(at) != root:
                raise ProofFailed(
                    f"this ledger's first {at} events are not the ones the checkpoint of {at} "
                    "events signed: history was rewritten, reordered or removed"
                )
        new_head = merkle_store.TreeHead(size, new_root, 0)
        old: dict[str, Any] = {"size": old_size, "root": b64(old_root)}
        if old_checkpoint is not None:
            handle, key_id = self.checkpoint_signer(old_checkpoint)
            public_key = self.ledger.organisation_record(handle).keys[key_id].public_key
            old["checkpoint"] = old_checkpoint.text()
            old["checkpoint_signer"] = {
                "org": handle,
                "key": key_id,
                "verifier_key": verifier_key(handle, public_key),
            }
        return {
            "format": CONSISTENCY,
            "ledger": str(self.ledger.ledger_id),
            "old": old,
            "proof": [b64(p) for p in proof],
            "checkpoint": self.checkpoint(signer, new_head).text(),
            "checkpoint_signer": self._signer_entry(signer),
        }
