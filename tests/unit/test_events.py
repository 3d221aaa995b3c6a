"""Signed events: canonical content, the field codec, sealing and the hash chain."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from uuid import UUID, uuid4

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from chainledger.adapters.crypto import Ed25519Signer, verify
from chainledger.domain.canonical import GENESIS_HASH, canonical_json, digest
from chainledger.domain.events import (
    EVENT_TYPES,
    LedgerEvent,
    decode_event,
    ledger_event,
    split_state,
    stored_state,
)
from chainledger.domain.values import Role
from chainledger.errors import Refused, TamperError
from tests.support import Line, Thing, ThingNoted


@pytest.fixture
def signer() -> Ed25519Signer:
    return Ed25519Signer(uuid4(), "hope-trust", Ed25519PrivateKey.generate())


def test_canonical_json_is_rfc8785() -> None:
    value = {"b": [1, "é", None, True], "a": {"z": "\u2028", "y": "tab\t"}, "€": 0}
    assert canonical_json(value) == rfc8785.dumps(value)
    assert canonical_json({"b": 1, "a": "x"}) == b'{"a":"x","b":1}'


@given(st.dictionaries(st.text(), st.one_of(st.text(), st.integers(-(2**53) + 1, 2**53 - 1))))
def test_canonical_json_is_independent_of_insertion_order(value: dict[str, object]) -> None:
    reordered = dict(reversed(list(value.items())))
    assert canonical_json(value) == canonical_json(reordered)
    assert json.loads(canonical_json(value)) == value


def test_sealed_event_signs_its_canonical_content(signer: Ed25519Signer) -> None:
    thing = Thing.start(signer, "hello")
    [event] = thing.collect_events()
    envelope = json.loads(event.content)
    assert envelope == {
        "format": 1,
        "ledger": str(signer.ledger_id),
        "aggregate": str(thing.id),
        "version": 1,
        "type": "TestThingStarted",
        "timestamp": event.timestamp.isoformat(),
        "org": "hope-trust",
        "key": signer.key_id,
        "prev": GENESIS_HASH,
        "on": event.timestamp.date().isoformat(),
        "fields": {
            "note": "hello",
            "amount": "1200.50",
            "due": "2026-03-31",
            "colour": "red",
            "lines": [{"what": "rent", "amount": "0.10"}],
            "maybe": None,
        },
    }
    assert event.content == rfc8785.dumps(envelope)
    assert verify(signer.public_key, event.signature, event.content)


def test_stored_state_round_trips_to_an_equal_event(signer: Ed25519Signer) -> None:
    thing = Thing.start(signer, "hello")
    [event] = thing.collect_events()
    state = stored_state(event)
    assert split_state(state) == (event.signature, event.content)
    decoded = decode_event(
        state, originator_id=thing.id, originator_version=1, topic="TestThingStarted"
    )
    assert decoded == event
    assert decoded.amount == Decimal("1200.50")
    assert decoded.lines == (Line("rent", Decimal("0.10")),)
    assert decoded.content == event.content


def test_events_chain_to_the_previous_event_hash(signer: Ed25519Signer) -> None:
    thing = Thing.start(signer, "a")
    thing.note(signer, "b")
    first, second = thing.collect_events()
    assert second.prev_hash == first.hash == digest(first.content)
    assert thing.head == second.hash
    assert thing.version == 2
    assert thing.notes == ["a", "b"]


def test_replaying_out_of_order_or_with_a_broken_link_is_refused(signer: Ed25519Signer) -> None:
    other = Thing.start(signer, "x")
    thing = Thing.start(signer, "a")
    thing.note(signer, "b")
    thing.note(signer, "c")
    first, second, third = thing.collect_events()
    with pytest.raises(TamperError, match="version 3 follows version 1"):
        third.mutate(first.mutate(None))
    (other_first,) = other.collect_events()
    rebuilt = other_first.mutate(None)
    rebuilt.id = thing.id
    with pytest.raises(TamperError, match="hash chain broken"):
        second.mutate(rebuilt)


def test_the_effective_date_defaults_to_today_and_cannot_be_in_the_future(
    signer: Ed25519Signer,
) -> None:
    (today,) = Thing.start(signer, "a").collect_events()
    assert today.on == today.timestamp.date()
    (backdated,) = Thing.start(signer.dated(date(2026, 1, 5)), "b").collect_events()
    assert backdated.on == date(2026, 1, 5)
    assert json.loads(backdated.content)["on"] == "2026-01-05"
    with pytest.raises(Refused, match="in the future"):
        Thing.start(signer.dated(date(2999, 1, 1)), "c")


def test_time_never_runs_backwards_within_an_aggregate(signer: Ed25519Signer) -> None:
    later = Thing.start(signer, "started later")
    thing = Thing.start(signer, "a")
    thing.modified_on = later.collect_events()[0].timestamp.replace(year=2999)
    thing.note(signer, "b")
    (first, second) = thing.collect_events()
    assert second.timestamp.year == 2999  # clamped to the previous event, not the clock
    replay = first.mutate(None)
    replay.modified_on = second.timestamp.replace(year=3000)
    with pytest.raises(TamperError, match="recorded earlier than the event it follows"):
        second.mutate(replay)


def test_decoding_refuses_content_that_belongs_to_another_row(signer: Ed25519Signer) -> None:
    thing = Thing.start(signer, "hello")
    [event] = thing.collect_events()
    state = stored_state(event)
    with pytest.raises(TamperError, match="another aggregate"):
        decode_event(state, originator_id=uuid4(), originator_version=1, topic="TestThingStarted")
    with pytest.raises(TamperError, match="another version"):
        decode_event(state, originator_id=thing.id, originator_version=2, topic="TestThingStarted")
    with pytest.raises(TamperError, match="cannot be read"):
        decode_event(
            state[:-3], originator_id=thing.id, originator_version=1, topic="TestThingStarted"
        )


def test_signer_must_belong_to_the_aggregates_ledger(signer: Ed25519Signer) -> None:
    thing = Thing.start(signer, "a")
    stranger = Ed25519Signer(UUID(int=1), "hope-trust", Ed25519PrivateKey.generate())
    with pytest.raises(ValueError, match="another ledger"):
        thing.note(stranger, "b")


def test_event_type_names_are_unique() -> None:
    assert EVENT_TYPES["TestThingNoted"] is ThingNoted
    with pytest.raises(TypeError, match="declared twice"):

        @ledger_event("TestThingNoted")
        class Again(LedgerEvent):
            pass


JSON_VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1),
        st.text(st.characters(blacklist_categories=("Cs",))),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(
            st.text(st.characters(max_codepoint=127), max_size=8), children, max_size=5
        ),
    ),
    max_leaves=20,
)


@given(JSON_VALUES)
def test_fast_canonical_json_equals_the_rfc8785_reference(value: object) -> None:
    # The fast path (Python's C encoder) must give exactly RFC 8785's bytes for every
    # value an event can hold: ASCII keys, any text, safe integers, no floats.
    assert canonical_json(value) == rfc8785.dumps(value)


@given(st.dictionaries(st.text(min_size=1), st.text(), min_size=1, max_size=4))
def test_non_ascii_keys_take_the_reference_path(value: dict[str, str]) -> None:
    assert canonical_json(value) == rfc8785.dumps(value)


def test_an_optional_field_added_later_reads_as_none_from_older_events() -> None:
    """An organisation registered before encryption keys existed has no
    ``encryption_key`` in its signed content; it must still read (as None),
    while a missing required field is still refused as tampering."""
    import json as _json
    from datetime import date as _date
    from uuid import uuid4

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from chainledger.adapters.crypto import Ed25519Signer
    from chainledger.domain.events import decode_event, stored_state
    from chainledger.domain.organisation import Organisation
    from chainledger.domain.values import Role
    from chainledger.errors import TamperError

    signer = Ed25519Signer(uuid4(), "hope-trust", Ed25519PrivateKey.generate()).dated(
        _date(2026, 1, 5)
    )
    org = Organisation.register(signer=signer, public_key=signer.public_key, name="Hope Trust",
                                role=Role.SUBCONTRACTOR, sector=None, size=None,
                                identifier=None)  # fmt: skip
    (event,) = org.collect_events()
    state = stored_state(event)
    content = _json.loads(state[64:])

    def reread(fields: dict[str, object]) -> object:
        old = {**content, "fields": fields}
        encoded = _json.dumps(old, sort_keys=True, separators=(",", ":")).encode()
        return decode_event(signer.sign(encoded) + encoded, originator_id=event.originator_id,
                            originator_version=1, topic="OrganisationRegistered")  # fmt: skip

    without = {k: v for k, v in content["fields"].items() if k != "encryption_key"}
    assert reread(without).encryption_key is None  # type: ignore[attr-defined]
    with pytest.raises(TamperError, match="cannot be read"):
        reread({k: v for k, v in without.items() if k != "public_key"})


@pytest.mark.parametrize("role", [Role.SUBCONTRACTOR, Role.PRIME, Role.COMMISSIONER, None])
def test_a_registered_role_is_optional_and_reads_as_it_was_signed(role: Role | None) -> None:
    """Roles are per package now; the role an organisation states at registration is
    optional. Events that carry one (every registration before) sign and read it exactly as
    they always did, a string; a registration without one signs null and reads None."""
    from chainledger.domain.organisation import Organisation

    signer = Ed25519Signer(uuid4(), "hope-trust", Ed25519PrivateKey.generate()).dated(
        date(2026, 1, 5)
    )
    org = Organisation.register(signer=signer, public_key=signer.public_key, name="Hope Trust",
                                role=role, sector=None, size=None, identifier=None)  # fmt: skip
    (event,) = org.collect_events()
    state = stored_state(event)
    signed = json.loads(state[64:])["fields"]
    assert signed["role"] == (role.value if role else None)
    if role is not None:  # as registrations were signed before roles became per package
        assert f'"role":"{role.value}"'.encode() in state
    read = decode_event(state, originator_id=event.originator_id, originator_version=1,
                        topic="OrganisationRegistered")  # fmt: skip
    assert read.content == event.content
    assert read.role is role  # type: ignore[attr-defined]
    assert read.mutate(None).role is role
