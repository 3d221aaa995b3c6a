"""Signing keys: fingerprints, their encoding, proof of possession, and a key's span.

Organisations hold them (``organisation``); registrars bind and replace them
(``identity``)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from chainledger.domain.canonical import canonical_json, digest

PUBLIC_KEY_LENGTH = 32


def key_fingerprint(public_key: bytes) -> str:
    """The key id: lower-case hex SHA-256 of the raw 32-byte Ed25519 public key."""
    return digest(public_key)


def encode_key(public_key: bytes) -> str:
    return base64.b64encode(public_key).decode("ascii")


def decode_key(text: str) -> bytes:
    raw = base64.b64decode(text, validate=True)
    if len(raw) != PUBLIC_KEY_LENGTH:
        raise ValueError("a public key has 32 bytes")
    return raw


def possession_statement(ledger_id: UUID, org: str, key_id: str) -> bytes:
    """What a new key signs to prove its holder has the private half."""
    return canonical_json(
        {
            "purpose": "chainledger proof of key possession",
            "ledger": str(ledger_id),
            "org": org,
            "key": key_id,
        }
    )


class KeyStatus(StrEnum):
    ACTIVE = "active"
    ROTATED = "rotated"
    REVOKED = "revoked"


@dataclass
class SigningKey:
    """One of an organisation's keys, with when it started and stopped signing.

    Validity is judged by position in the ledger's global order (notification
    ids), which no signer controls; the timestamps are for people to read.
    """

    key_id: str
    public_key: bytes
    valid_from: datetime
    from_position: int | None
    status: KeyStatus = KeyStatus.ACTIVE
    valid_until: datetime | None = None
    until_position: int | None = None
    reason: str = ""

    def signs_validly_at(self, position: int | None) -> bool:
        """May this key sign the event stored at ``position``? (None: not yet stored.)"""
        if self.status is not KeyStatus.ACTIVE and position is None:
            return False
        after_start = (
            self.from_position is None or position is None or self.from_position < position
        )
        before_end = self.until_position is None or (
            position is not None and position < self.until_position
        )
        return after_start and before_end
