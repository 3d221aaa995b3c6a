"""Proof bundles: what a party hands to anyone to show an event is in the ledger,
or that the ledger only grew between two checkpoints; and their offline check.

A bundle is one JSON document. Checking it needs nothing but the bundle and
the fingerprint of the key the checker trusts to have signed the checkpoint:
no ledger, no network.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from chainledger.adapters.crypto import verify
from chainledger.domain.checkpoint import (
    EVIDENCE_FORMAT,
    SignedCheckpoint,
    parse_checkpoint,
    parse_verifier_key,
)
from chainledger.domain.events import SIGNATURE_LENGTH, UNSIGNED, split_state
from chainledger.domain.ids import organisation_id
from chainledger.domain.keys import decode_key, key_fingerprint
from chainledger.domain.ledger import anchored_ledger_id
from chainledger.domain.merkle import leaf_hash, verify_consistency, verify_inclusion
from chainledger.errors import InvalidValue, ProofFailed

INCLUSION = "chainledger-inclusion-proof/1"
CONSISTENCY = "chainledger-consistency-proof/1"
MAX_BUNDLE = 16 * 1024 * 1024


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(value: Any, what: str) -> bytes:
    try:
        return base64.b64decode(str(value), validate=True)
    except (ValueError, binascii.Error):
        raise InvalidValue(f"{what} is not base64") from None


@dataclass(frozen=True)
class Verified:
    """What a bundle proved, in words."""

    kind: str
    lines: tuple[str, ...]


def load_bundle(text: str) -> dict[str, Any]:
    if len(text) > MAX_BUNDLE:
        raise InvalidValue("the file is too large to be a proof bundle")
    try:
        bundle = json.loads(text)
    except ValueError:
        raise InvalidValue("not a proof bundle: the file is not JSON") from None
    if not isinstance(bundle, dict) or bundle.get("format") not in (
        INCLUSION, CONSISTENCY, EVIDENCE_FORMAT):  # fmt: skip
        raise InvalidValue("not a chainledger proof bundle (no known 'format')")
    return bundle


def required_field(mapping: Any, key: str, kind: type, what: str) -> Any:
    value = mapping.get(key) if isinstance(mapping, dict) else None
    if not isinstance(value, kind) or isinstance(value, bool):
        raise InvalidValue(f"the bundle's {what} is missing or malformed")
    return value


def _checked_checkpoint(
    bundle: dict[str, Any], expected_signer: str
) -> tuple[SignedCheckpoint, str]:
    """The bundle's checkpoint, verified with its signer's key, which must be ``expected_signer``."""
    checkpoint = parse_checkpoint(required_field(bundle, "checkpoint", str, "checkpoint"))
    signer = required_field(bundle, "checkpoint_signer", dict, "checkpoint signer")
    name, public_key = parse_verifier_key(
        required_field(signer, "verifier_key", str, "verifier key")
    )
    fingerprint = key_fingerprint(public_key)
    if fingerprint != expected_signer.strip().lower():
        raise ProofFailed(
            f"the checkpoint was signed by {name} with key {fingerprint[:16]}…, "
            f"not with the key you expected ({expected_signer[:16]}…)"
        )
    if not checkpoint.verified_by(name, public_key, verify):
        raise ProofFailed(f"the checkpoint's signature by {name} does not verify")
    if str(checkpoint.checkpoint.ledger_id) != bundle.get("ledger"):
        raise ProofFailed("the checkpoint is for another ledger than the bundle says")
    return checkpoint, name


def verify_bundle(bundle: dict[str, Any], expected_signer: str) -> Verified:
    """Check a bundle offline; raises ``TamperError`` or ``InvalidValue`` if it proves nothing."""
    if bundle.get("format") == EVIDENCE_FORMAT:
        return _verify_evidence(bundle, expected_signer)
    signed, signer_name = _checked_checkpoint(bundle, expected_signer)
    head = signed.checkpoint
    said = f"checkpoint by {signer_name}: {head.size} events, root {head.root.hex()[:16]}…"
    if bundle["format"] == INCLUSION:
        return _verify_inclusion(bundle, head, said)
    return _verify_consistency(bundle, head, said)


def _verify_evidence(bundle: dict[str, Any], expected_signer: str) -> Verified:
    """A client's evidence against a ledger service: checkpoints its log key signed. Two of
    one size with different roots prove a fork by themselves; otherwise the file shows
    what the service signed, beside what the client says it found."""
    name, public_key = parse_verifier_key(required_field(bundle, "log_key", str, "log key"))
    fingerprint = key_fingerprint(public_key)
    if fingerprint != expected_signer.strip().lower():
        raise ProofFailed(f"the evidence is about log key {fingerprint[:16]}…, not the key you "
                          f"expected ({expected_signer[:16]}…)")  # fmt: skip
    texts = required_field(bundle, "checkpoints", list, "checkpoints")
    signed = [parse_checkpoint(str(text)) for text in texts]
    if not signed:
        raise ProofFailed("the evidence holds no checkpoint")
    for checkpoint in signed:
        if not checkpoint.verified_by(name, public_key, verify):
            raise ProofFailed(f"a checkpoint in the evidence is not signed by {name}")
        if str(checkpoint.checkpoint.ledger_id) != bundle.get("ledger"):
            raise ProofFailed("a checkpoint in the evidence is for another ledger")
    heads = [c.checkpoint for c in signed]
    said = [f"{h.size} events, root {h.root.hex()[:16]}…" for h in heads]
    claim = str(bundle.get("claim", ""))
    service = f"the service at {bundle.get('service')} (log key {name})"
    forks = [(a, b) for i, a in enumerate(heads) for b in heads[i + 1:]
             if a.size == b.size and a.root != b.root]  # fmt: skip
    if forks:
        first, second = forks[0]
        return Verified("evidence", (
            f"PROVEN: {service} signed two different trees of {first.size} events "
            f"(roots {first.root.hex()[:16]}… and {second.root.hex()[:16]}…): it forked the "
            "ledger's history", *said))  # fmt: skip
    return Verified("evidence", (
        f"OK: {service} signed {len(heads)} checkpoint(s): " + "; ".join(said),
        f"the client found: {claim}"))  # fmt: skip


def _verify_inclusion(bundle: dict[str, Any], head: Any, said: str) -> Verified:
    event = required_field(bundle, "event", dict, "event")
    proof = required_field(bundle, "proof", dict, "proof")
    state = unb64(required_field(event, "state", str, "event state"), "the event state")
    index = required_field(proof, "leaf_index", int, "leaf index")
    path = [unb64(p, "a proof hash") for p in required_field(proof, "path", list, "audit path")]
    if required_field(proof, "tree_size", int, "tree size") != head.size:
        raise ProofFailed("the proof is for another tree size than the checkpoint")
    if not verify_inclusion(index, head.size, leaf_hash(state), path, head.root):
        raise ProofFailed(
            "the event is not in the checkpointed ledger: its audit path does not lead to the root"
        )
    signature, content = split_state(state)
    try:
        envelope = json.loads(content)
        what = f"{envelope['type']} on {envelope['aggregate']} (version {envelope['version']})"
        ledger = envelope["ledger"]
    except (ValueError, KeyError, TypeError):
        raise ProofFailed("the event's content cannot be read") from None
    if ledger != str(head.ledger_id):
        raise ProofFailed("the event was signed for another ledger than the checkpoint's")
    lines = [f"OK: {what} is event {index + 1} of {head.size} in ledger {head.ledger_id}", said]
    if signature == UNSIGNED:
        lines.append("the event is the ledger's unsigned genesis")
    else:
        event_signer = required_field(bundle, "event_signer", dict, "event signer")
        public_key = unb64(
            required_field(event_signer, "public_key", str, "event signer's key"), "key"
        )
        if len(signature) != SIGNATURE_LENGTH or key_fingerprint(public_key) != envelope.get("key"):
            raise ProofFailed("the event's signer key is not the key the event names")
        if not verify(public_key, signature, content):
            raise ProofFailed(f"the event's signature by {envelope.get('org')} does not verify")
        lines.append(f"signed by {envelope.get('org')} with key {key_fingerprint(public_key)}")
        if "vouched" in bundle:
            lines += _vouched(bundle["vouched"], head, str(envelope.get("org")),
                              key_fingerprint(public_key))  # fmt: skip
    return Verified("inclusion", tuple(lines))


KEY_CHANGES = ("SigningKeyRotated", "SigningKeyRevoked", "OrganisationRecovered")


def _vouched(entries: Any, head: Any, org: str, key_id: str) -> list[str]:
    """Who vouched for ``org``'s key, from events proven in the same checkpointed tree: the
    genesis naming the first registrar, and each registrar's endorsement (and appointment)
    from ``org`` up to it. Raises ``ProofFailed`` if the chain does not hold."""
    if not isinstance(entries, list) or not entries:
        raise ProofFailed("the bundle's endorsement chain is empty")
    events: list[dict[str, Any]] = []
    indexes: list[int] = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise ProofFailed("an entry of the endorsement chain is not an object")
        state = unb64(required_field(entry, "state", str, "vouching event"), "a vouching event")
        index = required_field(entry, "leaf_index", int, "leaf index")
        path = [unb64(p, "a proof hash") for p in required_field(entry, "path", list, "path")]
        if not verify_inclusion(index, head.size, leaf_hash(state), path, head.root):
            raise ProofFailed("an event of the endorsement chain is not in the checkpointed ledger")
        signature, content = split_state(state)
        try:
            envelope = json.loads(content)
            if envelope["ledger"] != str(head.ledger_id):
                raise ProofFailed("an event of the endorsement chain is of another ledger")
        except (ValueError, KeyError, TypeError):
            raise ProofFailed("an event of the endorsement chain cannot be read") from None
        if signature != UNSIGNED:
            public_key = unb64(required_field(entry, "public_key", str, "signer key"), "key")
            if key_fingerprint(public_key) != envelope.get("key") or not verify(
                public_key, signature, content
            ):
                raise ProofFailed("a signature in the endorsement chain does not verify")
        events.append(envelope)
        indexes.append(index)
    genesis = events[0]
    if genesis.get("type") != "LedgerCreated":
        raise ProofFailed("the endorsement chain does not start with the ledger's genesis")
    fields = genesis.get("fields") or {}
    root, root_key = fields.get("registrar"), fields.get("registrar_key")
    try:
        anchored = anchored_ledger_id(fields["name"], root, root_key, fields["nonce"])
    except (KeyError, TypeError, ValueError):
        raise ProofFailed("the genesis in the endorsement chain names no registrar") from None
    if str(anchored) != str(head.ledger_id):
        raise ProofFailed("the genesis in the endorsement chain is not this ledger's")
    by_record: dict[tuple[str, str], dict[str, Any]] = {}
    changes: dict[str, list[tuple[int, dict[str, Any]]]] = {}  # record -> its key changes
    for index, envelope in zip(indexes[1:], events[1:], strict=True):
        kind = envelope.get("type", "")
        if kind in KEY_CHANGES:
            changes.setdefault(envelope.get("aggregate", ""), []).append((index, envelope))
        else:
            envelope = {**envelope, "_index": index}
            by_record.setdefault((kind, envelope.get("aggregate", "")), envelope)

    def signed_by_key_of(event: dict[str, Any], handle: str, first_key: str | None) -> bool:
        """Whether ``event`` is signed with the key ``handle`` held where it stands: the
        key vouched for first, then each of its own key changes in the chain."""
        current = first_key
        for index, change in sorted(changes.get(str(organisation_id(handle)), []),
                                    key=lambda c: c[0]):  # fmt: skip
            if index >= event["_index"]:
                break
            fields = change.get("fields") or {}
            if change["type"] != "OrganisationRecovered" and change.get("key") != current:
                return False  # a key change must be signed by the key it replaces
            try:
                current = key_fingerprint(decode_key(fields["new_public_key"]))
            except (KeyError, TypeError, ValueError):
                return False
        return event.get("key") == current

    lines = [f"the ledger's first registrar, named in its genesis: {root} (key {root_key})"]
    handle, seen = org, set()
    signed_below: dict[str, Any] | None = None  # the endorsement ``handle`` signed, if any
    while handle not in seen:
        seen.add(handle)
        endorsed = by_record.get(("OrganisationEndorsed", str(organisation_id(handle))))
        if endorsed is None:
            raise ProofFailed(f"the endorsement chain does not show who endorsed {handle}")
        vouched = endorsed["fields"]
        if signed_below is not None and not signed_by_key_of(signed_below, handle,
                                                             vouched.get("fingerprint")):
            raise ProofFailed(f"an endorsement by {handle} is signed with a key the chain does "
                              f"not show to be {handle}'s")  # fmt: skip
        named = f" ({vouched['identifier']})" if vouched.get("identifier") else ""
        line = (f"{handle} endorsed as {vouched.get('name')}{named} by {endorsed['org']}, "
                f"for key {vouched.get('fingerprint')}")  # fmt: skip
        if handle == org and vouched.get("fingerprint") != key_id:
            line += " (the event's key is a later one, from its own signed key change)"
        lines.append(line)
        registrar = str(endorsed["org"])
        if registrar == root:
            if not signed_by_key_of(endorsed, root, root_key):
                raise ProofFailed(f"the endorsement of {handle} is signed by a key of {root} "
                                  "other than the one the genesis names")  # fmt: skip
            return lines
        appointed = by_record.get(("RegistrarAppointed", str(organisation_id(registrar))))
        if appointed is None:
            raise ProofFailed(f"the endorsement chain does not show {registrar} appointed")
        appointer = str(appointed["org"])
        if appointer == registrar:
            raise ProofFailed(f"{registrar} appointed itself registrar")
        if appointer == root and not signed_by_key_of(appointed, root, root_key):
            raise ProofFailed(f"{registrar}'s appointment is signed by a key of {root} other "
                              "than the one the genesis names")  # fmt: skip
        lines.append(f"{registrar} appointed registrar by {appointer}")
        signed_below = endorsed
        handle = registrar
    raise ProofFailed("the endorsement chain goes round in a circle")


def _verify_consistency(bundle: dict[str, Any], head: Any, said: str) -> Verified:
    old = required_field(bundle, "old", dict, "old tree head")
    old_size = required_field(old, "size", int, "old size")
    old_root = unb64(required_field(old, "root", str, "old root"), "the old root")
    path = [unb64(p, "a proof hash") for p in required_field(bundle, "proof", list, "proof")]
    if not verify_consistency(old_size, head.size, old_root, head.root, path):
        raise ProofFailed(
            f"the ledger of {head.size} events does not extend the one of {old_size}: "
            "history was rewritten, reordered or removed"
        )
    lines = [
        f"OK: ledger {head.ledger_id} of {head.size} events extends the one of {old_size} "
        f"(root {old_root.hex()[:16]}…): nothing before it was changed or removed",
        said,
    ]
    if "checkpoint" in old or "checkpoint_signer" in old:
        lines.append(_old_checkpoint(old, head.ledger_id, old_size, old_root))
    return Verified("consistency", tuple(lines))


def _old_checkpoint(old: dict[str, Any], ledger_id: Any, size: int, root: bytes) -> str:
    """The old tree head's own checkpoint, when the bundle carries it: it must be the same
    head, signed by the key the bundle names (whose fingerprint the checker can compare)."""
    signed = parse_checkpoint(required_field(old, "checkpoint", str, "old checkpoint"))
    signer = required_field(old, "checkpoint_signer", dict, "old checkpoint's signer")
    name, public_key = parse_verifier_key(
        required_field(signer, "verifier_key", str, "verifier key")
    )
    head = signed.checkpoint
    if (head.ledger_id, head.size, head.root) != (ledger_id, size, root):
        raise ProofFailed("the old checkpoint is not the old tree head the proof starts from")
    if not signed.verified_by(name, public_key, verify):
        raise ProofFailed(f"the old checkpoint's signature by {name} does not verify")
    return f"old checkpoint by {name}, key {key_fingerprint(public_key)}"
