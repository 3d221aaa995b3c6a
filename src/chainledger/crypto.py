"""Ed25519 signing and verification, with the domain's ``Signer`` protocol."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import date
from functools import lru_cache
from uuid import UUID

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from chainledger.domain.organisation import key_fingerprint


def raw_public_key(private_key: Ed25519PrivateKey) -> bytes:
    """The 32 raw bytes of the public half of ``private_key``."""
    return private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass(frozen=True)
class Ed25519Signer:
    """Signs for one organisation in one ledger. Its repr never shows the key."""

    ledger_id: UUID
    org: str
    private_key: Ed25519PrivateKey = field(repr=False)
    key_id: str = ""
    on: date | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "key_id", key_fingerprint(raw_public_key(self.private_key)))

    @property
    def public_key(self) -> bytes:
        return raw_public_key(self.private_key)

    def sign(self, message: bytes) -> bytes:
        return self.private_key.sign(message)

    def dated(self, on: date | None) -> Ed25519Signer:
        """The same signer, for facts that took effect ``on`` that date."""
        return replace(self, on=on)


@lru_cache(maxsize=4096)
def _public_key(raw: bytes) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(raw)


def verify(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """True if ``signature`` is ``public_key``'s Ed25519 signature of ``message``."""
    try:
        _public_key(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


class VerifiedSignatures:
    """Remembers (key, signature, message) triples that verified, so that reading the same
    stored bytes again in one process costs a hash, not an Ed25519 verification.

    The message is part of the key: altered bytes are never found here.
    """

    def __init__(self, capacity: int = 200_000) -> None:
        self.capacity = capacity
        self._seen: set[bytes] = set()

    def verify(self, public_key: bytes, signature: bytes, message: bytes) -> bool:
        fingerprint = hashlib.sha256(public_key + signature + message).digest()
        if fingerprint in self._seen:
            return True
        if not verify(public_key, signature, message):
            return False
        if len(self._seen) >= self.capacity:
            self._seen.clear()
        self._seen.add(fingerprint)
        return True
