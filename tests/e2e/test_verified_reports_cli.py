"""Named attacks on the ledger's database, and what a reader's reports do about each, through
the CLI on SQLite and PostgreSQL.

The ledger is the two-package story of tests/integration/test_verified_reports.py
(BAR-ES-2026 and BAR-2), recorded once per engine; each test attacks a copy of it. A
"primed" reader ran every report on the copy before the attack (its verified store holds
the views); a "fresh" reader never saw the ledger before (an empty state directory).
"""

from __future__ import annotations

import json
import random
import sqlite3
import stat
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from click.testing import CliRunner, Result
from sqlalchemy.pool import NullPool

from chainledger.adapters import merkle_store
from chainledger.adapters.event_store import database_url
from chainledger.domain.merkle import frontier, perfect_ranges, proof_ranges
from tests.conftest import FAST_SCRYPT_N, CliLedger
from tests.integration.test_verified_reports import (
    LEDGER_TABLES,
    OTHER,
    PACKAGE,
    PRIME,
    comparable,
    record_story,
)
from tests.ledgers import LedgerStore, RawEvents

LARGEST_ID = 2**63 - 1  # the largest notification id either engine's events table can hold


def report_commands(day: date) -> list[tuple[str, ...]]:
    """The reports the tests compare: findings and payments, whole and per package, and
    both packages' histories."""
    as_of = ("--format", "json", "--as-of", day.isoformat())
    commands: list[tuple[str, ...]] = []
    for name in ("findings", "payments"):
        commands += [("report", name, *as_of)]
        commands += [("report", name, *as_of, "--package", p) for p in (PACKAGE, OTHER)]
    commands += [("history", p, "--format", "json") for p in (PACKAGE, OTHER)]
    return commands


def whole(name: str, day: date) -> tuple[str, ...]:
    return ("report", name, "--format", "json", "--as-of", day.isoformat())


def of(name: str, day: date, package: str) -> tuple[str, ...]:
    return (*whole(name, day), "--package", package)


def history(package: str) -> tuple[str, ...]:
    return ("history", package, "--format", "json")


@dataclass(frozen=True)
class Story:
    ledger: CliLedger
    day: date
    answers: dict[tuple[str, ...], str]  # command -> comparable stdout

    def __repr__(self) -> str:
        return f"Story({self.ledger.url!r})"


@pytest.fixture(scope="module")
def story(module_ledgers: LedgerStore) -> Story:
    directory = module_ledgers.directory
    ledger = CliLedger(module_ledgers.url("story"), directory / "keys", CliRunner())
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("chainledger.adapters.keystore.SCRYPT_N", FAST_SCRYPT_N)
        ledger.ok("init")
        record_story(ledger)
    day = date.today()
    state = directory / "baseline-state"
    answers = {}
    for command in report_commands(day):
        result = ledger.run("--state", str(state), *command)
        assert (result.exit_code, result.stderr) == (0, ""), (command, result.stderr)
        answers[command] = comparable(result.stdout)
    return Story(ledger, day, answers)


@dataclass
class Reader:
    """Someone reading the ledger at ``ledger`` with their own state directory."""

    ledger: CliLedger
    state: Path

    def run(self, *args: str) -> Result:
        result = self.ledger.run("--state", str(self.state), *args)
        assert_no_crash(result)
        return result


@dataclass
class Victim:
    """A copy of the story's ledger, and how to make readers of it."""

    story: Story
    ledger: CliLedger
    directory: Path
    count: int = 0

    @property
    def url(self) -> str:
        return self.ledger.url

    def reader(self) -> Reader:
        """A reader who never saw this ledger."""
        self.count += 1
        return Reader(self.ledger, self.directory / f"state-{self.count}")

    def primed(self) -> Reader:
        """A reader who ran every report on this ledger as it was (answers as the story's)."""
        reader = self.reader()
        for command, answer in self.story.answers.items():
            result = reader.run(*command)
            assert (result.exit_code, comparable(result.stdout)) == (0, answer), command
        return reader


@pytest.fixture
def victim(story: Story, module_ledgers: LedgerStore, tmp_path: Path) -> Victim:
    url = module_ledgers.copy(story.ledger.url, "victim")
    return Victim(story, CliLedger(url, story.ledger.keys, CliRunner()), tmp_path)


# -- what the reader sees ---------------------------------------------------------------------


def assert_no_crash(result: Result) -> None:
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    assert "this is a bug" not in result.stderr, result.stderr


def assert_refused(result: Result, *naming: str) -> None:
    """Exit 1, nothing on stdout, and on stderr one line ``Error: tampered ledger data…``
    holding each of ``naming`` (after any ``Warning:`` lines)."""
    seen = (result.exit_code, result.stdout[:200], result.stderr)
    assert result.exit_code == 1, seen
    assert result.stdout == "", seen
    *warnings, error = result.stderr.splitlines() or [""]
    assert all(line.startswith("Warning: ") for line in warnings), seen
    assert error.startswith("Error: tampered ledger data"), seen
    for text in naming:
        assert text in error, (text, seen)


def assert_answers(result: Result, answer: str, *warnings: str) -> None:
    """Exit 0 with ``answer`` on stdout; on stderr, one ``Warning:`` line for each of
    ``warnings``, holding it (none if none are given)."""
    seen = (result.exit_code, result.stderr)
    assert result.exit_code == 0, seen
    assert comparable(result.stdout) == answer, seen
    lines = result.stderr.splitlines()
    assert len(lines) == len(warnings), seen
    for line, text in zip(lines, warnings, strict=True):
        assert line.startswith("Warning: "), seen
        assert text in line, (text, seen)


def assert_same_or_refused(result: Result, answer: str) -> None:
    """The answer from before, with at most warnings on stderr, or a refusal."""
    if result.exit_code == 0:
        assert comparable(result.stdout) == answer, result.stderr
        assert all(line.startswith("Warning: ") for line in result.stderr.splitlines())
    else:
        assert_refused(result)


# -- editing the ledger's database behind the application's back ------------------------------


def engine_of(url: str) -> sqlalchemy.Engine:
    return sqlalchemy.create_engine(database_url(url), poolclass=NullPool)


def payment_row(story: Story, package: str) -> int:
    """The notification id of the first PaymentRecorded of ``package`` (from its history)."""
    timeline = json.loads(story.answers[history(package)])
    return next(e["notification_id"] for e in timeline if e["event_type"] == "PaymentRecorded")


def edit_paid_on(url: str, nid: int) -> None:
    """Move the payment's date by editing its stored bytes (its signature no longer
    verifies)."""
    with RawEvents(url) as raw:
        state = raw.state(nid)
        at = state.index(b'"paid_on":"') + len(b'"paid_on":"2025-0')
        assert state[at : at + 1] != b"9"
        assert raw.set_state(nid, state[:at] + b"9" + state[at + 1 :]) == 1


def regrow_tree(url: str) -> None:
    """Rebuild the stored Merkle tree over the events as they now are, as an operator
    hiding an edit would (chainledger.tools.demo._roll_back does the same)."""
    engine = engine_of(url)
    try:
        with engine.begin() as connection:
            for table in merkle_store.TABLES:
                connection.execute(sqlalchemy.delete(table))
            merkle_store.append(connection, RawEvents.table, [])
    finally:
        engine.dispose()


def insert_row(url: str, nid: int | None, topic: str, state: bytes) -> int:
    """A row under a fresh record id, version 1, at ``nid`` (default: the next id)."""
    values: dict[str, Any] = {"originator_id": uuid.uuid4(), "originator_version": 1,
                              "topic": topic, "state": state}  # fmt: skip
    if nid is not None:
        values["id"] = nid
    engine = engine_of(url)
    try:
        with engine.begin() as connection:
            key = connection.execute(sqlalchemy.insert(RawEvents.table).values(**values))
            return int(key.inserted_primary_key[0])
    finally:
        engine.dispose()


def junk(size: int = 200) -> bytes:
    return random.Random(2026).randbytes(size)


def run_within(reader: Reader, seconds: float, *args: str) -> Result:
    """Run a command, failing (rather than hanging the suite) if it takes over ``seconds``."""
    outcome: list[Any] = []
    command = ("--state", str(reader.state), *args)
    thread = threading.Thread(target=lambda: outcome.append(reader.ledger.run(*command)),
                              daemon=True)  # fmt: skip
    started = time.monotonic()
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"{args} still running after {seconds} s"
    assert outcome, f"{args} raised: see the thread's exception above"
    assert time.monotonic() - started < seconds
    result = outcome[0]
    assert isinstance(result, Result)
    assert_no_crash(result)
    return result


# -- an edited event ---------------------------------------------------------------------------


def test_rebuild_over_an_edited_event_stops_naming_it_and_keeps_the_views(victim: Victim) -> None:
    reader = victim.primed()
    nid = payment_row(victim.story, PACKAGE)
    edit_paid_on(victim.url, nid)

    rebuilt = reader.run("projections", "rebuild")
    assert_refused(rebuilt, f"event #{nid} (PaymentRecorded) does not verify",
                   "signature by northgate does not verify")  # fmt: skip
    assert [p.name for p in reader.state.iterdir()] == [
        p.name for p in reader.state.glob("*.sqlite")
    ]  # no half-built store left beside the old one
    for command, answer in victim.story.answers.items():  # the old views, as they were
        assert_answers(reader.run(*command), answer)


@pytest.mark.parametrize("tree", ["as stored", "regrown by the attacker"])
def test_a_fresh_reader_refuses_only_what_an_edited_event_concerns(
    victim: Victim, tree: str
) -> None:
    nid = payment_row(victim.story, PACKAGE)
    edit_paid_on(victim.url, nid)
    if tree != "as stored":
        regrow_tree(victim.url)
    reader = victim.reader()
    day, answers = victim.story.day, victim.story.answers

    named = f"event #{nid} (PaymentRecorded, version 2 of record"
    assert_refused(reader.run(*of("findings", day, PACKAGE)),
                   f"package {PACKAGE} holds data that does not verify: {named}")  # fmt: skip
    other = reader.run(*of("findings", day, OTHER))
    assert other.exit_code == 0, other.stderr
    assert comparable(other.stdout) == answers[of("findings", day, OTHER)]
    assert all(line.startswith("Warning: ") for line in other.stderr.splitlines())
    assert_refused(reader.run(*whole("findings", day)),
                   f"the ledger holds data that does not verify: {named}")  # fmt: skip


# -- rows added to the events table -----------------------------------------------------------


def stray_row(victim: Victim, row: str) -> bytes:
    """The bytes of a row an attacker adds: junk, or a copy of a real payment's."""
    if row == "junk":
        return junk()
    with RawEvents(victim.url) as raw:
        return raw.state(payment_row(victim.story, PACKAGE))


STRAY_ROWS = ["junk", "a real payment's bytes"]


@pytest.mark.parametrize("row", STRAY_ROWS)
@pytest.mark.parametrize("reader_kind", ["primed", "fresh"])
def test_a_stray_row_is_named_and_left_out(victim: Victim, reader_kind: str, row: str) -> None:
    """A row under a fresh record id, version 1, topic PaymentRecorded: junk bytes, or a
    copy of a real payment's (its content names another record, and no package)."""
    reader = victim.primed() if reader_kind == "primed" else victim.reader()
    nid = insert_row(victim.url, None, "PaymentRecorded", stray_row(victim, row))
    named = f"event #{nid} (PaymentRecorded, version 1 of record"
    day, answers = victim.story.day, victim.story.answers

    for package in (PACKAGE, OTHER):
        for name in ("findings", "payments"):
            command = of(name, day, package)
            assert_answers(reader.run(*command), answers[command],
                           f"the ledger holds rows that do not verify, left out of every view: {named}")  # fmt: skip
        assert_answers(reader.run(*history(package)), answers[history(package)], named)
    assert_refused(reader.run(*whole("findings", day)),
                   f"the ledger holds data that does not verify: {named}")  # fmt: skip
    output = victim.directory / "checkpoint.txt"
    assert_refused(reader.run("checkpoint", "--as", PRIME, "-o", str(output)),
                   "not signing", named)  # fmt: skip
    assert not output.exists()


@pytest.mark.parametrize("row", STRAY_ROWS)
def test_a_row_at_the_largest_id_is_named_and_nothing_hangs(victim: Victim, row: str) -> None:
    """``INSERT INTO chainledger_events (id, …) VALUES (9223372036854775807, …)``, the row
    as in test_a_stray_row_is_named_and_left_out: every command finishes in seconds, the
    reader names the row and goes on (as it does for the row at the next id), and an
    event recorded afterwards (at a lower id) is not silently left out of the reports."""
    reader = victim.primed()
    day, answers = victim.story.day, victim.story.answers
    assert (
        insert_row(victim.url, LARGEST_ID, "PaymentRecorded", stray_row(victim, row)) == LARGEST_ID
    )
    named = f"event #{LARGEST_ID} (PaymentRecorded, version 1 of record"

    for _ in range(2):  # and again, from the state the first run left
        for package in (PACKAGE, OTHER):
            command = of("findings", day, package)
            assert_answers(run_within(reader, 30, *command), answers[command], named)
        assert_refused(run_within(reader, 30, *whole("findings", day)), named)
        assert_refused(run_within(victim.reader(), 30, *whole("findings", day)), named)

    # The application records on: the new event gets an id below the stray row's.
    victim.ledger.ok("referral", "send", OTHER, "--as", PRIME, "--sub", "hope-trust",
                     "--period", "2025-Q2", "--count", "7")  # fmt: skip
    after = run_within(reader, 30, *history(OTHER))
    if after.exit_code == 0:
        assert "northgate sent 7 referrals for 2025-Q2" in after.stdout
    else:
        assert_refused(after)


def test_a_signed_event_moved_to_the_largest_id_hides_nothing_recorded_after_it(
    victim: Victim,
) -> None:
    """A participant with database access moves a real, validly signed event (the newest,
    so every chain still verifies) to id 2**63-1: a reader who then verified it stands at
    that id, and everything the application records afterwards gets a lower one. Reading
    on from that id would leave those events out; the reader must refuse instead, naming
    them and the row out of place."""
    with RawEvents(victim.url) as raw:
        newest = raw.rows()[-1][0]
    engine = engine_of(victim.url)
    try:
        with engine.begin() as connection:
            moved = connection.execute(sqlalchemy.update(RawEvents.table)
                                       .where(RawEvents.table.c.id == newest)
                                       .values(id=LARGEST_ID))  # fmt: skip
            assert moved.rowcount == 1
    finally:
        engine.dispose()
    reader = victim.reader()
    before = reader.run(*history(OTHER))  # the moved event verifies: only its id changed
    assert before.exit_code == 0, before.stderr
    assert f'"notification_id": {LARGEST_ID},' in before.stdout

    victim.ledger.ok("referral", "send", OTHER, "--as", PRIME, "--sub", "hope-trust",
                     "--period", "2025-Q2", "--count", "7")  # fmt: skip
    with RawEvents(victim.url) as raw:
        recorded = max(nid for nid, *_ in raw.rows() if nid != LARGEST_ID)
    for command in (history(OTHER), of("findings", victim.story.day, PACKAGE)):
        assert_refused(run_within(reader, 30, *command), f"#{recorded}",
                       f"out of place at #{LARGEST_ID}")  # fmt: skip
    # A reader who never saw the ledger reads the new event in id order, before the moved one.
    after = victim.reader().run(*history(OTHER))
    if after.exit_code == 0:
        assert "northgate sent 7 referrals for 2025-Q2" in after.stdout
    else:
        assert_refused(after)


# -- rows removed -------------------------------------------------------------------------------


def test_a_rollback_after_a_report_is_refused(victim: Victim) -> None:
    reader = victim.primed()
    with RawEvents(victim.url) as raw:
        newest = raw.rows()[-1][0]
        assert raw.delete(newest) == 1
    regrow_tree(victim.url)
    for command in (whole("findings", victim.story.day), history(OTHER)):
        assert_refused(reader.run(*command), f"event #{newest}", "rolled back")


# -- an event edited after it was verified ------------------------------------------------------


def test_an_event_edited_after_it_was_verified_changes_no_report(victim: Victim) -> None:
    reader = victim.primed()
    nid = payment_row(victim.story, PACKAGE)
    edit_paid_on(victim.url, nid)
    for command, answer in victim.story.answers.items():
        assert_answers(reader.run(*command), answer)
    audit = reader.run("audit", "verify")
    assert audit.exit_code == 1
    assert "TAMPERED:" in audit.stdout
    assert f"FAILED notification {nid}, aggregate " in audit.stdout
    assert "(PaymentRecorded): signature by northgate does not verify" in audit.stdout


# -- the stored Merkle tree ---------------------------------------------------------------------


@dataclass(frozen=True)
class TreeEdit:
    """One change to the stored Merkle tree of a ledger whose event ``nid`` is at leaf
    ``index`` of a tree of ``size`` leaves."""

    kind: str
    nid: int
    index: int
    size: int

    def apply(self, url: str) -> str:
        engine = engine_of(url)
        try:
            with engine.begin() as connection:
                return self._apply(connection)
        finally:
            engine.dispose()

    def _apply(self, connection: Any) -> str:
        root = set(frontier(self.size))  # what the tree's root is made of
        path = {key for lo, hi in proof_ranges("inclusion", self.index, self.size)
                for key in perfect_ranges(lo, hi)}  # fmt: skip
        head = merkle_store.head_table
        if self.kind == "size lowered":
            connection.execute(sqlalchemy.update(head).values(size=head.c.size - 1))
            return "merkle_head.size - 1"
        if self.kind == "size raised":
            connection.execute(sqlalchemy.update(head).values(size=head.c.size + 1))
            return "merkle_head.size + 1"
        nodes = {(0, int(i)) for i in connection.execute(sqlalchemy.select(merkle_store.leaves_table.c.idx)).scalars()}  # fmt: skip
        nodes |= {(int(lv), int(i)) for lv, i in connection.execute(
            sqlalchemy.select(merkle_store.nodes_table.c.level, merkle_store.nodes_table.c.idx))}  # fmt: skip
        wanted = {
            "root node": root - path,
            "root and path node": root & path,
            "path node": {k for k in path - root if k[0] > 0},
            "path leaf": {k for k in path - root if k[0] == 0},
            "node nothing reads": nodes - root - path,
        }[self.kind]
        level, index = max(wanted & nodes)
        table = merkle_store.leaves_table if level == 0 else merkle_store.nodes_table
        where = table.c.idx == index if level == 0 else sqlalchemy.and_(
            table.c.level == level, table.c.idx == index)  # fmt: skip
        changed = connection.execute(sqlalchemy.update(table).where(where).values(hash=bytes(32)))
        assert changed.rowcount == 1
        return f"{table.name} ({level}, {index}) zeroed"


@pytest.fixture
def tree_edit(victim: Victim, request: pytest.FixtureRequest) -> TreeEdit:
    nid = payment_row(victim.story, PACKAGE)
    with engine_of(victim.url).connect() as connection:
        size, _ = merkle_store.stored_size(connection)
        index, _ = merkle_store.leaf_of(connection, nid) or (None, None)
    assert index is not None
    return TreeEdit(request.param, nid, index, size)


TREE_EDITS = ["root node", "root and path node", "path node", "path leaf",
              "node nothing reads", "size lowered", "size raised"]  # fmt: skip


@pytest.mark.sqlite_only("the stored Merkle tree is three plain tables on either engine, and "
                         "every reader verifies it the same way; a stored-tree edit on "
                         "PostgreSQL is covered by the property test")
@pytest.mark.parametrize("tree_edit", TREE_EDITS, indirect=True)
def test_an_edited_stored_tree_leaves_reports_as_they_were_or_refused(
    victim: Victim, tree_edit: TreeEdit
) -> None:
    primed = victim.primed()
    tree_edit.apply(victim.url)
    for reader in (primed, victim.reader()):
        for command, answer in victim.story.answers.items():
            assert_same_or_refused(reader.run(*command), answer)


def audit_names_the_tree(reader: Reader, *also: str) -> None:
    """``audit verify`` reports the edit of the stored tree, whatever it was."""
    audit = reader.run("audit", "verify", *also)
    assert audit.exit_code == 1, audit.stdout
    assert "TAMPERED:" in audit.stdout
    assert "the stored Merkle tree" in audit.stdout


# Edits of the stored tree that a checkpoint does not rest on: it signs the root of the tree
# the reader verified, computed from the events, never read from the stored tree. It must
# still be the true root (``audit verify --checkpoint`` recomputes it from the events), and the
# edit must not go unseen: the audit names it.
SIGNED_OVER = {"path node", "path leaf", "node nothing reads"}


@pytest.mark.sqlite_only("the stored Merkle tree is three plain tables on either engine, and "
                         "every reader verifies it the same way; a stored-tree edit on "
                         "PostgreSQL is covered by the property test")
@pytest.mark.parametrize("tree_edit", TREE_EDITS, indirect=True)
@pytest.mark.parametrize("reader_kind", ["primed", "fresh"])
def test_an_edited_stored_tree_never_gets_a_false_checkpoint(
    victim: Victim, tree_edit: TreeEdit, reader_kind: str
) -> None:
    reader = victim.primed() if reader_kind == "primed" else victim.reader()
    tree_edit.apply(victim.url)
    output = victim.directory / "checkpoint.txt"
    result = reader.run("checkpoint", "--as", PRIME, "-o", str(output))
    if tree_edit.kind not in SIGNED_OVER:  # the stored head, or the root, differs: refused
        assert_refused(result, "stored Merkle tree")
        assert not output.exists()
        return
    assert result.exit_code == 0, result.stderr
    audit_names_the_tree(reader, "--checkpoint", str(output))
    assert "the ledger extends it" in reader.run("audit", "verify", "--checkpoint",
                                                 str(output)).stdout  # fmt: skip


# A proof is checked against the verified root before it is written, so an edit on its audit
# path refuses it; an edit off the path leaves a proof that verifies offline (and the audit
# names the edit); the stored head or root differing from the verified tree refuses it.
PROVEN_OVER = {"node nothing reads"}


@pytest.mark.sqlite_only("the stored Merkle tree is three plain tables on either engine, and "
                         "every reader verifies it the same way; a stored-tree edit on "
                         "PostgreSQL is covered by the property test")
@pytest.mark.parametrize("tree_edit", TREE_EDITS, indirect=True)
@pytest.mark.parametrize("reader_kind", ["primed", "fresh"])
def test_an_edited_stored_tree_never_gets_a_false_proof(
    victim: Victim, tree_edit: TreeEdit, reader_kind: str
) -> None:
    reader = victim.primed() if reader_kind == "primed" else victim.reader()
    tree_edit.apply(victim.url)
    output = victim.directory / "event.proof"
    result = reader.run("prove", str(tree_edit.nid), "--as", PRIME, "-o", str(output))
    if tree_edit.kind not in PROVEN_OVER:
        assert_refused(result, "stored Merkle tree")
        assert not output.exists()
        return
    assert result.exit_code == 0, result.stderr
    (shown,) = json.loads(reader.run("org", "show", PRIME, "--format", "json").stdout)
    checked = reader.run("verify-proof", str(output), "--signer", shown["fingerprint"])
    assert checked.exit_code == 0, checked.stderr
    assert checked.stdout.startswith("OK")
    audit_names_the_tree(reader)


# -- what the ledger's database holds ----------------------------------------------------------


def test_a_new_ledger_holds_no_view_table(cli_ledger: CliLedger, tmp_path: Path) -> None:
    cli_ledger.ok("org", "create", "Barnet Council", "--role", "commissioner")
    cli_ledger.ok("package", "create", "BAR-1", "--as", "barnet-council", "--title", "t",
                  "--area", "a", "--value", "1000", "--start", "2025-01-01",
                  "--end", "2025-12-31", "--description", "d", "--payment-model", "fixed")  # fmt: skip
    state = ("--state", str(tmp_path / "state"))
    cli_ledger.ok(*state, "report", "findings")
    cli_ledger.ok(*state, "history", "BAR-1")
    cli_ledger.ok(*state, "projections", "rebuild")
    engine = engine_of(cli_ledger.url)
    try:
        names = set(sqlalchemy.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert names == LEDGER_TABLES


# -- the state directory ------------------------------------------------------------------------


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_verified_store_is_private(victim: Victim) -> None:
    state = victim.directory / "made" / "state"
    result = victim.ledger.run("--state", str(state), *whole("findings", victim.story.day))
    assert result.exit_code == 0, result.stderr
    (store,) = state.iterdir()
    assert store.suffix == ".sqlite"
    assert (mode(state), mode(store)) == (0o700, 0o600)


@pytest.mark.parametrize("permissions", [0o777, 0o703, 0o757])
def test_a_state_directory_others_can_write_is_refused(victim: Victim, permissions: int) -> None:
    state = victim.directory / "shared"
    state.mkdir()
    state.chmod(permissions)
    result = victim.ledger.run("--state", str(state), *whole("findings", victim.story.day))
    assert_no_crash(result)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith(
        f"Error: the state directory {state} can be written by other users"
    )
    assert list(state.iterdir()) == []


def test_a_store_of_another_layout_is_set_aside_and_the_ledger_verified_again(
    victim: Victim,
) -> None:
    """A verified store written by another version of chainledger (another table layout)
    is not read: it is renamed, said so, and the ledger is verified from its first event."""
    state = victim.directory / "upgraded"
    command = whole("findings", victim.story.day)
    assert victim.ledger.run("--state", str(state), *command).exit_code == 0
    (store,) = state.iterdir()
    with sqlite3.connect(store) as connection:
        connection.execute("DROP TABLE sc_aggregates")  # an older layout
        connection.execute("PRAGMA user_version = 1")
    result = victim.ledger.run("--state", str(state), *command)
    assert result.exit_code == 0, result.stderr
    assert comparable(result.stdout) == victim.story.answers[command]
    assert f"set aside as {store}.v1" in result.stderr
    assert sorted(p.name for p in state.iterdir()) == [store.name, f"{store.name}.v1"]
    again = victim.ledger.run("--state", str(state), *command)
    assert (again.exit_code, again.stderr) == (0, "")
