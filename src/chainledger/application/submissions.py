"""Steps signed elsewhere: how a ledger service accepts what a client signed.

A client runs a use case on its own machine, against records it verified, and signs
the events it makes with its own key; it sends the service the *step* (the use case's
name and inputs, as the bulk import takes them) together with those signed events.
The service runs the same use case with the same inputs on its own records, with a
``ReplaySigner`` in place of the key: each time the use case asks for a signature, the
content it made must be byte for byte the next event the client sent, and that event's
signature must verify with the signer's current key. So the client cannot get anything
recorded that the use case would not make on the ledger as it stands — every rule of
the local path is the service's rule too — and the service never holds a key.

When the records changed between the client's reading and the service's (another
writer came first), the contents differ and the step is a ``Conflict``: the client
reads afresh, checks the rules again and signs again.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from chainledger.adapters.crypto import verify
from chainledger.application.contracting import Contracting, UnitOfWork
from chainledger.application.organisations import Organisations
from chainledger.application.ports import LedgerPort
from chainledger.application.reviews import Reviews
from chainledger.application.steps import steps_of
from chainledger.domain.events import LedgerEvent, decode_event, now, split_state
from chainledger.domain.keys import decode_key, key_fingerprint
from chainledger.domain.values import check_handle
from chainledger.errors import Conflict, InvalidValue, Refused

# How far a client's clock may be from the service's (the audit lets signed times run
# back by ten minutes; a step is refused well before that).
CLOCK_TOLERANCE = timedelta(minutes=5)
MAX_STEPS = 10_000


# The services whose signed steps a client may send, by the name a step gives.
SERVICES: dict[str, type] = {"Contracting": Contracting, "Organisations": Organisations,
                             "Reviews": Reviews}
STEPS = {(service, name) for service, cls in SERVICES.items() for name in steps_of(cls)}
# Steps signed by the key they carry, which is nobody's yet: a registration, a key offered
# for recovery. Each is sent on its own.
SELF_SIGNED = {("Organisations", "register"), ("Organisations", "offer_key")}


@dataclass
class Step:
    """One use case to run: its name, who signs it (and the date it took effect), and its
    inputs (text, numbers and lists, as JSON carries them)."""

    service: str
    method: str
    org: str
    on: date | None
    args: list[Any]
    kwargs: dict[str, Any]

    @classmethod
    def parse(cls, value: Any) -> Step:
        if not isinstance(value, dict):
            raise InvalidValue("a step is a JSON object")
        service, method = value.get("service"), value.get("method")
        if (service, method) not in STEPS:
            raise InvalidValue(f"unknown step {service}.{method}")
        args, kwargs = value.get("args", []), value.get("kwargs", {})
        if not isinstance(args, list) or not isinstance(kwargs, dict) or "uow" in kwargs:
            raise InvalidValue("a step's inputs are a list and an object")
        on = value.get("on")
        try:
            day = date.fromisoformat(on) if on is not None else None
        except (TypeError, ValueError):
            raise InvalidValue("a step's date is YYYY-MM-DD") from None
        return cls(str(service), str(method), check_handle(str(value.get("org", ""))), day, args,
                   kwargs)  # fmt: skip

    def json(self) -> dict[str, Any]:
        return {"service": self.service, "method": self.method, "org": self.org,
                "on": self.on.isoformat() if self.on else None,
                "args": self.args, "kwargs": self.kwargs}  # fmt: skip


@dataclass
class ReplaySigner:
    """Stands in for a client's key: gives back the client's signatures, in order, for
    exactly the contents the client signed, each verified with the signer's key."""

    ledger_id: UUID
    org: str
    key_id: str
    public_key: bytes
    events: list[LedgerEvent]
    on: date | None = None
    used: list[int] = field(default_factory=lambda: [0])  # shared by dated() copies

    def _next(self) -> LedgerEvent:
        if self.used[0] >= len(self.events):
            raise Conflict(_CHANGED)
        return self.events[self.used[0]]

    def clock(self) -> datetime:
        return self._next().timestamp

    def sign(self, message: bytes) -> bytes:
        event = self._next()
        if event.content != message or event.org != self.org or event.key_id != self.key_id:
            raise Conflict(_CHANGED)
        if not verify(self.public_key, event.signature, message):
            raise Refused(f"a signature of {self.org}'s does not verify with its current key")
        self.used[0] += 1
        return event.signature

    def dated(self, on: date | None) -> ReplaySigner:
        return ReplaySigner(self.ledger_id, self.org, self.key_id, self.public_key,
                            self.events, on, self.used)  # fmt: skip


_CHANGED = ("the ledger changed since you read it (someone else recorded first); "
            "nothing was written — run the command again")  # fmt: skip


class Submissions:
    """Steps signed by clients, checked by running them again here, and recorded."""

    def __init__(self, ledger: LedgerPort, services: dict[str, Any],
                 clock: Callable[[], datetime] = now) -> None:  # fmt: skip
        self.ledger = ledger
        self.services = services
        self.clock = clock

    def submit(self, steps: Sequence[Step], stored: Sequence[bytes]) -> list[LedgerEvent]:
        """Run ``steps`` here with the signatures of ``stored`` (the events the client made,
        signature and content as stored, in order); record them all, or nothing."""
        if not steps or len(steps) > MAX_STEPS or len(stored) > 100 * MAX_STEPS:
            raise InvalidValue("a submission holds from 1 to 10,000 steps")
        events = [_decode(state) for state in stored]
        here = self.clock()
        for event in events:
            if abs(event.timestamp - here) > CLOCK_TOLERANCE:
                raise Refused(
                    f"your clock is {_minutes(event.timestamp - here)} the service's: set it "
                    "right and run the command again"
                )
        if len(steps) > 1 and any((s.service, s.method) in SELF_SIGNED for s in steps):
            raise InvalidValue("a registration or a key offered is sent on its own")
        signers: dict[str, ReplaySigner] = {}
        unit = UnitOfWork(self.ledger)
        for step in steps:
            method = getattr(self.services[step.service], step.method)
            try:  # the inputs must be the use case's own (``uow`` is the service's)
                inputs = inspect.signature(method).bind(None, *step.args, **step.kwargs)
            except TypeError as error:
                raise InvalidValue(f"the inputs of step {step.method} do not fit it: "
                                   f"{error}") from None  # fmt: skip
            if step.org not in signers:
                signers[step.org] = self._signer(step, inputs.arguments, events)
            method(signers[step.org].dated(step.on), *step.args, **step.kwargs, uow=unit)
        self._check_all_used(signers, events)
        return unit.commit()

    @staticmethod
    def _check_all_used(signers: dict[str, ReplaySigner], events: Sequence[LedgerEvent]) -> None:
        """Every event sent was made here, in order, with its signature (nothing else can be
        signed: each signature was asked of the replaying signers); none is left over."""
        if set(signers) != {e.org for e in events} or any(
            signer.used[0] != sum(1 for e in events if e.org == org)
            for org, signer in signers.items()
        ):
            raise Conflict(_CHANGED)

    def _signer(self, step: Step, inputs: dict[str, Any],
                events: Sequence[LedgerEvent]) -> ReplaySigner:  # fmt: skip
        mine = [e for e in events if e.org == step.org]
        if not mine:
            raise InvalidValue(f"no event signed by {step.org} came with its step")
        if (step.service, step.method) in SELF_SIGNED:
            try:
                public_key = decode_key(str(inputs["public_key"]))
            except (ValueError, KeyError):
                raise InvalidValue("the step does not carry the key that signs it") from None
            key_id = key_fingerprint(public_key)
        else:
            organisation = self.ledger.organisation_record(step.org)
            key = organisation.keys.get(organisation.current_key_id)
            if key is None:
                raise Refused(f"{step.org} has no key to sign with")
            key_id, public_key = key.key_id, key.public_key
        if any(e.key_id != key_id for e in mine):
            raise Refused(f"{step.org}'s events are not signed with its current key")
        return ReplaySigner(self.ledger.ledger_id, step.org, key_id, public_key, mine)


def _decode(state: bytes) -> LedgerEvent:
    """An event as the client sent it (checked by replaying it, not trusted as it is)."""
    _, content = split_state(state)
    try:
        envelope = json.loads(content)
        return decode_event(state, originator_id=UUID(envelope["aggregate"]),
                            originator_version=int(envelope["version"]),
                            topic=str(envelope["type"]))  # fmt: skip
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        raise InvalidValue("an event sent with the step cannot be read") from None


def _minutes(delta: timedelta) -> str:
    minutes = round(abs(delta.total_seconds()) / 60, 1)
    return f"{minutes} minutes {'ahead of' if delta.total_seconds() > 0 else 'behind'}"
