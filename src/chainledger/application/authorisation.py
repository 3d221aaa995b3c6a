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

from datetime import datetime
from typing import TYPE_CHECKING, Any

from chainledger.domain.identity import (
    IdentifierClaimed,
    OrganisationEndorsed,
    RegistrarEvent,
    identifier_claim_id,
)
from chainledger.domain.ids import LEDGER_AGGREGATE_ID, organisation_id
from chainledger.domain.ledger import Ledger, LedgerCreated
from chainledger.domain.organisation import Organisation, OrganisationRegistered
from chainledger.errors import NotFound, Refused

if TYPE_CHECKING:
    from chainledger.application.ports import LedgerPort
    from chainledger.domain.aggregate import LedgerAggregate
    from chainledger.domain.events import LedgerEvent

# Records an organisation may write to before it is endorsed: its own.
OWN_RECORDS = (Organisation,)


class Registry:
    """Who may sign what on a ledger: its registrars, and whom they endorsed. The ledger
    asks it on every write (``save_aggregates``) and every load."""

    def __init__(self, ledger: LedgerPort) -> None:
        self.ledger = ledger
        self._genesis: Ledger | None = None
        self._checking_withdrawals: set[str] = set()

    def forget(self) -> None:
        """Read the genesis afresh next time (a ledger was just created)."""
        self._genesis = None

    def genesis(self) -> Ledger:
        """The ledger's genesis record (its name, and its first registrar if it has one)."""
        if self._genesis is None:
            self._genesis = self.ledger.load(LEDGER_AGGREGATE_ID)
        return self._genesis

    def has_registrar(self) -> bool:
        return self.genesis().registrar is not None

    def is_registrar(
        self, handle: str, position: int | None, at: datetime | None = None
    ) -> bool:
        """Whether ``handle`` could act as registrar at ``position`` (None: now), for an event
        signed at ``at``."""
        genesis = self.genesis()
        if genesis.registrar is None:
            return False
        if handle == genesis.registrar:
            return True
        try:
            organisation = self.ledger.organisation_at(handle, position)
        except NotFound:
            return False
        if not _within(organisation.registrar_spans, position, at):
            return False
        if at is None or position is None:
            return True
        # A withdrawal recorded after ``position`` whose signed time is before ``at``: the
        # event was moved ahead of the withdrawal, or back-dated past it. (The whole record
        # is read for this, once per handle at a time, so that the check cannot loop.)
        checking = self._checking_withdrawals
        if handle in checking:
            return True
        checking.add(handle)
        try:
            whole = self.ledger.organisation_record(handle)
        finally:
            checking.discard(handle)
        return not any(end_at is not None and end_at <= at and (start or 0) < position
                       for start, _end, end_at in whole.registrar_spans)  # fmt: skip

    def check_authority(
        self,
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
                holder = self.identifier_holder(identifier, before=position)
                if holder is not None and organisation_id(holder) != event.originator_id:
                    raise event.tamper(f"identifier {identifier} endorsed to another "
                                       f"organisation, though it is {holder}'s")  # fmt: skip
            return
        if isinstance(aggregate, OWN_RECORDS) or isinstance(event, OrganisationRegistered):
            return
        if not _endorsed_at(signer, position):
            raise event.tamper(f"signed by {event.org}, which no registrar had endorsed at "
                               "that point")  # fmt: skip

    def require_endorsed(self, handle: str) -> None:
        """Refuse, before anything is signed, an organisation no registrar endorsed yet."""
        if not self.has_registrar():
            return
        organisation = self.ledger.organisation_record(handle)
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

    def identifier_holder(
        self, identifier: str, before: int | None = None
    ) -> str | None:
        """The organisation ``identifier`` was endorsed to (before ``before``), if any."""
        try:
            claim = self.ledger.load(identifier_claim_id(identifier), before=before)
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
