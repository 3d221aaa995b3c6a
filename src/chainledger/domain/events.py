"""Signed domain events: the base class, the type registry and the field codec.

Every event carries who signed it (``org``, ``key_id``), where it sits
(ledger, aggregate, version), the hash of the aggregate's previous event and
its own fields. Its *content* is the RFC 8785 encoding of all of that; the
signature covers the content, and the content is what is stored, so a
verifier checks the stored bytes directly and never re-encodes.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, ClassVar, Protocol
from uuid import UUID

from chainledger.domain.canonical import canonical_json, digest
from chainledger.errors import Refused, TamperError

CONTENT_FORMAT = 1
SIGNATURE_LENGTH = 64
UNSIGNED = bytes(SIGNATURE_LENGTH)
"""The signature slot of the ledger's genesis event, the one unsigned event."""


class Signer(Protocol):
    """Signs on behalf of one organisation, with one key, in one ledger.

    ``on`` is the date the facts it signs took effect, when that is not the day
    they are recorded (a payment made last week, a back office's history).
    """

    ledger_id: UUID
    org: str
    key_id: str
    on: date | None

    def sign(self, message: bytes) -> bytes:
        """An Ed25519 signature of ``message``."""
        ...

    def dated(self, on: date | None) -> Signer:
        """The same signer, for facts that took effect on ``on``."""
        ...


BASE_FIELDS = (
    "originator_id",
    "originator_version",
    "timestamp",
    "ledger_id",
    "org",
    "key_id",
    "prev_hash",
    "on",
    "content",
    "signature",
    "notification_id",
)


@dataclass(frozen=True, kw_only=True)
class LedgerEvent:
    """Base of every event in the ledger. Subclasses declare their own fields."""

    type_name: ClassVar[str] = ""
    creates: ClassVar[type | None] = None  # the aggregate class a creation event starts
    # (field, encode, decode) for each of the class's own fields, and the fields that may be
    # absent (read as None): made from the type hints when the class is first encoded or
    # decoded, not when it is declared (a command that handles no event of a type pays
    # nothing for it)
    _codec_made: ClassVar[tuple[Codec, frozenset[str]] | None] = None

    originator_id: UUID
    originator_version: int
    timestamp: datetime
    ledger_id: UUID
    org: str | None
    key_id: str | None
    prev_hash: str
    on: date  # when the fact took effect, as its signer says; never after it was recorded
    content: bytes = field(default=b"", repr=False, compare=False)
    signature: bytes = field(default=b"", repr=False, compare=False)
    # Where the event sits in the ledger's global order, once stored (not signed:
    # the database assigns it). Keys are judged by this order, not by timestamps.
    notification_id: int | None = field(default=None, repr=False, compare=False)

    @property
    def hash(self) -> str:
        """SHA-256 of the content: what the next event of the aggregate links to."""
        return digest(self.content)

    def fields(self) -> dict[str, Any]:
        """The event's own fields, encoded as JSON values."""
        return {name: encode(getattr(self, name)) for name, encode, _ in codec(type(self))[0]}

    def envelope(self) -> dict[str, Any]:
        """Everything the signature covers, as a JSON object."""
        return {
            "format": CONTENT_FORMAT,
            "ledger": str(self.ledger_id),
            "aggregate": str(self.originator_id),
            "version": self.originator_version,
            "type": self.type_name,
            "timestamp": self.timestamp.isoformat(),
            "org": self.org,
            "key": self.key_id,
            "prev": self.prev_hash,
            "on": self.on.isoformat(),
            "fields": self.fields(),
        }

    def mutate(self, aggregate: Any) -> Any:
        """Apply this event to ``aggregate`` after checking it follows on from it."""
        if aggregate is None:
            if self.creates is None:
                raise self.tamper("the aggregate's first event is not a creation event")
            aggregate = self.creates.__new__(self.creates)
            aggregate.__base_init__(self.originator_id)
            aggregate.ledger_id = self.ledger_id
        if self.ledger_id != aggregate.ledger_id:
            raise self.tamper("signed for another ledger")
        if self.originator_version != aggregate.version + 1:
            raise self.tamper(
                f"version {self.originator_version} follows version {aggregate.version}: "
                "an event is missing or out of order"
            )
        if aggregate.modified_on is not None and self.timestamp < aggregate.modified_on:
            raise self.tamper("recorded earlier than the event it follows")
        if self.prev_hash != aggregate.head:
            raise self.tamper(
                "hash chain broken: the previous event is not the one this event was signed after"
            )
        try:
            self.apply(aggregate)
        except (ValueError, KeyError, TypeError) as exc:
            raise self.tamper(f"event cannot be applied ({type(exc).__name__}: {exc})") from None
        aggregate.version = self.originator_version
        aggregate.head = self.hash
        aggregate.modified_on = self.timestamp
        return aggregate

    def apply(self, aggregate: Any) -> None:
        """Change the aggregate's state. Overridden by each event class."""

    def summary(self) -> str:
        """One plain line saying what happened, for timelines."""
        return self.type_name

    def tamper(self, reason: str) -> TamperError:
        """A tamper error located at this event."""
        return TamperError(
            f"{self.type_name}: {reason}",
            aggregate_id=self.originator_id,
            version=self.originator_version,
        )


# Every event type declared so far, by type name. A module declares its types when it is
# imported, so a command that handles only some records loads only their modules;
# ``registered()`` loads them all (decoding, and any check of a type name, asks it).
EVENT_TYPES: dict[str, type[LedgerEvent]] = {}


# The modules that declare event types (a test checks that no other does): the registry
# names them, as a plugin registry names its plugins, rather than importing them.
DECLARING_MODULES = tuple(f"chainledger.domain.{name}" for name in (
    "bid", "concern", "identity", "invoice", "ledger", "organisation", "package", "review",
    "subcontract",
))  # fmt: skip


def registered() -> dict[str, type[LedgerEvent]]:
    """Every event type of the domain, by type name (declaring those not loaded yet)."""
    if not _all_declared:
        for module in DECLARING_MODULES:
            importlib.import_module(module)
        _all_declared.append(True)
    return EVENT_TYPES


_all_declared: list[bool] = []


TEvent = typing.TypeVar("TEvent", bound=type[LedgerEvent])


def ledger_event(type_name: str) -> Callable[[TEvent], TEvent]:
    """Declare an event class: make it a frozen dataclass and register its type name.

    The type name is what the ledger stores and signs, so it must never change
    once events of that type exist; the Python class may move freely.
    """

    def declare(cls: TEvent) -> TEvent:
        if type_name in EVENT_TYPES:
            raise TypeError(f"event type {type_name!r} is declared twice")
        cls = dataclass(frozen=True, kw_only=True)(cls)
        cls.type_name = type_name
        cls._codec_made = None
        EVENT_TYPES[type_name] = cls
        return cls

    return declare


Codec = tuple[tuple[str, Callable[[Any], Any], Callable[[Any], Any]], ...]


def codec(cls: type[LedgerEvent]) -> tuple[Codec, frozenset[str]]:
    """(field, encode, decode) for each of an event class's own fields, and those of its
    fields that may be absent; made once per class, when first needed."""
    made = cls._codec_made
    if made is None:
        hints = typing.get_type_hints(cls)
        fields = tuple(
            (f.name, *_codec_for(hints[f.name]))
            for f in dataclasses.fields(cls)
            if f.name not in BASE_FIELDS
        )
        # Fields that may be None may also be absent: an event recorded before such a
        # field was added reads with None there (its signed content is unchanged).
        optional = frozenset(
            name for name, *_ in fields if type(None) in typing.get_args(hints[name])
        )
        made = cls._codec_made = (fields, optional)
    return made


def _codec_for(tp: Any) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    """(encode, decode) between a field's Python type and its JSON form."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) != 1:
            raise TypeError(f"unsupported union field type {tp}")
        enc, dec = _codec_for(args[0])
        return (
            lambda v: None if v is None else enc(v),
            lambda v: None if v is None else dec(v),
        )
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) != 2 or args[1] is not Ellipsis:
            raise TypeError(f"unsupported tuple field type {tp}: use tuple[X, ...]")
        enc, dec = _codec_for(args[0])
        return (lambda v: [enc(x) for x in v], lambda v: tuple(dec(x) for x in v))
    if tp in (str, int):
        return _same, _same
    if tp is bool:
        return _same, _same
    if tp is Decimal:
        return (lambda v: format(v, "f")), Decimal
    if tp is date:
        return (lambda v: v.isoformat()), date.fromisoformat
    if tp is datetime:
        return (lambda v: v.isoformat()), datetime.fromisoformat
    if tp is UUID:
        return str, UUID
    if isinstance(tp, type) and issubclass(tp, Enum):
        return (lambda v: v.value), tp
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        hints = typing.get_type_hints(tp)
        parts = [(f.name, *_codec_for(hints[f.name])) for f in dataclasses.fields(tp)]
        value_type = tp
        return (
            lambda v: {name: enc(getattr(v, name)) for name, enc, _ in parts},
            lambda v: value_type(**{name: dec(v[name]) for name, _, dec in parts}),
        )
    raise TypeError(f"unsupported event field type {tp}")


def _same(value: Any) -> Any:
    return value


def json_value(value: Any) -> Any:
    """A value object (dataclass, Decimal, date, enum…) as the JSON value events store."""
    return _codec_for(type(value))[0](value)


def now() -> datetime:
    """The current UTC time: when an event is recorded."""
    return datetime.now(UTC)


def not_in_future(day: date, what: str) -> date:
    """``day``, refused if it has not happened yet: a ledger records facts, not plans."""
    if day > now().date():
        raise Refused(f"the {what} {day} is in the future: facts are recorded once they happen")
    return day


def effective_date(signer: Signer) -> date:
    """The date a fact signed by ``signer`` takes effect: its ``--on`` date, or today."""
    return signer.on or now().date()


def located(event: LedgerEvent, notification_id: int) -> LedgerEvent:
    """The event, knowing its place in the ledger's global order."""
    object.__setattr__(event, "notification_id", notification_id)
    return event


def seal(
    event_class: type[LedgerEvent],
    signer: Signer | None,
    *,
    ledger_id: UUID,
    originator_id: UUID,
    originator_version: int,
    prev_hash: str,
    not_before: datetime | None = None,
    **fields: Any,
) -> LedgerEvent:
    """Create an event and sign its canonical content.

    ``signer`` is None only for the ledger's genesis event.
    """
    if signer is not None and signer.ledger_id != ledger_id:
        raise ValueError("signer belongs to another ledger")
    # A clock behind the previous signer's must not make time run backwards. A signer may
    # keep its own clock (a ledger service replaying what a client signed uses the
    # client's times, so that the same step gives the same bytes).
    clock = getattr(signer, "clock", None)
    current = clock() if clock is not None else now()
    timestamp = max(current, not_before) if not_before else current
    on = (signer.on if signer else None) or timestamp.date()
    if on > timestamp.date():
        raise Refused(f"the date {on} is in the future: facts are recorded once they happen")
    event = event_class(
        originator_id=originator_id,
        originator_version=originator_version,
        timestamp=timestamp,
        ledger_id=ledger_id,
        org=signer.org if signer else None,
        key_id=signer.key_id if signer else None,
        prev_hash=prev_hash,
        on=on,
        **fields,
    )
    content = canonical_json(event.envelope())
    signature = signer.sign(content) if signer else UNSIGNED
    # The dataclass is frozen so that nothing changes an event after it is signed;
    # these two slots are filled exactly once, here or in decode_event().
    object.__setattr__(event, "content", content)
    object.__setattr__(event, "signature", signature)
    return event


def stored_state(event: LedgerEvent) -> bytes:
    """What the ledger stores for an event: its signature, then its content."""
    return event.signature + event.content


def split_state(state: bytes) -> tuple[bytes, bytes]:
    """(signature, content) of a stored state."""
    return state[:SIGNATURE_LENGTH], state[SIGNATURE_LENGTH:]


def decode_event(
    state: bytes, *, originator_id: UUID, originator_version: int, topic: str
) -> LedgerEvent:
    """Rebuild an event from stored bytes, refusing anything that does not match its row."""

    def tamper(reason: str) -> TamperError:
        return TamperError(reason, aggregate_id=originator_id, version=originator_version)

    if len(state) <= SIGNATURE_LENGTH:
        raise tamper("stored event is truncated")
    signature, content = split_state(state)
    try:
        envelope = json.loads(content)
        event_class = EVENT_TYPES.get(envelope["type"]) or registered()[envelope["type"]]
        if envelope["format"] != CONTENT_FORMAT:
            raise tamper(f"unknown content format {envelope['format']!r}")
        if envelope["aggregate"] != str(originator_id):
            raise tamper("content belongs to another aggregate (moved or swapped)")
        if envelope["version"] != originator_version:
            raise tamper("content belongs to another version (moved or swapped)")
        if envelope["type"] != topic:
            raise tamper("content type differs from the stored event type")
        values = envelope["fields"]
        own, optional = codec(event_class)
        fields = {
            name: decode(values[name] if name in values or name not in optional else None)
            for name, _, decode in own
        }
        event = event_class(
            originator_id=originator_id,
            originator_version=originator_version,
            timestamp=datetime.fromisoformat(envelope["timestamp"]),
            ledger_id=UUID(envelope["ledger"]),
            org=envelope["org"],
            key_id=envelope["key"],
            prev_hash=envelope["prev"],
            on=date.fromisoformat(envelope["on"]),
            **fields,
        )
    except TamperError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise tamper(f"stored event cannot be read ({type(exc).__name__}: {exc})") from None
    object.__setattr__(event, "content", content)
    object.__setattr__(event, "signature", signature)
    return event
