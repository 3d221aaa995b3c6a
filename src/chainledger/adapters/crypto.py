"""Ed25519 signing and verification, with the domain's ``Signer`` protocol, and sealing
(public-key encryption) of confidential content with X25519, HKDF-SHA256 and AES-256-GCM."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass, field, replace
from datetime import date
from functools import cached_property, lru_cache
from uuid import UUID

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from chainledger.domain.canonical import canonical_json
from chainledger.domain.keys import key_fingerprint
from chainledger.errors import KeyProblem, TamperError


def raw_public_key(private_key: Ed25519PrivateKey) -> bytes:
    """The 32 raw bytes of the public half of ``private_key``."""
    return private_key.public_key().public_bytes_raw()


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


# -- sealing: content only the holder of one X25519 private key can read ------------------

SEAL_ALGORITHM = "X25519-HKDF-SHA256-AES256GCM"
_SEAL_INFO = b"chainledger sealed content v1"


def raw_x25519_public_key(private_key: X25519PrivateKey) -> bytes:
    return private_key.public_key().public_bytes_raw()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _seal_key(shared: bytes, ephemeral: bytes, recipient: bytes, context: bytes) -> bytes:
    # (the sealing primitives are loaded by the commands that seal or open, not by all)
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=ephemeral + recipient, info=_SEAL_INFO + context
    ).derive(shared)


def seal_to(recipient_public_key: bytes, plaintext: bytes, context: bytes) -> str:
    """Encrypt ``plaintext`` so that only the holder of the recipient's private key can read it.

    An ephemeral X25519 key agrees a secret with the recipient's key; HKDF-SHA256
    turns it into an AES-256-GCM key. ``context`` (what the content is, where it
    belongs) is bound in as associated data, so a sealed value moved elsewhere
    does not open. The result is a compact JSON text naming the recipient key.
    """
    recipient = X25519PublicKey.from_public_bytes(recipient_public_key)
    ephemeral = X25519PrivateKey.generate()
    ephemeral_public = raw_x25519_public_key(ephemeral)
    key = _seal_key(ephemeral.exchange(recipient), ephemeral_public, recipient_public_key, context)
    nonce = os.urandom(12)
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    ciphertext = AESGCM(key).encrypt(nonce, plaintext, context)
    return canonical_json(
        {
            "alg": SEAL_ALGORITHM,
            "to": key_fingerprint(recipient_public_key),
            "epk": _b64(ephemeral_public),
            "nonce": _b64(nonce),
            "ct": _b64(ciphertext),
        }
    ).decode("ascii")


def sealed_recipient(sealed: str) -> str:
    """The key id a sealed value was encrypted to."""
    return str(_parse_sealed(sealed)["to"])


def _parse_sealed(sealed: str) -> dict[str, str]:
    try:
        value = json.loads(sealed)
        if not isinstance(value, dict) or value.get("alg") != SEAL_ALGORITHM:
            raise ValueError("not a sealed value")
        return {k: str(value[k]) for k in ("to", "epk", "nonce", "ct")}
    except (ValueError, KeyError, TypeError):
        raise TamperError("a sealed value is malformed") from None


@dataclass(frozen=True)
class Opener:
    """Opens values sealed to one organisation's X25519 keys. Its repr never shows a key."""

    org: str
    private_keys: tuple[X25519PrivateKey, ...] = field(repr=False)

    @cached_property
    def key_ids(self) -> dict[str, X25519PrivateKey]:
        return {key_fingerprint(raw_x25519_public_key(k)): k for k in self.private_keys}

    def open(self, sealed: str, context: bytes) -> bytes:
        """The plaintext; ``TamperError`` if it was altered or sealed for another place."""
        parts = _parse_sealed(sealed)
        private_key = self.key_ids.get(parts["to"])
        if private_key is None:
            raise KeyProblem(
                f"this was sealed to key {parts['to'][:16]}…, which is not one of "
                f"{self.org}'s encryption keys in the key directory"
            )
        recipient = raw_x25519_public_key(private_key)
        try:
            ephemeral_public = base64.b64decode(parts["epk"], validate=True)
            nonce = base64.b64decode(parts["nonce"], validate=True)
            ciphertext = base64.b64decode(parts["ct"], validate=True)
            shared = private_key.exchange(X25519PublicKey.from_public_bytes(ephemeral_public))
            key = _seal_key(shared, ephemeral_public, recipient, context)
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM

            return AESGCM(key).decrypt(nonce, ciphertext, context)
        except (InvalidTag, ValueError):
            raise TamperError(
                "a sealed value does not open: it was altered or moved from where it was sealed"
            ) from None
