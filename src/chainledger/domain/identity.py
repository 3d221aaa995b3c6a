"""Who vouches that a key belongs to an organisation: registrars and endorsements.

A signature proves only that *some key* signed. On a ledger created with a
registrar, an organisation's key means something once a registrar has bound it
to the organisation: ``OrganisationEndorsed``, signed by a registrar, names the
handle, the organisation's name, its identifier (a charity or company number)
and the fingerprint of its key, which the registrar confirmed with the
organisation out of band (by phone or letter, read aloud in groups). Until then
an organisation can register itself and manage its own keys, but sign nothing
on any package.

The first registrar is named in the ledger's genesis, whose id is derived from
it (``domain.ledger.anchored_ledger_id``): every signature in the ledger covers
that id, so the root of identity cannot be swapped without breaking them all.
Registrars appoint and withdraw further registrars, each a signed event on the
appointee's record. An identifier can be endorsed to one organisation only: the
claim is its own record (``IdentifierClaim``), created once.

These events sit on the organisation's record but are signed by a registrar,
another organisation; who may sign them is judged where keys are judged (the
application when it loads a record, the audit and the reader's verifier), by
the position of the event in the ledger's order, like key validity.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chainledger.domain.aggregate import LedgerAggregate
from chainledger.domain.events import LedgerEvent, Signer, ledger_event
from chainledger.domain.ids import NAMESPACE
from chainledger.domain.keys import KeyStatus, SigningKey, decode_key, key_fingerprint
from chainledger.errors import InvalidValue, Refused

FINGERPRINT_LENGTH = 64  # hex digits of a key id (SHA-256)
_SEPARATORS = re.compile(r"[\s:.\-]+")


def parse_fingerprint(value: str) -> str:
    """A key fingerprint as given by a person: the 64 hex digits of the key id, in full,
    with or without the grouping ``readable_fingerprint`` prints (spaces, dashes, colons)."""
    text = _SEPARATORS.sub("", value.strip()).lower()
    if not re.fullmatch(r"[0-9a-f]+", text or "-"):
        raise InvalidValue(
            "a fingerprint is the 64 hexadecimal digits that `chainledger org show` prints "
            "(0-9 and a-f, grouped or not)"
        )
    if len(text) != FINGERPRINT_LENGTH:
        raise InvalidValue(
            f"a fingerprint has {FINGERPRINT_LENGTH} hexadecimal digits, not {len(text)}: "
            "confirm all of it with the organisation, not a prefix"
        )
    return text


def readable_fingerprint(key_id: str) -> str:
    """The fingerprint in 16 groups of 4, upper case, to read aloud and compare by ear."""
    text = key_id.upper()
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


@dataclass(frozen=True)
class Endorsement:
    """A registrar's word that ``fingerprint`` is the key of the organisation it names."""

    registrar: str
    name: str
    identifier: str | None
    fingerprint: str
    position: int | None  # where in the ledger's order it was recorded


class RegistrarEvent(LedgerEvent):
    """An event on an organisation's record, signed by a registrar (another organisation).

    The application checks the signer was a registrar at the event's position.
    """

    def check_record(self, aggregate: Any) -> None:
        if getattr(aggregate, "handle", None) is None:
            raise self.tamper("a registrar's event on a record that is not an organisation")


@ledger_event("OrganisationEndorsed")
class OrganisationEndorsed(RegistrarEvent):
    name: str
    identifier: str | None
    fingerprint: str

    def apply(self, aggregate: Any) -> None:
        self.check_record(aggregate)
        if aggregate.endorsement is not None:
            raise self.tamper(f"{aggregate.handle} endorsed twice")
        if self.fingerprint not in aggregate.keys:
            raise self.tamper(f"an endorsement of a key {aggregate.handle} never had")
        aggregate.endorsement = Endorsement(
            self.org or "", self.name, self.identifier, self.fingerprint, self.notification_id
        )
        aggregate.rejection = None

    def summary(self) -> str:
        named = f" ({self.identifier})" if self.identifier else ""
        return (f"{self.org} endorsed {self.name}{named} with key "
                f"{self.fingerprint[:16]}…")  # fmt: skip


@ledger_event("RegistrationRejected")
class RegistrationRejected(RegistrarEvent):
    reason: str

    def apply(self, aggregate: Any) -> None:
        self.check_record(aggregate)
        if aggregate.endorsement is not None:
            raise self.tamper(f"a rejection of {aggregate.handle}, which was endorsed")
        aggregate.rejection = (self.org, self.reason)

    def summary(self) -> str:
        return f"{self.org} rejected the registration: {self.reason}"


@ledger_event("RegistrarAppointed")
class RegistrarAppointed(RegistrarEvent):
    def apply(self, aggregate: Any) -> None:
        self.check_record(aggregate)
        if aggregate.endorsement is None:
            raise self.tamper(f"{aggregate.handle} appointed registrar before it was endorsed")
        if aggregate.registrar_since is not None:
            raise self.tamper(f"{aggregate.handle} appointed registrar twice")
        aggregate.registrar_since = self.notification_id or 0
        aggregate.registrar_spans = (*aggregate.registrar_spans,
                                     (self.notification_id, None, None))  # fmt: skip

    def summary(self) -> str:
        return f"{self.org} appointed a registrar"


@ledger_event("RegistrarWithdrawn")
class RegistrarWithdrawn(RegistrarEvent):
    reason: str

    def apply(self, aggregate: Any) -> None:
        self.check_record(aggregate)
        if aggregate.registrar_since is None:
            raise self.tamper(f"{aggregate.handle} withdrawn as registrar, which it was not")
        aggregate.registrar_since = None
        start, *_ = aggregate.registrar_spans[-1]
        aggregate.registrar_spans = (*aggregate.registrar_spans[:-1],
                                     (start, self.notification_id, self.timestamp))  # fmt: skip

    def summary(self) -> str:
        return f"{self.org} withdrew a registrar: {self.reason}"


REGISTRAR_EVENTS: tuple[type[RegistrarEvent], ...] = (
    OrganisationEndorsed, RegistrationRejected, RegistrarAppointed, RegistrarWithdrawn,
)  # fmt: skip (OrganisationRecovered joins them below)


def endorse(
    organisation: Any,
    signer: Signer,
    *,
    name: str,
    identifier: str | None,
    fingerprint: str,
    root: bool = False,
) -> None:
    """Record ``signer``'s (a registrar's) endorsement of ``organisation``'s key (``root``:
    the ledger's first registrar vouching for itself, at its creation)."""
    if organisation.endorsement is not None:
        raise Refused(f"{organisation.handle} is already endorsed, by "
                      f"{organisation.endorsement.registrar}")  # fmt: skip
    if signer.org == organisation.handle and not root:
        raise Refused("an organisation cannot endorse itself: another registrar must")
    if fingerprint != organisation.current_key_id:
        raise Refused(
            f"the fingerprint you were given is not {organisation.handle}'s current key "
            f"({readable_fingerprint(organisation.current_key_id)[:19]} …): check it with the "
            "organisation again; if it differs, someone else may have registered in its name"
        )
    organisation._trigger(OrganisationEndorsed, signer, name=name, identifier=identifier,
                          fingerprint=fingerprint)  # fmt: skip


class IdentifierClaim(LedgerAggregate):
    """An organisation identifier endorsed to one organisation: created once, never again."""

    identifier: str
    handle: str

    @classmethod
    def claim(cls, signer: Signer, identifier: str, handle: str) -> IdentifierClaim:
        return cls._create(IdentifierClaimed, id=identifier_claim_id(identifier),
                           ledger_id=signer.ledger_id, signer=signer, identifier=identifier,
                           handle=handle)  # fmt: skip


@ledger_event("IdentifierClaimed")
class IdentifierClaimed(LedgerEvent):
    creates = IdentifierClaim
    identifier: str
    handle: str

    def apply(self, aggregate: Any) -> None:
        if aggregate.id != identifier_claim_id(self.identifier):
            raise self.tamper("an identifier claimed under another identifier's record")
        aggregate.identifier = self.identifier
        aggregate.handle = self.handle

    def summary(self) -> str:
        return f"{self.org} recorded identifier {self.identifier} as {self.handle}'s"


def identifier_claim_id(identifier: str) -> Any:
    from uuid import uuid5

    return uuid5(NAMESPACE, f"identifier:{identifier.upper()}")


# -- who had standing to sign what, by position (for the audit and the reader's verifier) ------

RECOVERY_TYPE = "OrganisationRecovered"  # a registrar's event too (declared below)
REGISTRAR_TYPES = frozenset(
    {*(cls.type_name for cls in (*REGISTRAR_EVENTS, IdentifierClaimed)), RECOVERY_TYPE}
)
IDENTITY_TYPES = REGISTRAR_TYPES - {IdentifierClaimed.type_name}  # those on organisations' records


@dataclass
class Authority:
    """Who could act as registrar, and who was endorsed, at each position of a ledger's order.

    Built in log order from events that verified (their signatures by a key valid at
    their position): ``root`` from the genesis, the rest from registrars' events, each
    taken in only if the rules allow it (``apply``); one they do not is named in
    ``refused``. A ledger without a root (created before registrars) checks nothing.
    """

    root: str | None = None
    endorsed: dict[str, int] = field(default_factory=dict)  # org -> position endorsed at
    # org -> [[from position, until position, until (ISO signed time)], …]
    registrars: dict[str, list[list[Any]]] = field(default_factory=dict)
    # org -> [[compromised since (ISO time), recovered at position], …]
    compromised: dict[str, list[list[Any]]] = field(default_factory=dict)
    identifiers: dict[str, str] = field(default_factory=dict)  # identifier -> org endorsed
    endorsers: dict[str, list[Any]] = field(default_factory=dict)  # org -> [registrar, ISO time]
    refused: dict[int, str] = field(default_factory=dict)  # position -> why it does not count

    def state(self) -> dict[str, Any]:
        return {"root": self.root, "endorsed": self.endorsed, "registrars": self.registrars,
                "compromised": self.compromised, "identifiers": self.identifiers,
                "endorsers": self.endorsers, "refused": sorted(self.refused.items())}  # fmt: skip

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Authority:
        return cls(state["root"], state["endorsed"], state["registrars"],
                   state.get("compromised", {}), state.get("identifiers", {}),
                   state.get("endorsers", {}),
                   {int(k): v for k, v in state.get("refused", [])})  # fmt: skip

    def flag(self, org: str | None, signed_at: datetime | None, position: int,
             reached: datetime | None = None) -> str | None:  # fmt: skip
        """Why an event ``org`` signed at ``signed_at`` is marked (None: it is not);
        ``reached`` as in :func:`in_compromised_window`."""
        return compromised_flag(org, self.compromised.get(org or "", ()), signed_at, position,
                                reached)  # fmt: skip

    def suspect(self, org: str | None, position: int) -> bool:
        """Whether an event ``org`` signed at ``position`` falls before one of its recoveries
        that named a compromise: whether it is marked depends on what precedes it."""
        return any(position < until for _, until in self.compromised.get(org or "", ()))

    def is_registrar(self, org: str | None, position: int, at: datetime | None = None) -> bool:
        """Whether ``org`` could act as registrar at ``position`` (and, if given, at the
        signed time ``at``: not at or after the signed time of its withdrawal)."""
        if org is None or self.root is None:
            return False
        if org == self.root:
            return True
        for start, end, end_at in self.registrars.get(org, ()):
            if start is None or start >= position or (end is not None and position >= end):
                continue
            if at is not None and end_at is not None and at >= datetime.fromisoformat(end_at):
                continue
            return True
        return False

    def problem(self, event_type: str, org: str | None, own_record: bool, position: int,
                at: datetime | None = None) -> str | None:
        """Why ``org`` could not sign an event of ``event_type`` at ``position`` (None: it
        could). ``own_record``: the event is on ``org``'s own record."""
        if self.root is None or event_type == "LedgerCreated":
            return None
        if event_type in REGISTRAR_TYPES:
            if not self.is_registrar(org, position, at):
                return f"signed by {org}, which was not a registrar of this ledger at that point"
            return self.refused.get(position)
        if own_record:
            return None
        endorsed = self.endorsed.get(org or "")
        if endorsed is None or endorsed >= position or not self._endorser_stands(org or ""):
            return f"signed by {org}, which no registrar had endorsed at that point"
        return None

    def _endorser_stands(self, org: str) -> bool:
        """Whether the endorsement of ``org`` was signed by a registrar, as far as is known
        now (a withdrawal read later may show it signed after it had lost the power)."""
        registrar, at = self.endorsers.get(org, (None, None))
        if registrar is None:
            return True
        signed = datetime.fromisoformat(at) if at else None
        return self.is_registrar(registrar, self.endorsed[org], signed)

    def apply(self, event_type: str, signer: str | None, target: str | None,
              position: int, *, fields: dict[str, Any], key_of_target: bool = True,
              at: datetime | None = None) -> str | None:
        """Take in a verified registrar's event on ``target``'s record (``key_of_target``:
        an endorsement names a key the target had); returns why the rules do not allow it
        (it then counts for nothing, and is named in ``refused``), or None."""
        if self.root is None or not self.is_registrar(signer, position, at):
            return None  # the event's own check reports it
        reason = self._rule(event_type, target, fields, key_of_target)
        if reason is not None:
            self.refused[position] = reason
            return reason
        assert target is not None
        if event_type == OrganisationEndorsed.type_name:
            self.endorsed[target] = position
            self.endorsers[target] = [signer, at.isoformat() if at else None]
            identifier = fields.get("identifier")
            if isinstance(identifier, str):
                self.identifiers[identifier.upper()] = target
        elif event_type == RegistrarAppointed.type_name:
            self.registrars.setdefault(target, []).append([position, None, None])
        elif event_type == RegistrarWithdrawn.type_name:
            span = self.registrars[target][-1]
            span[1], span[2] = position, at.isoformat() if at else None
        elif event_type == RECOVERY_TYPE and fields.get("compromised_since") is not None:
            self.compromised.setdefault(target, []).append([fields["compromised_since"], position])
        return None

    def _rule(self, event_type: str, target: str | None, fields: dict[str, Any],
              key_of_target: bool) -> str | None:
        if target is None:
            return "a registrar's event on a record that is not an organisation's"
        spans = self.registrars.get(target, [])
        registrar_now = bool(spans and spans[-1][1] is None)  # by appointment
        if event_type == OrganisationEndorsed.type_name:
            if target in self.endorsed:
                return f"{target} endorsed twice"
            if not key_of_target:
                return f"an endorsement of a key {target} never had"
            identifier = fields.get("identifier")
            holder = self.identifiers.get(identifier.upper()) if isinstance(identifier, str) else None
            if holder is not None and holder != target:
                return f"identifier {identifier} endorsed to {target}, though it is {holder}'s"
        elif event_type == RegistrationRejected.type_name and target in self.endorsed:
            return f"a rejection of {target}, which was endorsed"
        elif event_type == RegistrarAppointed.type_name:
            if target not in self.endorsed:
                return f"{target} appointed registrar before it was endorsed"
            if registrar_now:
                return f"{target} appointed registrar twice"
        elif event_type == RegistrarWithdrawn.type_name and (
            target == self.root or not registrar_now
        ):
            return f"{target} withdrawn as registrar, which it was not (or cannot be)"
        return None


# -- recovering a lost or stolen key ---------------------------------------------------------------


class RecoveryRequest(LedgerAggregate):
    """An organisation's new key, offered for a registrar to install in place of a lost or
    stolen one: signed by the new key itself (proof of possession), since the old one is
    gone or in a thief's hands."""

    handle: str
    public_key: str


def recovery_request_id(handle: str, key_id: str) -> Any:
    from uuid import uuid5

    return uuid5(NAMESPACE, f"recovery:{handle}:{key_id}")


@ledger_event("KeyRecoveryRequested")
class KeyRecoveryRequested(LedgerEvent):
    creates = RecoveryRequest
    handle: str
    public_key: str

    def apply(self, aggregate: Any) -> None:
        if self.org != self.handle or aggregate.id != recovery_request_id(self.handle,
                                                                          self.key_id or ""):
            raise self.tamper("a recovery request not signed by the key it offers")
        aggregate.handle = self.handle
        aggregate.public_key = self.public_key

    def summary(self) -> str:
        return f"{self.handle} asked a registrar to install key {str(self.key_id)[:16]}…"


@ledger_event("OrganisationRecovered")
class OrganisationRecovered(RegistrarEvent):
    """A registrar replaces an organisation's key, whatever its current key is (a thief may
    have rotated or revoked it): the new key signs from here on, and what the
    organisation's keys signed from ``compromised_since`` up to here is marked as signed by
    a compromised key (None: the key was lost, not stolen)."""

    new_public_key: str
    compromised_since: datetime | None
    reason: str

    @property
    def new_key_id(self) -> str:
        return key_fingerprint(decode_key(self.new_public_key))

    def apply(self, aggregate: Any) -> None:
        self.check_record(aggregate)
        new_key = decode_key(self.new_public_key)
        new_id = self.new_key_id
        if new_id in aggregate.keys:
            raise self.tamper("a recovery to a key the organisation used before")
        old = aggregate.keys[aggregate.current_key_id]
        old.status = KeyStatus.REVOKED
        old.valid_until = self.timestamp
        old.until_position = self.notification_id
        old.reason = f"recovered by {self.org}: {self.reason}"
        aggregate.keys[new_id] = SigningKey(new_id, new_key, valid_from=self.timestamp,
                                            from_position=self.notification_id)  # fmt: skip
        aggregate.current_key_id = new_id
        if self.compromised_since is not None:
            aggregate.compromised = (*aggregate.compromised,
                                     (self.compromised_since, self.notification_id))  # fmt: skip

    def summary(self) -> str:
        how = (f"compromised since {self.compromised_since.isoformat(timespec='seconds')}"
               if self.compromised_since else "lost")  # fmt: skip
        return f"{self.org} recovered the organisation with key {self.new_key_id[:16]}… ({how})"


def compromised_flag(org: str | None, windows: Any, signed_at: datetime | None,
                     position: int, reached: datetime | None = None) -> str | None:  # fmt: skip
    """Why an event ``org`` signed is marked, given its compromised windows as the
    :class:`Authority` keeps them ([since as ISO time, recovered at position], …)."""
    for since, until in windows:
        if in_compromised_window(datetime.fromisoformat(since), until, signed_at, position,
                                 reached):  # fmt: skip
            return (f"signed by {org} after its key was compromised (since {since}; a "
                    f"registrar recovered it at event #{until})")
    return None


def in_compromised_window(
    since: datetime, until: int | None, signed_at: datetime | None, position: int | None,
    reached: datetime | None = None,
) -> bool:
    """Whether an event stored at ``position`` falls in an organisation's compromised window
    (from ``since`` to its recovery at position ``until``): signed at or after ``since``, or
    placed after an event that was (``reached``: the latest signed time of the events
    before it in the ledger's order). The second catches a thief who sets his clock back:
    the audit lets a signed time run up to ``TIMESTAMP_TOLERANCE`` behind the events before
    it, so the time alone could fall just before the window while the event sits after its
    start."""
    if position is not None and until is not None and position >= until:
        return False
    return (signed_at is not None and signed_at >= since) or (
        reached is not None and reached >= since
    )
