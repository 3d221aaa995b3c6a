"""Use cases of identity: a ledger's registrars, and their endorsements of organisations.

Who may sign what (enforced here on every write and every load):

- on a ledger created with a registrar (``init --registrar``), an organisation
  signs nothing but its own registration and key changes until a registrar has
  endorsed it; an event on any other record by an organisation that was not
  endorsed at that point in the ledger is refused when written and reported as
  tampering when read;
- the endorsements, rejections and (with the identifier claims) appointments
  and withdrawals of registrars are signed by an organisation that was a
  registrar at that point: the ledger's first registrar, named in its genesis,
  or one it (or another registrar) appointed and did not withdraw.

A ledger created before registrars existed has none: nobody vouches for its
organisations' keys, and nothing here applies to it.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import TYPE_CHECKING, Any

from chainledger.adapters.crypto import Ed25519Signer, raw_public_key, raw_x25519_public_key
from chainledger.domain.events import now
from chainledger.domain.identity import (
    IdentifierClaim,
    IdentifierClaimed,
    KeyRecoveryRequested,
    OrganisationEndorsed,
    OrganisationRecovered,
    RecoveryRequest,
    RegistrarAppointed,
    RegistrarEvent,
    RegistrarWithdrawn,
    RegistrationRejected,
    endorse,
    identifier_claim_id,
    parse_fingerprint,
    recovery_request_id,
)
from chainledger.domain.ids import LEDGER_AGGREGATE_ID, organisation_id
from chainledger.domain.keys import encode_key, key_fingerprint
from chainledger.domain.ledger import Ledger, LedgerCreated
from chainledger.domain.organisation import Organisation, OrganisationRegistered
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

if TYPE_CHECKING:
    from chainledger.application.ledger import ChainLedger
    from chainledger.domain.aggregate import LedgerAggregate
    from chainledger.domain.events import LedgerEvent

# Records an organisation may write to before it is endorsed: its own.
OWN_RECORDS = (Organisation,)


class Identity:
    """Registrars and endorsements; mixed into the application."""

    # -- creating a ledger with its registrar ---------------------------------------

    def init_with_registrar(
        self: ChainLedger,
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
        if self.is_initialised():
            raise Refused(f"this database already holds ledger {self.ledger_id}")
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
        self._genesis = None
        self.save_aggregates(*records)
        self._ledger_id = ledger.ledger_id
        return ledger.ledger_id, handle

    # -- the registrars' use cases ----------------------------------------------------

    def endorse_organisation(
        self: ChainLedger,
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

        def attempt() -> None:
            organisation = self._organisation(handle)
            claimed = identifier if identifier is not None else organisation.identifier
            claimed = check_identifier(claimed) if claimed else None
            records: list[LedgerAggregate] = [organisation]
            if claimed is not None:
                holder = self._identifier_holder(claimed)
                if holder is not None:
                    raise Refused(f"identifier {claimed} is already endorsed as {holder}'s: two "
                                  "organisations cannot share one")  # fmt: skip
                records.append(IdentifierClaim.claim(signer, claimed, organisation.handle))
            endorse(organisation, signer, name=organisation.name, identifier=claimed,
                    fingerprint=fingerprint)  # fmt: skip
            self.save_aggregates(*records)

        self.with_retries(attempt)

    def reject_registration(
        self: ChainLedger, registrar: str, passphrase: str, handle: str, reason: str
    ) -> None:
        """``registrar`` refuses ``handle``'s registration request, saying why."""
        reason = check_text(reason, "reason", max_length=500)
        self._require_registry()
        signer = self._registrar_signer(registrar, passphrase)
        organisation = self._organisation(handle)
        if organisation.endorsement is not None:
            raise Refused(f"{handle} is endorsed (by {organisation.endorsement.registrar}); "
                          "a registrar recovers or replaces an endorsed key, not rejects it")  # fmt: skip
        organisation._trigger(RegistrationRejected, signer, reason=reason)
        self.save_aggregates(organisation)

    def appoint_registrar(self: ChainLedger, registrar: str, passphrase: str, handle: str) -> None:
        """``registrar`` makes ``handle`` (endorsed) a registrar too."""
        self._require_registry()
        signer = self._registrar_signer(registrar, passphrase)
        organisation = self._organisation(handle)
        if organisation.endorsement is None:
            raise Refused(f"{handle} is not endorsed: endorse it before appointing it registrar")
        if organisation.registrar_since is not None:
            raise Refused(f"{handle} is already a registrar")
        organisation._trigger(RegistrarAppointed, signer)
        self.save_aggregates(organisation)

    def withdraw_registrar(
        self: ChainLedger, registrar: str, passphrase: str, handle: str, reason: str
    ) -> None:
        """``registrar`` ends ``handle``'s power to endorse (the first registrar stays)."""
        reason = check_text(reason, "reason", max_length=500)
        self._require_registry()
        signer = self._registrar_signer(registrar, passphrase)
        if handle == self.genesis().registrar:
            raise Refused(f"{handle} is this ledger's first registrar, named in its genesis: "
                          "it cannot be withdrawn")  # fmt: skip
        organisation = self._organisation(handle)
        if organisation.registrar_since is None:
            raise Refused(f"{handle} is not a registrar")
        organisation._trigger(RegistrarWithdrawn, signer, reason=reason)
        self.save_aggregates(organisation)

    # -- recovering a lost or stolen key ------------------------------------------------

    def request_recovery(self: ChainLedger, handle: str, passphrase: str) -> str:
        """Make ``handle`` a new key on this machine and offer it, signed by itself, for a
        registrar to install; returns its fingerprint (to read to the registrar)."""
        self._require_registry()
        organisation = self._organisation(handle)
        private_key = self.keystore.create(passphrase)
        signer = Ed25519Signer(self.ledger_id, organisation.handle, private_key)
        request = RecoveryRequest._create(
            KeyRecoveryRequested, id=recovery_request_id(organisation.handle, signer.key_id),
            ledger_id=self.ledger_id, signer=signer, handle=organisation.handle,
            public_key=encode_key(signer.public_key),
        )  # fmt: skip
        self.save_aggregates(request)
        return signer.key_id

    def recover_organisation(
        self: ChainLedger,
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
        organisation = self._organisation(handle)
        if compromised_since is not None and compromised_since > now():
            raise InvalidValue("--compromised-since is in the future")
        try:
            request = self.load(recovery_request_id(organisation.handle, fingerprint))
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
        self.save_aggregates(organisation)

    # -- who may sign what --------------------------------------------------------------

    def genesis(self: ChainLedger) -> Ledger:
        """The ledger's genesis record (its name, and its first registrar if it has one)."""
        if getattr(self, "_genesis", None) is None:
            self._genesis = self.load(LEDGER_AGGREGATE_ID)
        return self._genesis

    def has_registrar(self: ChainLedger) -> bool:
        return self.genesis().registrar is not None

    def is_registrar(
        self: ChainLedger, handle: str, position: int | None, at: datetime | None = None
    ) -> bool:
        """Whether ``handle`` could act as registrar at ``position`` (None: now), for an event
        signed at ``at``."""
        genesis = self.genesis()
        if genesis.registrar is None:
            return False
        if handle == genesis.registrar:
            return True
        try:
            organisation = self.organisation_at(handle, position)
        except NotFound:
            return False
        if not _within(organisation.registrar_spans, position, at):
            return False
        if at is None or position is None:
            return True
        # A withdrawal recorded after ``position`` whose signed time is before ``at``: the
        # event was moved ahead of the withdrawal, or back-dated past it. (The whole record
        # is read for this, once per handle at a time, so that the check cannot loop.)
        checking: set[str] = self.__dict__.setdefault("_checking_withdrawals", set())
        if handle in checking:
            return True
        checking.add(handle)
        try:
            whole = self._organisation(handle)
        finally:
            checking.discard(handle)
        return not any(end_at is not None and end_at <= at and (start or 0) < position
                       for start, _end, end_at in whole.registrar_spans)  # fmt: skip

    def check_authority(
        self: ChainLedger,
        event: LedgerEvent,
        aggregate: LedgerAggregate | None,
        signer: Organisation,
    ) -> None:
        """Refuse (as tampering) an event its signer had no standing to sign at its
        position: a registrar's event by a non-registrar, or any event on another
        record by an organisation not yet endorsed."""
        if isinstance(event, LedgerCreated) or not self.has_registrar():
            return
        position = event.notification_id
        assert event.org is not None
        if isinstance(event, RegistrarEvent | IdentifierClaimed):
            if not self.is_registrar(event.org, position, event.timestamp):
                raise event.tamper(f"signed by {event.org}, which was not a registrar of this "
                                   "ledger at that point")  # fmt: skip
            identifier = getattr(event, "identifier", None)
            if isinstance(event, OrganisationEndorsed) and identifier is not None:
                holder = self._identifier_holder(identifier, before=position)
                if holder is not None and organisation_id(holder) != event.originator_id:
                    raise event.tamper(f"identifier {identifier} endorsed to another "
                                       f"organisation, though it is {holder}'s")  # fmt: skip
            return
        if isinstance(aggregate, OWN_RECORDS) or isinstance(event, OrganisationRegistered):
            return
        if not _endorsed_at(signer, position):
            raise event.tamper(f"signed by {event.org}, which no registrar had endorsed at "
                               "that point")  # fmt: skip

    def require_endorsed(self: ChainLedger, handle: str) -> None:
        """Refuse, before anything is signed, an organisation no registrar endorsed yet."""
        if not self.has_registrar():
            return
        organisation = self._organisation(handle)
        if organisation.endorsement is not None:
            return
        if organisation.rejection is not None:
            by, reason = organisation.rejection
            raise Refused(f"{handle}'s registration was rejected by {by} ({reason}): it can "
                          "sign nothing here")  # fmt: skip
        raise Refused(
            f"{handle} is not endorsed yet, so it can sign nothing on a package: a registrar "
            f"of this ledger ({self.genesis().registrar}) must confirm its key first with: "
            f"chainledger org endorse {handle} --as REGISTRAR --fingerprint FINGERPRINT"
        )

    # -- helpers ------------------------------------------------------------------------

    def _require_registry(self: ChainLedger) -> None:
        if not self.has_registrar():
            raise Refused(
                "this ledger has no registrar (it was created without one): nobody can endorse "
                "its organisations; create a ledger with: chainledger init --registrar NAME"
            )

    def _registrar_signer(self: ChainLedger, handle: str, passphrase: str) -> Ed25519Signer:
        if not self.is_registrar(handle, None):
            raise Refused(f"{handle} is not a registrar of this ledger")
        return self.signer(handle, passphrase)

    def _identifier_holder(
        self: ChainLedger, identifier: str, before: int | None = None
    ) -> str | None:
        """The organisation ``identifier`` was endorsed to (before ``before``), if any."""
        try:
            claim = self.load(identifier_claim_id(identifier), before=before)
        except NotFound:
            return None
        return str(claim.handle)


def _within(spans: tuple[tuple[Any, ...], ...], position: int | None,
            at: datetime | None = None) -> bool:
    """Whether ``position`` (None: now) falls in one of a registrar's spans, signed (``at``)
    before the signed time of the withdrawal that ended it."""
    for start, end, end_at in spans:
        if position is None:
            if start is not None and end is None:
                return True
        elif (
            (start is None or start < position)
            and (end is None or position < end)
            and (at is None or end_at is None or at < end_at)
        ):
            return True
    return False


def _endorsed_at(organisation: Organisation, position: int | None) -> bool:
    endorsement = organisation.endorsement
    if endorsement is None:
        return False
    if position is None or endorsement.position is None:
        return True
    return endorsement.position < position


__all__ = ["Identity", "organisation_id"]
