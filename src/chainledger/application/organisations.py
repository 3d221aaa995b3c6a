"""Use cases of organisations and their keys: registering, keys and encryption keys,
and the registrars' endorsements, rejections, appointments and recoveries."""


from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from chainledger.adapters.crypto import Ed25519Signer, raw_public_key, raw_x25519_public_key
from chainledger.application.steps import signed_step
from chainledger.application.unit_of_work import UnitOfWork, unit_of_work
from chainledger.domain.events import Signer, now
from chainledger.domain.identity import (
    IdentifierClaim,
    KeyRecoveryRequested,
    OrganisationRecovered,
    RecoveryRequest,
    RegistrarAppointed,
    RegistrarWithdrawn,
    RegistrationRejected,
    endorse,
    parse_fingerprint,
    recovery_request_id,
)
from chainledger.domain.ids import organisation_id
from chainledger.domain.keys import decode_key, encode_key, key_fingerprint, possession_statement
from chainledger.domain.ledger import Ledger
from chainledger.domain.organisation import Organisation
from chainledger.domain.values import (
    Role,
    Sector,
    Size,
    check_handle,
    check_identifier,
    check_text,
    slugify,
)
from chainledger.errors import InvalidValue, NotFound, Refused
from chainledger.projections.organisations import OrganisationRow, OrganisationsProjection

if TYPE_CHECKING:
    from chainledger.adapters.keystore import Keystore
    from chainledger.application.ports import LedgerPort
    from chainledger.domain.aggregate import LedgerAggregate

# Records an organisation may write to before it is endorsed: its own.
OWN_RECORDS = (Organisation,)


@dataclass(frozen=True)
class OrganisationDetails:
    """What ``org show`` tells about an organisation."""

    handle: str
    name: str
    role: str | None  # the part it says it usually plays; its roles are per package
    sector: str | None
    size: str | None
    identifier: str | None
    key_id: str
    keys: tuple[tuple[str, str, str, str], ...]  # key id, status, from, until
    version: int
    encryption_key_id: str | None = None
    endorsed_by: str | None = None  # the registrar that vouched for its key (None: nobody yet)
    rejected: str | None = None  # a registrar's refusal of its request, with the reason
    registrar: bool = False
    ledger_has_registrar: bool = False


class Organisations:
    """Organisations, their keys, and the registrars who vouch for them."""

    def __init__(self, ledger: LedgerPort, keystore: Keystore) -> None:
        self.ledger = ledger
        self.keystore = keystore

    # -- registering and keys ---------------------------------------------------------

    def create_organisation(
        self,
        name: str,
        role: Role | None = None,
        *,
        passphrase: str,
        handle: str | None = None,
        sector: Sector | None = None,
        size: Size | None = None,
        identifier: str | None = None,
    ) -> OrganisationDetails:
        """Generate key pairs on this machine and register the organisation, signed by the
        new signing key.

        The organisation also gets an encryption key pair (for content sealed to
        it, such as the ratings of a review round it owns). ``role`` is only the part
        it says it usually plays: in each package it plays the part it takes there.
        """
        name = check_text(name, "organisation name")
        handle = check_handle(handle) if handle else slugify(name)
        if identifier is not None:
            identifier = check_identifier(identifier)
        ledger_id = self.ledger.ledger_id
        self._new_handle(handle)
        private_key = self.keystore.create(passphrase)
        encryption_key = self.keystore.create_encryption_key(passphrase)
        signer = Ed25519Signer(ledger_id, handle, private_key)
        self.register(signer, name, role, public_key=encode_key(raw_public_key(private_key)),
                      encryption_key=encode_key(raw_x25519_public_key(encryption_key)),
                      sector=sector, size=size, identifier=identifier)  # fmt: skip
        return self.organisation(handle)

    @signed_step
    def register(
        self,
        signer: Signer,
        name: str,
        role: Any = None,
        *,
        public_key: str,
        encryption_key: str,
        sector: Any = None,
        size: Any = None,
        identifier: str | None = None,
        uow: UnitOfWork | None = None,
    ) -> None:
        """The organisation ``signer`` names registers itself, signed by its new key
        (``public_key``, base64; ``encryption_key`` the X25519 key sealed content goes to)."""
        handle = check_handle(signer.org)
        self._new_handle(handle)
        try:
            organisation = Organisation.register(
                signer=signer, public_key=decode_key(public_key),
                name=check_text(name, "organisation name"),
                role=Role(role) if role else None, sector=Sector(sector) if sector else None,
                size=Size(size) if size else None,
                identifier=check_identifier(identifier) if identifier else None,
                encryption_key=base64.b64decode(encryption_key, validate=True),
            )  # fmt: skip
        except ValueError as error:
            raise InvalidValue(f"a registration's keys or kind cannot be read ({error})") from None
        with unit_of_work(self.ledger, uow) as unit:
            unit.add(organisation)

    def _new_handle(self, handle: str) -> None:
        if self.ledger.exists(organisation_id(handle)):
            raise Refused(
                f"an organisation with handle {handle!r} already exists; "
                "choose another with --handle"
            )

    def new_encryption_key(self, handle: str, passphrase: str) -> str:
        """Give ``handle`` a new encryption key (the old ones still open what they sealed)."""
        signer = self.ledger.signer(handle, passphrase)
        private_key = self.keystore.create_encryption_key(passphrase)
        self.add_encryption_key(signer, encode_key(raw_x25519_public_key(private_key)))
        return self.ledger.organisation_record(handle).current_encryption_key_id

    @signed_step
    def add_encryption_key(self, signer: Signer, public_key: str, *,
                           uow: UnitOfWork | None = None) -> None:  # fmt: skip
        """``signer``'s organisation registers another encryption key (base64)."""
        try:
            raw = base64.b64decode(public_key, validate=True)
        except ValueError:
            raise InvalidValue("an encryption key is base64") from None
        with unit_of_work(self.ledger, uow) as unit:
            unit.organisation(signer.org).register_encryption_key(signer, raw)

    def rotate_key(self, handle: str, passphrase: str, new_passphrase: str | None = None) -> str:
        """Replace ``handle``'s key; the change is signed by the outgoing key."""
        return self._replace_key(handle, passphrase, new_passphrase, reason=None)

    def revoke_key(
        self, handle: str, passphrase: str, reason: str, new_passphrase: str | None = None
    ) -> str:
        """Revoke ``handle``'s current key as compromised and install a replacement."""
        return self._replace_key(
            handle, passphrase, new_passphrase, reason=check_text(reason, "reason", max_length=500)
        )

    def _replace_key(
        self, handle: str, passphrase: str, new_passphrase: str | None, reason: str | None
    ) -> str:
        signer = self.ledger.signer(handle, passphrase)
        new_key = self.keystore.create(new_passphrase or passphrase)
        new_signer = Ed25519Signer(self.ledger.ledger_id, handle, new_key)
        proof = new_signer.sign(possession_statement(self.ledger.ledger_id, handle, new_signer.key_id))
        self.replace_key(signer, encode_key(new_signer.public_key),
                         base64.b64encode(proof).decode("ascii"), reason)  # fmt: skip
        return new_signer.key_id

    @signed_step
    def replace_key(self, signer: Signer, new_public_key: str, proof: str,
                    reason: str | None = None, *, uow: UnitOfWork | None = None) -> None:  # fmt: skip
        """``signer``'s organisation replaces its key (rotated; revoked, with ``reason``),
        signed by the outgoing key, with the new key's proof of possession (base64)."""
        try:
            new_key, signed = decode_key(new_public_key), base64.b64decode(proof, validate=True)
        except ValueError:
            raise InvalidValue("a new key and its proof are base64") from None
        with unit_of_work(self.ledger, uow) as unit:
            organisation = unit.organisation(signer.org)
            if reason is None:
                organisation.rotate_key(signer, new_key, signed)
            else:
                organisation.revoke_key(signer, new_key, signed,
                                        check_text(reason, "reason", max_length=500))  # fmt: skip

    def organisation(self, handle: str) -> OrganisationDetails:
        """One organisation, read from its verified events."""
        org = self.ledger.organisation_record(handle)
        keys = tuple(
            (
                key.key_id,
                key.status.value,
                key.valid_from.isoformat(timespec="seconds"),
                key.valid_until.isoformat(timespec="seconds") if key.valid_until else "",
            )
            for key in org.keys.values()
        )
        return OrganisationDetails(
            handle=org.handle,
            name=org.name,
            role=org.role.value if org.role else None,
            sector=org.sector.value if org.sector else None,
            size=org.size.value if org.size else None,
            identifier=org.identifier,
            key_id=org.current_key_id,
            keys=keys,
            version=org.version,
            encryption_key_id=org.current_encryption_key_id,
            endorsed_by=org.endorsement.registrar if org.endorsement else None,
            rejected=f"by {org.rejection[0]}: {org.rejection[1]}" if org.rejection else None,
            registrar=self.ledger.registry.is_registrar(org.handle, None),
            ledger_has_registrar=self.ledger.registry.has_registrar(),
        )

    def organisations(self, role: Role | None = None) -> list[OrganisationRow]:
        """Every registered organisation (or those stating ``role``), from the organisations view."""
        self.ledger.ledger_id  # noqa: B018 - refuses a database that holds no ledger
        with self.ledger.views() as session:
            return OrganisationsProjection.rows(session, role.value if role else None)


    # -- creating a ledger with its registrar ---------------------------------------

    def init_with_registrar(
        self,
        ledger_name: str,
        name: str,
        *,
        passphrase: str,
        handle: str | None = None,
        identifier: str | None = None,
        sector: Sector | None = None,
        size: Size | None = None,
    ) -> tuple[Any, str]:
        """Create the ledger and its first organisation, the registrar, whose key is the
        ledger's root of identity; returns (ledger id, registrar handle)."""
        ledger_name = check_text(ledger_name, "ledger name")
        name = check_text(name, "organisation name")
        handle = check_handle(handle) if handle else slugify(name)
        if identifier is not None:
            identifier = check_identifier(identifier)
        if self.ledger.is_initialised():
            raise Refused(f"this database already holds ledger {self.ledger.ledger_id}")
        private_key = self.keystore.create(passphrase)
        encryption_key = self.keystore.create_encryption_key(passphrase)
        public_key = raw_public_key(private_key)
        ledger = Ledger.create_anchored(ledger_name, handle, key_fingerprint(public_key),
                                        secrets.token_hex(16))  # fmt: skip
        signer = Ed25519Signer(ledger.ledger_id, handle, private_key)
        organisation = Organisation.register(
            signer=signer, public_key=public_key, name=name, role=Role.COMMISSIONER,
            sector=sector or Sector.PUBLIC, size=size, identifier=identifier,
            encryption_key=raw_x25519_public_key(encryption_key),
        )  # fmt: skip
        endorse(organisation, signer, name=name, identifier=identifier,
                fingerprint=signer.key_id, root=True)  # fmt: skip
        organisation._trigger(RegistrarAppointed, signer)
        records: list[LedgerAggregate] = [ledger, organisation]
        if identifier is not None:
            records.append(IdentifierClaim.claim(signer, identifier, handle))
        self.ledger.registry.forget()
        self.ledger.save_aggregates(*records)
        return ledger.ledger_id, handle

    # -- the registrars' use cases ----------------------------------------------------

    def endorse_organisation(
        self,
        registrar: str,
        passphrase: str,
        handle: str,
        fingerprint: str,
        *,
        identifier: str | None = None,
    ) -> None:
        """``registrar`` vouches that ``fingerprint`` is ``handle``'s key (and ``identifier``,
        default: the one it registered with, its identifier)."""
        fingerprint = parse_fingerprint(fingerprint)
        self._require_registry()
        signer = self._registrar_signer(registrar, passphrase)
        self.ledger.with_retries(
            lambda: self.endorse(signer, handle, fingerprint, identifier=identifier)
        )

    @signed_step
    def endorse(self, signer: Signer, handle: str, fingerprint: str, *,
                identifier: str | None = None, uow: UnitOfWork | None = None) -> None:  # fmt: skip
        """The registrar ``signer`` vouches that ``fingerprint`` is ``handle``'s key."""
        fingerprint = parse_fingerprint(fingerprint)
        with unit_of_work(self.ledger, uow) as unit:
            organisation = unit.organisation(handle)
            claimed = identifier if identifier is not None else organisation.identifier
            claimed = check_identifier(claimed) if claimed else None
            if claimed is not None:
                holder = self.ledger.registry.identifier_holder(claimed)
                if holder is not None:
                    raise Refused(f"identifier {claimed} is already endorsed as {holder}'s: two "
                                  "organisations cannot share one")  # fmt: skip
                unit.add(IdentifierClaim.claim(signer, claimed, organisation.handle))
            endorse(organisation, signer, name=organisation.name, identifier=claimed,
                    fingerprint=fingerprint)  # fmt: skip

    def reject_registration(
        self, registrar: str, passphrase: str, handle: str, reason: str
    ) -> None:
        """``registrar`` refuses ``handle``'s registration request, saying why."""
        reason = check_text(reason, "reason", max_length=500)
        self._require_registry()
        self.reject(self._registrar_signer(registrar, passphrase), handle, reason)

    @signed_step
    def reject(self, signer: Signer, handle: str, reason: str, *,
               uow: UnitOfWork | None = None) -> None:  # fmt: skip
        """The registrar ``signer`` refuses ``handle``'s registration, saying why."""
        reason = check_text(reason, "reason", max_length=500)
        with unit_of_work(self.ledger, uow) as unit:
            organisation = unit.organisation(handle)
            if organisation.endorsement is not None:
                raise Refused(f"{handle} is endorsed (by {organisation.endorsement.registrar}); "
                              "a registrar recovers or replaces an endorsed key, not rejects it")  # fmt: skip
            organisation._trigger(RegistrationRejected, signer, reason=reason)

    def appoint_registrar(self, registrar: str, passphrase: str, handle: str) -> None:
        """``registrar`` makes ``handle`` (endorsed) a registrar too."""
        self._require_registry()
        self.appoint(self._registrar_signer(registrar, passphrase), handle)

    @signed_step
    def appoint(self, signer: Signer, handle: str, *, uow: UnitOfWork | None = None) -> None:
        """The registrar ``signer`` makes ``handle`` (endorsed) a registrar too."""
        with unit_of_work(self.ledger, uow) as unit:
            organisation = unit.organisation(handle)
            if organisation.endorsement is None:
                raise Refused(f"{handle} is not endorsed: endorse it before appointing it "
                              "registrar")  # fmt: skip
            if organisation.registrar_since is not None:
                raise Refused(f"{handle} is already a registrar")
            organisation._trigger(RegistrarAppointed, signer)

    def withdraw_registrar(
        self, registrar: str, passphrase: str, handle: str, reason: str
    ) -> None:
        """``registrar`` ends ``handle``'s power to endorse (the first registrar stays)."""
        reason = check_text(reason, "reason", max_length=500)
        self._require_registry()
        self.withdraw(self._registrar_signer(registrar, passphrase), handle, reason)

    @signed_step
    def withdraw(self, signer: Signer, handle: str, reason: str, *,
                 uow: UnitOfWork | None = None) -> None:  # fmt: skip
        """The registrar ``signer`` ends ``handle``'s power to endorse."""
        reason = check_text(reason, "reason", max_length=500)
        if handle == self.ledger.registry.genesis().registrar:
            raise Refused(f"{handle} is this ledger's first registrar, named in its genesis: "
                          "it cannot be withdrawn")  # fmt: skip
        with unit_of_work(self.ledger, uow) as unit:
            organisation = unit.organisation(handle)
            if organisation.registrar_since is None:
                raise Refused(f"{handle} is not a registrar")
            organisation._trigger(RegistrarWithdrawn, signer, reason=reason)

    # -- recovering a lost or stolen key ------------------------------------------------

    def request_recovery(self, handle: str, passphrase: str) -> str:
        """Make ``handle`` a new key on this machine and offer it, signed by itself, for a
        registrar to install; returns its fingerprint (to read to the registrar)."""
        self._require_registry()
        organisation = self.ledger.organisation_record(handle)
        private_key = self.keystore.create(passphrase)
        signer = Ed25519Signer(self.ledger.ledger_id, organisation.handle, private_key)
        self.offer_key(signer, encode_key(signer.public_key))
        return signer.key_id

    @signed_step
    def offer_key(self, signer: Signer, public_key: str, *,
                  uow: UnitOfWork | None = None) -> None:  # fmt: skip
        """``signer``'s organisation offers a new key (``public_key``, base64, the key that
        signs this) for a registrar to install in place of a lost or stolen one."""
        with unit_of_work(self.ledger, uow) as unit:
            unit.organisation(signer.org)
            unit.add(RecoveryRequest._create(
                KeyRecoveryRequested, id=recovery_request_id(signer.org, signer.key_id),
                ledger_id=self.ledger.ledger_id, signer=signer, handle=signer.org,
                public_key=public_key,
            ))  # fmt: skip

    def recover_organisation(
        self,
        registrar: str,
        passphrase: str,
        handle: str,
        fingerprint: str,
        *,
        compromised_since: datetime | None,
    ) -> None:
        """``registrar`` installs the key ``handle`` offered (``fingerprint``, heard from the
        organisation) in place of its current one, whatever that is; what its keys signed
        from ``compromised_since`` (None: the key was lost) is marked as compromised."""
        fingerprint = parse_fingerprint(fingerprint)
        self._require_registry()
        signer = self._registrar_signer(registrar, passphrase)
        self.recover(signer, handle, fingerprint, compromised_since=compromised_since)

    @signed_step
    def recover(self, signer: Signer, handle: str, fingerprint: str, *,
                compromised_since: Any = None, uow: UnitOfWork | None = None) -> None:  # fmt: skip
        """The registrar ``signer`` installs the key ``handle`` offered (see
        ``recover_organisation``)."""
        fingerprint = parse_fingerprint(fingerprint)
        if isinstance(compromised_since, str):
            try:
                compromised_since = datetime.fromisoformat(compromised_since)
            except ValueError:
                raise InvalidValue("--compromised-since is an ISO time") from None
        with unit_of_work(self.ledger, uow) as unit:
            self._recover(unit, signer, handle, fingerprint, compromised_since)

    def _recover(self, unit: UnitOfWork, signer: Signer, handle: str, fingerprint: str,
                 compromised_since: datetime | None) -> None:  # fmt: skip
        organisation = unit.organisation(handle)
        if compromised_since is not None and compromised_since > now():
            raise InvalidValue("--compromised-since is in the future")
        try:
            request = self.ledger.load(recovery_request_id(organisation.handle, fingerprint))
        except NotFound:
            raise NotFound(
                f"{handle} has not offered key {fingerprint[:16]}…: on {handle}'s own machine, "
                f"run: chainledger org request-recovery {handle}"
            ) from None
        if fingerprint in organisation.keys:
            raise Refused(f"key {fingerprint[:16]}… was {handle}'s before: a recovery installs "
                          "a new key")  # fmt: skip
        reason = (f"compromised since {compromised_since.isoformat(timespec='seconds')}"
                  if compromised_since else "lost")  # fmt: skip
        organisation._trigger(OrganisationRecovered, signer, new_public_key=request.public_key,
                              compromised_since=compromised_since, reason=reason)  # fmt: skip

    # -- who may sign what --------------------------------------------------------------

    # -- helpers ------------------------------------------------------------------------

    def _require_registry(self) -> None:
        if not self.ledger.registry.has_registrar():
            raise Refused(
                "this ledger has no registrar (it was created without one): nobody can endorse "
                "its organisations; create a ledger with: chainledger init --registrar NAME"
            )

    def _registrar_signer(self, handle: str, passphrase: str) -> Ed25519Signer:
        if not self.ledger.registry.is_registrar(handle, None):
            raise Refused(f"{handle} is not a registrar of this ledger")
        return self.ledger.signer(handle, passphrase)



