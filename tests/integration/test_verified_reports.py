"""Reports read only what the reader verified: no table of the ledger's database but its
events can change what a report says.

The ledger's database holds the events and, beside them, tables nobody signs: the stored
Merkle tree (``merkle_leaves``, ``merkle_nodes``, ``merkle_head``), the bundles imported
from other ledgers (``imported_events``, ``imported_ledgers``) and, in a ledger made by an
older version, its old view tables. Whoever can write to the database can edit any of
them. The property test below takes the JSON answer of every report on a realistic ledger,
then, example by example, edits, inserts, deletes or reorders rows of those tables in a
copy of it and asks again: as a reader who verified the ledger before the edit, and as one
who never saw it. Each answer must be byte for byte the one from before, or a refusal:
exit 1 with one line ``Error: tampered ledger data…``. Never a different answer, never a
traceback.

The ledger (recorded through the CLI once per engine):

* BAR-ES-2026, the lifecycle story (tests/e2e/test_lifecycle.py): four subcontractors named
  in the bid (one never answers, one disputes), a 10% cut passed down as 40%, four quarters
  of referrals, invoices, payments and KPI reports, and a concern raised;
* BAR-2, a second package whose prime pays an invoice 106 days late;
* a bundle of package ORIGIN-1 imported from another ledger (so the imported tables hold
  rows too).
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, Phase, event, given, note, settings
from hypothesis import strategies as st
from sqlalchemy.pool import NullPool

from chainledger.adapters import local_store
from chainledger.adapters.event_store import EVENTS_TABLE, database_url
from tests.conftest import FAST_SCRYPT_N, CliLedger
from tests.e2e.test_lifecycle import PACKAGE, build_package, run_quarters
from tests.ledgers import LedgerStore

OTHER = "BAR-2"  # the second package
ORIGIN = "ORIGIN-1"  # the package of the imported bundle
PRIME = "northgate"
HOPE = "hope-trust"
TERMS = ("--service", "advice", "--share", "15", "--value", "50000", "--referrals", "20",
         "--model", "fixed", "--terms", "30")  # fmt: skip
PROMISE = f"{HOPE}:service=advice,share=15,value=50000,referrals=20,model=fixed,terms=30"

# What a ledger's database holds besides its events (old view tables aside).
LEDGER_TABLES = {EVENTS_TABLE, "merkle_leaves", "merkle_nodes", "merkle_head",
                 "imported_events", "imported_ledgers"}  # fmt: skip


# -- the story -------------------------------------------------------------------------------


def record_second_package(ledger: CliLedger) -> None:
    """BAR-2: northgate's bid names hope-trust, which acknowledges; after the award an
    invoice of 1 March 2025 is paid on 15 June (106 days, terms 30); one quarter's referrals
    and KPI result."""
    ledger.ok("package", "create", OTHER, "--as", "barnet-council", "--title", "Housing advice",
              "--area", "Barnet", "--value", "600000", "--start", "2025-01-01",
              "--end", "2026-12-31", "--description", "Advice on housing",
              "--payment-model", "fixed")  # fmt: skip
    ledger.ok("kpi", "define", OTHER, "--as", "barnet-council", "--name", "cases closed",
              "--unit", "cases", "--target", "30", "--acceptable", "20")  # fmt: skip
    ledger.ok("bid", "submit", OTHER, "--as", PRIME, "--price", "590000", "--self-share", "40",
              "--promise", PROMISE)  # fmt: skip
    ledger.ok("bid", "acknowledge", OTHER, "--as", HOPE, "--prime", PRIME)
    ledger.ok("package", "award", OTHER, "--as", "barnet-council", "--bid", PRIME)
    ledger.ok("subcontract", "issue", OTHER, "--as", PRIME, "--sub", HOPE, *TERMS)
    ledger.ok("subcontract", "accept", OTHER, "--as", HOPE)
    ledger.ok("invoice", "submit", OTHER, "--as", HOPE, "--ref", "BAR2-1", "--amount", "4000",
              "--date", "2025-03-01", "--period", "2025-Q1")  # fmt: skip
    ledger.ok("payment", "record", OTHER, "--as", PRIME, "--sub", HOPE, "--invoice", "BAR2-1",
              "--amount", "4000", "--date", "2025-06-15")  # fmt: skip
    ledger.ok("payment", "confirm", OTHER, "--as", HOPE, "--invoice", "BAR2-1",
              "--date", "2025-06-15")  # fmt: skip
    ledger.ok("referral", "send", OTHER, "--as", PRIME, "--sub", HOPE, "--period", "2025-Q1",
              "--count", "12")  # fmt: skip
    ledger.ok("referral", "confirm", OTHER, "--as", HOPE, "--period", "2025-Q1", "--count", "12")
    ledger.ok("performance", "report", OTHER, "--as", HOPE, "--kpi", "cases closed",
              "--period", "2025-Q1", "--actual", "25")  # fmt: skip
    ledger.ok("performance", "attest", OTHER, "--as", PRIME, "--sub", HOPE,
              "--kpi", "cases closed", "--period", "2025-Q1")  # fmt: skip


def record_story(ledger: CliLedger) -> None:
    """Both packages of the module docstring on an initialised ledger (no import)."""
    build_package(ledger)
    run_quarters(ledger)
    ledger.ok("concern", "raise", PACKAGE, "--as", "mind-in-barnet", "--subject",
              "Cut passed down", "--text", "Our value was cut by 40%")  # fmt: skip
    record_second_package(ledger)


def origin_bundle(ledger: CliLedger, bundle: Path) -> None:
    """A small other ledger (initialised) with package ORIGIN-1, exported as ``bundle``."""
    ledger.ok("org", "create", "Origin Council", "--role", "commissioner", "--handle", "oc")
    ledger.ok("org", "create", "Origin Prime", "--role", "prime", "--handle", "op")
    ledger.ok("package", "create", ORIGIN, "--as", "oc", "--title", "t", "--area", "a",
              "--value", "100000", "--start", "2025-01-01", "--end", "2026-12-31",
              "--description", "d", "--payment-model", "fixed")  # fmt: skip
    ledger.ok("bid", "submit", ORIGIN, "--as", "op", "--price", "90000", "--self-share", "100")
    ledger.ok("package", "award", ORIGIN, "--as", "oc", "--bid", "op")
    ledger.ok("export", "--package", ORIGIN, "--as", "op", "-o", str(bundle))


def report_commands(day: date) -> list[tuple[str, ...]]:
    """Every report, as JSON: for the whole ledger and for BAR-ES-2026 (findings for BAR-2
    too), both packages' histories, and the OCDS package of the whole ledger."""
    as_of = ("--format", "json", "--as-of", day.isoformat())
    commands: list[tuple[str, ...]] = [("report", "findings", *as_of, "--package", OTHER)]
    for name in ("findings", "workshare", "payments", "referrals", "performance"):
        commands += [("report", name, *as_of), ("report", name, *as_of, "--package", PACKAGE)]
    commands.append(("report", "scorecard", "--prime", PRIME, *as_of))
    commands += [("history", p, "--format", "json") for p in (PACKAGE, OTHER)]
    commands.append(("export", "ocds", "--ocid-prefix", "ocds-213czf"))
    return commands


PUBLISHED = re.compile(r'"publishedDate": "[^"]*"')


def comparable(stdout: str) -> str:
    """A command's output, but for the time an OCDS package says it was published (now)."""
    return PUBLISHED.sub('"publishedDate": "…"', stdout)


@dataclass(repr=False)
class Story:
    """The module's ledger, never written after it was built, and what every report said."""

    ledger: CliLedger
    day: date
    answers: dict[tuple[str, ...], str]  # command -> comparable stdout
    store: Path  # the verified store of the reader who asked them
    workdir: Path

    def __repr__(self) -> str:  # short, for Hypothesis's report of a failing example
        return f"Story({self.ledger.url!r}, {len(self.answers)} answers)"

    def state_dir(self) -> Path:
        """A new, empty state directory (mode 0700)."""
        return Path(tempfile.mkdtemp(prefix="state-", dir=self.workdir))


def run_as(ledger: CliLedger, state: Path, *args: str) -> Result:
    return ledger.run("--state", str(state), *args)


@pytest.fixture(scope="module")
def story(module_ledgers: LedgerStore) -> Iterator[Story]:
    workdir = module_ledgers.directory
    ledger = CliLedger(module_ledgers.url("story"), workdir / "keys", CliRunner())
    origin = CliLedger(module_ledgers.url("origin"), workdir / "origin-keys", CliRunner())
    bundle = workdir / "origin.bundle"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("chainledger.adapters.keystore.SCRYPT_N", FAST_SCRYPT_N)
        ledger.ok("init")
        record_story(ledger)
        origin.ok("init", "--name", "Origin ledger")
        origin_bundle(origin, bundle)
        ledger.ok("import", str(bundle))
    day = date.today()
    baseline = workdir / "baseline-state"
    answers = {}
    for command in report_commands(day):
        result = run_as(ledger, baseline, *command)
        assert result.exit_code == 0, (command, result.stdout, result.stderr)
        assert result.stderr == "", (command, result.stderr)
        answers[command] = comparable(result.stdout)
    (store,) = baseline.glob("*.sqlite")
    yield Story(ledger, day, answers, store, workdir)
    shutil.rmtree(baseline, ignore_errors=True)


def test_the_story_gives_every_report_something_to_say(story: Story) -> None:
    """The answers the property compares are not empty: a wrong one would show."""
    whole = ("report", "findings", "--format", "json", "--as-of", story.day.isoformat())
    findings = json.loads(story.answers[whole])
    rules = {f["rule"] for f in findings}
    assert {"CUT_PASSED_DOWN", "NAMED_WITHOUT_CONSENT", "LATE_PAYMENT"} <= rules, rules
    assert {f["package"] for f in findings} == {PACKAGE, OTHER}
    for command, answer in story.answers.items():
        assert json.loads(answer), command  # a non-empty list or object
    db = Database(story.ledger.url)
    try:
        assert set(db.tables) | {EVENTS_TABLE} == LEDGER_TABLES  # what the property attacks
        for name, table in db.tables.items():
            assert db.rows(table), name  # every table holds rows to edit, delete and swap
    finally:
        db.close()


# -- what an attacker with database access does to the tables beside the events -------------


class Database:
    """The ledger's database at ``url``, its tables reflected (all but the events table)."""

    def __init__(self, url: str) -> None:
        self.engine = sqlalchemy.create_engine(database_url(url), poolclass=NullPool)
        self.reflect()

    def reflect(self) -> None:
        metadata = sqlalchemy.MetaData()
        metadata.reflect(bind=self.engine)
        self.tables = {
            name: table for name, table in sorted(metadata.tables.items()) if name != EVENTS_TABLE
        }

    def close(self) -> None:
        self.engine.dispose()

    def rows(self, table: sqlalchemy.Table) -> list[dict[str, Any]]:
        key = list(table.primary_key.columns) or list(table.columns)
        with self.engine.connect() as connection:
            found = connection.execute(sqlalchemy.select(table).order_by(*key))
            return [dict(row._mapping) for row in found]

    def attempt(self, *statements: Any) -> bool:
        """Run ``statements`` in one transaction; False if the database refused them (a
        constraint or a type's range): the attacker's edit did not happen."""
        try:
            with self.engine.begin() as connection:
                for statement in statements:
                    connection.execute(statement)
        except (sqlalchemy.exc.StatementError, OverflowError):
            return False
        return True

    def add_old_views(self, store: Path) -> None:
        """The view tables an older version kept in the ledger's database, filled with the
        rows a verified store holds for this ledger (as that version would have written)."""
        old_metadata = sqlalchemy.MetaData()
        source = sqlalchemy.create_engine(f"sqlite:///{store}", poolclass=NullPool)
        verifier = {table.name for table in local_store.VERIFIER_TABLES}
        found = sqlalchemy.MetaData()
        found.reflect(bind=source)
        views = [t.to_metadata(old_metadata) for t in found.sorted_tables
                 if t.name not in verifier]  # fmt: skip
        tracking = sqlalchemy.Table(
            "projection_tracking", old_metadata,
            sqlalchemy.Column("name", sqlalchemy.String(100), primary_key=True),
            sqlalchemy.Column("position", sqlalchemy.BigInteger, nullable=False),
        )  # fmt: skip
        old_metadata.create_all(self.engine)
        try:
            with source.connect() as verified, self.engine.begin() as ledger:
                for table in views:
                    rows = [dict(r._mapping) for r in verified.execute(sqlalchemy.select(table))]
                    if rows:
                        ledger.execute(sqlalchemy.insert(table), rows)
                ledger.execute(sqlalchemy.insert(tracking), [{"name": "all", "position": 10**6}])
        finally:
            source.dispose()
        self.reflect()


def _kind(column: sqlalchemy.Column[Any]) -> str:
    if isinstance(column.type, sqlalchemy.LargeBinary):
        return "bytes"
    if isinstance(column.type, sqlalchemy.Integer):
        return "int"
    if isinstance(column.type, sqlalchemy.String):
        return "text"
    return "other"


def other_value(data: st.DataObject, column: sqlalchemy.Column[Any], current: Any) -> Any:
    """A value for ``column`` in place of ``current``: near it, or anything of its type."""
    kind = _kind(column)
    if kind == "bytes":
        old = bytes(current or b"")
        if old and data.draw(st.booleans(), label="flip a byte"):
            at = data.draw(st.integers(0, len(old) - 1), label="byte")
            return old[:at] + bytes([old[at] ^ data.draw(st.integers(1, 255))]) + old[at + 1 :]
        return data.draw(st.binary(max_size=40), label="bytes")
    if kind == "int":
        return data.draw(
            st.one_of(
                st.integers(-3, 3).map(lambda d: (current or 0) + d),
                st.integers(-(2**31), 2**31 - 1),
                st.sampled_from([0, -1, 2**63 - 1]),
            ),
            label="int",
        )
    if kind == "text":
        old = str(current or "")
        if old and data.draw(st.booleans(), label="change a character"):
            at = data.draw(st.integers(0, len(old) - 1), label="character")
            return old[:at] + data.draw(st.characters(codec="utf-8", exclude_characters="\0")) + old[at + 1 :]  # fmt: skip
        return data.draw(st.text(st.characters(codec="utf-8", exclude_characters="\0"), max_size=40))  # fmt: skip
    return None


def _where(table: sqlalchemy.Table, row: dict[str, Any]) -> Any:
    columns = list(table.primary_key.columns) or list(table.columns)
    return sqlalchemy.and_(*(c == row[c.name] for c in columns))


def attack(data: st.DataObject, db: Database) -> str:
    """One edit, insertion, deletion or reorder of rows in one table; what it was."""
    own = sorted(n for n in db.tables if n in LEDGER_TABLES)
    old = sorted(n for n in db.tables if n not in LEDGER_TABLES)  # old view tables, if made
    pick_old = bool(old) and data.draw(st.booleans(), label="an old view table")
    name = data.draw(st.sampled_from(old if pick_old else own), label="table")
    table = db.tables[name]
    rows = db.rows(table)
    kinds = ["insert"] + (["edit", "delete"] if rows else []) + (["swap"] if len(rows) > 1 else [])
    kind = data.draw(st.sampled_from(kinds), label="kind")
    key = list(table.primary_key.columns) or list(table.columns)
    if kind == "insert":
        new = dict(data.draw(st.sampled_from(rows), label="template")) if rows else {}
        names = [c.name for c in table.columns]
        changed = data.draw(st.lists(st.sampled_from(names), min_size=1, unique=True))
        for column in table.columns:  # in the table's order: the draws must not depend on hashes
            if column.name in changed or column.name in {k.name for k in key}:
                new[column.name] = other_value(data, column, new.get(column.name))
        done = db.attempt(sqlalchemy.insert(table).values(**new))
        detail = repr(new)
    elif kind == "edit":
        row = data.draw(st.sampled_from(rows), label="row")
        column = data.draw(st.sampled_from(list(table.columns)), label="column")
        value = other_value(data, column, row[column.name])
        done = db.attempt(
            sqlalchemy.update(table).where(_where(table, row)).values({column.name: value})
        )
        detail = f"{row!r:.400}: {column.name} = {value!r:.200}"
    elif kind == "delete":
        row = data.draw(st.sampled_from(rows), label="row")
        done = db.attempt(sqlalchemy.delete(table).where(_where(table, row)))
        detail = repr(row)
    else:  # swap two rows' keys: the same rows, in another order
        i, j = data.draw(
            st.lists(st.integers(0, len(rows) - 1), min_size=2, max_size=2, unique=True),
            label="rows",
        )
        a, b = rows[i], rows[j]
        parked = {c.name: (-7 if _kind(c) == "int" else "parked") for c in key}
        done = db.attempt(
            sqlalchemy.update(table).where(_where(table, a)).values(parked),
            sqlalchemy.update(table).where(_where(table, b)).values({c.name: a[c.name] for c in key}),
            sqlalchemy.update(table).where(_where(table, {**a, **parked}))
            .values({c.name: b[c.name] for c in key}),
        )  # fmt: skip
        detail = f"{a!r} and {b!r}"
    what = f"{kind} {name}" + ("" if done else " (refused by the database)")
    event(what)
    note(f"{what}: {detail:.800}")
    return what


# -- the property ----------------------------------------------------------------------------


def assert_same_or_refused(command: tuple[str, ...], result: Result, before: str) -> None:
    """The answer from before the attack, byte for byte (with at most warnings on stderr),
    or one line saying the data was tampered with: never another answer, a traceback or a
    bug."""
    seen = (command, result.exit_code, result.stdout[:300], result.stderr)
    assert "Traceback" not in result.stdout + result.stderr, seen
    assert "this is a bug" not in result.stderr, seen
    if result.exit_code == 0:
        assert all(line.startswith("Warning: ") for line in result.stderr.splitlines()), seen
        assert comparable(result.stdout) == before, seen
    else:
        assert result.exit_code == 1, seen
        assert result.stdout == "", seen
        assert len(result.stderr.splitlines()) == 1, seen
        assert result.stderr.startswith("Error: tampered ledger data"), seen


ATTACK_SETTINGS = settings(
    max_examples=6,
    deadline=None,
    # An example costs seconds (two readers run every report): report the failing example
    # as found, with what it did (see ``note``), rather than spend minutes shrinking it.
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.data_too_large],
)  # fmt: skip


@ATTACK_SETTINGS
@given(data=st.data())
def test_no_table_beside_the_events_changes_a_report(
    story: Story, module_ledgers: LedgerStore, data: st.DataObject
) -> None:
    url = module_ledgers.copy(story.ledger.url, "attacked")
    ledger = CliLedger(url, story.ledger.keys, CliRunner())
    commands = list(story.answers)
    # A reader who verified this copy before the attack (one report suffices: every
    # report catches up the whole ledger first).
    primed = story.state_dir()
    first = data.draw(st.sampled_from(commands), label="primed with")
    result = run_as(ledger, primed, *first)
    assert (result.exit_code, comparable(result.stdout)) == (0, story.answers[first])

    db = Database(url)
    try:
        if data.draw(st.booleans(), label="old view tables"):
            db.add_old_views(story.store)
            event("old view tables")
        for _ in range(data.draw(st.integers(1, 3), label="edits")):
            attack(data, db)
    finally:
        db.close()

    for state in (primed, story.state_dir()):  # and a reader who never saw the ledger
        for command in commands:
            assert_same_or_refused(command, run_as(ledger, state, *command), story.answers[command])


def test_the_comparison_sees_a_changed_answer(story: Story, module_ledgers: LedgerStore) -> None:
    """The property can fail: were a report to read a table someone edited (here the
    reader's own verified store, which the ledger's writer cannot reach), its answer would
    differ from the one before, and the comparison would say so."""
    url = module_ledgers.copy(story.ledger.url, "control")
    ledger = CliLedger(url, story.ledger.keys, CliRunner())
    state = story.state_dir()
    command = ("report", "payments", "--format", "json", "--as-of", story.day.isoformat())
    assert comparable(run_as(ledger, state, *command).stdout) == story.answers[command]
    (store,) = state.glob("*.sqlite")
    engine = sqlalchemy.create_engine(f"sqlite:///{store}", poolclass=NullPool)
    with engine.begin() as connection:
        changed = connection.execute(
            sqlalchemy.text(
                # the paid date and the receipt's (lateness is judged on the later one when
                # they are days apart)
                "UPDATE sc_payments SET date = '2025-03-02' WHERE package = :p"
            ),
            {"p": OTHER},
        ).rowcount
    engine.dispose()
    assert changed >= 1
    result = run_as(ledger, state, *command)
    assert result.exit_code == 0
    assert comparable(result.stdout) != story.answers[command]
    with pytest.raises(AssertionError):
        assert_same_or_refused(command, result, story.answers[command])
