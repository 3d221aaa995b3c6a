"""Organisations and their signing keys.

An organisation registers itself with an event signed by its own new key
(proof of possession). A key is replaced by rotation (routine) or revocation
(compromise); either way the event is signed by the outgoing key and carries
the incoming key's proof of possession. A key signs validly only while it is
the organisation's current key.

An organisation also registers X25519 encryption keys, signed by its current
signing key, so that others can seal content only it can read (the owner of a
360 review round reads the ratings; nobody else does). Old encryption keys are
kept: what was sealed to them can still be opened by their holder.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from chainledger.domain.aggregate import LedgerAggregate
from chainledger.domain.events import LedgerEvent, Signer, ledger_event
from chainledger.domain.identity import Endorsement
from chainledger.domain.ids import organisation_id
from chainledger.domain.keys import (
    PUBLIC_KEY_LENGTH,
    KeyStatus,
    SigningKey,
    decode_key,
    encode_key,
    key_fingerprint,
)
from chainledger.domain.values import Role, Sector, Size
from chainledger.errors import Refused


class Organisation(LedgerAggregate):
    """An organisation, with its keys.

    What it is (sector, size) is registered once; what it does is per package: it is
    the commissioner of the packages it creates, a prime where it bids, a subcontractor
    where it is named or subcontracted. ``role`` is only the part it said it usually plays.
    """

    handle: str
    name: str
    role: Role | None
    sector: Sector | None
    size: Size | None
    identifier: str | None
    keys: dict[str, SigningKey]
    current_key_id: str
    encryption_keys: dict[str, bytes]
    current_encryption_key_id: str | None
    # Who vouched for it (chainledger.domain.identity), set by registrars' events.
    endorsement: Endorsement | None = None
    rejection: tuple[str | None, str] | None = None
    registrar_since: int | None = None  # position it became a registrar, while it is one
    # (from, until) positions, and the signed time of the withdrawal
    registrar_spans: tuple[tuple[int | None, int | None, datetime | None], ...] = ()
    compromised: tuple[tuple[datetime, int | None], ...] = ()  # (since, recovered at position)

    @classmethod
    def register(
        cls,
        *,
        signer: Signer,
        public_key: bytes,
        name: str,
        role: Role | None,
        sector: Sector | None,
        size: Size | None,
        identifier: str | None,
        encryption_key: bytes | None = None,
    ) -> Organisation:
        """Register an organisation; ``signer`` must hold the key being registered.

        ``encryption_key`` (X25519, optional) is the key others seal content to.
        """
        if encryption_key is not None and len(encryption_key) != PUBLIC_KEY_LENGTH:
            raise Refused("an X25519 public key has 32 bytes")
        if signer.key_id != key_fingerprint(public_key):
            raise Refused("the registration must be signed by the key it registers")
        return cls._create(
            OrganisationRegistered,
            id=organisation_id(signer.org),
            ledger_id=signer.ledger_id,
            signer=signer,
            handle=signer.org,
            name=name,
            role=role,
            sector=sector,
            size=size,
            identifier=identifier,
            public_key=encode_key(public_key),
            encryption_key=encode_key(encryption_key) if encryption_key is not None else None,
        )

    @property
    def current_key(self) -> SigningKey:
        return self.keys[self.current_key_id]

    def key_for(self, key_id: str | None, position: int | None) -> SigningKey | None:
        """The key that may have signed the event at ``position``, if ``key_id`` is one."""
        key = self.keys.get(key_id or "")
        if key is None or not key.signs_validly_at(position):
            return None
        return key

    @property
    def encryption_key(self) -> tuple[str, bytes] | None:
        """The current encryption key (id, raw public key), if the organisation has one."""
        key_id = self.current_encryption_key_id
        return (key_id, self.encryption_keys[key_id]) if key_id else None

    def register_encryption_key(self, signer: Signer, public_key: bytes) -> None:
        """Make ``public_key`` (X25519) the key others seal content to; signed by the org."""
        if signer.org != self.handle or signer.key_id != self.current_key_id:
            raise Refused(f"only {self.handle}, with its current key, can register its keys")
        if len(public_key) != PUBLIC_KEY_LENGTH:
            raise Refused("an X25519 public key has 32 bytes")
        if key_fingerprint(public_key) in self.encryption_keys:
            raise Refused("this encryption key has been registered before")
        self._trigger(EncryptionKeyRegistered, signer, public_key=encode_key(public_key))

    def rotate_key(self, signer: Signer, public_key: bytes, proof: bytes) -> None:
        """Replace the current key (routine); signed by the outgoing key."""
        self._replace_key(signer, public_key, proof, SigningKeyRotated)

    def revoke_key(self, signer: Signer, public_key: bytes, proof: bytes, reason: str) -> None:
        """Revoke the current key (compromise), naming its replacement."""
        self._replace_key(signer, public_key, proof, SigningKeyRevoked, reason=reason)

    def _replace_key(
        self,
        signer: Signer,
        public_key: bytes,
        proof: bytes,
        event_class: type[LedgerEvent],
        **extra: Any,
    ) -> None:
        if signer.org != self.handle:
            raise Refused(f"only {self.handle} can change its own keys")
        if signer.key_id != self.current_key_id:
            raise Refused(f"{self.handle}'s key change must be signed by its current key")
        new_key_id = key_fingerprint(public_key)
        if new_key_id in self.keys:
            raise Refused("the new key has been used by this organisation before")
        self._trigger(
            event_class,
            signer,
            replaced_key_id=self.current_key_id,
            new_public_key=encode_key(public_key),
            proof=base64.b64encode(proof).decode("ascii"),
            **extra,
        )


@ledger_event("OrganisationRegistered")
class OrganisationRegistered(LedgerEvent):
    creates = Organisation
    handle: str
    name: str
    # The part it says it usually plays; None when it states none. Every event recorded
    # before roles were per package has one, and reads exactly as it was signed.
    role: Role | None
    sector: Sector | None
    size: Size | None
    identifier: str | None
    public_key: str
    encryption_key: str | None

    @property
    def registered_key(self) -> bytes:
        return decode_key(self.public_key)

    def hash_of_key(self) -> str:
        return key_fingerprint(self.registered_key)

    def apply(self, aggregate: Any) -> None:
        aggregate.handle = self.handle
        aggregate.name = self.name
        aggregate.role = self.role
        aggregate.sector = self.sector
        aggregate.size = self.size
        aggregate.identifier = self.identifier
        public_key = self.registered_key
        key_id = key_fingerprint(public_key)
        aggregate.keys = {
            key_id: SigningKey(
                key_id, public_key, valid_from=self.timestamp, from_position=self.notification_id
            )
        }
        aggregate.current_key_id = key_id
        aggregate.encryption_keys = {}
        aggregate.current_encryption_key_id = None
        if self.encryption_key is not None:
            raw = decode_key(self.encryption_key)
            aggregate.encryption_keys[key_fingerprint(raw)] = raw
            aggregate.current_encryption_key_id = key_fingerprint(raw)


@ledger_event("EncryptionKeyRegistered")
class EncryptionKeyRegistered(LedgerEvent):
    public_key: str

    def apply(self, aggregate: Any) -> None:
        if self.org != aggregate.handle:
            raise self.tamper(f"an encryption key of {aggregate.handle} registered by {self.org}")
        raw = decode_key(self.public_key)
        key_id = key_fingerprint(raw)
        aggregate.encryption_keys[key_id] = raw
        aggregate.current_encryption_key_id = key_id

    def summary(self) -> str:
        key_id = key_fingerprint(decode_key(self.public_key))
        return f"{self.org} registered encryption key {key_id[:16]}…"


@ledger_event("SigningKeyRotated")
class SigningKeyRotated(LedgerEvent):
    replaced_key_id: str
    new_public_key: str
    proof: str

    ends_as = KeyStatus.ROTATED

    @property
    def new_key(self) -> bytes:
        return decode_key(self.new_public_key)

    @property
    def new_key_id(self) -> str:
        return key_fingerprint(self.new_key)

    @property
    def proof_bytes(self) -> bytes:
        return base64.b64decode(self.proof, validate=True)

    def apply(self, aggregate: Any) -> None:
        if self.org != aggregate.handle or self.key_id != aggregate.current_key_id:
            raise self.tamper(f"a key change of {aggregate.handle} not signed by its current key")
        if self.replaced_key_id != aggregate.current_key_id:
            raise self.tamper("a key change that replaces a key other than the current one")
        old = aggregate.keys[self.replaced_key_id]
        old.status = self.ends_as
        old.valid_until = self.timestamp
        old.until_position = self.notification_id
        old.reason = getattr(self, "reason", "")
        new_key = self.new_key
        new_id = key_fingerprint(new_key)
        if new_id in aggregate.keys:
            raise self.tamper("a key change back to a key used before")
        aggregate.keys[new_id] = SigningKey(
            new_id, new_key, valid_from=self.timestamp, from_position=self.notification_id
        )
        aggregate.current_key_id = new_id


@ledger_event("SigningKeyRevoked")
class SigningKeyRevoked(SigningKeyRotated):
    reason: str

    ends_as = KeyStatus.REVOKED


KEY_CHANGES = (SigningKeyRotated, SigningKeyRevoked)
