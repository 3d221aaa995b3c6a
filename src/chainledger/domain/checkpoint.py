"""Checkpoints: a signed tree head in the C2SP signed-note checkpoint format.

A checkpoint says "the ledger with this origin had ``size`` events, and the
Merkle tree over them had this root". It is the text

    chainledger/<ledger id>
    <size>
    <root, base64>

followed by a blank line and one signature line per signer,
``— <name> <base64(key hash ‖ Ed25519 signature)>``, where the key hash is
the first 4 bytes of SHA-256(name ‖ "\\n" ‖ 0x01 ‖ public key) and the
signature covers the text above the blank line (c2sp.org/signed-note,
c2sp.org/tlog-checkpoint, as Go's checksum database and Sigstore use).
A verifier key is written ``<name>+<key hash, hex>+<base64(0x01 ‖ public key)>``.

Pure: signing and verifying are passed in.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

from chainledger.domain.merkle import HASH_SIZE
from chainledger.errors import InvalidValue

ORIGIN_PREFIX = "chainledger/"
# A file of log-signed checkpoints a client found contradicting each other (``verify-proof``)
EVIDENCE_FORMAT = "chainledger-service-evidence/1"
ED25519 = b"\x01"
SIGNATURE_PREFIX = "\u2014 "  # an em dash and a space
_NAME = re.compile(r"^[^\s+]+\Z")
_SIZE = re.compile(r"^(0|[1-9][0-9]{0,19})\Z")
MAX_NOTE = 64 * 1024


def key_hash(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + ED25519 + public_key).digest()[:4]


def verifier_key(name: str, public_key: bytes) -> str:
    """The C2SP verifier key string for ``name``'s Ed25519 ``public_key``."""
    encoded = base64.b64encode(ED25519 + public_key).decode()
    return f"{name}+{key_hash(name, public_key).hex()}+{encoded}"


def parse_verifier_key(text: str) -> tuple[str, bytes]:
    """(name, public key) from a verifier key string, checking its key hash."""
    parts = text.strip().split("+", 2)
    try:
        name, hash_hex, encoded = parts
        raw = base64.b64decode(encoded, validate=True)
        expected = bytes.fromhex(hash_hex)
    except (ValueError, binascii.Error):
        raise InvalidValue("a verifier key is name+hash+base64 key") from None
    if not _NAME.match(name) or raw[:1] != ED25519 or len(raw) != 33:
        raise InvalidValue("a verifier key must name an Ed25519 key")
    if key_hash(name, raw[1:]) != expected:
        raise InvalidValue(f"verifier key for {name}: its key hash does not match its key")
    return name, raw[1:]


@dataclass(frozen=True)
class Checkpoint:
    """A tree head: which ledger, how many events, and the root over them."""

    ledger_id: UUID
    size: int
    root: bytes

    @property
    def origin(self) -> str:
        return f"{ORIGIN_PREFIX}{self.ledger_id}"

    def body(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"


@dataclass(frozen=True)
class NoteSignature:
    name: str
    key_hash: bytes
    signature: bytes

    def line(self) -> str:
        return f"{SIGNATURE_PREFIX}{self.name} {base64.b64encode(self.key_hash + self.signature).decode()}\n"


@dataclass(frozen=True)
class SignedCheckpoint:
    checkpoint: Checkpoint
    signatures: tuple[NoteSignature, ...]

    def text(self) -> str:
        return self.checkpoint.body() + "\n" + "".join(s.line() for s in self.signatures)

    def verified_by(
        self, name: str, public_key: bytes, verify: Callable[[bytes, bytes, bytes], bool]
    ) -> bool:
        """Whether a signature by ``name`` with ``public_key`` covers this checkpoint."""
        wanted = key_hash(name, public_key)
        body = self.checkpoint.body().encode()
        return any(
            s.name == name and s.key_hash == wanted and verify(public_key, s.signature, body)
            for s in self.signatures
        )


def sign_checkpoint(
    checkpoint: Checkpoint, name: str, public_key: bytes, sign: Callable[[bytes], bytes]
) -> SignedCheckpoint:
    if not _NAME.match(name):
        raise InvalidValue(f"a checkpoint signer's name has no spaces or '+': {name!r}")
    signature = NoteSignature(name, key_hash(name, public_key), sign(checkpoint.body().encode()))
    return SignedCheckpoint(checkpoint, (signature,))


def parse_checkpoint(text: str) -> SignedCheckpoint:
    """A signed checkpoint from its text; anything malformed is an ``InvalidValue``."""
    if len(text) > MAX_NOTE:
        raise InvalidValue("a checkpoint is a few lines of text; this is too long to be one")
    body, sep, signature_block = text.partition("\n\n")
    if not sep:
        raise InvalidValue("not a signed checkpoint: no blank line before the signatures")
    if not signature_block.endswith("\n") or not signature_block.strip():
        raise InvalidValue("not a signed checkpoint: no signature lines after the blank line")
    lines = body.split("\n")
    if len(lines) < 3:
        raise InvalidValue("not a checkpoint: it needs an origin, a size and a root hash")
    origin, size_text, root_text = lines[:3]
    if not origin.startswith(ORIGIN_PREFIX):
        raise InvalidValue(f"not a chainledger checkpoint: its origin is {origin[:80]!r}")
    try:
        ledger_id = UUID(origin.removeprefix(ORIGIN_PREFIX))
    except ValueError:
        raise InvalidValue(f"the checkpoint's origin names no ledger: {origin[:80]!r}") from None
    if not _SIZE.match(size_text):
        raise InvalidValue(f"the checkpoint's size is not a number: {size_text[:40]!r}")
    try:
        root = base64.b64decode(root_text, validate=True)
    except (ValueError, binascii.Error):
        root = b""
    if len(root) != HASH_SIZE:
        raise InvalidValue("the checkpoint's root is not a base64 SHA-256 hash")
    if len(lines) > 3:
        raise InvalidValue("the checkpoint has extension lines chainledger does not know")
    checkpoint = Checkpoint(ledger_id, int(size_text), root)
    if body + "\n" != checkpoint.body():
        raise InvalidValue("the checkpoint is not in canonical form")
    signatures = []
    for line in signature_block[:-1].split("\n"):
        if not line.startswith(SIGNATURE_PREFIX):
            raise InvalidValue(f"not a signature line: {line[:80]!r}")
        name, _, encoded = line.removeprefix(SIGNATURE_PREFIX).rpartition(" ")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except (ValueError, binascii.Error):
            raw = b""
        if not _NAME.match(name) or len(raw) <= 4:
            raise InvalidValue(f"a malformed signature line: {line[:80]!r}")
        signatures.append(NoteSignature(name, raw[:4], raw[4:]))
    return SignedCheckpoint(checkpoint, tuple(signatures))
