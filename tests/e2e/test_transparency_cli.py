"""The tamper-evident log through the CLI: ``checkpoint``, ``prove``, ``verify-proof`` and
``audit verify --checkpoint``.

The ledger is built once per module (on each engine) and is only read: every
test checks that the events table is as it was, that a refusal is a clear
``Error: …`` (exit 1, or 2 for usage), never a traceback, and that the
passphrase never appears in any output.

    1  ledger genesis
    2  barnet-council   OrganisationRegistered
    3  northgate        OrganisationRegistered
    4  hope-trust       OrganisationRegistered
    5  BAR-1            PackageCreated                 <- the early checkpoint
    6  bid              BidSubmitted (northgate)
    7  bid              PromiseAcknowledged (hope-trust)
    8  BAR-1            PackageAwarded
    9  subcontract      SubcontractIssued
   10  subcontract      SubcontractAccepted
   11  invoice INV-1    InvoiceSubmitted (hope-trust)  <- the late checkpoint

A second, unrelated ledger (SQLite only) supplies "another ledger's" checkpoint
and the bundles that the property test mangles, so that test needs no ledger
of its own and runs once.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.strategies import DrawFn, composite

from chainledger.adapters.crypto import raw_public_key, verify
from chainledger.adapters.keystore import Keystore
from chainledger.application.proofs import CONSISTENCY, INCLUSION, load_bundle, verify_bundle
from chainledger.bootstrap import open_ledger
from chainledger.cli.main import cli
from chainledger.domain.checkpoint import (
    Checkpoint,
    parse_checkpoint,
    parse_verifier_key,
    sign_checkpoint,
    verifier_key,
)
from chainledger.domain.keys import key_fingerprint
from chainledger.domain.merkle import leaf_hash, root_of
from chainledger.errors import ChainledgerError
from tests.conftest import FAST_SCRYPT_N, PASSPHRASE, CliLedger
from tests.ledgers import LedgerStore, event_rows

PACKAGE = "BAR-1"
COUNCIL, PRIME, HOPE = "barnet-council", "northgate", "hope-trust"
SIZE, EARLY = 11, 5
INVOICE, BID = 11, 6
LAYOUT = [
    "LedgerCreated", *["OrganisationRegistered"] * 3, "PackageCreated", "BidSubmitted",
    "PromiseAcknowledged", "PackageAwarded", "SubcontractIssued", "SubcontractAccepted",
    "InvoiceSubmitted",
]  # fmt: skip
USAGE = "give an EVENT_ID or --consistency OLD NEW (one of the two)"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def fingerprint(ledger: CliLedger, handle: str) -> str:
    (shown,) = json.loads(ledger.ok("org", "show", handle, "--format", "json").stdout)
    return str(shown["fingerprint"])


@dataclass(frozen=True)
class Built:
    ledger: CliLedger
    ledger_id: str
    early: Path  # barnet-council's checkpoint of events 1-5
    late: Path  # ... of events 1-11
    invoice: dict[str, Any]  # a proof of event 11, signed by barnet-council
    bid: dict[str, Any]  # ... of event 6
    consistency: dict[str, Any]  # ... that 11 events extend 5
    fingerprints: dict[str, str]

    def private_key(self, handle: str) -> Ed25519PrivateKey:
        return Keystore(self.ledger.keys).load(self.fingerprints[handle], PASSPHRASE)


@pytest.fixture(scope="module")
def built(module_ledgers: LedgerStore) -> Built:
    """The ledger of the module docstring, once per engine (keys at the tests' cheap
    scrypt cost: the function-scoped fixture that sets it is not in force here)."""
    directory = module_ledgers.directory
    ledger = CliLedger(module_ledgers.url("transparency-cli"), directory / "keys", CliRunner())
    early, late = directory / "early.checkpoint", directory / "late.checkpoint"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("chainledger.adapters.keystore.SCRYPT_N", FAST_SCRYPT_N)
        ledger.ok("init", "--name", "Transparency CLI")
        for name, role, handle in (("Barnet Council", "commissioner", COUNCIL),
                                   ("Northgate", "prime", PRIME),
                                   ("Hope Trust", "subcontractor", HOPE)):  # fmt: skip
            ledger.ok("org", "create", name, "--role", role, "--handle", handle)
        ledger.ok("package", "create", PACKAGE, "--as", COUNCIL, "--title", "Employment support",
                  "--area", "Barnet", "--value", "2400000", "--start", "2026-01-01",
                  "--end", "2027-12-31", "--description", "Support into work",
                  "--payment-model", "fee-plus-outcome", "--at-risk", "20")  # fmt: skip
        ledger.ok("checkpoint", "--as", COUNCIL, "-o", str(early))
        ledger.ok("bid", "submit", PACKAGE, "--as", PRIME, "--price", "2350000",
                  "--self-share", "40", "--promise",
                  "hope-trust:service=advice,share=15,value=50000,referrals=20,model=fixed,terms=30")  # fmt: skip
        ledger.ok("bid", "acknowledge", PACKAGE, "--as", HOPE, "--prime", PRIME)
        ledger.ok("package", "award", PACKAGE, "--as", COUNCIL, "--bid", PRIME)
        ledger.ok("subcontract", "issue", PACKAGE, "--as", PRIME, "--sub", HOPE,
                  "--service", "advice", "--share", "15", "--value", "50000", "--referrals", "20",
                  "--model", "fixed", "--terms", "30")  # fmt: skip
        ledger.ok("subcontract", "accept", PACKAGE, "--as", HOPE)
        ledger.ok("invoice", "submit", PACKAGE, "--as", HOPE, "--ref", "INV-1", "--amount",
                  "1000", "--date", "2026-02-01", "--period", "2026-Q1")  # fmt: skip
        ledger.ok("checkpoint", "--as", COUNCIL, "-o", str(late))
    assert [row[3] for row in event_rows(ledger.url)] == LAYOUT
    bundles = [
        json.loads(ledger.ok("prove", *args, "--as", COUNCIL).stdout)
        for args in ([str(INVOICE)], [str(BID)], ["--consistency", str(EARLY), str(SIZE)])
    ]
    fingerprints = {handle: fingerprint(ledger, handle) for handle in (COUNCIL, PRIME, HOPE)}
    ledger_id = parse_checkpoint(late.read_text()).checkpoint.ledger_id
    return Built(ledger, str(ledger_id), early, late, *bundles, fingerprints)


@pytest.fixture
def ledger(built: Built, module_ledgers: LedgerStore) -> CliLedger:
    """A copy of the built ledger, reused while nothing is recorded into it."""
    return CliLedger(module_ledgers.fresh(built.ledger.url, "copy"), built.ledger.keys, CliRunner())


@dataclass(frozen=True)
class Foreign:
    """Another ledger's checkpoint and proofs, made once (on SQLite)."""

    directory: Path
    ledger_id: str
    checkpoint: Path
    inclusion: dict[str, Any]
    consistency: dict[str, Any]
    council: str  # the fingerprint of its barnet-council (another key than ours)


@pytest.fixture(scope="module")
def foreign(tmp_path_factory: pytest.TempPathFactory) -> Foreign:
    directory = tmp_path_factory.mktemp("foreign")
    other = CliLedger(str(directory / "foreign.db"), directory / "keys", CliRunner())
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("chainledger.adapters.keystore.SCRYPT_N", FAST_SCRYPT_N)
        other.ok("init", "--name", "Another ledger")
        other.ok("org", "create", "Barnet Council", "--role", "commissioner", "--handle", COUNCIL)
        other.ok("org", "create", "Hope Trust", "--role", "subcontractor", "--handle", HOPE)
        other.ok("package", "create", "CAM-1", "--as", COUNCIL, "--title", "Carers support",
                 "--area", "Camden", "--value", "900000", "--start", "2026-01-01",
                 "--end", "2026-12-31", "--description", "Support for carers",
                 "--payment-model", "fixed")  # fmt: skip
        checkpoint = directory / "foreign.checkpoint"
        other.ok("checkpoint", "--as", COUNCIL, "-o", str(checkpoint))
        inclusion = json.loads(other.ok("prove", "4", "--as", COUNCIL).stdout)
        consistency = json.loads(other.ok("prove", "--consistency", "2", "4", "--as", COUNCIL).stdout)  # fmt: skip
    council = fingerprint(other, COUNCIL)
    ledger_id = str(parse_checkpoint(checkpoint.read_text()).checkpoint.ledger_id)
    return Foreign(directory, ledger_id, checkpoint, inclusion, consistency, council)


# -- running commands -----------------------------------------------------------------------


def assert_clean(result: Result) -> None:
    """Never a traceback or a bug message, and never the passphrase."""
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert "this is a bug" not in output, output
    assert PASSPHRASE not in output


def run(ledger: CliLedger, *args: str, env: dict[str, str | None] | None = None) -> Result:
    result = ledger.run(*args, env=env)
    assert_clean(result)
    return result


def ok(ledger: CliLedger, *args: str) -> Result:
    """``args`` succeeds and writes nothing to the events table."""
    before = event_rows(ledger.url)
    result = run(ledger, *args)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert event_rows(ledger.url) == before
    return result


def refused(
    ledger: CliLedger,
    args: tuple[str, ...] | list[str],
    message: str,
    code: int = 1,
    env: dict[str, str | None] | None = None,
) -> Result:
    """``args`` exits ``code`` with ``Error: message…`` and writes nothing.

    A refusal by chainledger (exit 1) starts with the message; a usage error
    rejected by click (exit 2) shows the usage first.
    """
    before = event_rows(ledger.url)
    result = run(ledger, *args, env=env)
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert result.stdout == ""
    if code == 1:  # a file that cannot be read is named first: "Error: FILE: …"
        assert re.match(rf"Error: (\S+: )?{re.escape(message)}", result.stderr), result.stderr
    else:
        assert result.stderr.startswith("Usage: "), result.stderr
        assert f"Error: {message}" in result.stderr, result.stderr
    assert event_rows(ledger.url) == before
    return result


def write_bundle(path: Path, bundle: dict[str, Any]) -> Path:
    path.write_text(json.dumps(bundle, indent=2) + "\n", encoding="utf-8")
    return path


def tree_head(ledger: CliLedger) -> tuple[int, bytes]:
    app = open_ledger(ledger.url, ledger.keys)
    try:
        head = app.tree_head()
    finally:
        app.close()
    return head.size, head.root


# -- checkpoint -----------------------------------------------------------------------------

SIGNATURE_LINE = re.compile(r"^\u2014 barnet-council [A-Za-z0-9+/]+={0,2}$")


def test_checkpoint_to_standard_output(ledger: CliLedger, built: Built) -> None:
    result = ok(ledger, "checkpoint", "--as", COUNCIL)
    assert result.stderr == f"Checked before signing: verified all {SIZE} events of the ledger.\n"
    text = result.stdout
    origin, size, root, blank, signature, end = text.split("\n")
    assert (origin, size, blank, end) == (f"chainledger/{built.ledger_id}", str(SIZE), "", "")
    assert SIGNATURE_LINE.match(signature), signature

    signed = parse_checkpoint(text)
    assert signed.text() == text
    rows = event_rows(ledger.url)
    expected_root = root_of([leaf_hash(row[4]) for row in rows])
    assert (signed.checkpoint.size, signed.checkpoint.root) == tree_head(ledger)
    assert (signed.checkpoint.size, signed.checkpoint.root) == (len(rows), expected_root)
    assert root == b64(expected_root)
    public_key = raw_public_key(built.private_key(COUNCIL))
    assert signed.verified_by(COUNCIL, public_key, verify)
    assert not signed.verified_by(COUNCIL, raw_public_key(built.private_key(HOPE)), verify)
    # The same tree head, signed again, is the same text (Ed25519 is deterministic).
    assert ok(ledger, "checkpoint", "--as", COUNCIL).stdout == text
    assert built.late.read_text() == text


def test_checkpoint_to_a_file(ledger: CliLedger, built: Built, tmp_path: Path) -> None:
    path = tmp_path / "ledger.checkpoint"
    result = ok(ledger, "checkpoint", "--as", HOPE, "-o", str(path))
    assert result.stdout == ""
    assert result.stderr == (f"Wrote a checkpoint of {SIZE} events to {path}\n"
                             f"Checked before signing: verified all {SIZE} events of the ledger.\n")  # fmt: skip
    text = path.read_text(encoding="utf-8")
    body = built.late.read_text().split("\n\n")[0]
    assert text.startswith(body + "\n\n\u2014 hope-trust ")
    assert len(text.splitlines()) == 5
    signed = parse_checkpoint(text)
    assert (signed.checkpoint.size, signed.checkpoint.root) == tree_head(ledger)
    app = open_ledger(ledger.url, ledger.keys)
    try:
        assert app.checkpoint_signer(signed) == (HOPE, built.fingerprints[HOPE])
    finally:
        app.close()


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (("--as", "nobody"), "no organisation with handle 'nobody' in this ledger", 1),
        (("--as", "Not A Handle"), "invalid handle 'Not A Handle'", 1),
        (
            ("--as", COUNCIL, "-o", "{tmp}/missing/ledger.checkpoint"),
            "cannot write {tmp}/missing/ledger.checkpoint: No such file or directory",
            1,
        ),
        (("--as", COUNCIL, "-o", "{tmp}"), "Invalid value for '-o' / '--output'", 2),
        ((), "Missing option '--as'", 2),
    ],
    ids=[
        "unknown organisation",
        "bad handle",
        "unwritable output",
        "output a directory",
        "no --as",
    ],
)
def test_checkpoint_refusals(
    ledger: CliLedger, tmp_path: Path, args: tuple[str, ...], message: str, code: int
) -> None:
    args = tuple(arg.format(tmp=tmp_path) for arg in args)
    refused(ledger, ("checkpoint", *args), message.format(tmp=tmp_path), code)
    assert list(tmp_path.iterdir()) == []


def test_checkpoint_with_a_wrong_passphrase(ledger: CliLedger) -> None:
    wrong = "not the right passphrase"
    result = refused(ledger, ("checkpoint", "--as", COUNCIL), "wrong passphrase for the key of barnet-council", env={"CHAINLEDGER_PASSPHRASE": wrong})  # fmt: skip
    assert wrong not in result.stderr


# -- prove and verify-proof: inclusion ------------------------------------------------------


def verified(ledger: CliLedger, path: Path, signer: str) -> list[str]:
    result = run(ledger, "verify-proof", str(path), "--signer", signer)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert result.stderr == ""
    return result.stdout.splitlines()


@pytest.mark.parametrize("event_id", [str(INVOICE), f"#{INVOICE}", f" {INVOICE} "])
def test_prove_an_event_and_verify_it(
    ledger: CliLedger, built: Built, tmp_path: Path, event_id: str
) -> None:
    path = tmp_path / "invoice.proof"
    result = ok(ledger, "prove", event_id, "--as", COUNCIL, "-o", str(path))
    assert result.stdout == ""
    assert result.stderr == f"Wrote a proof of event #{INVOICE} to {path}\n"
    bundle = json.loads(path.read_text())
    assert bundle == built.invoice  # the same proof as printed to standard output
    assert bundle["format"] == INCLUSION
    assert bundle["event"]["notification_id"] == INVOICE
    assert bundle["proof"]["leaf_index"] == INVOICE - 1
    assert bundle["proof"]["tree_size"] == SIZE
    assert bundle["checkpoint"] == built.late.read_text()

    root = parse_checkpoint(bundle["checkpoint"]).checkpoint.root
    assert verified(ledger, path, built.fingerprints[COUNCIL]) == [
        f"OK: InvoiceSubmitted on {bundle['event']['aggregate']} (version 1) is event {INVOICE} "
        f"of {SIZE} in ledger {built.ledger_id}",
        f"checkpoint by {COUNCIL}: {SIZE} events, root {root.hex()[:16]}…",
        f"signed by {HOPE} with key {built.fingerprints[HOPE]}",
    ]
    # A fingerprint is a fingerprint in either case.
    assert verified(ledger, path, built.fingerprints[COUNCIL].upper())[0].startswith("OK: ")


def test_prove_the_genesis(ledger: CliLedger, built: Built, tmp_path: Path) -> None:
    path = tmp_path / "genesis.proof"
    ok(ledger, "prove", "#1", "--as", PRIME, "-o", str(path))
    lines = verified(ledger, path, built.fingerprints[PRIME])
    assert lines[0].startswith("OK: LedgerCreated on ")
    assert f"is event 1 of {SIZE} in ledger {built.ledger_id}" in lines[0]
    assert lines[1].startswith(f"checkpoint by {PRIME}: {SIZE} events, root ")
    assert lines[2] == "the event is the ledger's unsigned genesis"
    assert "event_signer" not in json.loads(path.read_text())


def test_every_event_and_every_pair_of_sizes_proves_through_the_application(
    ledger: CliLedger, built: Built
) -> None:
    council = built.fingerprints[COUNCIL]
    app = open_ledger(ledger.url, ledger.keys)
    try:
        signer = app.signer(COUNCIL, PASSPHRASE)
        for notification_id in range(1, SIZE + 1):
            bundle = app.inclusion_bundle(notification_id, signer)
            lines = verify_bundle(bundle, council).lines
            assert f"is event {notification_id} of {SIZE} in ledger" in lines[0], lines
        for old in range(1, SIZE + 1):
            for new in range(old, SIZE + 1):
                bundle = app.consistency_bundle(old, signer, new_size=new)
                assert verify_bundle(bundle, council).kind == "consistency", (old, new)
                with pytest.raises(ChainledgerError):  # and never for the other signer
                    verify_bundle(bundle, built.fingerprints[HOPE])
    finally:
        app.close()


def test_verify_with_another_organisations_fingerprint(
    ledger: CliLedger, built: Built, tmp_path: Path
) -> None:
    path = write_bundle(tmp_path / "invoice.proof", built.invoice)
    council, hope = built.fingerprints[COUNCIL], built.fingerprints[HOPE]
    result = refused(ledger, ("verify-proof", str(path), "--signer", hope), "the checkpoint was signed")  # fmt: skip
    assert result.stderr == (
        f"Error: the checkpoint was signed by {COUNCIL} with key {council[:16]}…, "
        f"not with the key you expected ({hope[:16]}…)\n"
    )


# -- altered bundles ------------------------------------------------------------------------

# Edits a bundle in place; what it returns is the --signer to use if that is a string.
Alter = Callable[[dict[str, Any], Built], Any]


def flip_b64(value: str, at: int = 70) -> str:
    data = bytearray(base64.b64decode(value))
    data[at % len(data)] ^= 0x01
    return b64(bytes(data))


def with_checkpoint_line(bundle: dict[str, Any], index: int, line: str) -> None:
    lines = bundle["checkpoint"].split("\n")
    lines[index] = line
    bundle["checkpoint"] = "\n".join(lines)


def resigned_checkpoint(bundle: dict[str, Any], key: Ed25519PrivateKey, name: str) -> None:
    """The bundle's checkpoint signed instead by ``key`` under ``name``, and its signer entry."""
    head = parse_checkpoint(bundle["checkpoint"]).checkpoint
    public = raw_public_key(key)
    bundle["checkpoint"] = sign_checkpoint(head, name, public, key.sign).text()
    bundle["checkpoint_signer"]["verifier_key"] = verifier_key(name, public)


def set_path(bundle: dict[str, Any], keys: tuple[str, ...], value: Any) -> None:
    for key in keys[:-1]:
        bundle = bundle[key]
    bundle[keys[-1]] = value


def grow_the_checkpoint(bundle: dict[str, Any]) -> None:
    """A bigger tree size in the checkpoint and the proof, keeping the signature."""
    with_checkpoint_line(bundle, 1, str(SIZE + 1))
    set_path(bundle, ("proof", "tree_size"), SIZE + 1)


def relabel_the_checkpoint_signer(bundle: dict[str, Any], built: Built, handle: str) -> str:
    """Name another organisation's key as the checkpoint's signer; returns its fingerprint
    (the --signer that now matches the bundle's verifier key)."""
    public_key = raw_public_key(built.private_key(handle))
    set_path(bundle, ("checkpoint_signer", "verifier_key"), verifier_key(handle, public_key))
    return built.fingerprints[handle]


OUTSIDER = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
NOT_IN_THE_TREE = "the event is not in the checkpointed ledger: its audit path does not lead to the root"  # fmt: skip
NOT_EXTENDED = f"the ledger of {SIZE} events does not extend the one of {EARLY}: history was rewritten, reordered or removed"  # fmt: skip
BAD_CHECKPOINT_SIGNATURE = f"the checkpoint's signature by {COUNCIL} does not verify"

ALTERATIONS: dict[str, tuple[str, Alter, str]] = {
    # name: (which bundle, the alteration, the start of the error)
    "a byte of the event's content": (
        "invoice",
        lambda b, _: set_path(b, ("event", "state"), flip_b64(b["event"]["state"], 100)),
        NOT_IN_THE_TREE,
    ),
    "a byte of the event's signature": (
        "invoice",
        lambda b, _: set_path(b, ("event", "state"), flip_b64(b["event"]["state"], 3)),
        NOT_IN_THE_TREE,
    ),
    "a byte of a path hash": (
        "invoice",
        lambda b, _: set_path(b, ("proof", "path", 1), flip_b64(b["proof"]["path"][1])),
        NOT_IN_THE_TREE,
    ),
    "a path hash dropped": (
        "invoice",
        lambda b, _: set_path(b, ("proof", "path"), b["proof"]["path"][:-1]),
        NOT_IN_THE_TREE,
    ),
    "a path hash added": (
        "invoice",
        lambda b, _: b["proof"]["path"].append(b["proof"]["path"][0]),
        NOT_IN_THE_TREE,
    ),
    "the path reversed": ("invoice", lambda b, _: b["proof"]["path"].reverse(), NOT_IN_THE_TREE),
    "another leaf index": (
        "invoice",
        lambda b, _: set_path(b, ("proof", "leaf_index"), INVOICE - 2),
        NOT_IN_THE_TREE,
    ),
    "a negative leaf index": (
        "invoice",
        lambda b, _: set_path(b, ("proof", "leaf_index"), -1),
        NOT_IN_THE_TREE,
    ),
    "a leaf index as text": (
        "invoice",
        lambda b, _: set_path(b, ("proof", "leaf_index"), "10"),
        "the bundle's leaf index is missing or malformed",
    ),
    "another tree size": (
        "invoice",
        lambda b, _: set_path(b, ("proof", "tree_size"), SIZE + 1),
        "the proof is for another tree size than the checkpoint",
    ),
    "another event's state": (
        "invoice",
        lambda b, built: set_path(b, ("event", "state"), built.bid["event"]["state"]),
        NOT_IN_THE_TREE,
    ),
    "the state not base64": (
        "invoice",
        lambda b, _: set_path(b, ("event", "state"), "not base64!"),
        "the event state is not base64",
    ),
    "the checkpoint's root": (
        "invoice",
        lambda b, _: with_checkpoint_line(b, 2, b64(bytes(32))),
        BAD_CHECKPOINT_SIGNATURE,
    ),
    "the checkpoint's size and the proof's": (
        "invoice",
        lambda b, _: grow_the_checkpoint(b),
        BAD_CHECKPOINT_SIGNATURE,
    ),
    "the signature line stripped": (
        "invoice",
        lambda b, _: set_path(b, ("checkpoint",), b["checkpoint"].split("\n\n")[0] + "\n\n"),
        "not a signed checkpoint",
    ),
    "the signature of another checkpoint": (
        "invoice",
        lambda b, built: with_checkpoint_line(b, 4, built.early.read_text().split("\n")[4]),
        BAD_CHECKPOINT_SIGNATURE,
    ),
    "the checkpoint not a string": (
        "invoice",
        lambda b, _: set_path(b, ("checkpoint",), None),
        "the bundle's checkpoint is missing or malformed",
    ),
    "the checkpoint signer's key swapped": (
        "invoice",
        lambda b, built: relabel_the_checkpoint_signer(b, built, PRIME),
        f"the checkpoint's signature by {PRIME} does not verify",
    ),
    "the checkpoint re-signed by an outsider": (
        "invoice",
        lambda b, _: resigned_checkpoint(b, OUTSIDER, COUNCIL),
        f"the checkpoint was signed by {COUNCIL} with key {key_fingerprint(raw_public_key(OUTSIDER))[:16]}…",
    ),
    "a malformed verifier key": (
        "invoice",
        lambda b, _: set_path(b, ("checkpoint_signer", "verifier_key"), "barnet-council+00+AAAA"),
        "a verifier key must name an Ed25519 key",
    ),
    "the event signer's key swapped": (
        "invoice",
        lambda b, built: set_path(
            b, ("event_signer", "public_key"), b64(raw_public_key(built.private_key(PRIME)))
        ),
        "the event's signer key is not the key the event names",
    ),
    "the event signer removed": (
        "invoice",
        lambda b, _: b.pop("event_signer"),
        "the bundle's event signer is missing or malformed",
    ),
    "another ledger named": (
        "invoice",
        lambda b, _: set_path(b, ("ledger",), str(UUID(int=1))),
        "the checkpoint is for another ledger than the bundle says",
    ),
    "called a consistency proof": (
        "invoice",
        lambda b, _: set_path(b, ("format",), CONSISTENCY),
        "the bundle's old tree head is missing or malformed",
    ),
    "the old root": (
        "consistency",
        lambda b, _: set_path(b, ("old", "root"), flip_b64(b["old"]["root"])),
        NOT_EXTENDED,
    ),
    "the old size": (
        "consistency",
        lambda b, _: set_path(b, ("old", "size"), EARLY + 1),
        NOT_EXTENDED.replace(f"one of {EARLY}", f"one of {EARLY + 1}"),
    ),
    "an old size beyond the new": (
        "consistency",
        lambda b, _: set_path(b, ("old", "size"), 10**30),
        f"the ledger of {SIZE} events does not extend the one of {10**30}",
    ),
    "a byte of a consistency hash": (
        "consistency",
        lambda b, _: set_path(b, ("proof", 0), flip_b64(b["proof"][0])),
        NOT_EXTENDED,
    ),
    "the consistency proof emptied": (
        "consistency",
        lambda b, _: b["proof"].clear(),
        NOT_EXTENDED,
    ),
    "the consistency proof not a list": (
        "consistency",
        lambda b, _: set_path(b, ("proof",), {}),
        "the bundle's proof is missing or malformed",
    ),
}


@pytest.mark.parametrize("name", list(ALTERATIONS))
def test_an_altered_bundle_is_refused(
    ledger: CliLedger, built: Built, tmp_path: Path, name: str
) -> None:
    which, alter, message = ALTERATIONS[name]
    bundle = copy.deepcopy(getattr(built, which))
    signer = alter(bundle, built)
    if not isinstance(signer, str):  # most alterations keep the signer
        signer = built.fingerprints[COUNCIL]
    assert bundle != getattr(built, which)
    path = write_bundle(tmp_path / "altered.proof", bundle)
    refused(ledger, ("verify-proof", str(path), "--signer", signer), message)


def test_a_bundle_re_signed_by_an_outsider_proves_only_to_whoever_trusts_the_outsider(
    ledger: CliLedger, built: Built, tmp_path: Path
) -> None:
    """A checkpoint is only as good as the key you check it with: the outsider's checkpoint
    of the true tree verifies with the outsider's fingerprint, and with no other."""
    bundle = copy.deepcopy(built.invoice)
    resigned_checkpoint(bundle, OUTSIDER, COUNCIL)
    path = write_bundle(tmp_path / "outsider.proof", bundle)
    lines = verified(ledger, path, key_fingerprint(raw_public_key(OUTSIDER)))
    assert lines[1].startswith(f"checkpoint by {COUNCIL}: ")
    refused(ledger, ("verify-proof", str(path), "--signer", built.fingerprints[COUNCIL]),
            f"the checkpoint was signed by {COUNCIL} with key ")  # fmt: skip


def test_verify_proof_of_another_ledgers_bundle(
    ledger: CliLedger, built: Built, foreign: Foreign, tmp_path: Path
) -> None:
    path = write_bundle(tmp_path / "foreign.proof", foreign.inclusion)
    assert verified(ledger, path, foreign.council)[0].endswith(f"in ledger {foreign.ledger_id}")
    refused(ledger, ("verify-proof", str(path), "--signer", built.fingerprints[COUNCIL]),
            f"the checkpoint was signed by {COUNCIL} with key {foreign.council[:16]}…")  # fmt: skip


# -- files and options verify-proof cannot use ----------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read proof bundle {path}: No such file or directory"),
        ("directory", "cannot read proof bundle {path}: Is a directory"),
        (b"", "not a proof bundle: the file is not JSON"),
        (b"{not json", "not a proof bundle: the file is not JSON"),
        (b"\xff\xfe{}", "cannot read proof bundle {path}: not UTF-8 text"),
        (b"[1, 2]", "not a chainledger proof bundle (no known 'format')"),
        (
            b'{"format": "chainledger-inclusion-proof/2"}',
            "not a chainledger proof bundle (no known 'format')",
        ),
        (
            b'{"format": ["chainledger-inclusion-proof/1"]}',
            "not a chainledger proof bundle (no known 'format')",
        ),
        (
            b'{"format": "chainledger-inclusion-proof/1"}',
            "the bundle's checkpoint is missing or malformed",
        ),
        (b"NaN", "not a chainledger proof bundle (no known 'format')"),
    ],
    ids=[
        "missing",
        "directory",
        "empty",
        "not JSON",
        "not UTF-8",
        "a list",
        "unknown format",
        "format not a string",
        "nothing but a format",
        "NaN",
    ],
)
def test_verify_proof_of_a_file_that_is_no_bundle(
    ledger: CliLedger, built: Built, tmp_path: Path, content: bytes | str | None, message: str
) -> None:
    path = tmp_path / "file.proof"
    if content == "directory":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    result = refused(ledger, ("verify-proof", str(path), "--signer", built.fingerprints[COUNCIL]),
                     message.format(path=path))  # fmt: skip
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize(
    "signer", ["", "abc", "a" * 63, "a" * 65, "g" * 64, "0x" + "a" * 62, "a" * 32 + " " + "a" * 31]
)
def test_verify_proof_with_a_malformed_signer(
    ledger: CliLedger, built: Built, tmp_path: Path, signer: str
) -> None:
    path = write_bundle(tmp_path / "invoice.proof", built.invoice)
    refused(ledger, ("verify-proof", str(path), "--signer", signer),
            "--signer is a key fingerprint: 64 hexadecimal characters")  # fmt: skip


def test_verify_proof_needs_a_signer_and_a_file(ledger: CliLedger, built: Built) -> None:
    refused(ledger, ("verify-proof", str(built.late)), "Missing option '--signer'", 2)
    refused(ledger, ("verify-proof", "--signer", built.fingerprints[COUNCIL]), "Missing argument 'FILE'", 2)  # fmt: skip


# -- prove: what is not an event ------------------------------------------------------------

NOT_AN_ID = "an event id is a number like 42 or #42, not "


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (("999",), "no event #999 in this ledger", 1),
        (("#12",), "no event #12 in this ledger", 1),
        (("0",), NOT_AN_ID + "'0'", 1),
        (("#0",), NOT_AN_ID + "'#0'", 1),
        (("abc",), NOT_AN_ID + "'abc'", 1),
        (("1.5",), NOT_AN_ID + "'1.5'", 1),
        (("011",), NOT_AN_ID + "'011'", 1),
        (("",), NOT_AN_ID + "''", 1),
        (("##1",), NOT_AN_ID + "'##1'", 1),
        (("99999999999999999999",), NOT_AN_ID + "'99999999999999999999'", 1),
        (("--", "-3"), NOT_AN_ID + "'-3'", 1),
        (("-3",), "No such option '-3'", 2),
        ((), USAGE, 2),
        (("3", "--consistency", "1", "2"), USAGE, 2),
    ],
    ids=[
        "unknown",
        "one past the end",
        "0",
        "#0",
        "abc",
        "1.5",
        "leading zero",
        "empty",
        "##1",
        "20 digits",
        "-3 after --",
        "-3",
        "neither",
        "both",
    ],
)
def test_prove_refusals(ledger: CliLedger, args: tuple[str, ...], message: str, code: int) -> None:
    options = ("--as", COUNCIL)
    command = (*options, *args) if args[:1] == ("--",) else (*args, *options)
    refused(ledger, ("prove", *command), message, code)


def test_prove_an_event_id_beyond_64_bits(ledger: CliLedger) -> None:
    refused(ledger, ("prove", "9999999999999999999", "--as", COUNCIL),
            "no event #9999999999999999999 in this ledger")  # fmt: skip


def test_prove_as_an_unknown_organisation(ledger: CliLedger) -> None:
    refused(ledger, ("prove", "3", "--as", "nobody"), "no organisation with handle 'nobody'")
    refused(ledger, ("prove", "--consistency", "1", "3", "--as", "nobody"), "no organisation with handle 'nobody'")  # fmt: skip


# -- prove --consistency ---------------------------------------------------------------------


@pytest.mark.parametrize(("old", "new"), [(EARLY, SIZE), (1, SIZE), (SIZE, SIZE), (3, 7), (4, 8)])
def test_consistency_between_sizes(
    ledger: CliLedger, built: Built, tmp_path: Path, old: int, new: int
) -> None:
    path = tmp_path / "consistency.proof"
    result = ok(ledger, "prove", "--consistency", str(old), str(new), "--as", COUNCIL, "-o", str(path))  # fmt: skip
    assert result.stderr == f"Wrote a proof that {new} events extend {old} to {path}\n"
    bundle = json.loads(path.read_text())
    assert (bundle["format"], bundle["old"]["size"]) == (CONSISTENCY, old)
    assert parse_checkpoint(bundle["checkpoint"]).checkpoint.size == new
    rows = event_rows(ledger.url)
    old_root = root_of([leaf_hash(row[4]) for row in rows[:old]])
    assert bundle["old"]["root"] == b64(old_root)
    assert verified(ledger, path, built.fingerprints[COUNCIL])[0] == (
        f"OK: ledger {built.ledger_id} of {new} events extends the one of {old} "
        f"(root {old_root.hex()[:16]}…): nothing before it was changed or removed"
    )


def test_consistency_from_checkpoint_files(ledger: CliLedger, built: Built, tmp_path: Path) -> None:
    council = built.fingerprints[COUNCIL]
    path = tmp_path / "consistency.proof"
    ok(ledger, "prove", "--consistency", str(built.early), str(SIZE), "--as", COUNCIL, "-o", str(path))  # fmt: skip
    bundle = json.loads(path.read_text())
    assert bundle["old"]["checkpoint"] == built.early.read_text()
    assert bundle["old"]["root"] == b64(parse_checkpoint(built.early.read_text()).checkpoint.root)
    lines = verified(ledger, path, council)
    assert lines[0].startswith(f"OK: ledger {built.ledger_id} of {SIZE} events extends the one of {EARLY} ")  # fmt: skip
    # Who vouched for the old tree head is checked and shown too.
    assert bundle["old"]["checkpoint_signer"]["org"] == COUNCIL
    assert lines[2] == f"old checkpoint by {COUNCIL}, key {council}"

    # Both ends as checkpoint files; the printed bundle is the same proof.
    result = ok(
        ledger, "prove", "--consistency", str(built.early), str(built.late), "--as", COUNCIL
    )
    assert json.loads(result.stdout) == bundle
    assert bundle["checkpoint"] == built.late.read_text()


def test_an_altered_old_checkpoint_in_a_consistency_bundle_is_refused(
    ledger: CliLedger, built: Built, tmp_path: Path
) -> None:
    council = built.fingerprints[COUNCIL]
    path = tmp_path / "consistency.proof"
    ok(ledger, "prove", "--consistency", str(built.early), str(SIZE), "--as", COUNCIL, "-o", str(path))  # fmt: skip
    bundle = json.loads(path.read_text())
    # Its signature replaced by an outsider's, in the council's name.
    head = parse_checkpoint(bundle["old"]["checkpoint"]).checkpoint
    outsider = copy.deepcopy(bundle)
    outsider["old"]["checkpoint"] = sign_checkpoint(
        head, COUNCIL, raw_public_key(OUTSIDER), OUTSIDER.sign
    ).text()
    refused(ledger, ("verify-proof", str(write_bundle(tmp_path / "a.proof", outsider)),
                     "--signer", council),
            f"the old checkpoint's signature by {COUNCIL} does not verify")  # fmt: skip
    # A validly signed checkpoint, but of another tree head than the proof starts from.
    other = copy.deepcopy(bundle)
    other["old"]["checkpoint"] = built.late.read_text()
    refused(ledger, ("verify-proof", str(write_bundle(tmp_path / "b.proof", other)),
                     "--signer", council),
            "the old checkpoint is not the old tree head the proof starts from")  # fmt: skip


def forged_checkpoint(built: Built, path: Path, *, size: int, signer: str) -> Path:
    """A checkpoint of this ledger with a wrong root, validly signed by a member's key."""
    key = built.private_key(signer)
    head = Checkpoint(UUID(built.ledger_id), size, bytes(range(32)))
    path.write_text(sign_checkpoint(head, signer, raw_public_key(key), key.sign).text())
    return path


def true_checkpoint_by_outsider(built: Built, path: Path) -> Path:
    """The true checkpoint of the ledger, signed by an outsider's key in barnet-council's name."""
    head = parse_checkpoint(built.late.read_text()).checkpoint
    signed = sign_checkpoint(head, COUNCIL, raw_public_key(OUTSIDER), OUTSIDER.sign)
    path.write_text(signed.text())
    return path


SIZES = f"sizes must satisfy 0 < old ≤ new ≤ {SIZE} (the ledger's size); got "


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("6", "5", SIZES + "6 and 5"),
        ("5", "12", SIZES + "5 and 12"),
        ("12", "12", SIZES + "12 and 12"),
        ("{late}", "{early}", SIZES + f"{SIZE} and {EARLY}"),
        ("{late}", "5", SIZES + f"{SIZE} and 5"),
        ("0", "5", "OLD must be a number of events (1 or more) or a checkpoint file"),
        ("5", "0", "NEW must be a number of events (1 or more) or a checkpoint file"),
        ("-1", "5", "OLD must be a number of events (1 or more) or a checkpoint file"),
        ("007", "9", "OLD must be a number of events (1 or more) or a checkpoint file"),
        ("{tmp}/missing", "5", "cannot read checkpoint {tmp}/missing: No such file or directory"),
        ("{garbage}", "5", "not a signed checkpoint"),
        ("{foreign}", "5", "the checkpoint is for ledger {foreign_id}, not this one ({ledger_id})"),
        (
            "{outsider}",
            str(SIZE),
            f"the checkpoint's signature ({COUNCIL}) is not by a key of an organisation in this ledger",
        ),
        (
            "{forged}",
            str(SIZE),
            f"this ledger's first {SIZE} events are not the ones the checkpoint of {SIZE} events "
            "signed: history was rewritten, reordered or removed",
        ),
    ],
    ids=[
        "old > new",
        "new beyond",
        "both beyond",
        "late then early",
        "late then 5",
        "old 0",
        "new 0",
        "old -1",
        "leading zeros",
        "missing file",
        "garbage file",
        "another ledger's checkpoint",
        "signed by an outsider",
        "a member's wrong root",
    ],
)
def test_consistency_refusals(
    ledger: CliLedger, built: Built, foreign: Foreign, tmp_path: Path, old: str, new: str,
    message: str,
) -> None:  # fmt: skip
    garbage = tmp_path / "garbage"
    garbage.write_text("chainledger\nnot a checkpoint\n")
    places = {
        "tmp": tmp_path,
        "early": built.early,
        "late": built.late,
        "garbage": garbage,
        "foreign": foreign.checkpoint,
        "foreign_id": foreign.ledger_id,
        "ledger_id": built.ledger_id,
        "outsider": true_checkpoint_by_outsider(built, tmp_path / "outsider.checkpoint"),
        "forged": forged_checkpoint(built, tmp_path / "forged.checkpoint", size=SIZE, signer=HOPE),
    }
    args = ("prove", "--consistency", old.format(**places), new.format(**places), "--as", COUNCIL)
    refused(ledger, args, message.format(**places))


def test_consistency_to_a_checkpoint_of_another_tree_is_refused(
    ledger: CliLedger, built: Built, tmp_path: Path
) -> None:
    forged = forged_checkpoint(built, tmp_path / "forged.checkpoint", size=SIZE, signer=HOPE)
    refused(ledger, ("prove", "--consistency", str(built.early), str(forged), "--as", COUNCIL),
            "this ledger's ")  # fmt: skip


# -- audit verify --checkpoint --------------------------------------------------------------


def test_audit_with_its_own_checkpoints(ledger: CliLedger, built: Built) -> None:
    result = ok(ledger, "audit", "verify", "--checkpoint", str(built.early), "--checkpoint", str(built.late))  # fmt: skip
    lines = result.stdout.splitlines()
    assert f"OK checkpoint {built.early} (signed by {COUNCIL}) ({EARLY} events): the ledger extends it." in lines  # fmt: skip
    assert f"OK checkpoint {built.late} (signed by {COUNCIL}) ({SIZE} events): the ledger extends it." in lines  # fmt: skip
    assert lines[-1] == "OK: every signature and chain link verifies."

    report = json.loads(ok(ledger, "audit", "verify", "--format", "json", "--checkpoint", str(built.late)).stdout)  # fmt: skip
    assert report["ok"] is True
    assert report["tree"] == {"size": SIZE, "root": parse_checkpoint(built.late.read_text()).checkpoint.root.hex()}  # fmt: skip
    assert report["checkpoints"] == [f"checkpoint {built.late} (signed by {COUNCIL}) ({SIZE} events): the ledger extends it"]  # fmt: skip


@pytest.mark.parametrize(
    ("which", "message"),
    [
        ("missing", "cannot read checkpoint {path}: No such file or directory"),
        ("directory", "cannot read checkpoint {path}: Is a directory"),
        ("garbage", "not a signed checkpoint: no blank line before the signatures"),
        ("binary", "cannot read checkpoint {path}: not UTF-8 text"),
        ("bundle", "not a signed checkpoint"),
        ("foreign", "{path} is a checkpoint of another ledger ({foreign_id})"),
        ("unsigned", "not a signed checkpoint"),
        ("extension", "the checkpoint has extension lines chainledger does not know"),
        ("non-canonical", "the checkpoint is not in canonical form"),
    ],
)
def test_audit_refuses_a_checkpoint_it_cannot_use(
    ledger: CliLedger, built: Built, foreign: Foreign, tmp_path: Path, which: str, message: str
) -> None:
    path = tmp_path / f"{which}.checkpoint"
    late = built.late.read_text()
    body, signatures = late.split("\n\n")
    origin, size, root = body.split("\n")
    if which == "directory":
        path.mkdir()
    elif which == "foreign":
        path = foreign.checkpoint
    elif which != "missing":
        path.write_bytes({
            "garbage": b"hello\nworld\n",
            "binary": b"\x80\x81\x82\n\n",
            "bundle": json.dumps(built.invoice).encode(),
            "unsigned": (body + "\n").encode(),
            "extension": f"{body}\nextension\n\n{signatures}".encode(),
            "non-canonical": f"{origin[:12]}{origin[12:].upper()}\n{size}\n{root}\n\n{signatures}".encode(),
        }[which])  # fmt: skip
    refused(ledger, ("audit", "verify", "--checkpoint", str(path)),
            message.format(path=path, foreign_id=foreign.ledger_id))  # fmt: skip


def test_audit_names_the_checkpoint_file_it_cannot_read(
    ledger: CliLedger, built: Built, tmp_path: Path
) -> None:
    garbage = tmp_path / "garbage.checkpoint"
    garbage.write_text("hello\nworld\n")
    result = refused(ledger, ("audit", "verify", "--checkpoint", str(built.early),
                              "--checkpoint", str(garbage)), "")  # fmt: skip
    assert str(garbage) in result.stderr


def audit_fails(ledger: CliLedger, *checkpoints: Path) -> Result:
    """``audit verify`` with ``checkpoints`` reports a failure (exit 1) and writes nothing."""
    before = event_rows(ledger.url)
    options = [arg for path in checkpoints for arg in ("--checkpoint", str(path))]
    result = run(ledger, "audit", "verify", *options)
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert result.stderr == ""
    assert event_rows(ledger.url) == before
    return result


def test_audit_reports_a_checkpoint_by_an_outsider(
    ledger: CliLedger, built: Built, tmp_path: Path
) -> None:
    path = true_checkpoint_by_outsider(built, tmp_path / "outsider.checkpoint")
    result = audit_fails(ledger, path)
    assert (
        f"FAILED: checkpoint {path}: the checkpoint's signature ({COUNCIL}) is not by a key of "
        "an organisation in this ledger"
    ) in result.stdout.splitlines()
    assert result.stdout.splitlines()[-1] == "TAMPERED: 1 failure(s)."


def test_audit_reports_a_members_checkpoint_of_another_tree(
    ledger: CliLedger, built: Built, tmp_path: Path
) -> None:
    """What a fork looks like from the other side: a checkpoint, validly signed by a
    member, of a tree this ledger does not have."""
    for size, says in ((EARLY, "are not the ones it signed: history was rewritten"),
                       (SIZE + 3, f"covers {SIZE + 3} events but the ledger holds {SIZE}")):  # fmt: skip
        path = forged_checkpoint(built, tmp_path / f"forged-{size}.checkpoint", size=size, signer=HOPE)  # fmt: skip
        result = audit_fails(ledger, path, built.late)
        failed = [line for line in result.stdout.splitlines() if line.startswith("FAILED")]
        assert len(failed) == 1, failed
        assert failed[0].startswith(f"FAILED: checkpoint {path} (signed by {HOPE})")
        assert says in failed[0]
        assert f"OK checkpoint {built.late} (signed by {COUNCIL})" in result.stdout


# -- mangled bundles, generated -------------------------------------------------------------

INTERESTING = st.sampled_from([*list('"\\{}[],:.-+/=# \n\r\t0179AZaz'), "—", "é", "\x00"])  # fmt: skip
CHARACTERS = st.one_of(INTERESTING, st.characters(codec="utf-8"))


def _int(value: Any) -> int:
    if type(value) is not int:
        raise TypeError("not an integer")
    return value


def _hashes(value: Any) -> list[bytes]:
    if not isinstance(value, list):
        raise TypeError("not a list")
    return [base64.b64decode(str(item), validate=True) for item in value]


def meaning(data: bytes, signer: str) -> tuple[Any, ...] | None:
    """What verify-proof's answer depends on, decoded (None if it cannot be read): two files
    with the same meaning must get the same answer."""
    try:
        text = data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")  # as read_text
        bundle = load_bundle(text)
        if not isinstance(bundle["checkpoint"], str):
            return None
        signed = parse_checkpoint(bundle["checkpoint"])
        name, key = parse_verifier_key(bundle["checkpoint_signer"]["verifier_key"])
        trusted = key_fingerprint(key) == signer and signed.verified_by(name, key, verify)
        head = (bundle["format"], bundle.get("ledger"), signed.checkpoint, name, key, trusted)
        if bundle["format"] == INCLUSION:
            entry, proof = bundle["event"], bundle["proof"]
            state = base64.b64decode(str(entry["state"]), validate=True)
            public_key = base64.b64decode(str(bundle["event_signer"]["public_key"]), validate=True)
            return (*head, state, public_key, _int(proof["leaf_index"]),
                    _int(proof["tree_size"]), _hashes(proof["path"]))  # fmt: skip
        old = bundle["old"]
        root = base64.b64decode(str(old["root"]), validate=True)
        return (*head, _int(old["size"]), root, _hashes(bundle["proof"]))
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error, ChainledgerError):
        return None


def mangle(draw: DrawFn, text: str) -> str:
    """``text`` with one to three edits; "space" adds whitespace after a JSON comma, colon
    or bracket, which in a bundle (whose strings hold none of them) changes no meaning."""
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["truncate", "insert", "delete", "flip", "replace", "space"]))
        at = draw(st.integers(0, max(len(text) - 1, 0)))
        if op == "space":
            after = [i + 1 for i, c in enumerate(text) if c in ",:{["] or [at]
            at = after[draw(st.integers(0, len(after) - 1))]
            text = text[:at] + draw(st.sampled_from([" ", "\n", "\t", "\r\n"])) + text[at:]
        elif op == "truncate":
            text = text[:at]
        elif op == "insert":
            text = text[:at] + draw(st.text(CHARACTERS, min_size=1, max_size=4)) + text[at:]
        elif op == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 8)) :]
        elif text and op == "flip":
            code = ord(text[at]) ^ (1 << draw(st.integers(0, 6)))
            if not 0xD800 <= code <= 0xDFFF:
                text = text[:at] + chr(code) + text[at + 1 :]
        elif op == "replace":
            text = text[:at] + draw(CHARACTERS) + text[at + 1 :]
    return text


@composite
def mangled_file(draw: DrawFn, bundles: dict[str, dict[str, Any]]) -> tuple[str, bytes]:
    """(what was mangled, the file's bytes): a bundle's JSON text, or the checkpoint text
    inside it, truncated, with characters inserted, deleted, flipped or replaced, or
    whitespace added; now and then a byte flipped after encoding (which may leave no UTF-8)."""
    which = draw(st.sampled_from(sorted(bundles)))
    bundle = bundles[which]
    if draw(st.booleans()):
        what = f"{which} bundle"
        text = mangle(draw, json.dumps(bundle, indent=2) + "\n")
    else:
        what = f"{which} checkpoint"
        text = json.dumps({**bundle, "checkpoint": mangle(draw, bundle["checkpoint"])}, indent=2)
    data = text.encode("utf-8")
    if data and draw(st.integers(0, 4)) == 0:
        at = draw(st.integers(0, len(data) - 1))
        data = data[:at] + bytes([data[at] ^ (1 << draw(st.integers(0, 7)))]) + data[at + 1 :]
        what += " and a byte"
    return what, data


MANGLED_SETTINGS = settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def originals(foreign: Foreign) -> dict[str, Any]:
    """The foreign ledger's bundles, and what each means; each verifies as it is."""
    found = {}
    for which, bundle in (("inclusion", foreign.inclusion), ("consistency", foreign.consistency)):
        data = (json.dumps(bundle, indent=2) + "\n").encode()
        found[which] = meaning(data, foreign.council)
        assert found[which] is not None
        assert found[which][5] is True  # signed by the key we trust
    return found


@MANGLED_SETTINGS
@given(data=st.data())
def test_mangled_bundles_never_crash_verify_proof(
    foreign: Foreign, originals: dict[str, Any], data: st.DataObject
) -> None:
    """verify-proof of a mangled file: OK only if it still means what the original meant,
    otherwise exit 1 and ``Error: …``; never a traceback."""
    bundles = {"inclusion": foreign.inclusion, "consistency": foreign.consistency}
    what, content = data.draw(mangled_file(bundles), label="file")
    path = foreign.directory / "mangled.proof"
    path.write_bytes(content)
    result = CliRunner().invoke(cli, ["verify-proof", str(path), "--signer", foreign.council],
                                catch_exceptions=False)  # fmt: skip
    assert_clean(result)
    same = meaning(content, foreign.council) == originals[what.split()[0]]
    event(f"{what}: {'the same meaning' if same else 'changed or unreadable'}")
    if same:
        assert result.exit_code == 0, (what, result.stderr)
        assert result.stdout.startswith("OK: "), result.stdout
    else:
        assert result.exit_code == 1, (what, result.stdout)
        assert result.stderr.startswith("Error: "), result.stderr
        assert result.stdout == ""
