"""Tampering behind the application's back is caught, and the report says where.

Each test builds a small ledger through the CLI, checks that ``audit verify``
passes, then edits the events table directly in SQL (on SQLite and on PostgreSQL) the way someone
with database access could: flipping a byte, deleting or swapping events,
re-signing with another organisation's key, or replacing a registered key.
``audit verify`` must then exit 1 and name the altered event, and reading
through the application must refuse the data instead of returning it.

The ledger built here has these notifications:

    1  ledger genesis
    2  barnet-council   version 1  OrganisationRegistered
    3  hope-trust       version 1  OrganisationRegistered
    4  mind-in-barnet   version 1  OrganisationRegistered
    5  hope-trust       version 2  SigningKeyRotated
    6  hope-trust       version 3  SigningKeyRevoked
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from click.testing import Result
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from chainledger.adapters.crypto import raw_public_key
from chainledger.adapters.keystore import Keystore
from chainledger.domain.canonical import canonical_json, digest
from chainledger.domain.events import SIGNATURE_LENGTH
from chainledger.domain.ids import organisation_id
from chainledger.domain.keys import decode_key, encode_key, key_fingerprint, possession_statement
from tests.conftest import PASSPHRASE, CliLedger
from tests.ledgers import RawEvents, is_sqlite

# -- reading and writing rows behind the application's back --------------------


@dataclass(frozen=True)
class Row:
    """One stored event, as the database holds it."""

    notification_id: int
    handle: str
    version: int
    event_type: str

    @property
    def aggregate_id(self) -> str:
        return str(organisation_id(self.handle))


def find_row(url: str, handle: str, version: int) -> Row:
    """The stored event at ``version`` of ``handle``'s organisation aggregate."""
    with RawEvents(url) as raw:
        found = raw.find(organisation_id(handle), version)
    assert found is not None, f"no event {handle} version {version}"
    return Row(found[0], handle, version, found[1])


def read_state(url: str, row: Row) -> bytes:
    with RawEvents(url) as raw:
        return raw.state(row.notification_id)


def write_state(url: str, row: Row, state: bytes) -> None:
    with RawEvents(url) as raw:
        assert raw.set_state(row.notification_id, state) == 1


def append_row(url: str, handle: str, version: int, event_type: str, state: bytes) -> Row:
    """Insert a new event at the end of the notification log, as a writer with access could."""
    with RawEvents(url) as raw:
        notification_id = raw.append(organisation_id(handle), version, event_type, state)
    return Row(notification_id, handle, version, event_type)


def delete_row(url: str, row: Row) -> None:
    with RawEvents(url) as raw:
        assert raw.delete(row.notification_id) == 1


def split(state: bytes) -> tuple[bytes, dict[str, Any]]:
    """(signature, parsed content) of a stored state."""
    return state[:SIGNATURE_LENGTH], json.loads(state[SIGNATURE_LENGTH:])


def signed(content: dict[str, Any], private_key: Ed25519PrivateKey) -> bytes:
    """A stored state for ``content``, canonically encoded and signed by ``private_key``."""
    encoded = canonical_json(content)
    return private_key.sign(encoded) + encoded


# -- what the CLI says ---------------------------------------------------------


def assert_no_crash(result: Result) -> None:
    """Bad data is a reported finding, never a traceback or an "unexpected" bug message."""
    assert "Traceback" not in result.stderr
    assert "Traceback" not in result.stdout
    assert "this is a bug" not in result.stderr


def audit_fails(ledger: CliLedger) -> Result:
    result = ledger.run("audit", "verify")
    assert_no_crash(result)
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "TAMPERED:" in result.stdout
    # Every edit behind the application's back leaves the events' Merkle tree
    # different from the one recorded with them.
    assert "FAILED: the stored Merkle tree (" in result.stdout
    assert "the log was edited behind the application's back" in result.stdout
    return result


def assert_reported(result: Result, row: Row, message: str) -> None:
    """``audit verify`` printed a failure for exactly ``row`` whose message contains ``message``."""
    prefix = (
        f"FAILED notification {row.notification_id}, aggregate {row.aggregate_id} "
        f"version {row.version} ({row.event_type}): "
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith(prefix)]
    assert any(message in line for line in lines), (
        f"expected a failure {prefix!r}…{message!r} in:\n{result.stdout}"
    )


def assert_refused(ledger: CliLedger, handle: str, row: Row, message: str) -> None:
    """Reading ``handle`` through the application is refused, naming ``row``."""
    result = ledger.run("org", "show", handle)
    assert_no_crash(result)
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert result.stderr.startswith("Error: tampered ledger data")
    assert (
        f"(notification {row.notification_id}, aggregate {row.aggregate_id}, "
        f"version {row.version})" in result.stderr
    )
    assert message in result.stderr


def key_id_of(ledger: CliLedger, handle: str) -> str:
    (record,) = json.loads(ledger.ok("org", "show", handle, "--format", "json").stdout)
    return str(record["fingerprint"])


# -- the ledger ----------------------------------------------------------------


@pytest.fixture
def ledger(cli_ledger: CliLedger) -> CliLedger:
    """Three organisations; hope-trust has rotated, then revoked, its key (versions 1-3)."""
    cli_ledger.ok("org", "create", "Barnet Council", "--role", "commissioner")
    cli_ledger.ok("org", "create", "Hope Trust", "--role", "subcontractor")
    cli_ledger.ok("org", "create", "Mind in Barnet", "--role", "subcontractor")
    cli_ledger.ok("org", "rotate-key", "hope-trust")
    cli_ledger.ok("org", "revoke-key", "hope-trust", "--reason", "stolen")

    clean = cli_ledger.ok("audit", "verify")
    assert "checked 6 events" in clean.stdout
    assert "from 3 organisations" in clean.stdout
    assert "OK: every signature and chain link verifies." in clean.stdout
    assert "FAILED" not in clean.stdout
    # The layout the tests (and the module docstring) rely on.
    path = cli_ledger.url
    assert [
        find_row(path, "barnet-council", 1).notification_id,
        find_row(path, "hope-trust", 1).notification_id,
        find_row(path, "mind-in-barnet", 1).notification_id,
        find_row(path, "hope-trust", 2).notification_id,
        find_row(path, "hope-trust", 3).notification_id,
    ] == [2, 3, 4, 5, 6]
    return cli_ledger


# -- (a) one byte of content ---------------------------------------------------


def test_flipped_byte_in_content_is_reported_and_refused(ledger: CliLedger) -> None:
    registration = find_row(ledger.url, "hope-trust", 1)
    state = read_state(ledger.url, registration)
    at = state.index(b'"name":"Hope Trust"', SIGNATURE_LENGTH) + len(b'"name":"')
    write_state(ledger.url, registration, state[:at] + b"J" + state[at + 1 :])

    result = audit_fails(ledger)
    assert_reported(result, registration, "registration signature of hope-trust does not verify")
    # The next event of the aggregate was signed after the original bytes.
    assert_reported(result, find_row(ledger.url, "hope-trust", 2), "hash chain broken")

    assert_refused(ledger, "hope-trust", registration, "signature by hope-trust does not verify")
    # Organisations whose events are untouched still read normally.
    assert "Mind in Barnet" in ledger.ok("org", "show", "mind-in-barnet").stdout


def test_flipped_byte_in_signature_is_reported(ledger: CliLedger) -> None:
    rotation = find_row(ledger.url, "hope-trust", 2)
    state = read_state(ledger.url, rotation)
    write_state(ledger.url, rotation, bytes([state[0] ^ 0x01]) + state[1:])

    result = audit_fails(ledger)
    assert_reported(result, rotation, "signature by hope-trust does not verify")
    # A key change that does not verify introduces no key: what the "new" key signed
    # afterwards is not signed by a key of hope-trust either.
    revocation = find_row(ledger.url, "hope-trust", 3)
    assert_reported(result, revocation, "which is not a key of hope-trust")
    assert "TAMPERED: 3 failure(s)." in result.stdout  # … and the Merkle tree
    assert_refused(ledger, "hope-trust", rotation, "signature by hope-trust does not verify")


def test_content_that_is_no_longer_json_is_reported_and_refused(ledger: CliLedger) -> None:
    rotation = find_row(ledger.url, "hope-trust", 2)
    state = read_state(ledger.url, rotation)
    write_state(ledger.url, rotation, state[:-1])  # drop the closing brace

    result = audit_fails(ledger)
    assert_reported(result, rotation, "stored event cannot be read: its bytes were altered")
    assert_refused(ledger, "hope-trust", rotation, "stored event cannot be read")


@pytest.mark.sqlite_only
def test_bytes_edited_into_text_are_reported_and_refused_plainly(ledger: CliLedger) -> None:
    """SQLite's replace() on a stored event returns text, which the driver cannot read back
    as text: the audit reads the bytes anyway and names the event; reading through the
    application is refused as tampering, with no binary in the message."""
    registration = find_row(ledger.url, "hope-trust", 1)
    with RawEvents(ledger.url) as raw, raw.engine.begin() as connection:
        connection.exec_driver_sql(
            "UPDATE chainledger_events SET state = replace(state, 'Hope Trust', 'Hope Trusx') "
            f"WHERE id = {registration.notification_id}"
        )
        kind = connection.exec_driver_sql(
            f"SELECT typeof(state) FROM chainledger_events WHERE id = {registration.notification_id}"
        ).scalar_one()
    assert kind == "text"

    result = audit_fails(ledger)
    assert_reported(result, registration, "registration signature of hope-trust does not verify")

    refused = ledger.run("org", "show", "hope-trust")
    assert_no_crash(refused)
    assert refused.exit_code == 1
    assert refused.stderr == (
        f"Error: tampered ledger data (aggregate {registration.aggregate_id}): a stored "
        "event's bytes were edited into text in the database, behind the application's back "
        "(see which with: chainledger audit verify)\n"
    )


# -- (b) an event deleted from the middle of an aggregate's history -------------


def test_deleted_event_is_reported_and_refused(ledger: CliLedger) -> None:
    rotation = find_row(ledger.url, "hope-trust", 2)
    revocation = find_row(ledger.url, "hope-trust", 3)
    delete_row(ledger.url, rotation)

    result = audit_fails(ledger)
    # On SQLite the notification ids have no gaps but this one; on PostgreSQL a
    # rolled-back write also leaves a gap, so a gap there proves nothing.
    gap = "FAILED notification 5: 1 notification(s) missing before 6: events were removed"
    assert (gap in result.stdout.splitlines()) == is_sqlite(ledger.url)
    # The hole in hope-trust's version sequence, on either engine.
    assert_reported(result, revocation, "version 3 follows version 1: an event is missing")
    # The revocation was signed with the key the deleted rotation introduced.
    assert_reported(result, revocation, "which is not a key of hope-trust")

    assert_refused(ledger, "hope-trust", revocation, "tampered ledger data")


# -- (c) two events' payloads swapped -----------------------------------------


def test_swapped_registrations_are_reported_and_refused(ledger: CliLedger) -> None:
    hope = find_row(ledger.url, "hope-trust", 1)
    mind = find_row(ledger.url, "mind-in-barnet", 1)
    hope_state, mind_state = read_state(ledger.url, hope), read_state(ledger.url, mind)
    write_state(ledger.url, hope, mind_state)
    write_state(ledger.url, mind, hope_state)

    result = audit_fails(ledger)
    for row in (hope, mind):
        assert_reported(result, row, "content belongs to another aggregate")
        assert_reported(result, row, "events were moved or swapped")
    # Each signature is still valid over its bytes; what gives the swap away is
    # that the bytes now sit under another organisation's aggregate.
    assert "does not verify" not in result.stdout

    assert_refused(ledger, "hope-trust", hope, "content belongs to another aggregate")
    assert_refused(ledger, "mind-in-barnet", mind, "content belongs to another aggregate")


def test_swapped_events_of_one_aggregate_are_reported_and_refused(ledger: CliLedger) -> None:
    rotation = find_row(ledger.url, "hope-trust", 2)
    revocation = find_row(ledger.url, "hope-trust", 3)
    rotation_state = read_state(ledger.url, rotation)
    revocation_state = read_state(ledger.url, revocation)
    write_state(ledger.url, rotation, revocation_state)
    write_state(ledger.url, revocation, rotation_state)

    result = audit_fails(ledger)
    assert_reported(result, rotation, "content belongs to another aggregate, version or type")
    assert_reported(result, revocation, "content belongs to another aggregate, version or type")

    assert_refused(ledger, "hope-trust", rotation, "content belongs to another version")


# -- (d) re-signed with another organisation's valid key ------------------------


def test_event_re_signed_with_another_organisations_key_is_reported(ledger: CliLedger) -> None:
    mind_key_id = key_id_of(ledger, "mind-in-barnet")
    mind_key = Keystore(ledger.keys).load(mind_key_id, PASSPHRASE)
    rotation = find_row(ledger.url, "hope-trust", 2)
    _, content = split(read_state(ledger.url, rotation))
    assert content["org"] == "hope-trust"
    content["key"] = mind_key_id
    write_state(ledger.url, rotation, signed(content, mind_key))

    result = audit_fails(ledger)
    assert_reported(
        result, rotation, f"signed with key {mind_key_id[:16]}…, which is not a key of hope-trust"
    )
    # Rewriting the rotation changed its hash, and without it the revocation's
    # key was never introduced.
    revocation = find_row(ledger.url, "hope-trust", 3)
    assert_reported(result, revocation, "hash chain broken")
    assert_reported(result, revocation, "which is not a key of hope-trust")

    assert_refused(ledger, "hope-trust", rotation, "which is not a valid key of hope-trust")


def test_event_re_signed_as_another_organisation_is_reported(ledger: CliLedger) -> None:
    """Claiming to be Mind as well as using its key: signer and key agree, target does not."""
    mind_key_id = key_id_of(ledger, "mind-in-barnet")
    mind_key = Keystore(ledger.keys).load(mind_key_id, PASSPHRASE)
    rotation = find_row(ledger.url, "hope-trust", 2)
    _, content = split(read_state(ledger.url, rotation))
    content["org"] = "mind-in-barnet"
    content["key"] = mind_key_id
    write_state(ledger.url, rotation, signed(content, mind_key))

    result = audit_fails(ledger)
    assert_reported(result, rotation, "a key change not signed by the organisation's current key")
    # The application refuses this one only because the copied proof of possession
    # names hope-trust; see the forged key change below for what happens otherwise.
    assert_refused(ledger, "hope-trust", rotation, "tampered ledger data")


def test_signature_replaced_by_another_organisations_is_reported(ledger: CliLedger) -> None:
    mind_key_id = key_id_of(ledger, "mind-in-barnet")
    mind_key = Keystore(ledger.keys).load(mind_key_id, PASSPHRASE)
    rotation = find_row(ledger.url, "hope-trust", 2)
    state = read_state(ledger.url, rotation)
    content = state[SIGNATURE_LENGTH:]
    write_state(ledger.url, rotation, mind_key.sign(content) + content)

    result = audit_fails(ledger)
    assert_reported(result, rotation, "signature by hope-trust does not verify")
    # The content, and so the hash chain, is untouched; but a key change that does not
    # verify introduces no key, so the event signed with the "new" key fails too.
    revocation = find_row(ledger.url, "hope-trust", 3)
    assert_reported(result, revocation, "which is not a key of hope-trust")
    assert "hash chain broken" not in result.stdout
    assert "TAMPERED: 3 failure(s)." in result.stdout  # … and the Merkle tree

    assert_refused(ledger, "hope-trust", rotation, "signature by hope-trust does not verify")


# -- (e) an organisation's registered public key replaced -----------------------


def test_replaced_registered_key_is_reported_and_refused(ledger: CliLedger) -> None:
    registration = find_row(ledger.url, "hope-trust", 1)
    rotation = find_row(ledger.url, "hope-trust", 2)
    revocation = find_row(ledger.url, "hope-trust", 3)
    _, content = split(read_state(ledger.url, registration))
    original_key_id = content["key"]
    forged_key = Ed25519PrivateKey.generate()
    forged_public = raw_public_key(forged_key)
    content["fields"]["public_key"] = encode_key(forged_public)
    content["key"] = key_fingerprint(forged_public)
    write_state(ledger.url, registration, signed(content, forged_key))

    result = audit_fails(ledger)
    # The forged registration is self-consistent, so it passes on its own...
    assert f"FAILED notification {registration.notification_id}," not in result.stdout
    # ...but hope-trust's later events were signed after the original registration,
    # with keys the forged history never gave hope-trust.
    assert_reported(result, rotation, "hash chain broken")
    assert_reported(
        result,
        rotation,
        f"signed with key {original_key_id[:16]}…, which is not a key of hope-trust",
    )
    assert_reported(result, revocation, "which is not a key of hope-trust")

    assert_refused(ledger, "hope-trust", rotation, "which is not a valid key of hope-trust")


# -- key changes that only an order-aware reader catches ---------------------------
#
# A key change signed by another organisation, and a backdated key change by the
# holder of a revoked key: both are caught by ``audit verify`` and refused when
# the organisation is read, because keys are judged by ledger order, not by the
# signer's own timestamps.


def forge_key_change_by_another_organisation(ledger: CliLedger) -> tuple[Row, str]:
    """Rewrite hope-trust's last event as a key change signed by Mind in Barnet.

    Mind's key is valid and its signature verifies; the new key is a fresh one
    whose proof of possession is valid for the claimed signer. What is wrong is
    only that one organisation changed another's keys. Returns the row and the
    key id the forgery installs.
    """
    mind_key_id = key_id_of(ledger, "mind-in-barnet")
    mind_key = Keystore(ledger.keys).load(mind_key_id, PASSPHRASE)
    revocation = find_row(ledger.url, "hope-trust", 3)
    _, content = split(read_state(ledger.url, revocation))
    forged_key = Ed25519PrivateKey.generate()
    forged_public = raw_public_key(forged_key)
    forged_key_id = key_fingerprint(forged_public)
    statement = possession_statement(UUID(content["ledger"]), "mind-in-barnet", forged_key_id)
    content["org"] = "mind-in-barnet"
    content["key"] = mind_key_id
    content["fields"]["new_public_key"] = encode_key(forged_public)
    content["fields"]["proof"] = base64.b64encode(forged_key.sign(statement)).decode("ascii")
    write_state(ledger.url, revocation, signed(content, mind_key))
    return revocation, forged_key_id


def append_backdated_rotation_with_revoked_key(ledger: CliLedger) -> tuple[Row, str]:
    """Append a hope-trust key rotation signed by its revoked key, dated before the revocation.

    This is what the thief of the revoked key can do with write access to the
    database: the event links correctly to hope-trust's last event, and its
    timestamp falls in the stolen key's validity period. Returns the new row
    and the key id the forgery installs.
    """
    rotation = find_row(ledger.url, "hope-trust", 2)
    revocation = find_row(ledger.url, "hope-trust", 3)
    _, rotated = split(read_state(ledger.url, rotation))
    revocation_state = read_state(ledger.url, revocation)
    _, revoked = split(revocation_state)
    stolen_key_id = revoked["key"]  # the revocation is signed by the key it revokes
    stolen_key = Keystore(ledger.keys).load(stolen_key_id, PASSPHRASE)
    current_key_id = key_fingerprint(decode_key(revoked["fields"]["new_public_key"]))
    backdated = datetime.fromisoformat(rotated["timestamp"]) + timedelta(microseconds=1)
    assert backdated < datetime.fromisoformat(revoked["timestamp"])

    forged_key = Ed25519PrivateKey.generate()
    forged_public = raw_public_key(forged_key)
    forged_key_id = key_fingerprint(forged_public)
    statement = possession_statement(UUID(revoked["ledger"]), "hope-trust", forged_key_id)
    content = {
        **revoked,
        "version": 4,
        "type": "SigningKeyRotated",
        "timestamp": backdated.isoformat(),
        "prev": digest(revocation_state[SIGNATURE_LENGTH:]),
        "fields": {
            "replaced_key_id": current_key_id,
            "new_public_key": encode_key(forged_public),
            "proof": base64.b64encode(forged_key.sign(statement)).decode("ascii"),
        },
    }
    row = append_row(ledger.url, "hope-trust", 4, "SigningKeyRotated", signed(content, stolen_key))
    return row, forged_key_id


def test_key_change_signed_by_another_organisation_is_reported(ledger: CliLedger) -> None:
    revocation, _ = forge_key_change_by_another_organisation(ledger)

    result = audit_fails(ledger)
    assert_reported(result, revocation, "a key change not signed by the organisation's current key")
    assert "TAMPERED: 2 failure(s)." in result.stdout  # … and the Merkle tree


def test_key_change_signed_by_another_organisation_is_refused(ledger: CliLedger) -> None:
    revocation, forged_key_id = forge_key_change_by_another_organisation(ledger)

    result = ledger.run("org", "show", "hope-trust")
    assert forged_key_id not in result.stdout
    assert_refused(ledger, "hope-trust", revocation, "tampered ledger data")


def test_backdated_key_change_with_revoked_key_is_reported(ledger: CliLedger) -> None:
    forged, _ = append_backdated_rotation_with_revoked_key(ledger)
    assert forged.notification_id == 7

    result = audit_fails(ledger)
    assert_reported(result, forged, "signed with hope-trust's key")
    assert_reported(result, forged, "after it was revoked")
    assert "TAMPERED: 2 failure(s)." in result.stdout  # … and the Merkle tree


def test_backdated_key_change_with_revoked_key_is_refused(ledger: CliLedger) -> None:
    forged, forged_key_id = append_backdated_rotation_with_revoked_key(ledger)

    result = ledger.run("org", "show", "hope-trust")
    assert forged_key_id not in result.stdout
    assert_refused(ledger, "hope-trust", forged, "tampered ledger data")
