"""Bundles between ledgers, through the application and the pure verifier, on SQLite and
PostgreSQL.

Northgate's own ledger (the origin) is built once per module through the CLI:

    #   record           event                        signed by
    1   ledger           LedgerCreated
    2   barnet-council   OrganisationRegistered
    3   northgate        OrganisationRegistered
    4   hope-trust       OrganisationRegistered
    5   mind-in-barnet   OrganisationRegistered
    6   camden-council   OrganisationRegistered       (signs only for CAM-1)
    7   refugee-advice   OrganisationRegistered       (signs nothing)
    8   BAR-1            PackageCreated v1            barnet-council
    9   CAM-1            PackageCreated v1            camden-council
   10   interest         InterestExpressed v1         hope-trust
   11   bid              BidSubmitted v1              northgate (names hope-trust, mind-in-barnet)
   12   bid              PromiseAcknowledged v2       hope-trust
   13   bid              PromiseAcknowledged v3       mind-in-barnet
   14   CAM-1 bid        BidSubmitted v1              northgate
   15   BAR-1            PackageAwarded v2            barnet-council
   16   hope's contract  SubcontractIssued v1         northgate
   17   hope's contract  SubcontractAccepted v2       hope-trust
   18   mind's contract  SubcontractIssued v1         northgate
   19   mind's contract  SubcontractAccepted v2       mind-in-barnet
   20   invoice INV-1    InvoiceSubmitted v1          hope-trust
   21   invoice INV-1    PaymentRecorded v2           northgate
   22   invoice INV-1    PaymentConfirmed v3          hope-trust
   23   hope's contract  ReferralsSent v3             northgate
   24   hope's contract  ReferralsConfirmed v4        hope-trust
   25   concern C-1      ConcernRaised v1             mind-in-barnet
   26   review round     ReviewRoundOpened v1         barnet-council
   27   hope's rating    RatingCommitted v1           hope-trust (of northgate, sealed)

Northgate exports BAR-1 (``app.export_bundle``) and the council imports it into a
ledger of its own (``app.import_bundle``), which has its own barnet-council key and
its own BAR-1 record. Copies of the origin grow in different ways (``later``,
``fork``, ``rotated``) for the tests that need more history.

What the suite proves: the bundle carries exactly the genesis, BAR-1's records and
the keys of those who signed them, byte for byte as the origin stored them; an
import keeps them apart from the importer's own events, each once, and changes
nothing on a repeat; and every alteration a hostile exporter can make — an edited
or re-signed event, a removed, forged, reordered or smuggled one, a checkpoint
signed by a key the bundle does not vouch for, a second history — refuses the
whole bundle, naming the event, with nothing written. Exporters that rebuild a
consistent Merkle tree over their edit and sign its checkpoint with their own key
(``reseal``) get past the proofs, so what catches them is the audit: signatures,
keys, versions and hash chains. The verifier itself is pure; a property test
mangles a bundle at random and it refuses (with ``InvalidValue`` or
``ProofFailed``, nothing else) everything but a bundle that still holds only
events the origin signed, at their places.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import pytest
import sqlalchemy
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy.pool import NullPool

from chainledger.adapters import imported_store
from chainledger.adapters.crypto import Ed25519Signer, raw_public_key
from chainledger.adapters.event_store import database_url
from chainledger.adapters.keystore import Keystore
from chainledger.application.bundles import BUNDLE, load_bundle, verify_bundle
from chainledger.bootstrap import ChainLedger, open_ledger
from chainledger.domain.canonical import canonical_json, digest
from chainledger.domain.checkpoint import Checkpoint, parse_checkpoint, sign_checkpoint
from chainledger.domain.events import SIGNATURE_LENGTH
from chainledger.domain.ids import package_id
from chainledger.domain.keys import encode_key, key_fingerprint, possession_statement
from chainledger.domain.merkle import inclusion_proof, leaf_hash, root_of
from chainledger.errors import ChainledgerError, InvalidValue, ProofFailed, Refused
from tests.conftest import FAST_SCRYPT_N, PASSPHRASE, CliLedger
from tests.ledgers import LedgerStore, event_rows

PACKAGE, OTHER = "BAR-1", "CAM-1"
COUNCIL, PRIME, HOPE, MIND = "barnet-council", "northgate", "hope-trust", "mind-in-barnet"
CAMDEN, IDLE = "camden-council", "refugee-advice"
ORIGIN_NAME = "Northgate ledger"
SIZE = 27
LAYOUT = [
    "LedgerCreated", *["OrganisationRegistered"] * 6, "PackageCreated", "PackageCreated",
    "InterestExpressed", "BidSubmitted", "PromiseAcknowledged", "PromiseAcknowledged",
    "BidSubmitted", "PackageAwarded", "SubcontractIssued", "SubcontractAccepted",
    "SubcontractIssued", "SubcontractAccepted", "InvoiceSubmitted", "PaymentRecorded",
    "PaymentConfirmed", "ReferralsSent", "ReferralsConfirmed", "ConcernRaised",
    "ReviewRoundOpened", "RatingCommitted",
]  # fmt: skip
# notification ids (= positions + 1) of what the BAR-1 bundle carries
REGISTRATIONS = (2, 3, 4, 5)  # barnet-council, northgate, hope-trust, mind-in-barnet
PACKAGE_EVENTS = (8, *range(10, 14), *range(15, SIZE + 1))
CARRIED = (1, *REGISTRATIONS, *PACKAGE_EVENTS)
NOT_CARRIED = (6, 7, 9, 14)  # camden-council, refugee-advice, CAM-1, CAM-1's bid
ACK_HOPE, ACK_MIND, CAM_BID = 12, 13, 14
INVOICE, PAYMENT, CONFIRMATION = 20, 21, 22
NOTHING_IMPORTED = {"imported_ledgers": [], "imported_events": []}


def terms(sub: str) -> tuple[str, ...]:
    share, value = ("15", "50000") if sub == HOPE else ("10", "40000")
    return ("--service", "advice", "--share", share, "--value", value, "--referrals", "20",
            "--model", "fixed", "--terms", "30")  # fmt: skip


def promise(sub: str) -> str:
    args = terms(sub)
    return (f"{sub}:service=advice,share={args[3]},value={args[5]},referrals=20,model=fixed,"
            "terms=30")  # fmt: skip


def create_package(ledger: CliLedger, reference: str, commissioner: str) -> None:
    ledger.ok("package", "create", reference, "--as", commissioner, "--title", "Employment",
              "--area", "London", "--value", "2400000", "--start", "2025-01-01",
              "--end", "2027-12-31", "--description", "Support into work",
              "--payment-model", "fixed")  # fmt: skip


def invoice(reference: str, amount: str) -> tuple[str, ...]:
    return ("invoice", "submit", PACKAGE, "--as", HOPE, "--ref", reference, "--amount", amount,
            "--date", "2025-06-01", "--period", "2025-Q2")  # fmt: skip


def referrals(period: str) -> list[tuple[str, ...]]:
    return [
        ("referral", "send", PACKAGE, "--as", PRIME, "--sub", HOPE, "--period", period,
         "--count", "5"),
        ("referral", "confirm", PACKAGE, "--as", HOPE, "--period", period, "--count", "5"),
    ]  # fmt: skip


def build_origin(ledger: CliLedger) -> None:
    """The ledger of the module docstring."""
    ledger.ok("init", "--name", ORIGIN_NAME)
    for name, role, handle in (("Barnet Council", "commissioner", COUNCIL),
                               ("Northgate", "prime", PRIME),
                               ("Hope Trust", "subcontractor", HOPE),
                               ("Mind in Barnet", "subcontractor", MIND),
                               ("Camden Council", "commissioner", CAMDEN),
                               ("Refugee Advice", "subcontractor", IDLE)):  # fmt: skip
        ledger.ok("org", "create", name, "--role", role, "--handle", handle)
    create_package(ledger, PACKAGE, COUNCIL)
    create_package(ledger, OTHER, CAMDEN)
    ledger.ok("interest", "express", PACKAGE, "--as", HOPE, "--prime", PRIME, "--offer", "advice")
    ledger.ok("bid", "submit", PACKAGE, "--as", PRIME, "--price", "2350000", "--self-share",
              "40", "--promise", promise(HOPE), "--promise", promise(MIND))  # fmt: skip
    for sub in (HOPE, MIND):
        ledger.ok("bid", "acknowledge", PACKAGE, "--as", sub, "--prime", PRIME)
    ledger.ok("bid", "submit", OTHER, "--as", PRIME, "--price", "800000", "--self-share", "100")
    ledger.ok("package", "award", PACKAGE, "--as", COUNCIL, "--bid", PRIME)
    for sub in (HOPE, MIND):
        ledger.ok("subcontract", "issue", PACKAGE, "--as", PRIME, "--sub", sub, *terms(sub))
        ledger.ok("subcontract", "accept", PACKAGE, "--as", sub)
    ledger.ok(*invoice("INV-1", "1000"))
    ledger.ok("payment", "record", PACKAGE, "--as", PRIME, "--sub", HOPE, "--invoice", "INV-1",
              "--amount", "1000", "--date", "2025-06-10")  # fmt: skip
    ledger.ok("payment", "confirm", PACKAGE, "--as", HOPE, "--invoice", "INV-1",
              "--date", "2025-06-10")  # fmt: skip
    for step in referrals("2025-Q1"):
        ledger.ok(*step)
    ledger.ok("concern", "raise", PACKAGE, "--as", MIND, "--subject", "Referrals",
              "--text", "Fewer than promised", "--ref", "C-1")  # fmt: skip
    ledger.ok("review", "open", PACKAGE, "--period", "2025-Q1", "--as", COUNCIL)
    ledger.ok("review", "rate", PACKAGE, "--period", "2025-Q1", "--as", HOPE, "--ratee", PRIME,
              "--score", "openness=2,fairness=2,payment=1,support=3,commitments=2,clarity=2,"
              "equality=3,improvement=2")  # fmt: skip


@contextmanager
def opened(ledger: CliLedger) -> Iterator[ChainLedger]:
    app = open_ledger(ledger.url, ledger.keys)
    app.keystore = Keystore(ledger.keys, scrypt_n=FAST_SCRYPT_N)
    try:
        yield app
    finally:
        app.close()


def export(ledger: CliLedger, package: str = PACKAGE, signer: str = PRIME) -> dict[str, Any]:
    """``package``'s bundle from ``ledger``, its checkpoint signed by ``signer``."""
    with opened(ledger) as app:
        document = app.export_bundle(package, app.signer(signer, PASSPHRASE))
    # what travels is JSON: the verifier gets the document as another ledger reads it
    return load_bundle(json.dumps(document).encode())


@dataclass(frozen=True)
class Origin:
    ledger: CliLedger
    ledger_id: str
    rows: list[tuple[int, UUID, int, str, bytes]]  # the origin's events, as stored
    bundle: dict[str, Any]  # BAR-1, its checkpoint signed by northgate
    fingerprints: dict[str, str]  # handle: key fingerprint

    def key(self, handle: str) -> Ed25519PrivateKey:
        return Keystore(self.ledger.keys).load(self.fingerprints[handle], PASSPHRASE)


@pytest.fixture(scope="module")
def origin(module_ledgers: LedgerStore) -> Origin:
    """The origin of the module docstring, once per engine (keys at the tests' cheap scrypt
    cost: the function-scoped fixture that sets it is not in force here)."""
    directory = module_ledgers.directory
    ledger = CliLedger(module_ledgers.url("origin"), directory / "keys", CliRunner())
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("chainledger.adapters.keystore.SCRYPT_N", FAST_SCRYPT_N)
        build_origin(ledger)
        bundle = export(ledger)
    rows = event_rows(ledger.url)
    assert [row[3] for row in rows] == LAYOUT
    with opened(ledger) as app:
        ledger_id = str(app.ledger_id)
        fingerprints = {
            handle: app.organisation(handle).key_id
            for handle in (COUNCIL, PRIME, HOPE, MIND, CAMDEN)
        }
    return Origin(ledger, ledger_id, rows, bundle, fingerprints)


@pytest.fixture(scope="module")
def importer(module_ledgers: LedgerStore) -> CliLedger:
    """The council's own ledger: its own id, its own barnet-council key, its own BAR-1."""
    directory = module_ledgers.directory
    ledger = CliLedger(module_ledgers.url("council"), directory / "council-keys", CliRunner())
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("chainledger.adapters.keystore.SCRYPT_N", FAST_SCRYPT_N)
        ledger.ok("init", "--name", "Council ledger")
        ledger.ok("org", "create", "Barnet Council", "--role", "commissioner", "--handle", COUNCIL)
        create_package(ledger, PACKAGE, COUNCIL)
    return ledger


@pytest.fixture
def target(importer: CliLedger, module_ledgers: LedgerStore) -> CliLedger:
    """A copy of the importer for one test to import into."""
    return CliLedger(module_ledgers.copy(importer.url, "target"), importer.keys, CliRunner())


@pytest.fixture
def untouched(importer: CliLedger, module_ledgers: LedgerStore) -> CliLedger:
    """A copy of the importer for tests that must import nothing, reused between them
    while nothing was imported into it."""
    url = module_ledgers.fresh(importer.url, "untouched")
    if imported_tables(url) != NOTHING_IMPORTED:  # a test wrongly imported: start again
        url = module_ledgers.copy(importer.url, "untouched")
    return CliLedger(url, importer.keys, CliRunner())


@dataclass(frozen=True)
class Grown:
    """Copies of the origin that went on differently, and their BAR-1 bundles."""

    later: dict[str, Any]  # + CAM-1 awarded, + Q2 referrals sent and confirmed (30 events)
    fork_a: dict[str, Any]  # + INV-2 for £500 (28 events)
    fork_b: dict[str, Any]  # + INV-2 for £5,000 (28 events)
    fork_b_longer: dict[str, Any]  # ... + a referral sent (29 events)


@pytest.fixture(scope="module")
def grown(origin: Origin, module_ledgers: LedgerStore) -> Grown:
    def copy_of(name: str, *steps: tuple[str, ...]) -> CliLedger:
        url = module_ledgers.copy(origin.ledger.url, name)
        ledger = CliLedger(url, origin.ledger.keys, CliRunner())
        for step in steps:
            ledger.ok(*step)
        return ledger

    later = copy_of("later", ("package", "award", OTHER, "--as", CAMDEN, "--bid", PRIME),
                    *referrals("2025-Q2"))  # fmt: skip
    fork_a = copy_of("fork-a", invoice("INV-2", "500"))
    fork_b = copy_of("fork-b", invoice("INV-2", "5000"))
    fork_b_bundle = export(fork_b)
    fork_b.ok(*referrals("2025-Q2")[0])
    return Grown(export(later), export(fork_a), fork_b_bundle, export(fork_b))


# -- reading bundles and the imported tables ---------------------------------------------------


def state(entry: dict[str, Any]) -> bytes:
    return base64.b64decode(entry["state"])


def content(entry: dict[str, Any]) -> dict[str, Any]:
    decoded = json.loads(state(entry)[SIGNATURE_LENGTH:])
    assert isinstance(decoded, dict)
    return decoded


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def entry_at(document: dict[str, Any], notification_id: int) -> dict[str, Any]:
    (entry,) = [e for e in document["events"] if e["position"] == notification_id - 1]
    return entry


def named(entry: dict[str, Any]) -> str:
    """How a refusal names ``entry``."""
    return (
        f"event {entry['position'] + 1} ({entry['type']}, version {entry['version']} of record "
        f"{entry['aggregate']}, signed by {content(entry)['org']})"
    )


def size_of(document: dict[str, Any]) -> int:
    return parse_checkpoint(document["checkpoint"]).checkpoint.size


def imported_tables(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the importer's imported_events and imported_ledgers."""
    engine = sqlalchemy.create_engine(database_url(url), poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return {
                table.name: sorted(
                    tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
                    for row in connection.execute(sqlalchemy.select(table))
                )
                for table in imported_store.TABLES
            }
    finally:
        engine.dispose()


def set_imported_state(url: str, position: int, new_state: bytes) -> None:
    table = imported_store.events_table
    engine = sqlalchemy.create_engine(database_url(url), poolclass=NullPool)
    try:
        with engine.begin() as connection:
            changed = connection.execute(
                sqlalchemy.update(table).where(table.c.position == position)
                .values(state=new_state)
            ).rowcount  # fmt: skip
    finally:
        engine.dispose()
    assert changed == 1


def import_into(ledger: CliLedger, document: dict[str, Any]) -> Any:
    with opened(ledger) as app:
        return app.import_bundle(document)


def refused(ledger: CliLedger, document: dict[str, Any], error: type = ProofFailed) -> str:
    """Importing ``document`` into ``ledger`` raises ``error`` and writes nothing; returns
    the message."""
    before = imported_tables(ledger.url), event_rows(ledger.url)
    with opened(ledger) as app, pytest.raises(error) as caught:
        app.import_bundle(document)
    assert (imported_tables(ledger.url), event_rows(ledger.url)) == before
    return str(caught.value)


def refused_fresh(ledger: CliLedger, document: dict[str, Any], error: type = ProofFailed) -> str:
    """``refused``, on a ledger that holds nothing imported; the pure verifier refuses
    the document the same way."""
    assert imported_tables(ledger.url) == NOTHING_IMPORTED
    message = refused(ledger, document, error)
    with pytest.raises(error) as caught:
        verify_bundle(document)
    assert str(caught.value) == message
    return message


# -- what a hostile exporter does ---------------------------------------------------------------


def signed(envelope: dict[str, Any], key: Ed25519PrivateKey) -> bytes:
    encoded = canonical_json(envelope)
    return key.sign(encoded) + encoded


def with_state(entry: dict[str, Any], new_state: bytes) -> dict[str, Any]:
    return {**entry, "state": b64(new_state)}


def reseal(
    document: dict[str, Any],
    entries: list[dict[str, Any]],
    key: Ed25519PrivateKey,
    signer: str = PRIME,
) -> dict[str, Any]:
    """``entries`` as the whole of a consistent Merkle tree (positions 0, 1, ...), each
    with its audit path, and the tree's checkpoint signed by ``signer`` with ``key``:
    what an exporter who edits its bundle can make so that every proof holds."""
    leaves = [leaf_hash(state(e)) for e in entries]

    def subtree(lo: int, hi: int) -> bytes:
        return root_of(leaves[lo:hi])

    size = len(entries)
    head = Checkpoint(UUID(document["ledger"]), size, root_of(leaves))
    checkpoint = sign_checkpoint(head, signer, raw_public_key(key), key.sign)
    events = [
        {**e, "position": i, "path": [b64(h) for h in inclusion_proof(i, size, subtree)]}
        for i, e in enumerate(entries)
    ]
    return {**document, "checkpoint": checkpoint.text(), "events": events}


def without(document: dict[str, Any], *notification_ids: int) -> list[dict[str, Any]]:
    return [
        copy.deepcopy(e) for e in document["events"] if e["position"] + 1 not in notification_ids
    ]


def resign_checkpoint(document: dict[str, Any], key: Ed25519PrivateKey, signer: str) -> dict:
    head = parse_checkpoint(document["checkpoint"]).checkpoint
    checkpoint = sign_checkpoint(head, signer, raw_public_key(key), key.sign)
    return {**document, "checkpoint": checkpoint.text()}


# -- what the bundle carries ---------------------------------------------------------------------


def test_the_bundle_carries_the_genesis_the_package_and_its_signers_keys_only(
    origin: Origin,
) -> None:
    bundle = origin.bundle
    assert list(bundle) == ["format", "ledger", "package", "checkpoint", "events"]
    assert (bundle["format"], bundle["ledger"], bundle["package"]) == (
        BUNDLE, origin.ledger_id, PACKAGE,
    )  # fmt: skip
    signed_head = parse_checkpoint(bundle["checkpoint"])
    assert [s.name for s in signed_head.signatures] == [PRIME]
    # the checkpoint is the origin's whole tree, not a tree of the bundle
    assert signed_head.checkpoint.size == SIZE
    assert signed_head.checkpoint.root == root_of([leaf_hash(row[4]) for row in origin.rows])

    carried = [e["position"] + 1 for e in bundle["events"]]
    assert carried == list(CARRIED)
    assert not set(carried) & set(NOT_CARRIED)
    for entry in bundle["events"]:
        _, aggregate, version, topic, stored = origin.rows[entry["position"]]
        assert (entry["aggregate"], entry["version"], entry["type"]) == (
            str(aggregate), version, topic,
        )  # fmt: skip
        assert state(entry) == stored
        assert list(entry) == ["position", "aggregate", "version", "type", "state", "path"]
    signers = {content(e)["org"] for e in bundle["events"]} - {None}
    assert signers == {COUNCIL, PRIME, HOPE, MIND}
    registered = {content(entry_at(bundle, nid))["org"] for nid in REGISTRATIONS}
    assert registered == signers
    assert {e["aggregate"] for e in bundle["events"]}.isdisjoint(
        {str(origin.rows[nid - 1][1]) for nid in NOT_CARRIED}
    )


def test_the_verifier_accepts_the_bundle_as_exported(origin: Origin) -> None:
    verified = verify_bundle(origin.bundle)
    assert str(verified.ledger_id) == origin.ledger_id
    assert (verified.ledger_name, verified.package, verified.signer, verified.size) == (
        ORIGIN_NAME, PACKAGE, PRIME, SIZE,
    )  # fmt: skip
    assert [e.position + 1 for e in verified.events] == list(CARRIED)
    assert [e.state for e in verified.events] == [origin.rows[n - 1][4] for n in CARRIED]
    package_records = {origin.rows[nid - 1][1] for nid in PACKAGE_EVENTS}
    assert verified.packages == dict.fromkeys(package_records, PACKAGE)
    assert package_id(PACKAGE) in verified.packages


def test_any_organisation_in_the_bundle_may_sign_its_checkpoint(origin: Origin) -> None:
    verified = verify_bundle(export(origin.ledger, signer=HOPE))
    assert verified.signer == HOPE
    assert [e.position + 1 for e in verified.events] == list(CARRIED)


def test_the_signers_organisation_travels_even_if_it_signed_nothing_in_the_package(
    origin: Origin,
) -> None:
    bundle = export(origin.ledger, signer=CAMDEN)
    assert [e["position"] + 1 for e in bundle["events"]] == sorted((*CARRIED, 6))
    assert verify_bundle(bundle).signer == CAMDEN


# -- importing it ----------------------------------------------------------------------------------


def test_a_round_trip_keeps_every_event_exactly_as_the_origin_stored_it_and_apart(
    origin: Origin, target: CliLedger
) -> None:
    own_events = event_rows(target.url)
    with opened(target) as app:
        own_head, own_history = app.tree_head(), app.history(PACKAGE)
        done = app.import_bundle(origin.bundle)
    assert (done.ledger_id, done.ledger_name, done.package, done.signer) == (
        origin.ledger_id, ORIGIN_NAME, PACKAGE, PRIME,
    )  # fmt: skip
    assert (done.events, done.new, done.size) == (len(CARRIED), len(CARRIED), SIZE)

    tables = imported_tables(target.url)
    stamps = {row[-1] for row in tables["imported_events"]}
    assert len(stamps) == 1
    assert [row[:-1] for row in tables["imported_events"]] == [
        (origin.ledger_id, nid - 1, str(origin.rows[nid - 1][1]), origin.rows[nid - 1][2],
         origin.rows[nid - 1][3], origin.rows[nid - 1][4],
         PACKAGE if nid in PACKAGE_EVENTS else None)
        for nid in CARRIED
    ]  # fmt: skip
    head = parse_checkpoint(origin.bundle["checkpoint"]).checkpoint
    assert tables["imported_ledgers"] == [
        (origin.ledger_id, ORIGIN_NAME, SIZE, head.root, origin.bundle["checkpoint"], PRIME,
         stamps.pop()),
    ]  # fmt: skip

    # The importer's own log, tree and BAR-1 are untouched; its audit checks the import.
    assert event_rows(target.url) == own_events
    with opened(target) as app:
        assert app.tree_head() == own_head
        assert app.history(PACKAGE) == own_history
        report = app.audit()
    assert report.ok, report.failures
    assert (report.events, report.imported) == (len(own_events), len(CARRIED))


def test_imported_lists_the_origin_and_the_packages_events(
    origin: Origin, target: CliLedger
) -> None:
    with opened(target) as app:
        assert app.imported_ledgers() == []
        app.import_bundle(origin.bundle)
        (ledger,) = app.imported_ledgers()
        history = app.imported_history(PACKAGE)
        with pytest.raises(ChainledgerError, match="nothing of package 'CAM-1' was imported"):
            app.imported_history(OTHER)
    updated = imported_tables(target.url)["imported_ledgers"][0][-1]
    assert ledger == {
        "ledger": origin.ledger_id, "name": ORIGIN_NAME, "packages": PACKAGE,
        "events": len(CARRIED), "checkpoint": f"{SIZE} events, signed by {PRIME}",
        "updated": updated,
    }  # fmt: skip
    assert [(row["ledger"], row["#"], row["event"]) for row in history] == [
        (ORIGIN_NAME, nid, LAYOUT[nid - 1]) for nid in PACKAGE_EVENTS
    ]
    by = {row["#"]: row["by"] for row in history}
    assert (by[8], by[11], by[ACK_HOPE], by[ACK_MIND], by[CONFIRMATION]) == (
        COUNCIL, PRIME, HOPE, MIND, HOPE,
    )  # fmt: skip
    assert "£1,000.00" in next(row["what"] for row in history if row["#"] == INVOICE)


# -- each event once ---------------------------------------------------------------------------


def test_importing_the_same_bundle_again_changes_nothing(origin: Origin, target: CliLedger) -> None:
    import_into(target, origin.bundle)
    before = imported_tables(target.url)
    again = import_into(target, origin.bundle)
    assert (again.events, again.new) == (len(CARRIED), 0)
    assert imported_tables(target.url) == before


def test_an_older_bundle_after_a_newer_one_changes_nothing_and_keeps_the_newer_checkpoint(
    origin: Origin, grown: Grown, target: CliLedger
) -> None:
    newer = import_into(target, grown.later)
    assert (newer.new, newer.size) == (len(CARRIED) + 2, SIZE + 3)
    before = imported_tables(target.url)
    older = import_into(target, origin.bundle)
    assert (older.new, older.size) == (0, SIZE)
    assert imported_tables(target.url) == before
    (held,) = before["imported_ledgers"]
    assert (held[2], held[4]) == (SIZE + 3, grown.later["checkpoint"])


def test_a_later_bundle_adds_exactly_the_events_recorded_since(
    origin: Origin, grown: Grown, target: CliLedger
) -> None:
    import_into(target, origin.bundle)
    before = imported_tables(target.url)
    later = import_into(target, grown.later)
    assert (later.events, later.new, later.size) == (len(CARRIED) + 2, 2, SIZE + 3)
    after = imported_tables(target.url)
    added = sorted(set(after["imported_events"]) - set(before["imported_events"]))
    assert set(before["imported_events"]) <= set(after["imported_events"])
    # the Q2 referrals (events 29 and 30); not CAM-1's award (28)
    assert [(row[1], row[3], row[4], row[6]) for row in added] == [
        (SIZE + 1, 5, "ReferralsSent", PACKAGE),
        (SIZE + 2, 6, "ReferralsConfirmed", PACKAGE),
    ]
    assert [state(entry_at(grown.later, row[1] + 1)) for row in added] == [row[5] for row in added]
    (held,) = after["imported_ledgers"]
    assert (held[2], held[4]) == (SIZE + 3, grown.later["checkpoint"])


def test_a_second_package_from_the_same_ledger_adds_only_what_is_not_held(
    origin: Origin, target: CliLedger
) -> None:
    import_into(target, origin.bundle)
    other = export(origin.ledger, package=OTHER)
    # CAM-1, its bid and camden-council's registration; the genesis and northgate are held
    assert [e["position"] + 1 for e in other["events"]] == [1, 3, 6, 9, CAM_BID]
    done = import_into(target, other)
    assert (done.events, done.new) == (5, 3)
    with opened(target) as app:
        (ledger,) = app.imported_ledgers()
        assert [row["#"] for row in app.imported_history(OTHER)] == [9, CAM_BID]
    assert (ledger["packages"], ledger["events"]) == (f"{PACKAGE}, {OTHER}", len(CARRIED) + 3)


# -- refusals: what the proofs catch ------------------------------------------------------------


def test_one_byte_of_an_events_content_altered_is_refused(
    origin: Origin, untouched: CliLedger
) -> None:
    document = copy.deepcopy(origin.bundle)
    entry = entry_at(document, INVOICE)
    altered = state(entry).replace(b'"1000.00"', b'"9000.00"')
    assert altered != state(entry)
    entry["state"] = b64(altered)
    message = refused_fresh(untouched, document)
    assert message == (
        f"the bundle is refused: {named(entry)}: it is not in ledger {origin.ledger_id} as its "
        f"checkpoint of {SIZE} events signs it: the event was altered, forged or moved"
    )


def test_an_events_signature_altered_is_refused(origin: Origin, untouched: CliLedger) -> None:
    document = copy.deepcopy(origin.bundle)
    entry = entry_at(document, ACK_HOPE)
    raw = bytearray(state(entry))
    raw[5] ^= 0x01
    entry["state"] = b64(bytes(raw))
    message = refused_fresh(untouched, document)
    assert message == (
        f"the bundle is refused: {named(entry)}: it is not in ledger {origin.ledger_id} as its "
        f"checkpoint of {SIZE} events signs it: the event was altered, forged or moved"
    )


def test_an_event_moved_to_another_position_is_refused(
    origin: Origin, untouched: CliLedger
) -> None:
    """The interest (event 10) claims event 9's place, free in the bundle (CAM-1's)."""
    document = copy.deepcopy(origin.bundle)
    entry = entry_at(document, 10)
    entry["position"] = 9 - 1
    message = refused_fresh(untouched, document)
    assert message == (
        f"the bundle is refused: {named(entry)}: it is not in ledger {origin.ledger_id} as its "
        f"checkpoint of {SIZE} events signs it: the event was altered, forged or moved"
    )


def test_events_out_of_the_ledgers_order_are_refused(origin: Origin, untouched: CliLedger) -> None:
    document = copy.deepcopy(origin.bundle)
    events = document["events"]
    first = events.index(entry_at(document, PAYMENT))
    events[first], events[first + 1] = events[first + 1], events[first]
    message = refused_fresh(untouched, document)
    assert message == (
        f"the bundle is refused: {named(events[first + 1])}: events are not in the ledger's order"
    )


def test_a_record_of_another_package_smuggled_in_is_refused(
    origin: Origin, untouched: CliLedger
) -> None:
    """The CAM-1 bid comes with a genuine proof against the very same checkpoint: only
    the package check stands in the way."""
    other = export(origin.ledger, package=OTHER)
    assert other["checkpoint"] == origin.bundle["checkpoint"]
    document = copy.deepcopy(origin.bundle)
    smuggled = entry_at(other, CAM_BID)
    document["events"] = sorted([*document["events"], smuggled], key=lambda e: e["position"])
    verify_bundle(other)  # in its own bundle, the bid is fine
    message = refused_fresh(untouched, document)
    assert message == (
        f"the bundle is refused: {named(smuggled)}: it belongs to package 'CAM-1', not to the "
        f"bundle's {PACKAGE}"
    )


def test_a_bundle_without_its_package_record_is_refused(
    origin: Origin, untouched: CliLedger
) -> None:
    document = {**origin.bundle, "events": without(origin.bundle, 8, 15)}
    message = refused_fresh(untouched, document, InvalidValue)
    assert message == "the bundle holds no package 'BAR-1', only other records"


def test_a_bundle_from_the_importing_ledger_itself_is_refused(origin: Origin) -> None:
    ledger = CliLedger(origin.ledger.url, origin.ledger.keys, CliRunner())
    message = refused(ledger, origin.bundle, Refused)
    assert message == (
        f"this bundle was exported from this ledger ({origin.ledger_id}): its events are "
        "already here"
    )


# -- refusals: exporters that rebuild the tree and sign it themselves --------------------------


def test_a_resealed_bundle_is_accepted_when_nothing_was_edited(origin: Origin) -> None:
    """The exporter's tools work: what the tests below refuse, they refuse for the edit."""
    document = reseal(origin.bundle, without(origin.bundle), origin.key(PRIME))
    verified = verify_bundle(document)
    assert verified.size == len(CARRIED)
    assert [e.state for e in verified.events] == [origin.rows[n - 1][4] for n in CARRIED]


def test_content_altered_under_a_resealed_checkpoint_fails_its_signature(
    origin: Origin, untouched: CliLedger
) -> None:
    entries = without(origin.bundle)
    index = CARRIED.index(INVOICE)
    entries[index] = with_state(
        entries[index], state(entries[index]).replace(b'"1000.00"', b'"9000.00"')
    )
    document = reseal(origin.bundle, entries, origin.key(PRIME))
    message = refused_fresh(untouched, document)
    entry = document["events"][index]
    assert message == (
        f"the bundle is refused: {named(entry)}: signature by {HOPE} does not verify"
    )


def test_an_event_removed_from_the_middle_of_a_record_breaks_its_versions(
    origin: Origin, untouched: CliLedger
) -> None:
    """Hope Trust's acknowledgement dropped (bid v2): Mind in Barnet's, v3, follows v1."""
    document = reseal(origin.bundle, without(origin.bundle, ACK_HOPE), origin.key(PRIME))
    message = refused_fresh(untouched, document)
    (mind,) = [e for e in document["events"] if e["type"] == "PromiseAcknowledged"]
    assert content(mind)["org"] == MIND
    assert message == (
        f"the bundle is refused: {named(mind)}: version 3 follows version 1: an event is "
        "missing or duplicated"
    )


def test_events_of_a_record_reordered_under_a_resealed_checkpoint_are_refused(
    origin: Origin, untouched: CliLedger
) -> None:
    entries = without(origin.bundle)
    first = CARRIED.index(ACK_HOPE)
    entries[first], entries[first + 1] = entries[first + 1], entries[first]
    document = reseal(origin.bundle, entries, origin.key(PRIME))
    message = refused_fresh(untouched, document)
    assert message == (
        f"the bundle is refused: {named(document['events'][first])}: version 3 follows "
        "version 1: an event is missing or duplicated"
    )


@pytest.mark.parametrize(
    ("forged_id", "key_named", "reason"),
    [
        (ACK_HOPE, HOPE, f"signature by {HOPE} does not verify"),
        (CONFIRMATION, PRIME, "which is not a key of hope-trust"),
    ],
    ids=["acknowledgement-naming-hopes-key", "payment-confirmed-naming-the-primes-key"],
)
def test_an_event_forged_by_the_prime_in_a_subcontractors_name_is_refused(
    origin: Origin, untouched: CliLedger, forged_id: int, key_named: str, reason: str
) -> None:
    """The prime writes Hope Trust's acknowledgement (or payment confirmation) itself,
    signs it with its own key, rebuilds the tree and signs the checkpoint."""
    entries = without(origin.bundle)
    index = CARRIED.index(forged_id)
    envelope = content(entries[index])
    assert envelope["org"] == HOPE
    envelope["key"] = origin.fingerprints[key_named]
    envelope["on"] = "2025-01-02"
    entries[index] = with_state(entries[index], signed(envelope, origin.key(PRIME)))
    document = reseal(origin.bundle, entries, origin.key(PRIME))
    message = refused_fresh(untouched, document)
    assert message.startswith(f"the bundle is refused: {named(document['events'][index])}: ")
    assert message.endswith(reason)


# -- refusals: who signed the checkpoint ------------------------------------------------------


NOT_CURRENT = (
    "is not signed by the current key of an organisation whose registration the bundle carries"
)


def test_a_checkpoint_signed_by_a_key_no_organisation_in_the_bundle_holds_is_refused(
    origin: Origin, untouched: CliLedger
) -> None:
    document = resign_checkpoint(origin.bundle, Ed25519PrivateKey.generate(), PRIME)
    message = refused_fresh(untouched, document)
    assert message == f"the bundle's checkpoint (signed by {PRIME}) {NOT_CURRENT}"


def test_a_checkpoint_signed_by_an_organisation_whose_registration_is_missing_is_refused(
    origin: Origin, untouched: CliLedger
) -> None:
    """Camden Council's real key signed it, but the bundle does not carry its key."""
    bundle = export(origin.ledger, signer=CAMDEN)
    document = {**bundle, "events": without(bundle, 6)}
    message = refused_fresh(untouched, document)
    assert message == f"the bundle's checkpoint (signed by {CAMDEN}) {NOT_CURRENT}"


@dataclass(frozen=True)
class Rotated:
    """A copy of the origin where northgate rotated its key, then sent referrals."""

    bundle: dict[str, Any]  # exported by northgate with its new key
    ledger: CliLedger
    old_key: Ed25519PrivateKey


@pytest.fixture(scope="module")
def rotated(origin: Origin, module_ledgers: LedgerStore) -> Rotated:
    url = module_ledgers.copy(origin.ledger.url, "rotated")
    ledger = CliLedger(url, origin.ledger.keys, CliRunner())
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("chainledger.adapters.keystore.SCRYPT_N", FAST_SCRYPT_N)
        ledger.ok("org", "rotate-key", PRIME)
        for step in referrals("2025-Q2"):
            ledger.ok(*step)
    return Rotated(export(ledger), ledger, origin.key(PRIME))


def test_a_rotated_key_travels_and_signs_from_its_place(
    origin: Origin, rotated: Rotated, target: CliLedger
) -> None:
    types = [e["type"] for e in rotated.bundle["events"]]
    assert types.count("SigningKeyRotated") == 1
    rotation = rotated.bundle["events"][types.index("SigningKeyRotated")]
    assert rotation["position"] == SIZE
    sent = rotated.bundle["events"][-2]
    assert (sent["type"], content(sent)["org"]) == ("ReferralsSent", PRIME)
    assert content(sent)["key"] != origin.fingerprints[PRIME]
    done = import_into(target, rotated.bundle)
    assert (done.new, done.signer, done.size) == (len(CARRIED) + 3, PRIME, SIZE + 3)


def test_a_checkpoint_signed_with_a_rotated_away_key_is_refused(
    rotated: Rotated, untouched: CliLedger
) -> None:
    with opened(rotated.ledger) as app:
        old = Ed25519Signer(app.ledger_id, PRIME, rotated.old_key)
        document = load_bundle(json.dumps(app.export_bundle(PACKAGE, old)).encode())
    assert document["events"] == rotated.bundle["events"]
    message = refused_fresh(untouched, document)
    assert message == f"the bundle's checkpoint (signed by {PRIME}) {NOT_CURRENT}"


def test_an_event_signed_with_a_rotated_away_key_after_the_rotation_is_refused(
    rotated: Rotated, untouched: CliLedger
) -> None:
    """Backdating is impossible: the key's span ends at the rotation's position."""
    entries = copy.deepcopy(rotated.bundle["events"])
    sent = entries[-2]
    envelope = content(sent)
    envelope["key"] = key_fingerprint(raw_public_key(rotated.old_key))
    entries[-2] = with_state(sent, signed(envelope, rotated.old_key))
    with opened(rotated.ledger) as app:
        new_key = app.keystore.load(app.organisation(PRIME).key_id, PASSPHRASE)
    document = reseal(rotated.bundle, entries, new_key)
    message = refused_fresh(untouched, document)
    assert message.startswith(f"the bundle is refused: {named(document['events'][-2])}: ")
    assert message.endswith(
        f"signed with {PRIME}'s key {envelope['key'][:16]}… after it was rotated"
    )


# -- two histories ------------------------------------------------------------------------------


def test_a_second_history_of_the_same_size_is_refused(grown: Grown, target: CliLedger) -> None:
    import_into(target, grown.fork_a)
    assert size_of(grown.fork_a) == size_of(grown.fork_b) == SIZE + 1
    message = refused(target, grown.fork_b)
    assert message == (
        f"the bundle is refused: ledger {grown.fork_b['ledger']} was seen before with "
        f"{SIZE + 1} events under another root: it has shown two different histories"
    )


def test_a_longer_second_history_is_refused_naming_the_event_that_differs(
    grown: Grown, target: CliLedger
) -> None:
    import_into(target, grown.fork_a)
    mine, theirs = entry_at(grown.fork_a, SIZE + 1), entry_at(grown.fork_b_longer, SIZE + 1)
    assert (mine["aggregate"], mine["version"]) == (theirs["aggregate"], theirs["version"])
    assert mine["state"] != theirs["state"]
    message = refused(target, grown.fork_b_longer)
    assert message == (
        f"the bundle is refused: {named(theirs)} differs from the event held here from ledger "
        f"{grown.fork_a['ledger']}, imported before: either that ledger has shown two different "
        "histories, or the copy here was altered (chainledger audit verify tells which)"
    )


def test_a_newer_history_without_a_held_event_of_its_package_is_refused(
    grown: Grown, target: CliLedger
) -> None:
    """fork-a holds INV-2 at 28; ``later``, of 30 events and every BAR-1 event in them,
    has CAM-1's award at 28 and no INV-2: the two cannot both be the origin's history."""
    import_into(target, grown.fork_a)
    invoice_two = entry_at(grown.fork_a, SIZE + 1)
    assert invoice_two["aggregate"] not in {e["aggregate"] for e in grown.later["events"]}
    assert size_of(grown.later) > SIZE + 1
    refused(target, grown.later)


# -- the copy kept here ---------------------------------------------------------------------


def test_an_imported_event_altered_here_fails_the_audit_and_refuses_a_reimport(
    origin: Origin, target: CliLedger
) -> None:
    import_into(target, origin.bundle)
    stored = origin.rows[INVOICE - 1][4]
    set_imported_state(target.url, INVOICE - 1, stored.replace(b'"1000.00"', b'"9000.00"'))
    invoice_entry, payment_entry = (
        entry_at(origin.bundle, INVOICE),
        entry_at(origin.bundle, PAYMENT),
    )
    where = f"imported from {ORIGIN_NAME} ({origin.ledger_id})"
    with opened(target) as app:
        count, problems = app.audit_imported()
        report = app.audit()
    assert count == len(CARRIED)
    assert problems == [
        f"{where}: {named(invoice_entry)}: signature by {HOPE} does not verify",
        f"{where}: {named(payment_entry)}: hash chain broken: the previous event is not the one "
        "this event was signed after",
    ]
    assert not report.ok
    assert [f.message for f in report.failures] == problems

    message = refused(target, origin.bundle)
    assert message.startswith(f"the bundle is refused: {named(invoice_entry)} differs from ")
    assert "or the copy here was altered" in message


# -- hostile content under a resealed checkpoint -------------------------------------------------


def with_genesis_fields(origin: Origin, fields: Any) -> dict[str, Any]:
    """The bundle with its genesis (unsigned, as every genesis is) holding ``fields``,
    resealed by northgate."""
    entries = without(origin.bundle)
    envelope = {**content(entries[0]), "fields": fields}
    entries[0] = with_state(entries[0], bytes(SIGNATURE_LENGTH) + canonical_json(envelope))
    return reseal(origin.bundle, entries, origin.key(PRIME))


def with_new_bid(origin: Origin, fields: Any) -> dict[str, Any]:
    """The bundle and one more record at its end: a BidSubmitted with ``fields``, signed by
    northgate, resealed by northgate."""
    entries = without(origin.bundle)
    record = "22222222-2222-4222-8222-222222222222"
    envelope = {**content(entry_at(origin.bundle, 11)), "aggregate": record, "fields": fields}
    entries.append({"position": 0, "aggregate": record, "version": 1, "type": "BidSubmitted",
                    "state": b64(signed(envelope, origin.key(PRIME))), "path": []})  # fmt: skip
    return reseal(origin.bundle, entries, origin.key(PRIME))


def refused_by_the_verifier(document: dict[str, Any]) -> None:
    with pytest.raises((InvalidValue, ProofFailed)):
        verify_bundle(document)


def test_a_genesis_with_unreadable_fields_is_refused(origin: Origin) -> None:
    refused_by_the_verifier(with_genesis_fields(origin, []))


def test_a_first_event_with_unreadable_fields_is_refused(origin: Origin) -> None:
    refused_by_the_verifier(with_new_bid(origin, []))


@pytest.mark.parametrize("ledger", [5, None, "not-a-ledger"])
def test_a_key_change_naming_no_ledger_is_refused(origin: Origin, ledger: Any) -> None:
    entries = without(origin.bundle)
    registration = entry_at(origin.bundle, 3)  # northgate's
    envelope = content(registration)
    new_key = Ed25519PrivateKey.generate()
    new_public = raw_public_key(new_key)
    proof = new_key.sign(possession_statement(UUID(origin.ledger_id), PRIME,
                                              key_fingerprint(new_public)))  # fmt: skip
    rotation = {
        **envelope, "type": "SigningKeyRotated", "version": 2, "ledger": ledger,
        "prev": digest(state(registration)[SIGNATURE_LENGTH:]),
        "fields": {"new_public_key": encode_key(new_public), "proof": b64(proof)},
    }  # fmt: skip
    entry = {**registration, "version": 2, "type": "SigningKeyRotated",
             "state": b64(signed(rotation, origin.key(PRIME)))}  # fmt: skip
    entries.insert(CARRIED.index(3) + 1, entry)
    refused_by_the_verifier(reseal(origin.bundle, entries, origin.key(PRIME)))


def test_an_event_that_cannot_be_read_as_its_type_is_refused(
    origin: Origin, target: CliLedger
) -> None:
    refused(target, with_new_bid(origin, {"package": PACKAGE}), (InvalidValue, ProofFailed))


# -- the verifier against random damage ----------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=3),
    max_leaves=6,
)  # fmt: skip
B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
ENTRY_FIELDS = ("position", "aggregate", "version", "type", "state", "path")
TOP_FIELDS = ("format", "ledger", "package", "checkpoint", "events")


@st.composite
def mangles(draw: st.DrawFn) -> list[tuple[Any, ...]]:
    """One to three edits; the subtle ones (that keep every field well-formed) most often."""
    kinds = st.sampled_from([
        "delete", "delete", "duplicate", "swap", "swap", "flip", "flip", "renumber", "renumber",
        "retype", "top", "drop-key", "flip-checkpoint",
    ])  # fmt: skip
    index = st.integers(0, 2 * len(CARRIED))
    ops: list[tuple[Any, ...]] = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(kinds)
        if kind == "retype":
            ops.append((kind, draw(index), draw(st.sampled_from(ENTRY_FIELDS)), draw(JSON_VALUES)))
        elif kind == "renumber":
            field = draw(st.sampled_from(["position", "version"]))
            ops.append((kind, draw(index), field, draw(st.sampled_from([-2, -1, 1, 2, 40]))))
        elif kind == "top":
            value = draw(JSON_VALUES | st.sampled_from([OTHER, "BAR-2", str(UUID(int=1))]))
            ops.append((kind, draw(st.sampled_from(TOP_FIELDS)), value))
        else:
            ops.append(
                (kind, draw(index), draw(st.integers(0, 10_000)), draw(st.sampled_from(B64)))
            )
    return ops


def mangle(document: dict[str, Any], ops: list[tuple[Any, ...]]) -> dict[str, Any]:
    document = copy.deepcopy(document)
    for op in ops:
        events = document.get("events")
        entries = events if isinstance(events, list) and events else None
        kind = op[0]
        if kind == "top":
            document[op[1]] = op[2]
        elif kind == "drop-key":
            document.pop(TOP_FIELDS[op[1] % len(TOP_FIELDS)], None)
        elif kind == "flip-checkpoint" and isinstance(document.get("checkpoint"), str):
            text = document["checkpoint"]
            at = op[1] % len(text)
            document["checkpoint"] = text[:at] + op[3] + text[at + 1 :]
        elif entries is None:
            continue
        elif kind == "delete":
            del entries[op[1] % len(entries)]
        elif kind == "duplicate":
            at = op[1] % len(entries)
            entries.insert(at, copy.deepcopy(entries[at]))
        elif kind == "swap":
            a, b = op[1] % len(entries), (op[1] + op[2] % 3) % len(entries)  # near, or itself
            entries[a], entries[b] = entries[b], entries[a]
        elif isinstance(entries[op[1] % len(entries)], dict):
            entry = entries[op[1] % len(entries)]
            if kind == "retype":
                entry[op[2]] = op[3]
            elif kind == "renumber" and isinstance(entry.get(op[2]), int):
                entry[op[2]] += op[3]
            elif kind == "flip":
                path = entry.get("path")
                holders = [(entry, "state")] + [
                    (path, i) for i in range(len(path) if isinstance(path, list) else 0)
                ]
                holder, key = holders[op[2] % len(holders)]
                text = holder.get(key) if isinstance(holder, dict) else holder[key]
                if isinstance(text, str) and text:
                    at = op[2] % len(text)
                    holder[key] = text[:at] + op[3] + text[at + 1 :]
    return document


@pytest.mark.sqlite_only("the verifier is pure: one engine is enough")
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(ops=mangles())
def test_a_mangled_bundle_is_refused_unless_it_holds_only_events_the_origin_signed(
    origin: Origin, ops: list[tuple[Any, ...]]
) -> None:
    original = verify_bundle(origin.bundle)
    document = mangle(origin.bundle, ops)
    try:
        verified = verify_bundle(load_bundle(json.dumps(document).encode()))
    except (InvalidValue, ProofFailed) as error:
        event(f"refused: {type(error).__name__}")
        return
    event("accepted")
    # Accepted: the same ledger, package and checkpoint, and nothing but the origin's own
    # events at their own places, each record a run of versions from 1 (a bundle cannot
    # prove that no record was left out, or cut short)
    assert (verified.ledger_id, verified.package, verified.checkpoint, verified.signer) == (
        original.ledger_id, original.package, original.checkpoint, original.signer,
    )  # fmt: skip
    kept = {(e.position, e.aggregate, e.version, e.topic, e.state) for e in verified.events}
    assert kept <= {(e.position, e.aggregate, e.version, e.topic, e.state)
                    for e in original.events}  # fmt: skip
    versions: dict[UUID, list[int]] = {}
    for e in verified.events:
        versions.setdefault(e.aggregate, []).append(e.version)
    assert all(v == list(range(1, len(v) + 1)) for v in versions.values())
    if not any(op[0] == "delete" for op in ops):
        assert verified.events == original.events
