"""Bundles between ledgers through the CLI: ``export --package --as``, ``import FILE``,
``imported`` and ``audit verify`` on what was imported.

Northgate's ledger is built once per module (on each engine) and only read:

    1  ledger genesis                      9  BAR-1        PackageAwarded
    2  barnet-council  registered         10  subcontract  SubcontractIssued
    3  northgate       registered         11  subcontract  SubcontractAccepted
    4  hope-trust      registered         12  invoice      InvoiceSubmitted (hope-trust)
    5  refugee-advice  registered         13  invoice      PaymentRecorded (northgate)
       (signs nothing: not carried)       14  invoice      PaymentConfirmed (hope-trust)
    6  BAR-1           PackageCreated     15  subcontract  ReferralsSent
    7  bid             BidSubmitted       16  subcontract  ReferralsConfirmed
    8  bid             PromiseAcknowledged

Its bundle of BAR-1 (15 events, checkpoint of 16 signed by northgate) is imported
into the council's own ledger (its own id and barnet-council key), a copy per test.
Every test checks what the user sees: the exact lines, an ``Error: …`` on stderr
with exit status 1 (2 for a usage error), never a traceback, and that a refused
import writes nothing.
"""

from __future__ import annotations

import base64
import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import sqlalchemy
from click.testing import CliRunner, Result
from sqlalchemy.pool import NullPool

from chainledger.adapters import imported_store
from chainledger.adapters.crypto import raw_public_key
from chainledger.adapters.event_store import database_url
from chainledger.adapters.keystore import Keystore
from chainledger.cli.main import cli
from chainledger.domain.canonical import canonical_json
from chainledger.domain.checkpoint import Checkpoint, parse_checkpoint, sign_checkpoint
from chainledger.domain.events import SIGNATURE_LENGTH
from chainledger.domain.merkle import inclusion_proof, leaf_hash, root_of
from tests.conftest import FAST_SCRYPT_N, PASSPHRASE, CliLedger
from tests.ledgers import LedgerStore, event_rows

# Locally on each engine, and through `chainledger serve` (the remote engine): exported,
# imported and read through a service alike.
pytestmark = pytest.mark.also_remote

PACKAGE = "BAR-1"
COUNCIL, PRIME, HOPE, IDLE = "barnet-council", "northgate", "hope-trust", "refugee-advice"
ORIGIN_NAME = "Northgate ledger"
SIZE, EVENTS = 16, 15  # the origin's events; those the bundle carries (all but #5)
INVOICE, PAYMENT = 12, 13
LAYOUT = [
    "LedgerCreated", *["OrganisationRegistered"] * 4, "PackageCreated", "BidSubmitted",
    "PromiseAcknowledged", "PackageAwarded", "SubcontractIssued", "SubcontractAccepted",
    "InvoiceSubmitted", "PaymentRecorded", "PaymentConfirmed", "ReferralsSent",
    "ReferralsConfirmed",
]  # fmt: skip
TERMS = ("--service", "advice", "--share", "15", "--value", "50000", "--referrals", "20",
         "--model", "fixed", "--terms", "30")  # fmt: skip
PROMISE = "hope-trust:service=advice,share=15,value=50000,referrals=20,model=fixed,terms=30"


@dataclass(frozen=True)
class Built:
    ledger: CliLedger
    ledger_id: str
    bundle: Path  # exported with -o
    export: Result  # what exporting it printed
    rows: list[tuple[int, UUID, int, str, bytes]]

    def document(self) -> dict[str, Any]:
        loaded = json.loads(self.bundle.read_text(encoding="utf-8"))
        assert isinstance(loaded, dict)
        return loaded


@pytest.fixture(scope="module")
def built(module_ledgers: LedgerStore) -> Built:
    """The ledger of the module docstring (keys at the tests' cheap scrypt cost: the
    function-scoped fixture that sets it is not in force here)."""
    directory = module_ledgers.directory
    ledger = module_ledgers.cli(module_ledgers.url("origin"), directory / "keys")
    bundle = directory / "bar-1.bundle"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("chainledger.adapters.keystore.SCRYPT_N", FAST_SCRYPT_N)
        ledger.ok("init", "--name", ORIGIN_NAME)
        for name, role, handle in (("Barnet Council", "commissioner", COUNCIL),
                                   ("Northgate", "prime", PRIME),
                                   ("Hope Trust", "subcontractor", HOPE),
                                   ("Refugee Advice", "subcontractor", IDLE)):  # fmt: skip
            ledger.ok("org", "create", name, "--role", role, "--handle", handle)
        ledger.ok("package", "create", PACKAGE, "--as", COUNCIL, "--title", "Employment",
                  "--area", "Barnet", "--value", "2400000", "--start", "2025-01-01",
                  "--end", "2027-12-31", "--description", "Support into work",
                  "--payment-model", "fixed")  # fmt: skip
        ledger.ok("bid", "submit", PACKAGE, "--as", PRIME, "--price", "2350000",
                  "--self-share", "40", "--promise", PROMISE)  # fmt: skip
        ledger.ok("bid", "acknowledge", PACKAGE, "--as", HOPE, "--prime", PRIME)
        ledger.ok("package", "award", PACKAGE, "--as", COUNCIL, "--bid", PRIME)
        ledger.ok("subcontract", "issue", PACKAGE, "--as", PRIME, "--sub", HOPE, *TERMS)
        ledger.ok("subcontract", "accept", PACKAGE, "--as", HOPE)
        ledger.ok("invoice", "submit", PACKAGE, "--as", HOPE, "--ref", "INV-1", "--amount",
                  "1000", "--date", "2025-03-01", "--period", "2025-Q1")  # fmt: skip
        ledger.ok("payment", "record", PACKAGE, "--as", PRIME, "--sub", HOPE, "--invoice",
                  "INV-1", "--amount", "1000", "--date", "2025-03-10")  # fmt: skip
        ledger.ok("payment", "confirm", PACKAGE, "--as", HOPE, "--invoice", "INV-1",
                  "--date", "2025-03-10")  # fmt: skip
        ledger.ok("referral", "send", PACKAGE, "--as", PRIME, "--sub", HOPE, "--period",
                  "2025-Q1", "--count", "5")  # fmt: skip
        ledger.ok("referral", "confirm", PACKAGE, "--as", HOPE, "--period", "2025-Q1",
                  "--count", "5")  # fmt: skip
        export = ledger.ok("export", "--package", PACKAGE, "--as", PRIME, "-o", str(bundle))
    rows = event_rows(ledger.url)
    assert [row[3] for row in rows] == LAYOUT
    ledger_id = json.loads(bundle.read_text())["ledger"]
    return Built(ledger, ledger_id, bundle, export, rows)


@pytest.fixture(scope="module")
def council(module_ledgers: LedgerStore) -> CliLedger:
    """The council's own ledger, built once per engine."""
    directory = module_ledgers.directory
    ledger = module_ledgers.cli(module_ledgers.url("council"), directory / "council-keys")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("chainledger.adapters.keystore.SCRYPT_N", FAST_SCRYPT_N)
        ledger.ok("init", "--name", "Council ledger")
        ledger.ok("org", "create", "Barnet Council", "--role", "commissioner", "--handle", COUNCIL)
    return ledger


@pytest.fixture
def importer(council: CliLedger, module_ledgers: LedgerStore) -> CliLedger:
    """A copy of the council's ledger for one test to import into."""
    return module_ledgers.cli(module_ledgers.copy(council.url, "importer"), council.keys)


@pytest.fixture
def untouched(council: CliLedger, module_ledgers: LedgerStore) -> CliLedger:
    """A copy of the council's ledger for the tests that must import nothing, reused
    between them while nothing was imported into it."""
    url = module_ledgers.fresh(council.url, "untouched")
    if imported_tables(url) != NOTHING_IMPORTED:  # a test wrongly imported: start again
        url = module_ledgers.copy(council.url, "untouched")
    return module_ledgers.cli(url, council.keys)


# -- helpers ----------------------------------------------------------------------------------


def assert_clean(result: Result) -> None:
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    assert "this is a bug" not in output
    assert PASSPHRASE not in output


def imported_tables(url: str) -> dict[str, list[tuple[Any, ...]]]:
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


NOTHING_IMPORTED = {"imported_ledgers": [], "imported_events": []}


def refused(ledger: CliLedger, *args: str, status: int = 1) -> Result:
    """``args`` fail with ``status`` and a clear message on stderr, and write nothing."""
    before = imported_tables(ledger.url), event_rows(ledger.url)
    result = ledger.run(*args)
    assert_clean(result)
    assert result.exit_code == status, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert result.stderr.startswith("Error: " if status == 1 else "Usage: ")
    assert (imported_tables(ledger.url), event_rows(ledger.url)) == before
    return result


def write(path: Path, document: dict[str, Any], **dumps: Any) -> Path:
    path.write_text(json.dumps(document, **dumps) + "\n", encoding="utf-8")
    return path


def verified_line(built: Built, events: int = EVENTS) -> str:
    return (
        f"Verified {events} events of package {PACKAGE} from ledger '{ORIGIN_NAME}' "
        f"({built.ledger_id}): every signature, chain link and proof holds against its "
        f"checkpoint of {SIZE} events signed by {PRIME}."
    )


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def state(entry: dict[str, Any]) -> bytes:
    return base64.b64decode(entry["state"])


# -- export -----------------------------------------------------------------------------------


def test_export_writes_one_compact_line_to_the_file_and_says_so_on_stderr(built: Built) -> None:
    assert built.export.stdout == ""
    assert built.export.stderr == (
        f"Wrote a bundle of {EVENTS} events of package {PACKAGE} to {built.bundle}, "
        f"its checkpoint signed by {PRIME}.\n"
    )
    text = built.bundle.read_text(encoding="utf-8")
    assert text.count("\n") == 1
    assert text.endswith("}\n")
    document = json.loads(text)
    assert text == json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n"
    assert text.startswith('{"format":"chainledger-bundle/1","ledger":')
    assert document["package"] == PACKAGE
    assert [e["position"] + 1 for e in document["events"]] == [1, 2, 3, 4, *range(6, SIZE + 1)]
    assert [state(e) for e in document["events"]] == [row[4] for row in built.rows if row[0] != 5]
    checkpoint = parse_checkpoint(document["checkpoint"])
    assert (checkpoint.checkpoint.size, [s.name for s in checkpoint.signatures]) == (SIZE, [PRIME])


def test_export_without_a_file_writes_the_bundle_to_stdout(built: Built) -> None:
    result = built.ledger.ok("export", "--package", PACKAGE, "--as", PRIME)
    assert result.stderr == ""
    # nothing was recorded since, and Ed25519 signatures are deterministic: the same bytes
    assert result.stdout == built.bundle.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "args",
    [("--as", PRIME), ("--package", PACKAGE), ("--format", "bundle")],
    ids=["no-package", "no-as", "neither"],
)
def test_a_bundle_export_without_package_or_signer_is_a_usage_error(
    built: Built, args: tuple[str, ...]
) -> None:
    result = built.ledger.run("export", *args)
    assert_clean(result)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "a bundle needs --package REF (what it carries) and --as HANDLE" in result.stderr


def test_export_of_an_unknown_package_is_an_error_and_writes_no_file(
    built: Built, tmp_path: Path
) -> None:
    path = tmp_path / "nope.bundle"
    result = built.ledger.run("export", "--package", "NOPE-1", "--as", PRIME, "-o", str(path))
    assert_clean(result)
    assert result.exit_code == 1
    assert (result.stdout, result.stderr) == ("", "Error: no package 'NOPE-1' in this ledger\n")
    assert not path.exists()


def test_format_steps_still_writes_json_lines_of_steps(built: Built, tmp_path: Path) -> None:
    everything = built.ledger.ok("export", "--format", "steps")
    steps = [json.loads(line) for line in everything.stdout.splitlines()]
    assert len(steps) > 5
    assert all("step" in step and "format" not in step for step in steps)
    assert {step["step"] for step in steps} >= {"bid.submit", "invoice.submit"}
    path = tmp_path / "hope.jsonl"
    result = built.ledger.ok("export", "--format", "steps", "--as", HOPE, "-o", str(path))
    mine = [json.loads(line) for line in path.read_text().splitlines()]
    assert result.stderr == f"Exported {len(mine)} steps.\n"
    assert 0 < len(mine) < len(steps)


# -- import -----------------------------------------------------------------------------------


def test_a_bundle_is_verified_and_imported_once(built: Built, importer: CliLedger) -> None:
    own = event_rows(importer.url)
    first = importer.ok("import", str(built.bundle))
    assert first.stderr == ""
    assert first.stdout.splitlines() == [verified_line(built), f"Imported {EVENTS} new events."]
    tables = imported_tables(importer.url)
    assert len(tables["imported_events"]) == EVENTS
    assert event_rows(importer.url) == own  # kept apart from the ledger's own events

    again = importer.ok("import", str(built.bundle))
    assert again.stdout.splitlines() == [
        verified_line(built),
        f"Imported 0 new events; {EVENTS} were already here, unchanged.",
    ]
    assert imported_tables(importer.url) == tables


def test_a_pretty_printed_bundle_is_imported_like_the_compact_one(
    built: Built, importer: CliLedger, tmp_path: Path
) -> None:
    pretty = write(tmp_path / "pretty.bundle", built.document(), indent=2)
    assert pretty.read_text().startswith('{\n  "format": "chainledger-bundle/1",\n')
    result = importer.ok("import", str(pretty))
    assert result.stdout.splitlines() == [verified_line(built), f"Imported {EVENTS} new events."]
    again = importer.ok("import", str(built.bundle))
    assert again.stdout.splitlines()[-1] == (
        f"Imported 0 new events; {EVENTS} were already here, unchanged."
    )


def test_a_bundle_is_read_from_stdin(built: Built, importer: CliLedger) -> None:
    result = importer.runner.invoke(cli, ["import", "-"], input=built.bundle.read_bytes(),
                                    env=dict(importer.env), catch_exceptions=False)  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [verified_line(built), f"Imported {EVENTS} new events."]


@pytest.mark.parametrize("option", [("--as", COUNCIL), ("--on", "2025-01-01")], ids=["as", "on"])
def test_a_bundle_imported_with_as_or_on_is_a_usage_error(
    built: Built, untouched: CliLedger, option: tuple[str, str]
) -> None:
    assert imported_tables(untouched.url) == NOTHING_IMPORTED
    result = refused(untouched, "import", str(built.bundle), *option, status=2)
    assert "--as and --on are for steps files" in result.stderr


def damaged(built: Built, kind: str) -> bytes:
    text = built.bundle.read_text(encoding="utf-8")
    if kind == "truncated":
        return text[: len(text) // 2].encode()
    if kind == "not-json":
        return b'{"format": "chainledger-bundle/1", "ledger": oops}\n'
    if kind == "future-format":
        return text.replace("chainledger-bundle/1", "chainledger-bundle/2", 1).encode()
    if kind == "events-not-a-list":
        document = built.document()
        document["events"] = "all of them"
        return json.dumps(document).encode()
    if kind == "not-utf8":
        return b'{"format": "chainledger-bundle/1", "package": "\xff"}\n'
    raise AssertionError(kind)


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("truncated", "not a bundle: the file is not JSON"),
        ("not-json", "not a bundle: the file is not JSON"),
        ("not-utf8", "not a bundle: the file is not JSON"),
        ("future-format",
         "not a chainledger bundle (format 'chainledger-bundle/2'; this version reads "
         "chainledger-bundle/1)"),
        ("events-not-a-list", "the bundle's events is missing or malformed"),
    ],
)  # fmt: skip
def test_a_file_that_is_no_bundle_is_an_error_not_a_traceback(
    built: Built, untouched: CliLedger, tmp_path: Path, kind: str, message: str
) -> None:
    assert imported_tables(untouched.url) == NOTHING_IMPORTED
    path = tmp_path / f"{kind}.bundle"
    path.write_bytes(damaged(built, kind))
    result = refused(untouched, "import", str(path))
    assert result.stderr == f"Error: {message}\n"


def test_a_bundle_with_an_altered_event_is_refused_naming_it(
    built: Built, untouched: CliLedger, tmp_path: Path
) -> None:
    assert imported_tables(untouched.url) == NOTHING_IMPORTED
    document = built.document()
    (entry,) = [e for e in document["events"] if e["position"] == INVOICE - 1]
    entry["state"] = b64(state(entry).replace(b'"1000.00"', b'"1.00"'))
    result = refused(untouched, "import", str(write(tmp_path / "altered.bundle", document)))
    assert result.stderr == (
        f"Error: the bundle is refused: event {INVOICE} (InvoiceSubmitted, version 1 of record "
        f"{entry['aggregate']}, signed by {HOPE}): it is not in ledger {built.ledger_id} as its "
        f"checkpoint of {SIZE} events signs it: the event was altered, forged or moved\n"
    )


def test_a_bundle_exported_from_this_very_ledger_is_refused(
    built: Built, module_ledgers: LedgerStore
) -> None:
    origin = module_ledgers.cli(module_ledgers.fresh(built.ledger.url, "origin-copy"),
                                built.ledger.keys)
    result = refused(origin, "import", str(built.bundle))
    assert result.stderr == (
        f"Error: this bundle was exported from this ledger ({built.ledger_id}): its events are "
        "already here\n"
    )


# -- imported ---------------------------------------------------------------------------------


def test_imported_says_when_nothing_was_imported(untouched: CliLedger) -> None:
    assert untouched.ok("imported").stdout == "Nothing was imported into this ledger.\n"
    assert json.loads(untouched.ok("imported", "--format", "json").stdout) == []
    result = refused(untouched, "imported", PACKAGE)
    assert result.stderr == f"Error: nothing of package '{PACKAGE}' was imported into this ledger\n"


def test_imported_lists_the_ledger_and_the_packages_events(
    built: Built, importer: CliLedger
) -> None:
    importer.ok("import", str(built.bundle))
    (ledger,) = json.loads(importer.ok("imported", "--format", "json").stdout)
    assert list(ledger) == ["ledger", "name", "packages", "events", "checkpoint", "updated"]
    assert {k: v for k, v in ledger.items() if k != "updated"} == {
        "ledger": built.ledger_id, "name": ORIGIN_NAME, "packages": PACKAGE, "events": EVENTS,
        "checkpoint": f"{SIZE} events, signed by {PRIME}",
    }  # fmt: skip
    (row,) = csv.DictReader(io.StringIO(importer.ok("imported", "--format", "csv").stdout))
    assert row == {k: str(v) for k, v in ledger.items()}
    table = importer.ok("imported").stdout.splitlines()
    assert table[0].split() == ["ledger", "name", "packages", "events", "checkpoint", "updated"]
    assert table[2].split()[:4] == [built.ledger_id, ORIGIN_NAME.split()[0], "ledger", PACKAGE]

    history = json.loads(importer.ok("imported", PACKAGE, "--format", "json").stdout)
    assert list(history[0]) == ["ledger", "#", "on", "by", "event", "what"]
    assert [(h["ledger"], h["#"], h["event"]) for h in history] == [
        (ORIGIN_NAME, nid, LAYOUT[nid - 1]) for nid in range(6, SIZE + 1)
    ]
    assert [h["by"] for h in history] == [
        COUNCIL, PRIME, HOPE, COUNCIL, PRIME, HOPE, HOPE, PRIME, HOPE, PRIME, HOPE,
    ]  # fmt: skip
    assert "£1,000.00" in history[INVOICE - 6]["what"]
    result = refused(importer, "imported", "CAM-1")
    assert result.stderr == "Error: nothing of package 'CAM-1' was imported into this ledger\n"


# -- audit verify -----------------------------------------------------------------------------


def test_audit_verify_checks_the_imported_events_again(built: Built, importer: CliLedger) -> None:
    importer.ok("import", str(built.bundle))
    text = importer.ok("audit", "verify").stdout.splitlines()
    assert f"Imported from other ledgers: {EVENTS} events checked again." in text
    assert text[-1] == "OK: every signature and chain link verifies."
    report = json.loads(importer.ok("audit", "verify", "--format", "json").stdout)
    assert (report["ok"], report["imported_events"], report["events"]) == (True, EVENTS, 2)


def test_an_imported_event_altered_in_the_database_fails_audit_verify(
    built: Built, importer: CliLedger
) -> None:
    importer.ok("import", str(built.bundle))
    table = imported_store.events_table
    engine = sqlalchemy.create_engine(database_url(importer.url), poolclass=NullPool)
    try:
        with engine.begin() as connection:
            stored = bytes(connection.execute(
                sqlalchemy.select(table.c.state).where(table.c.position == INVOICE - 1)
            ).scalar_one())  # fmt: skip
            connection.execute(
                sqlalchemy.update(table).where(table.c.position == INVOICE - 1)
                .values(state=stored.replace(b'"1000.00"', b'"9000.00"'))
            )  # fmt: skip
    finally:
        engine.dispose()
    result = importer.run("audit", "verify")
    assert_clean(result)
    assert result.exit_code == 1
    invoice = next(row for row in built.rows if row[0] == INVOICE)
    payment = next(row for row in built.rows if row[0] == PAYMENT)
    where = f"FAILED: imported from {ORIGIN_NAME} ({built.ledger_id})"
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAILED")]
    assert failed == [
        f"{where}: event {INVOICE} (InvoiceSubmitted, version 1 of record {invoice[1]}, signed "
        f"by {HOPE}): signature by {HOPE} does not verify",
        f"{where}: event {PAYMENT} (PaymentRecorded, version 2 of record {payment[1]}, signed by "
        f"{PRIME}): hash chain broken: the previous event is not the one this event was signed "
        "after",
    ]
    assert result.stdout.splitlines()[-1] == "TAMPERED: 2 failure(s)."


# -- help --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "words"),
    [
        ("export", ["bundle", "--package", "--as", "steps"]),
        ("import", ["bundle", "chainledger imported", "steps"]),
        ("imported", ["bundles", "PACKAGE", "audit verify"]),
    ],
)
def test_help_texts_explain_bundles(command: str, words: list[str]) -> None:
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0
    for word in words:
        assert word in result.stdout, (command, word)


# -- a hostile exporter ------------------------------------------------------------------------


def resealed(built: Built, entries: list[dict[str, Any]]) -> dict[str, Any]:
    """``entries`` as a whole Merkle tree with its audit paths, the checkpoint signed by
    northgate's own key: every proof holds, whatever the entries say."""
    leaves = [leaf_hash(state(e)) for e in entries]
    size = len(entries)
    document = built.document()
    key = Keystore(built.ledger.keys).load(
        json.loads(built.ledger.ok("org", "show", PRIME, "--format", "json").stdout)[0][
            "fingerprint"
        ],
        PASSPHRASE,
    )
    head = Checkpoint(UUID(document["ledger"]), size, root_of(leaves))
    document["checkpoint"] = sign_checkpoint(head, PRIME, raw_public_key(key), key.sign).text()
    document["events"] = [
        {**e, "position": i,
         "path": [b64(h) for h in inclusion_proof(i, size, lambda lo, hi: root_of(leaves[lo:hi]))]}
        for i, e in enumerate(entries)
    ]  # fmt: skip
    return document


def test_a_resealed_bundle_with_a_version_missing_is_refused_naming_it(
    built: Built, untouched: CliLedger, tmp_path: Path
) -> None:
    """The payment record (invoice v2) left out, the tree rebuilt and signed by northgate:
    every proof holds, and the confirmation, v3, follows v1."""
    assert imported_tables(untouched.url) == NOTHING_IMPORTED
    entries = [e for e in built.document()["events"] if e["position"] != PAYMENT - 1]
    document = resealed(built, entries)
    (confirmation,) = [e for e in document["events"] if e["type"] == "PaymentConfirmed"]
    result = refused(untouched, "import", str(write(tmp_path / "gap.bundle", document)))
    assert result.stderr == (
        f"Error: the bundle is refused: event {confirmation['position'] + 1} (PaymentConfirmed, "
        f"version 3 of record {confirmation['aggregate']}, signed by {HOPE}): version 3 follows "
        "version 1: an event is missing or duplicated\n"
    )


def test_a_resealed_bundle_with_an_unreadable_genesis_is_refused_cleanly(
    built: Built, untouched: CliLedger, tmp_path: Path
) -> None:
    assert imported_tables(untouched.url) == NOTHING_IMPORTED
    entries = built.document()["events"]
    genesis = json.loads(state(entries[0])[SIGNATURE_LENGTH:])
    genesis["fields"] = []
    entries[0]["state"] = b64(bytes(SIGNATURE_LENGTH) + canonical_json(genesis))
    path = write(tmp_path / "genesis.bundle", resealed(built, entries))
    result = refused(untouched, "import", str(path))
    assert result.stderr.startswith("Error: the bundle is refused: event 1 (LedgerCreated, ")
