"""A malicious database operator against the tamper-evident log, on SQLite and PostgreSQL.

The ledger is built once per module through the CLI; barnet-council signs a
checkpoint after event 12 (``early``) and another after event 15 (``late``).
Each test takes a copy and edits it behind the application's back, the way
whoever runs the database could: deleting, reordering or rewriting rows, and,
to hide the edit, rebuilding the stored Merkle tree from the edited events.
Edits that leave every signature, hash chain and version sequence valid pass
``audit verify`` on their own; an earlier checkpoint catches every one.

    1  ledger genesis
    2  barnet-council   OrganisationRegistered
    3  northgate        OrganisationRegistered
    4  hope-trust       OrganisationRegistered
    5  mind-in-barnet   OrganisationRegistered
    6  BAR-1            PackageCreated         (barnet-council)
    7  bid              BidSubmitted  v1       (northgate, naming hope-trust)
    8  bid              PromiseAcknowledged v2 (hope-trust)
    9  BAR-1            PackageAwarded v2      (barnet-council)
   10  subcontract      SubcontractIssued v1   (northgate)
   11  subcontract      SubcontractAccepted v2 (hope-trust)
   12  invoice INV-1    InvoiceSubmitted v1    (hope-trust, £1,000)    <- early checkpoint
   13  subcontract      ReferralsSent v3       (northgate)
   14  subcontract      ReferralsConfirmed v4  (hope-trust)
   15  concern C-1      ConcernRaised v1       (hope-trust)            <- late checkpoint
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from chainledger.adapters import merkle_store
from chainledger.adapters.crypto import raw_public_key, verify
from chainledger.adapters.keystore import Keystore
from chainledger.bootstrap import open_ledger
from chainledger.domain.canonical import canonical_json
from chainledger.domain.checkpoint import parse_checkpoint
from chainledger.domain.events import SIGNATURE_LENGTH
from chainledger.domain.merkle import leaf_hash, root_of
from tests.conftest import FAST_SCRYPT_N, PASSPHRASE, CliLedger
from tests.ledgers import LedgerStore, RawEvents, event_rows

PACKAGE = "BAR-1"
COUNCIL, PRIME, HOPE = "barnet-council", "northgate", "hope-trust"
TERMS = ("--service", "advice", "--share", "15", "--value", "50000", "--referrals", "20",
         "--model", "fixed", "--terms", "30")  # fmt: skip
PROMISE = "hope-trust:service=advice,share=15,value=50000,referrals=20,model=fixed,terms=30"
LAYOUT = [
    "LedgerCreated", *["OrganisationRegistered"] * 4, "PackageCreated", "BidSubmitted",
    "PromiseAcknowledged", "PackageAwarded", "SubcontractIssued", "SubcontractAccepted",
    "InvoiceSubmitted", "ReferralsSent", "ReferralsConfirmed", "ConcernRaised",
]  # fmt: skip
ACKNOWLEDGEMENT, ACCEPTANCE, INVOICE = 8, 11, 12
EARLY, LATE = 12, 15  # the checkpoints' sizes


def invoice(reference: str, amount: str) -> tuple[str, ...]:
    return ("invoice", "submit", PACKAGE, "--as", HOPE, "--ref", reference, "--amount", amount,
            "--date", "2026-03-01", "--period", "2026-Q1")  # fmt: skip


def build(ledger: CliLedger, directory: Path) -> tuple[Path, Path, Path]:
    """The ledger of the module docstring; returns the early and late checkpoint files
    and a proof of the invoice (event 12) made on the clean ledger."""
    ledger.ok("init", "--name", "Transparency")
    for name, role, handle in (("Barnet Council", "commissioner", COUNCIL),
                               ("Northgate", "prime", PRIME),
                               ("Hope Trust", "subcontractor", HOPE),
                               ("Mind in Barnet", "subcontractor", "mind-in-barnet")):  # fmt: skip
        ledger.ok("org", "create", name, "--role", role, "--handle", handle)
    ledger.ok("package", "create", PACKAGE, "--as", COUNCIL, "--title", "Employment support",
              "--area", "Barnet", "--value", "2400000", "--start", "2026-01-01",
              "--end", "2027-12-31", "--description", "Support into work",
              "--payment-model", "fee-plus-outcome", "--at-risk", "20")  # fmt: skip
    ledger.ok("bid", "submit", PACKAGE, "--as", PRIME, "--price", "2350000", "--self-share", "40",
              "--promise", PROMISE)  # fmt: skip
    ledger.ok("bid", "acknowledge", PACKAGE, "--as", HOPE, "--prime", PRIME)
    ledger.ok("package", "award", PACKAGE, "--as", COUNCIL, "--bid", PRIME)
    ledger.ok("subcontract", "issue", PACKAGE, "--as", PRIME, "--sub", HOPE, *TERMS)
    ledger.ok("subcontract", "accept", PACKAGE, "--as", HOPE)
    ledger.ok(*invoice("INV-1", "1000"))
    early = directory / "early.checkpoint"
    ledger.ok("checkpoint", "--as", COUNCIL, "-o", str(early))
    ledger.ok("referral", "send", PACKAGE, "--as", PRIME, "--sub", HOPE, "--period", "2026-Q1",
              "--count", "5")  # fmt: skip
    ledger.ok("referral", "confirm", PACKAGE, "--as", HOPE, "--period", "2026-Q1", "--count", "5")
    ledger.ok("concern", "raise", PACKAGE, "--as", HOPE, "--subject", "Referrals",
              "--text", "Fewer than promised", "--ref", "C-1")  # fmt: skip
    late = directory / "late.checkpoint"
    ledger.ok("checkpoint", "--as", COUNCIL, "-o", str(late))
    proof = directory / "invoice.proof"
    ledger.ok("prove", str(INVOICE), "--as", COUNCIL, "-o", str(proof))
    return early, late, proof


@dataclass(frozen=True)
class Base:
    ledger: CliLedger
    early: Path  # barnet-council's checkpoint of events 1-12
    late: Path  # ... and of events 1-15
    invoice_proof: Path  # a proof of event 12, made on the clean ledger
    fingerprints: dict[str, str]  # handle: key fingerprint


@pytest.fixture(scope="module")
def base(module_ledgers: LedgerStore) -> Base:
    """The ledger, built once per engine (keys at the tests' cheap scrypt cost: the
    function-scoped fixture that sets it is not in force here)."""
    directory = module_ledgers.directory
    ledger = CliLedger(module_ledgers.url("transparency"), directory / "keys", CliRunner())
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("chainledger.adapters.keystore.SCRYPT_N", FAST_SCRYPT_N)
        early, late, proof = build(ledger, directory)
    assert [row[3] for row in event_rows(ledger.url)] == LAYOUT
    assert [row[0] for row in event_rows(ledger.url)] == list(range(1, LATE + 1))
    fingerprints = {}
    for handle in (COUNCIL, HOPE):
        (shown,) = json.loads(ledger.ok("org", "show", handle, "--format", "json").stdout)
        fingerprints[handle] = shown["fingerprint"]
    return Base(ledger, early, late, proof, fingerprints)


@pytest.fixture
def ledger(base: Base, module_ledgers: LedgerStore) -> CliLedger:
    """A copy of the base ledger for one test to tamper with."""
    url = module_ledgers.copy(base.ledger.url, "tampered")
    return CliLedger(url, base.ledger.keys, CliRunner())


# -- what the operator does -------------------------------------------------------------


def delete_rows(url: str, *notification_ids: int) -> None:
    with RawEvents(url) as raw:
        for notification_id in notification_ids:
            assert raw.delete(notification_id) == 1


def swap_rows(url: str, first: int, second: int) -> None:
    """Swap two whole rows (aggregate, version, type and state): each row stays
    self-consistent; only their order in the log changes."""
    with RawEvents(url) as raw:
        rows = {row[0]: row for row in raw.rows() if row[0] in (first, second)}
        t = raw.table
        with raw.engine.begin() as connection:
            # out of the way of the unique (aggregate, version) index first
            connection.execute(
                sqlalchemy.update(t).where(t.c.id == second).values(originator_version=-1)
            )
            for target, source in ((first, second), (second, first)):
                _, aggregate, version, topic, state = rows[source]
                connection.execute(
                    sqlalchemy.update(t).where(t.c.id == target).values(
                        originator_id=aggregate, originator_version=version, topic=topic,
                        state=state,
                    )
                )  # fmt: skip


def swap_states(url: str, first: int, second: int) -> None:
    """Swap only two rows' contents (signature and content), leaving their columns."""
    with RawEvents(url) as raw:
        first_state, second_state = raw.state(first), raw.state(second)
        assert raw.set_state(first, second_state) == 1
        assert raw.set_state(second, first_state) == 1


def signed(content: dict[str, Any], private_key: Ed25519PrivateKey) -> bytes:
    """A stored state for ``content``, canonically encoded and signed by ``private_key``."""
    encoded = canonical_json(content)
    return private_key.sign(encoded) + encoded


def rebuild_tree(ledger: CliLedger) -> None:
    """Hide the edits from the stored tree: empty the Merkle tables and have the
    application grow the tree again from the edited events, in one transaction."""
    app = open_ledger(ledger.url, ledger.keys)
    try:
        events = app.recorder.events_record_cls.__table__
        with app.recorder.datastore.transaction(commit=True) as session:
            for table in merkle_store.TABLES:
                session.execute(sqlalchemy.delete(table))
            merkle_store.append(session, events, [])
    finally:
        app.close()


# -- what the CLI says ----------------------------------------------------------------------


def assert_clean(result: Result) -> None:
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    assert "this is a bug" not in output
    assert PASSPHRASE not in output


def audit(ledger: CliLedger, *checkpoints: Path) -> Result:
    options = [arg for path in checkpoints for arg in ("--checkpoint", str(path))]
    result = ledger.run("audit", "verify", *options)
    assert_clean(result)
    assert result.exit_code in (0, 1), (result.stdout, result.stderr)
    assert (result.exit_code == 0) == (
        "OK: every signature and chain link verifies." in result.stdout
    )
    return result


def failures(result: Result) -> list[str]:
    return [line for line in result.stdout.splitlines() if line.startswith("FAILED")]


def label(path: Path) -> str:
    return f"checkpoint {path} (signed by {COUNCIL})"


def extends(path: Path, size: int) -> str:
    return f"OK {label(path)} ({size} events): the ledger extends it."


def rewritten(path: Path, size: int) -> str:
    return (
        f"FAILED: {label(path)}: the ledger's first {size} events are not the ones it signed: "
        "history was rewritten, reordered or removed"
    )


def truncated(path: Path, size: int, holds: int) -> str:
    return (
        f"FAILED: {label(path)} covers {size} events but the ledger holds {holds}: "
        "history was truncated"
    )


STORED_TREE = "FAILED: the stored Merkle tree ("


def refused(ledger: CliLedger, *args: str) -> Result:
    """``args`` exits 1 with a clear error and writes nothing."""
    before = event_rows(ledger.url)
    result = ledger.run(*args)
    assert_clean(result)
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert result.stderr.startswith("Error: ")
    assert event_rows(ledger.url) == before
    return result


def verified(ledger: CliLedger, proof: Path, signer: str) -> list[str]:
    """``verify-proof`` accepts ``proof`` for ``signer``; returns what it printed."""
    result = ledger.run("verify-proof", str(proof), "--signer", signer)
    assert_clean(result)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result.stdout.splitlines()


def not_the_old_tree(size: int) -> str:
    return (
        f"Error: this ledger's first {size} events are not the ones the checkpoint of {size} "
        "events signed: "
        "history was rewritten, reordered or removed"
    )


# -- the untouched ledger -------------------------------------------------------------------


def test_the_untouched_ledger_extends_its_checkpoints(base: Base) -> None:
    before = event_rows(base.ledger.url)
    result = audit(base.ledger, base.early, base.late)
    assert result.exit_code == 0, result.stdout
    assert extends(base.early, EARLY) in result.stdout.splitlines()
    assert extends(base.late, LATE) in result.stdout.splitlines()
    assert failures(result) == []
    assert event_rows(base.ledger.url) == before


# -- (a) a row deleted ----------------------------------------------------------------------


def test_a_deleted_row_is_caught_by_the_stored_tree_and_the_checkpoint(
    ledger: CliLedger, base: Base, engine: str
) -> None:
    delete_rows(ledger.url, ACKNOWLEDGEMENT)

    result = audit(ledger, base.early)
    assert result.exit_code == 1
    found = failures(result)
    assert rewritten(base.early, EARLY) in found
    (tree,) = [line for line in found if line.startswith(STORED_TREE)]
    assert f"({LATE} events, root " in tree
    assert f"is not the tree of the events ({LATE - 1}, root " in tree
    gap = f"FAILED notification {ACKNOWLEDGEMENT}: 1 notification(s) missing before 9: events were removed"  # fmt: skip
    assert (gap in found) == (engine == "sqlite")  # a gap proves nothing on PostgreSQL
    assert len(found) == (3 if engine == "sqlite" else 2), found

    # The stored tree still has the event: a proof of it is refused, not made up.
    result = refused(ledger, "prove", str(ACKNOWLEDGEMENT), "--as", COUNCIL)
    assert result.stderr == (
        f"Error: tampered ledger data: event #{ACKNOWLEDGEMENT} is in the Merkle tree "
        "but not in the log\n"
    )


def test_a_deleted_row_hidden_by_a_rebuilt_tree_is_caught_by_the_checkpoint(
    ledger: CliLedger, base: Base, engine: str
) -> None:
    """Hope Trust's acknowledgement was the last event of the bid: once the tree is
    rebuilt, nothing in the ledger itself shows it on PostgreSQL (whose ids may skip)."""
    delete_rows(ledger.url, ACKNOWLEDGEMENT)
    rebuild_tree(ledger)

    alone = audit(ledger)
    gap = f"FAILED notification {ACKNOWLEDGEMENT}: 1 notification(s) missing before 9: events were removed"  # fmt: skip
    assert failures(alone) == ([gap] if engine == "sqlite" else [])

    result = audit(ledger, base.early)
    assert result.exit_code == 1
    assert rewritten(base.early, EARLY) in failures(result)
    assert not any(line.startswith(STORED_TREE) for line in failures(result))
    refused(ledger, "prove", "--consistency", str(base.early), str(LATE - 1), "--as", COUNCIL)


# -- (b) rows reordered ---------------------------------------------------------------------


def test_reordered_rows_pass_on_their_own_but_not_with_the_checkpoint(
    ledger: CliLedger, base: Base
) -> None:
    """The invoice moved before the acceptance of the subcontract it bills under: each
    row, signature, chain and version sequence is still valid; only the order changed."""
    swap_rows(ledger.url, ACCEPTANCE, INVOICE)
    rebuild_tree(ledger)
    rows = event_rows(ledger.url)
    assert [rows[ACCEPTANCE - 1][3], rows[INVOICE - 1][3]] == ["InvoiceSubmitted", "SubcontractAccepted"]  # fmt: skip

    alone = audit(ledger)
    assert alone.exit_code == 0, alone.stdout
    assert f"checked {LATE} events" in alone.stdout

    result = audit(ledger, base.early, base.late)
    assert result.exit_code == 1
    assert failures(result) == [rewritten(base.early, EARLY), rewritten(base.late, LATE)]
    assert "TAMPERED: 2 failure(s)." in result.stdout
    refused(ledger, "prove", "--consistency", str(base.early), str(LATE), "--as", COUNCIL)


def test_swapped_contents_are_reported_row_by_row_and_by_the_checkpoint(
    ledger: CliLedger, base: Base
) -> None:
    swap_states(ledger.url, ACCEPTANCE, INVOICE)

    result = audit(ledger, base.early)
    assert result.exit_code == 1
    found = failures(result)
    assert rewritten(base.early, EARLY) in found
    assert any(line.startswith(STORED_TREE) for line in found)
    for notification_id in (ACCEPTANCE, INVOICE):
        assert any(
            line.startswith(f"FAILED notification {notification_id}, ")
            and "content belongs to another aggregate, version or type" in line
            for line in found
        ), found


# -- (c) history rewritten and re-signed by a colluding organisation ------------------------


def test_history_re_signed_by_a_colluding_organisation_is_caught_by_the_checkpoint(
    ledger: CliLedger, base: Base
) -> None:
    """Hope Trust and the operator turn its £1,000 invoice into £9,000: the new content is
    signed with Hope Trust's own key and the stored tree rebuilt, so every signature and
    every stored hash checks out; only the council's earlier checkpoint remembers."""
    hope_key = Keystore(ledger.keys).load(base.fingerprints[HOPE], PASSPHRASE)
    with RawEvents(ledger.url) as raw:
        original = raw.state(INVOICE)
        content = json.loads(original[SIGNATURE_LENGTH:])
        assert signed(content, hope_key)[SIGNATURE_LENGTH:] == original[SIGNATURE_LENGTH:]
        assert content["org"] == HOPE
        assert content["fields"]["amount"] == "1000.00"
        content["fields"]["amount"] = "9000.00"
        forged = signed(content, hope_key)
        assert verify(raw_public_key(hope_key), forged[:SIGNATURE_LENGTH], forged[SIGNATURE_LENGTH:])  # fmt: skip
        assert raw.set_state(INVOICE, forged) == 1
    rebuild_tree(ledger)

    alone = audit(ledger)
    assert alone.exit_code == 0, alone.stdout
    assert failures(alone) == []

    result = audit(ledger, base.early, base.late)
    assert result.exit_code == 1
    assert failures(result) == [rewritten(base.early, EARLY), rewritten(base.late, LATE)]

    # The ledger can no longer prove that it extends what the council signed ...
    result = refused(ledger, "prove", "--consistency", str(base.early), str(LATE), "--as", COUNCIL)
    assert result.stderr == not_the_old_tree(EARLY) + "\n"
    # ... while the proof Hope Trust was given earlier still shows the original invoice.
    bundle = json.loads(base.invoice_proof.read_text())
    state = base64.b64decode(bundle["event"]["state"])
    assert json.loads(state[SIGNATURE_LENGTH:])["fields"]["amount"] == "1000.00"
    lines = verified(ledger, base.invoice_proof, base.fingerprints[COUNCIL])
    assert lines[0].startswith(f"OK: InvoiceSubmitted on {bundle['event']['aggregate']} (version 1) is event {INVOICE} of {LATE}")  # fmt: skip


# -- (d) truncation ---------------------------------------------------------------------------


def test_truncation_is_caught_by_a_checkpoint_that_covered_the_lost_events(
    ledger: CliLedger, base: Base, tmp_path: Path
) -> None:
    delete_rows(ledger.url, LATE, LATE - 1)
    rebuild_tree(ledger)

    alone = audit(ledger)
    assert alone.exit_code == 0, alone.stdout
    assert f"checked {LATE - 2} events" in alone.stdout

    result = audit(ledger, base.early, base.late)
    assert result.exit_code == 1
    assert extends(base.early, EARLY) in result.stdout.splitlines()
    assert failures(result) == [truncated(base.late, LATE, LATE - 2)]
    assert "TAMPERED: 1 failure(s)." in result.stdout

    result = refused(ledger, "prove", "--consistency", str(base.late), str(LATE - 2), "--as", COUNCIL)  # fmt: skip
    assert f"the ledger's size); got {LATE} and {LATE - 2}" in result.stderr
    # What is left still extends the early checkpoint, and can prove it.
    proof = tmp_path / "early.proof"
    ledger.ok("prove", "--consistency", str(base.early), str(LATE - 2), "--as", COUNCIL, "-o", str(proof))  # fmt: skip
    lines = verified(ledger, proof, base.fingerprints[COUNCIL])
    assert lines[0].startswith(f"OK: ledger {json.loads(proof.read_text())['ledger']} of {LATE - 2} events extends the one of {EARLY} ")  # fmt: skip


# -- (e) a fork shown to two parties --------------------------------------------------------


@dataclass(frozen=True)
class Fork:
    ledger: CliLedger
    checkpoint: Path


@pytest.fixture
def forks(base: Base, module_ledgers: LedgerStore, tmp_path: Path) -> tuple[Fork, Fork]:
    """Two copies of the ledger, each shown to one party: Hope Trust's second invoice is
    £500 in one and £5,000 in the other, each validly signed, each checkpointed."""
    made = []
    for name, amount in (("fork-a", "500"), ("fork-b", "5000")):
        url = module_ledgers.copy(base.ledger.url, name)
        fork = CliLedger(url, base.ledger.keys, CliRunner())
        fork.ok(*invoice("INV-2", amount))
        checkpoint = tmp_path / f"{name}.checkpoint"
        fork.ok("checkpoint", "--as", COUNCIL, "-o", str(checkpoint))
        assert parse_checkpoint(checkpoint.read_text()).checkpoint.size == LATE + 1
        made.append(Fork(fork, checkpoint))
    return made[0], made[1]


def test_each_fork_fails_the_other_forks_checkpoint(forks: tuple[Fork, Fork], base: Base) -> None:
    for mine, theirs in (forks, forks[::-1]):
        result = audit(mine.ledger, base.early, base.late, mine.checkpoint)
        assert result.exit_code == 0, result.stdout
        assert extends(mine.checkpoint, LATE + 1) in result.stdout.splitlines()

        result = audit(mine.ledger, base.late, theirs.checkpoint)
        assert result.exit_code == 1
        assert extends(base.late, LATE) in result.stdout.splitlines()
        assert failures(result) == [rewritten(theirs.checkpoint, LATE + 1)]

        result = refused(mine.ledger, "prove", "--consistency", str(theirs.checkpoint),
                         str(LATE + 1), "--as", COUNCIL)  # fmt: skip
        assert result.stderr == not_the_old_tree(LATE + 1) + "\n"


def test_each_fork_proves_it_extends_the_shared_history(
    forks: tuple[Fork, Fork], base: Base, tmp_path: Path
) -> None:
    roots = set()
    for fork in forks:
        proof = tmp_path / "shared.proof"
        fork.ledger.ok("prove", "--consistency", str(base.late), str(fork.checkpoint), "--as",
                       COUNCIL, "-o", str(proof))  # fmt: skip
        lines = verified(fork.ledger, proof, base.fingerprints[COUNCIL])
        assert f"of {LATE + 1} events extends the one of {LATE} " in lines[0]
        roots.add(parse_checkpoint(json.loads(proof.read_text())["checkpoint"]).checkpoint.root)
    assert len(roots) == 2  # two different trees of the same size, both extending the late one


def test_a_consistency_proof_up_to_the_other_forks_checkpoint_is_refused(
    forks: tuple[Fork, Fork], base: Base
) -> None:
    mine, theirs = forks
    refused(mine.ledger, "prove", "--consistency", str(base.late), str(theirs.checkpoint),
            "--as", COUNCIL)  # fmt: skip


# -- the stored tree is the events' tree ----------------------------------------------------


def stored_tree(url: str) -> tuple[list[tuple[int, int, bytes]], list[tuple[int, int, bytes]]]:
    """(leaves as (index, notification id, hash), nodes as (level, index, hash))."""
    leaves, nodes = merkle_store.leaves_table, merkle_store.nodes_table
    with RawEvents(url) as raw, raw.engine.connect() as connection:
        stored_leaves = connection.execute(
            sqlalchemy.select(leaves.c.idx, leaves.c.notification_id, leaves.c.hash)
            .order_by(leaves.c.idx)
        )  # fmt: skip
        stored_nodes = connection.execute(
            sqlalchemy.select(nodes.c.level, nodes.c.idx, nodes.c.hash)
        )
        return (
            [(int(i), int(n), bytes(h)) for i, n, h in stored_leaves],
            [(int(lv), int(i), bytes(h)) for lv, i, h in stored_nodes],
        )


def test_the_stored_tree_is_the_tree_of_the_events_after_cli_use_and_import(
    ledger: CliLedger, base: Base, tmp_path: Path
) -> None:
    lines = [
        {"step": "referral.send", "package": PACKAGE, "subcontractor": HOPE, "period": period,
         "count": 5 + n}
        for n, period in enumerate(("2026-Q2", "2026-Q3", "2026-Q4", "2027-Q1", "2027-Q2"))
    ]  # fmt: skip
    steps = tmp_path / "steps.jsonl"
    steps.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert ledger.ok("import", str(steps), "--as", PRIME).stdout == "Imported 5 events signed by northgate.\n"  # fmt: skip
    ledger.ok("referral", "confirm", PACKAGE, "--as", HOPE, "--period", "2026-Q2", "--count", "5")

    rows = event_rows(ledger.url)
    assert len(rows) == LATE + 6
    hashes = [leaf_hash(row[4]) for row in rows]
    leaves, nodes = stored_tree(ledger.url)
    assert leaves == [(i, row[0], hashes[i]) for i, row in enumerate(rows)]
    assert nodes, "no inner nodes stored"
    for level, index, digest in nodes:
        assert digest == root_of(hashes[index << level : (index + 1) << level]), (level, index)
    assert {(level, index) for level, index, _ in nodes} == {
        (level, index)
        for level in range(1, len(rows).bit_length())
        for index in range(len(rows) >> level)
    }

    root = root_of(hashes)
    app = open_ledger(ledger.url, ledger.keys)
    try:
        head = app.tree_head()
    finally:
        app.close()
    assert (head.size, head.root, head.position) == (len(rows), root, rows[-1][0])
    signed = parse_checkpoint(ledger.ok("checkpoint", "--as", COUNCIL).stdout)
    assert (signed.checkpoint.size, signed.checkpoint.root) == (len(rows), root)
    result = audit(ledger, base.early, base.late)
    assert result.exit_code == 0, result.stdout
    assert f"Merkle tree: {len(rows)} events, root {root.hex()}." in result.stdout.splitlines()


def test_a_proof_made_on_the_clean_ledger_still_verifies_after_it_grows(
    ledger: CliLedger, base: Base, tmp_path: Path
) -> None:
    council = base.fingerprints[COUNCIL]
    old_proof, old_checkpoint = tmp_path / "old.proof", tmp_path / "old.checkpoint"
    ledger.ok("prove", f"#{INVOICE}", "--as", COUNCIL, "-o", str(old_proof))
    ledger.ok("checkpoint", "--as", COUNCIL, "-o", str(old_checkpoint))
    ledger.ok(*invoice("INV-2", "700"))
    ledger.ok("payment", "record", PACKAGE, "--as", PRIME, "--sub", HOPE, "--invoice", "INV-1",
              "--amount", "1000", "--date", "2026-03-10")  # fmt: skip
    size = LATE + 2
    assert len(event_rows(ledger.url)) == size

    assert verified(ledger, old_proof, council)[0].endswith(f"is event {INVOICE} of {LATE} in ledger {json.loads(old_proof.read_text())['ledger']}")  # fmt: skip
    consistency = tmp_path / "consistency.proof"
    ledger.ok("prove", "--consistency", str(old_checkpoint), str(size), "--as", COUNCIL,
              "-o", str(consistency))  # fmt: skip
    lines = verified(ledger, consistency, council)
    assert f"of {size} events extends the one of {LATE} " in lines[0]
    assert lines[0].endswith(": nothing before it was changed or removed")

    # The consistency proof starts from exactly the tree the old proof's checkpoint signed.
    old = parse_checkpoint(json.loads(old_proof.read_text())["checkpoint"]).checkpoint
    bundle = json.loads(consistency.read_text())
    assert {k: v for k, v in bundle["old"].items() if k != "checkpoint_signer"} == {
        "size": LATE,
        "root": base64.b64encode(old.root).decode(),
        "checkpoint": old_checkpoint.read_text(),
    }
    assert bundle["old"]["checkpoint_signer"]["org"] == COUNCIL
    assert lines[2].startswith(f"old checkpoint by {COUNCIL}, key ")
    new_proof = tmp_path / "new.proof"
    ledger.ok("prove", str(INVOICE), "--as", COUNCIL, "-o", str(new_proof))
    assert verified(ledger, new_proof, council)[0].split(" in ledger ")[0].endswith(f"is event {INVOICE} of {size}")  # fmt: skip
    new = parse_checkpoint(json.loads(new_proof.read_text())["checkpoint"]).checkpoint
    assert new == parse_checkpoint(bundle["checkpoint"]).checkpoint
    assert audit(ledger, base.early, old_checkpoint).exit_code == 0
