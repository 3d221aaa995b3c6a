"""``audit verify`` against a database operator who moves rows, on SQLite and PostgreSQL.

Three things the audit must hold to whatever the operator does to the events
table (editing rows in plain SQL, then rebuilding the stored Merkle tree from
the edited events so that it matches them):

- its cost follows the number of stored rows, not the values of their ids: one
  row with id 2**63-1 costs what a row after a gap of one does;
- a key is valid by the signed time of its events as well as by their position:
  an event signed with a revoked key and dated after the revocation is caught
  even when its row is slipped in *before* the revocation;
- signed timestamps may not run backwards against the log order by more than
  ``TIMESTAMP_TOLERANCE``: an event moved later in the log is caught although
  every signature, hash chain and version sequence still verifies.

The clock used when signing (``chainledger.domain.events.now``) is moved forward
instead of sleeping.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from uuid import UUID, uuid4

import pytest
import sqlalchemy
from click.testing import CliRunner, Result

from chainledger.adapters import merkle_store
from chainledger.adapters.crypto import Ed25519Signer
from chainledger.adapters.keystore import Keystore
from chainledger.application.audit import (
    TIMESTAMP_TOLERANCE,
    AuditReport,
    LatestSigned,
    RangeResult,
    walk_chains,
)
from chainledger.application.bundles import BundleEvent, audit_events
from chainledger.bootstrap import open_ledger
from chainledger.domain.canonical import GENESIS_HASH
from chainledger.domain.events import stored_state
from chainledger.domain.ids import organisation_id, package_id
from chainledger.domain.package import Package
from chainledger.domain.terms import PaymentModel
from tests.conftest import PASSPHRASE, CliLedger
from tests.integration.test_tamper import split
from tests.ledgers import LedgerStore, RawEvents, event_rows, is_sqlite

COUNCIL, PRIME, HOPE = "barnet-council", "northgate", "hope-trust"
HUGE_ID = 2**63 - 1  # the largest id a 64-bit column holds
MOVED = "MOVED-1"  # the package whose creation the operator moves later in the log

# -- the ledger and what the operator does ----------------------------------------------------


def organisations(ledger: CliLedger) -> None:
    for name, role, handle in (("Barnet Council", "commissioner", COUNCIL),
                               ("Northgate", "prime", PRIME),
                               ("Hope Trust", "subcontractor", HOPE)):  # fmt: skip
        ledger.ok("org", "create", name, "--role", role, "--handle", handle)


def create_package(ledger: CliLedger, reference: str) -> None:
    ledger.ok("package", "create", reference, "--as", COUNCIL, "--title", "Employment support",
              "--area", "Barnet", "--value", "2400000", "--start", "2026-01-01",
              "--end", "2027-12-31", "--description", "Support into work",
              "--payment-model", "fee-plus-outcome", "--at-risk", "20")  # fmt: skip


def clock_ahead(monkeypatch: pytest.MonkeyPatch, ahead: timedelta) -> None:
    """From now on, events are signed ``ahead`` of the real time."""
    monkeypatch.setattr("chainledger.domain.events.now", lambda: datetime.now(UTC) + ahead)


def set_id(connection: sqlalchemy.Connection, old: int, new: int) -> None:
    t = RawEvents.table
    assert (
        connection.execute(sqlalchemy.update(t).where(t.c.id == old).values(id=new)).rowcount == 1
    )


def insert_row(url: str, notification_id: int, aggregate: UUID, version: int, topic: str,
               state: bytes) -> None:  # fmt: skip
    """A row with the id the operator chooses (the application never writes one itself)."""
    statement = sqlalchemy.insert(RawEvents.table).values(
        id=notification_id, originator_id=aggregate, originator_version=version, topic=topic,
        state=state,
    )  # fmt: skip
    with RawEvents(url) as raw, raw.engine.begin() as connection:
        connection.execute(statement)


def move_to_end(url: str, notification_id: int) -> int:
    """Move one row to the end of the log, closing the hole behind it (the rows after it
    each move up one place), so that no gap in the ids gives the move away. Returns the
    row's new id."""
    with RawEvents(url) as raw:
        ids = [row[0] for row in raw.rows()]
        last = ids[-1]
        with raw.engine.begin() as connection:
            set_id(connection, notification_id, last + 1)
            for later in (i for i in ids if i > notification_id):
                set_id(connection, later, later - 1)
            set_id(connection, last + 1, last)
    return last


def insert_before(url: str, notification_id: int, aggregate: UUID, topic: str,
                  state: bytes) -> None:  # fmt: skip
    """Slip a new row in at ``notification_id``: that row and every later one move down one
    place (the last first, out of each other's way), and the new row takes the freed id."""
    with RawEvents(url) as raw:
        later = sorted((row[0] for row in raw.rows() if row[0] >= notification_id), reverse=True)
        with raw.engine.begin() as connection:
            for i in later:
                set_id(connection, i, i + 1)
    insert_row(url, notification_id, aggregate, 1, topic, state)


def rebuild_tree(url: str, keys: Path) -> None:
    """Hide the edits from the stored tree: empty the Merkle tables and grow the tree again
    from the edited events, as tests/integration/test_transparency.py does."""
    app = open_ledger(url, keys)
    try:
        events = app.recorder.events_record_cls.__table__
        with app.recorder.datastore.transaction(commit=True) as session:
            for table in merkle_store.TABLES:
                session.execute(sqlalchemy.delete(table))
            merkle_store.append(session, events, [])
    finally:
        app.close()


def row_of(url: str, reference: str) -> tuple[int, UUID, int, str, bytes]:
    """The stored row of a package's creation."""
    (row,) = [r for r in event_rows(url) if r[1] == package_id(reference)]
    return row


# -- what the CLI says ------------------------------------------------------------------------


def audit(ledger: CliLedger) -> tuple[Result, float]:
    """``audit verify`` (no checkpoint) and how long it took."""
    started = time.perf_counter()
    result = ledger.run("audit", "verify")
    elapsed = time.perf_counter() - started
    assert "Traceback" not in result.stdout + result.stderr
    return result, elapsed


def failures(result: Result) -> list[str]:
    return [line for line in result.stdout.splitlines() if line.startswith("FAILED")]


def where(notification_id: int, aggregate: UUID, version: int, topic: str) -> str:
    """How ``audit verify`` begins the line of a failure of one event."""
    return (
        f"FAILED notification {notification_id}, aggregate {aggregate} version {version} "
        f"({topic}): "
    )


# -- (1) the cost of a gap in the ids ---------------------------------------------------------


def test_a_huge_notification_id_costs_what_a_gap_of_one_does(
    cli_ledger: CliLedger, ledgers: LedgerStore
) -> None:
    organisations(cli_ledger)
    create_package(cli_ledger, "BAR-1")
    clean, clean_seconds = audit(cli_ledger)
    assert clean.exit_code == 0, clean.stdout
    assert "checked 5 events" in clean.stdout
    rows = event_rows(cli_ledger.url)
    last_id, _, _, topic, state = rows[-1]

    timings = {}
    for name, notification_id in (("gap-of-one", last_id + 2), ("huge", HUGE_ID)):
        ledger = CliLedger(ledgers.copy(cli_ledger.url, name), cli_ledger.keys, CliRunner())
        # A copy of the last event under a record of its own, at the id the operator chose.
        stray = uuid4()
        insert_row(ledger.url, notification_id, stray, 1, topic, state)
        result, timings[name] = audit(ledger)

        assert result.exit_code == 1, result.stdout
        assert "checked 6 events" in result.stdout
        assert where(notification_id, stray, 1, topic) + (
            "content belongs to another aggregate, version or type: events were moved or swapped"
        ) in failures(result)
        gap = (
            f"FAILED notification {last_id + 1}: {notification_id - last_id - 1} notification(s) "
            f"missing before {notification_id}: events were removed"
        )
        # On PostgreSQL a gap proves nothing (a rolled-back insert leaves one).
        assert (gap in failures(result)) == is_sqlite(ledger.url)
        assert f"TAMPERED: {3 if is_sqlite(ledger.url) else 2} failure(s)." in result.stdout

    # Without the change, the huge id made the audit walk 2**63 ids in ranges of 10,000
    # (it never finished). Now both take about as long as the clean ledger.
    assert timings["huge"] < 10, timings
    assert timings["huge"] < 10 * timings["gap-of-one"] + 0.5, timings
    assert timings["huge"] < 10 * clean_seconds + 0.5, (timings, clean_seconds)
    print(f"audit verify: clean {clean_seconds:.2f}s, gap of one {timings['gap-of-one']:.2f}s, "
          f"id 2**63-1 {timings['huge']:.2f}s")  # fmt: skip


def test_rows_below_the_first_id_are_audited_too(cli_ledger: CliLedger) -> None:
    """Ranges start at the first id that exists: a row with id 0 is read and named (the
    log hands out ids from 1), not skipped."""
    organisations(cli_ledger)
    _, _, _, topic, state = event_rows(cli_ledger.url)[-1]
    stray = uuid4()
    insert_row(cli_ledger.url, 0, stray, 1, topic, state)

    result, _ = audit(cli_ledger)
    assert result.exit_code == 1, result.stdout
    assert "checked 5 events" in result.stdout
    assert (
        "FAILED: notification id 0 is not one the log hands out (they start at 1): the row was "
        "inserted behind the application's back"
    ) in failures(result)
    assert "missing before" not in result.stdout


# -- (3) an event moved later in the log --------------------------------------------------------


def reordered(ledger: CliLedger, monkeypatch: pytest.MonkeyPatch) -> tuple[int, int]:
    """A ledger where MOVED-1's creation, signed an hour before the events recorded after it,
    is moved to the end of the log and the stored tree rebuilt to match. Every signature,
    hash chain and version sequence still verifies. Returns its new id and the id of the
    event it now follows (the latest signed before it)."""
    organisations(ledger)
    create_package(ledger, "BAR-1")
    create_package(ledger, MOVED)
    clock_ahead(monkeypatch, timedelta(hours=1))
    ledger.ok("bid", "submit", "BAR-1", "--as", PRIME, "--price", "2350000", "--self-share", "40")
    ledger.ok("package", "award", "BAR-1", "--as", COUNCIL, "--bid", PRIME)
    clean, _ = audit(ledger)
    assert clean.exit_code == 0, clean.stdout

    moved_from = row_of(ledger.url, MOVED)[0]
    assert moved_from == 6
    new_id = move_to_end(ledger.url, moved_from)
    rebuild_tree(ledger.url, ledger.keys)
    ids = [row[0] for row in event_rows(ledger.url)]
    assert ids == list(range(1, 9))  # no gap gives it away
    assert row_of(ledger.url, MOVED)[0] == new_id == 8
    return new_id, new_id - 1  # the award, signed an hour after MOVED-1's creation


def test_an_event_moved_later_in_the_log_is_caught_by_its_signed_time(
    cli_ledger: CliLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    moved, award = reordered(cli_ledger, monkeypatch)
    _, content = split(event_rows(cli_ledger.url)[moved - 1][4])
    _, award_content = split(event_rows(cli_ledger.url)[award - 1][4])

    result, _ = audit(cli_ledger)
    assert result.exit_code == 1, result.stdout
    # The only failure: nothing else (not the stored tree, not a gap) gives the move away.
    # The award was signed an hour (and the time between the two commands) after it.
    assert failures(result) == [
        where(moved, package_id(MOVED), 1, "PackageCreated")
        + f"signed at {content['timestamp']}, 60 min before event #{award} (signed at "
        f"{award_content['timestamp']}) which precedes it in the log: events were reordered "
        "or back-dated"
    ], result.stdout
    assert "TAMPERED: 1 failure(s)." in result.stdout


def test_a_bundle_of_the_moved_event_is_refused_too(
    cli_ledger: CliLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bundle's small audit shares the audit's checks: the same rows, carried in a bundle
    (positions standing in for ids), fail in the same way."""
    moved, award = reordered(cli_ledger, monkeypatch)
    rows = event_rows(cli_ledger.url)
    events = [BundleEvent(nid - 1, aggregate, version, topic, state)
              for nid, aggregate, version, topic, state in rows]  # fmt: skip
    _, genesis = split(rows[0][4])
    _, moved_content = split(rows[moved - 1][4])

    _, found = audit_events(events, UUID(genesis["ledger"]))
    assert [(event.position + 1, event.aggregate) for event, _ in found] == [
        (moved, package_id(MOVED))
    ]
    message = found[0][1]
    assert message.startswith(
        f"signed at {moved_content['timestamp']}, 60 min before event #{award} (signed at "
    )
    assert message.endswith("which precedes it in the log: events were reordered or back-dated")


# -- (2) an event signed with a revoked key, slipped in before the revocation -------------------


def steal_and_sign(ledger: CliLedger, handle: str, reference: str) -> tuple[str, bytes, str]:
    """A package creation signed now with ``handle``'s first key, which the thief still
    holds (it is still in the key directory): (its key id, the stored state, its signed
    timestamp). A new record, so its hash chain is fine."""
    registration = row_of_org(ledger.url, handle)
    _, registered = split(registration)
    stolen_key_id = registered["key"]
    stolen = Keystore(ledger.keys).load(stolen_key_id, PASSPHRASE)
    signer = Ed25519Signer(UUID(registered["ledger"]), handle, stolen)
    package = Package.create(
        signer, reference=reference, title="Forged", area="Barnet", value=Decimal("100"),
        start=date(2026, 1, 1), end=date(2026, 12, 31), description="Forged",
        payment_model=PaymentModel.FIXED, at_risk_pct=Decimal("0"),
    )  # fmt: skip
    (event,) = package.collect_events()
    return stolen_key_id, stored_state(event), event.timestamp.isoformat()


def row_of_org(url: str, handle: str) -> bytes:
    """The stored state of ``handle``'s registration."""
    (state,) = [r[4] for r in event_rows(url) if r[1] == organisation_id(handle) and r[2] == 1]
    return state


@pytest.fixture
def revoked(cli_ledger: CliLedger) -> tuple[CliLedger, int, str]:
    """barnet-council's key revoked (as stolen) after it created BAR-1, and a bid after that:
    the ledger, the revocation's id and its signed timestamp."""
    organisations(cli_ledger)
    create_package(cli_ledger, "BAR-1")
    cli_ledger.ok("org", "revoke-key", COUNCIL, "--reason", "laptop stolen")
    cli_ledger.ok(
        "bid", "submit", "BAR-1", "--as", PRIME, "--price", "2350000", "--self-share", "40"
    )
    clean, _ = audit(cli_ledger)
    assert clean.exit_code == 0, clean.stdout
    (revocation,) = [r for r in event_rows(cli_ledger.url) if r[3] == "SigningKeyRevoked"]
    assert revocation[0] == 6
    _, content = split(revocation[4])
    return cli_ledger, revocation[0], content["timestamp"]


def test_a_revoked_key_signing_after_the_revocation_is_caught_though_its_row_precedes_it(
    revoked: tuple[CliLedger, int, str],
) -> None:
    ledger, revocation, revoked_at = revoked
    key_id, state, signed_at = steal_and_sign(ledger, COUNCIL, "FORGED-1")
    assert datetime.fromisoformat(signed_at) > datetime.fromisoformat(revoked_at)
    insert_before(ledger.url, revocation, package_id("FORGED-1"), "PackageCreated", state)
    rebuild_tree(ledger.url, ledger.keys)
    assert [row[3] for row in event_rows(ledger.url)][revocation - 1 : revocation + 1] == [
        "PackageCreated", "SigningKeyRevoked"
    ]  # fmt: skip

    result, _ = audit(ledger)
    assert result.exit_code == 1, result.stdout
    # By position alone the forgery would pass: its row precedes the revocation.
    assert failures(result) == [
        where(revocation, package_id("FORGED-1"), 1, "PackageCreated")
        + f"signed with {COUNCIL}'s key {key_id[:16]}… at {signed_at}, after it was revoked "
        f"at {revoked_at}"
    ], result.stdout
    assert "TAMPERED: 1 failure(s)." in result.stdout


def test_a_revoked_key_signing_after_the_revocation_is_caught_by_position_when_appended(
    revoked: tuple[CliLedger, int, str],
) -> None:
    """The control: the same forgery at the end of the log, where it belongs by its time."""
    ledger, _, _ = revoked
    key_id, state, _ = steal_and_sign(ledger, COUNCIL, "FORGED-1")
    with RawEvents(ledger.url) as raw:
        appended = raw.append(package_id("FORGED-1"), 1, "PackageCreated", state)
    rebuild_tree(ledger.url, ledger.keys)

    result, _ = audit(ledger)
    assert result.exit_code == 1, result.stdout
    assert failures(result) == [
        where(appended, package_id("FORGED-1"), 1, "PackageCreated")
        + f"signed with {COUNCIL}'s key {key_id[:16]}… after it was revoked"
    ], result.stdout
    assert "TAMPERED: 1 failure(s)." in result.stdout


def test_an_event_signed_before_its_key_was_introduced_is_caught(
    cli_ledger: CliLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key cannot sign a time before the event that introduced it (here: a clock an hour
    behind after barnet-council's rotation)."""
    organisations(cli_ledger)
    cli_ledger.ok("org", "rotate-key", COUNCIL)
    (rotation,) = [r for r in event_rows(cli_ledger.url) if r[3] == "SigningKeyRotated"]
    _, rotated = split(rotation[4])
    clock_ahead(monkeypatch, timedelta(hours=-1))
    create_package(cli_ledger, "BAR-1")
    nid, aggregate, version, topic, state = row_of(cli_ledger.url, "BAR-1")
    _, content = split(state)

    result, _ = audit(cli_ledger)
    assert result.exit_code == 1, result.stdout
    assert failures(result) == [
        where(nid, aggregate, version, topic)
        + f"signed with {COUNCIL}'s key {content['key'][:16]}… at {content['timestamp']}, before "
        f"it was introduced at {rotated['timestamp']}"
    ], result.stdout


# -- the tolerance, at its boundary -------------------------------------------------------------

T0 = datetime(2026, 1, 5, 13, 0, tzinfo=UTC)


def chain_of(*times: datetime | None, first: int = 1) -> RangeResult:
    """What a worker sends back for events of records of their own, signed at ``times``,
    at ids ``first``, ``first + 1``, …"""
    result = RangeResult()
    for nid, at in enumerate(times, first):
        result.chain.append((nid, uuid4(), 1, "PackageCreated", GENESIS_HASH, f"h{nid}", at))
    return result


def walked(*results: RangeResult) -> AuditReport:
    """The sequential part of the audit over ``results``, as audit_ledger runs it."""
    report, latest = AuditReport(), LatestSigned()
    chains: dict[UUID, tuple[int, str]] = {}
    expected = 1
    for result in results:
        expected = walk_chains(result, report, chains, expected, True, latest)
    return report


def test_the_tolerance_is_ten_minutes() -> None:
    assert timedelta(minutes=10) == TIMESTAMP_TOLERANCE


def test_exactly_the_tolerance_backwards_passes() -> None:
    report = walked(chain_of(T0, T0 - TIMESTAMP_TOLERANCE))
    assert report.ok, report.failures
    assert report.events == 2


def test_a_microsecond_more_than_the_tolerance_fails() -> None:
    late = T0 - TIMESTAMP_TOLERANCE - timedelta(microseconds=1)
    report = walked(chain_of(T0, late))
    assert [(f.notification_id, f.message) for f in report.failures] == [
        (2, "signed at 2026-01-05T12:49:59.999999+00:00, 10 min before event #1 (signed at "
            "2026-01-05T13:00:00+00:00) which precedes it in the log: events were reordered or "
            "back-dated"),
    ]  # fmt: skip


def test_the_latest_time_carries_across_ranges_and_offsets() -> None:
    """Against the latest time before, not the previous event's; across the ranges the
    workers return; and whatever UTC offset each signer wrote."""
    paris = timezone(timedelta(hours=1))
    report = walked(
        chain_of(T0, T0 - timedelta(minutes=5)),
        chain_of((T0 + timedelta(hours=1)).astimezone(paris), T0 + timedelta(minutes=49), first=3),
    )
    assert [(f.notification_id, f.message.split(" which")[0]) for f in report.failures] == [
        (4, "signed at 2026-01-05T13:49:00+00:00, 11 min before event #3 (signed at "
            "2026-01-05T15:00:00+01:00)"),
    ]  # fmt: skip


def test_an_unreadable_time_moves_nothing() -> None:
    """An event whose time cannot be read (or that failed its own checks) is not compared,
    and leaves the latest time as it was."""
    report = walked(chain_of(T0, None, T0 - timedelta(minutes=11)))
    assert [(f.notification_id, f.message.split(",")[1]) for f in report.failures] == [
        (3, " 11 min before event #1 (signed at 2026-01-05T13:00:00+00:00) which precedes it in "
            "the log: events were reordered or back-dated"),
    ]  # fmt: skip
