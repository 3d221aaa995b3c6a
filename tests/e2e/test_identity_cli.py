"""Registrars and endorsement through the CLI, on SQLite and PostgreSQL: who vouches that a
key belongs to an organisation, and what an organisation nobody vouched for can do (nothing
on a package), including when a participant writes such events behind the client's back."""

from __future__ import annotations

import base64
import csv
import io
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from chainledger.domain.identity import readable_fingerprint
from tests.conftest import CliLedger
from tests.ledgers import LedgerStore, RawEvents, event_rows

COUNCIL, PRIME, CHARITY, FAKE = "barnet-council", "northgate", "womens-centre", "fake-centre"
COUNCIL_ID, CHARITY_ID = "GB-GOR-E09000003", "GB-CHC-1089464"


def fingerprint(ledger: CliLedger, handle: str) -> str:
    (shown,) = json.loads(ledger.ok("org", "show", handle, "--format", "json").stdout)
    return str(shown["fingerprint"])


def refused(ledger: CliLedger, *args: str, message: str) -> Result:
    """``args`` exits 1 with the one-line ``Error: message…`` and writes nothing."""
    before = event_rows(ledger.url)
    result = ledger.run(*args)
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert result.stderr.startswith(f"Error: {message}"), result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert event_rows(ledger.url) == before
    return result


def package(reference: str, commissioner: str) -> tuple[str, ...]:
    return ("package", "create", reference, "--as", commissioner, "--title", "Employment support",
            "--area", "Barnet", "--value", "100000", "--start", "2025-01-01", "--end",
            "2025-12-31", "--description", "Support into work", "--payment-model", "fixed")  # fmt: skip


@pytest.fixture
def ledger(ledgers: LedgerStore, tmp_path: Path) -> CliLedger:
    """A ledger created with Barnet Council as its registrar; Northgate (a prime) and the
    real Women's Centre registered and endorsed; a package tendered."""
    made = CliLedger(ledgers.url("identity"), tmp_path / "keys", CliRunner())
    created = made.ok("init", "--name", "Barnet programme", "--registrar", "Barnet Council",
                      "--identifier", COUNCIL_ID)  # fmt: skip
    assert f"Registrar: {COUNCIL} (Barnet Council), the root of identity" in created.stdout
    made.ok("org", "create", "Northgate", "--role", "prime", "--identifier", "GB-COH-01234567")
    made.ok("org", "create", "Women's Centre", "--role", "subcontractor", "--handle", CHARITY,
            "--identifier", CHARITY_ID)  # fmt: skip
    for handle in (PRIME, CHARITY):
        made.ok("org", "endorse", handle, "--as", COUNCIL, "--fingerprint", fingerprint(made, handle))
    made.ok(*package("BAR-1", COUNCIL))
    return made


def bid(prime: str, named: str) -> tuple[str, ...]:
    return ("bid", "submit", "BAR-1", "--as", prime, "--price", "90000", "--self-share", "60",
            "--promise", f"{named}:service=mentoring,share=30,value=30000,referrals=20,"
            "model=fixed,terms=30,fee=5")  # fmt: skip


# -- the impersonation attack -------------------------------------------------------------------


def test_an_unendorsed_impersonator_can_sign_nothing_on_a_package(ledger: CliLedger) -> None:
    ledger.ok("org", "create", "Barnet Women's Centre", "--role", "subcontractor",
              "--handle", FAKE, "--identifier", CHARITY_ID)  # fmt: skip
    message = (f"{FAKE} is not endorsed yet, so it can sign nothing on a package: a registrar of "
               f"this ledger ({COUNCIL}) must confirm its key first")  # fmt: skip
    refused(ledger, "interest", "express", "BAR-1", "--as", FAKE, "--prime", PRIME,
            "--offer", "Mentoring", message=message)  # fmt: skip
    refused(ledger, *package("FAKE-1", FAKE), message=message)
    # The real charity's identifier cannot be endorsed to the impersonator.
    refused(ledger, "org", "endorse", FAKE, "--as", COUNCIL, "--fingerprint",
            fingerprint(ledger, FAKE), message=f"identifier {CHARITY_ID} is already endorsed as "
            f"{CHARITY}'s: two organisations cannot share one")  # fmt: skip


def test_a_rejected_request_stays_unable_to_sign(ledger: CliLedger) -> None:
    ledger.ok("org", "create", "Fake Centre", "--role", "prime", "--handle", FAKE)
    ledger.ok("org", "reject", FAKE, "--as", COUNCIL, "--reason", "not known to us")
    refused(ledger, *bid(FAKE, CHARITY),
            message=f"{FAKE}'s registration was rejected by {COUNCIL} (not known to us)")  # fmt: skip


# -- endorsing: the fingerprint check -----------------------------------------------------------


def test_the_fingerprint_is_confirmed_in_full_grouped_or_not(ledger: CliLedger) -> None:
    ledger.ok("org", "create", "Hope Trust", "--role", "subcontractor")
    full = fingerprint(ledger, "hope-trust")
    refused(ledger, "org", "endorse", "hope-trust", "--as", COUNCIL, "--fingerprint", full[:16],
            message="a fingerprint has 64 hexadecimal digits, not 16")  # fmt: skip
    other = fingerprint(ledger, PRIME)
    refused(ledger, "org", "endorse", "hope-trust", "--as", COUNCIL, "--fingerprint", other,
            message="the fingerprint you were given is not hope-trust's current key")  # fmt: skip
    refused(ledger, "org", "endorse", "hope-trust", "--as", COUNCIL, "--fingerprint", "x" * 64,
            message="a fingerprint is the 64 hexadecimal digits")  # fmt: skip
    grouped = readable_fingerprint(full)
    assert grouped.count(" ") == 15
    result = ledger.ok("org", "endorse", "hope-trust", "--as", COUNCIL, "--fingerprint", grouped)
    assert result.stdout == f"{COUNCIL} endorsed hope-trust: key {full}\n"
    refused(ledger, "org", "endorse", "hope-trust", "--as", COUNCIL, "--fingerprint", full,
            message=f"hope-trust is already endorsed, by {COUNCIL}")  # fmt: skip


def test_only_a_registrar_endorses(ledger: CliLedger) -> None:
    ledger.ok("org", "create", "Hope Trust", "--role", "subcontractor")
    full = fingerprint(ledger, "hope-trust")
    refused(ledger, "org", "endorse", "hope-trust", "--as", PRIME, "--fingerprint", full,
            message=f"{PRIME} is not a registrar of this ledger")  # fmt: skip
    refused(ledger, "org", "endorse", "hope-trust", "--as", "hope-trust", "--fingerprint", full,
            message="hope-trust is not a registrar of this ledger")  # fmt: skip


def test_registrars_are_appointed_and_withdrawn(ledger: CliLedger) -> None:
    ledger.ok("org", "appoint-registrar", PRIME, "--as", COUNCIL)
    ledger.ok("org", "create", "Hope Trust", "--role", "subcontractor")
    ledger.ok("org", "endorse", "hope-trust", "--as", PRIME, "--fingerprint",
              fingerprint(ledger, "hope-trust"))  # fmt: skip
    ledger.ok("org", "withdraw-registrar", PRIME, "--as", COUNCIL, "--reason", "conflict")
    ledger.ok("org", "create", "Camden Carers", "--role", "subcontractor")
    refused(ledger, "org", "endorse", "camden-carers", "--as", PRIME, "--fingerprint",
            fingerprint(ledger, "camden-carers"),
            message=f"{PRIME} is not a registrar of this ledger")  # fmt: skip
    refused(ledger, "org", "withdraw-registrar", COUNCIL, "--as", COUNCIL, "--reason", "x",
            message=f"{COUNCIL} is this ledger's first registrar")  # fmt: skip
    # What the withdrawn registrar endorsed while it was one stands.
    ledger.ok(*bid(PRIME, "hope-trust"))
    ledger.ok("bid", "acknowledge", "BAR-1", "--as", "hope-trust", "--prime", PRIME)
    assert ledger.ok("audit", "verify").stdout.rstrip().endswith(
        "OK: every signature and chain link verifies."
    )


def test_a_ledger_without_a_registrar_has_nobody_to_endorse(cli_ledger: CliLedger) -> None:
    cli_ledger.ok("org", "create", "Barnet Council", "--role", "commissioner")
    cli_ledger.ok("org", "create", "Hope Trust", "--role", "subcontractor")
    refused(cli_ledger, "org", "endorse", "hope-trust", "--as", "barnet-council",
            "--fingerprint", fingerprint(cli_ledger, "hope-trust"),
            message="this ledger has no registrar (it was created without one)")  # fmt: skip
    cli_ledger.ok(*package("OPEN-1", "barnet-council"))  # works as it always did


# -- behind the client's back -------------------------------------------------------------------


def test_events_signed_by_an_unendorsed_organisation_are_caught_on_read(
    ledger: CliLedger, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A participant with database access runs a client without the endorsement check and
    records a bid naming the charity, signed by an organisation nobody vouched for: every
    reader refuses what it concerns, and the audit names it."""
    ledger.ok("org", "create", "Fake Prime", "--role", "prime", "--handle", FAKE)
    with monkeypatch.context() as patched:
        patched.setattr("chainledger.application.ledger.LedgerCore._authorise", lambda *_: None)
        patched.setattr("chainledger.application.authorisation.Registry.check_authority", lambda *_: None)
        ledger.ok(*bid(FAKE, CHARITY))
    with RawEvents(ledger.url) as raw:
        nid = raw.rows()[-1][0]
    state = ("--state", str(tmp_path / "fresh-reader"))
    for command in (("history", "BAR-1"), ("report", "findings", "--package", "BAR-1")):
        result = ledger.run(*state, *command)
        assert result.exit_code == 1, result.stdout
        assert result.stderr.startswith("Error: tampered ledger data"), result.stderr
        assert f"event #{nid}" in result.stderr
        assert f"signed by {FAKE}, which no registrar had endorsed at that point" in result.stderr
    audit = ledger.run("audit", "verify")
    assert audit.exit_code == 1
    assert f"signed by {FAKE}, which no registrar had endorsed at that point" in audit.stdout


def test_a_rewritten_genesis_is_caught(ledger: CliLedger) -> None:
    """Swapping the registrar the genesis names (its first, unsigned event) changes the
    ledger id it must carry: the audit and every command refuse."""
    with RawEvents(ledger.url) as raw:
        nid, *_ = raw.rows()[0]
        state = raw.state(nid)
        assert raw.set_state(nid, state.replace(COUNCIL.encode(), b"evil-council")) == 1
    audit = ledger.run("audit", "verify")
    assert audit.exit_code == 1
    assert "the genesis does not match the ledger's id" in audit.stdout + audit.stderr, audit.stderr
    result = ledger.run("--state", str(Path(ledger.keys).parent / "s2"), "history", "BAR-1")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: tampered ledger data"), result.stderr


def test_org_list_and_show_tell_who_vouched(ledger: CliLedger) -> None:
    listed = json.loads(ledger.ok("org", "list", "--format", "json").stdout)
    by_handle = {row["handle"]: row for row in listed}
    assert by_handle[PRIME]["endorsed_by"] == COUNCIL
    assert by_handle[COUNCIL]["registrar"] is True
    ledger.ok("org", "create", "Hope Trust", "--role", "subcontractor")
    listed = json.loads(ledger.ok("org", "list", "--format", "json").stdout)
    assert {row["handle"]: row for row in listed}["hope-trust"]["endorsed_by"] is None
    shown = ledger.ok("org", "show", "hope-trust").stdout
    assert readable_fingerprint(fingerprint(ledger, "hope-trust")) in shown
    assert "not endorsed" in shown


# -- recovery -------------------------------------------------------------------------------------


def new_key(result: Result) -> str:
    first = result.stdout.splitlines()[0]
    assert first.startswith(f"New key for {CHARITY}: "), result.stdout
    return first.rsplit(" ", 1)[1]


def test_a_stolen_key_is_recovered_and_what_the_thief_signed_is_marked(
    ledger: CliLedger, tmp_path: Path
) -> None:
    """The thief copies the Women's Centre's key file and learns its passphrase, disputes a
    promise in its name, then revokes the key to lock the real owner out. The council
    (registrar) installs the key the real owner offers; the thief's key signs nothing more,
    and what the stolen key signed since the theft is marked everywhere it is shown."""
    thief = CliLedger(ledger.url, tmp_path / "thief-keys", CliRunner())
    shutil.copytree(ledger.keys, thief.keys)
    ledger.ok(*bid(PRIME, CHARITY))
    stolen_at = datetime.now(UTC) - timedelta(seconds=1)
    thief.ok("bid", "dispute", "BAR-1", "--as", CHARITY, "--prime", PRIME,
             "--reason", "terms-differ", "--note", "sent by the thief")  # fmt: skip
    thief.ok("org", "revoke-key", CHARITY, "--reason", "the thief's revocation")
    locked_out = ledger.run("interest", "express", "BAR-1", "--as", CHARITY, "--prime", PRIME,
                            "--offer", "support for women")  # fmt: skip
    assert locked_out.exit_code == 1

    offered = new_key(ledger.ok("org", "request-recovery", CHARITY))
    refused(ledger, "org", "recover", CHARITY, "--as", PRIME, "--fingerprint", offered,
            "--compromised-since", stolen_at.isoformat(),
            message=f"{PRIME} is not a registrar of this ledger")  # fmt: skip
    recovered = ledger.ok("org", "recover", CHARITY, "--as", COUNCIL, "--fingerprint",
                          readable_fingerprint(offered), "--compromised-since",
                          stolen_at.isoformat())  # fmt: skip
    assert recovered.stdout == f"{COUNCIL} recovered {CHARITY}: its key is now {offered}\n"

    ledger.ok("interest", "express", "BAR-1", "--as", CHARITY, "--prime", PRIME,
              "--offer", "support for women")  # fmt: skip
    again = thief.run("interest", "express", "BAR-1", "--as", CHARITY, "--prime", PRIME,
                      "--offer", "the thief again")  # fmt: skip
    assert again.exit_code == 1

    audit = ledger.ok("audit", "verify")
    marked = [line for line in audit.stdout.splitlines() if line.startswith("MARKED ")]
    assert [line.split("(")[1].split(")")[0] for line in marked] == [
        "PromiseDisputed", "SigningKeyRevoked"]  # fmt: skip
    assert all(f"signed by {CHARITY} after its key was compromised" in line for line in marked)
    history = json.loads(ledger.ok("history", "BAR-1", "--format", "json").stdout)
    flagged = [row for row in history if "COMPROMISED KEY" in row["summary"]]
    assert [row["event_type"] for row in flagged] == ["PromiseDisputed"]
    # A finding resting on the thief's dispute says so.
    ledger.ok("package", "award", "BAR-1", "--as", COUNCIL, "--bid", PRIME)
    found = json.loads(ledger.ok("report", "findings", "--package", "BAR-1", "--format",
                                 "json").stdout)  # fmt: skip
    (named,) = [f for f in found if f["rule"] == "NAMED_WITHOUT_CONSENT"]
    dispute = flagged[0]["notification_id"]
    assert named["compromised_evidence"] == [dispute]
    assert named["finding"].endswith(f"(evidence #{dispute} was signed by a compromised key)")
    assert all("compromised_evidence" not in f for f in found if dispute not in f["evidence"])


def test_every_report_resting_on_a_stolen_keys_events_says_so(
    ledger: CliLedger, tmp_path: Path
) -> None:
    """The thief invoices in the Women's Centre's name and the prime pays it; after the
    recovery, the payments report and the findings resting on that invoice name it as signed
    by a compromised key (table, JSON and CSV), and so does the HTML page, while the rows
    that rest only on honest events are left as they were."""
    ledger.ok(*bid(PRIME, CHARITY))
    ledger.ok("bid", "acknowledge", "BAR-1", "--as", CHARITY, "--prime", PRIME)
    ledger.ok("package", "award", "BAR-1", "--as", COUNCIL, "--bid", PRIME)
    ledger.ok("subcontract", "issue", "BAR-1", "--as", PRIME, "--sub", CHARITY, "--service",
              "mentoring", "--share", "30", "--value", "30000", "--referrals", "20", "--model",
              "fixed", "--terms", "30", "--on", "2025-02-03")  # fmt: skip
    ledger.ok("subcontract", "accept", "BAR-1", "--as", CHARITY, "--on", "2025-02-04")
    ledger.ok("invoice", "submit", "BAR-1", "--as", CHARITY, "--ref", "WC-1", "--amount", "2500",
              "--date", "2025-03-31", "--period", "2025-Q1", "--on", "2025-03-31")  # fmt: skip
    thief = CliLedger(ledger.url, tmp_path / "thief-keys", CliRunner())
    shutil.copytree(ledger.keys, thief.keys)
    stolen_at = datetime.now(UTC)  # after the real WC-1
    thief.ok("invoice", "submit", "BAR-1", "--as", CHARITY, "--ref", "WC-2", "--amount", "7500",
             "--date", "2025-04-01", "--period", "2025-Q2", "--on", "2025-04-01")  # fmt: skip
    for invoice, amount in (("WC-1", "2500"), ("WC-2", "7500")):
        ledger.ok("payment", "record", "BAR-1", "--as", PRIME, "--sub", CHARITY, "--invoice",
                  invoice, "--amount", amount, "--date", "2025-05-20", "--on", "2025-05-20")  # fmt: skip
    stolen = [nid for nid, _, _, topic, _ in event_rows(ledger.url) if topic == "InvoiceSubmitted"][-1]
    before = {name: json.loads(ledger.ok("report", name, "--package", "BAR-1", "--format",
                                         "json").stdout)
              for name in ("payments", "workshare", "findings")}  # fmt: skip
    assert all("compromised_evidence" not in row for rows in before.values() for row in rows)

    offered = new_key(ledger.ok("org", "request-recovery", CHARITY))
    ledger.ok("org", "recover", CHARITY, "--as", COUNCIL, "--fingerprint", offered,
              "--compromised-since", stolen_at.isoformat())  # fmt: skip
    (payments,) = json.loads(ledger.ok("report", "payments", "--package", "BAR-1", "--format",
                                       "json").stdout)  # fmt: skip
    assert payments["compromised_evidence"] == [stolen]
    assert {k: v for k, v in payments.items() if k != "compromised_evidence"} == before["payments"][0]
    workshare = json.loads(ledger.ok("report", "workshare", "--package", "BAR-1", "--format",
                                     "json").stdout)  # fmt: skip
    assert workshare == before["workshare"]  # the promise and contract: honest events only
    table = ledger.ok("report", "payments", "--package", "BAR-1").stdout.splitlines()
    assert table[1].split()[-1] == "compromised_evidence"
    assert table[3].split()[-1] == str(stolen)
    # CSV: a column only some rows have is empty in the others
    found = json.loads(ledger.ok("report", "findings", "--package", "BAR-1", "--format",
                                 "json").stdout)  # fmt: skip
    listed = list(csv.DictReader(io.StringIO(ledger.ok(
        "report", "findings", "--package", "BAR-1", "--format", "csv").stdout)))  # fmt: skip
    assert [row["compromised_evidence"] for row in listed] == [
        " ".join(map(str, f.get("compromised_evidence", []))) for f in found]  # fmt: skip
    (late,) = [f for f in found if f.get("compromised_evidence")]
    assert late["rule"] == "LATE_PAYMENT"
    assert late["compromised_evidence"] == [stolen]
    assert len(found) > 1
    page = tmp_path / "report.html"
    ledger.ok("report", "html", "--package", "BAR-1", "--output", str(page), "--no-audit")
    html = page.read_text()
    assert "Compromised keys" in html
    assert f"#{stolen}: signed by a key a registrar later declared compromised" in html


def test_a_lost_key_is_replaced_and_nothing_is_marked(ledger: CliLedger) -> None:
    (shown,) = json.loads(ledger.ok("org", "show", CHARITY, "--format", "json").stdout)
    (ledger.keys / f"{shown['fingerprint']}.key").unlink()  # the laptop is gone
    refused(ledger, "org", "recover", CHARITY, "--as", COUNCIL, "--fingerprint", "ab" * 32,
            "--lost", message=f"{CHARITY} has not offered key abababababababab…")  # fmt: skip
    offered = new_key(ledger.ok("org", "request-recovery", CHARITY))
    ledger.ok("org", "recover", CHARITY, "--as", COUNCIL, "--fingerprint", offered, "--lost")
    ledger.ok("interest", "express", "BAR-1", "--as", CHARITY, "--prime", PRIME,
              "--offer", "support for women")  # fmt: skip
    audit = ledger.ok("audit", "verify")
    assert "MARKED" not in audit.stdout
    usage = ledger.run("org", "recover", CHARITY, "--as", COUNCIL, "--fingerprint", offered)
    assert usage.exit_code == 2
    assert "give exactly one of --compromised-since DATE and --lost" in usage.stderr


# -- proofs carry who vouched ----------------------------------------------------------------------


def test_a_proof_shows_the_chain_of_endorsements_up_to_the_first_registrar(
    ledger: CliLedger, tmp_path: Path
) -> None:
    ledger.ok("org", "appoint-registrar", PRIME, "--as", COUNCIL)
    ledger.ok("org", "create", "Hope Trust", "--role", "subcontractor", "--identifier",
              "GB-CHC-1000001")  # fmt: skip
    ledger.ok("org", "endorse", "hope-trust", "--as", PRIME, "--fingerprint",
              fingerprint(ledger, "hope-trust"))  # fmt: skip
    ledger.ok(*bid(PRIME, "hope-trust"))
    ledger.ok("bid", "acknowledge", "BAR-1", "--as", "hope-trust", "--prime", PRIME)
    with RawEvents(ledger.url) as raw:
        acknowledged = raw.rows()[-1][0]
    proof = tmp_path / "ack.proof"
    ledger.ok("prove", str(acknowledged), "--as", "hope-trust", "-o", str(proof))
    checked = ledger.ok("verify-proof", str(proof), "--signer", fingerprint(ledger, "hope-trust"))
    lines = checked.stdout.splitlines()
    council_key = fingerprint(ledger, COUNCIL)
    assert lines[3:] == [
        f"the ledger's first registrar, named in its genesis: {COUNCIL} (key {council_key})",
        f"hope-trust endorsed as Hope Trust (GB-CHC-1000001) by {PRIME}, for key "
        f"{fingerprint(ledger, 'hope-trust')}",
        f"{PRIME} appointed registrar by {COUNCIL}",
        f"{PRIME} endorsed as Northgate (GB-COH-01234567) by {COUNCIL}, for key "
        f"{fingerprint(ledger, PRIME)}",
    ]
    # The chain is checked, not just printed: a forged endorsement breaks the proof.
    document = json.loads(proof.read_text())
    document["vouched"] = document["vouched"][:1]
    proof.write_text(json.dumps(document))
    broken = ledger.run("verify-proof", str(proof), "--signer", fingerprint(ledger, "hope-trust"))
    assert broken.exit_code == 1
    assert "the endorsement chain does not show who endorsed hope-trust" in broken.stderr


def test_a_proof_follows_the_registrars_own_key_changes(ledger: CliLedger, tmp_path: Path) -> None:
    """The council rotates its key, then endorses Hope Trust: the proof carries the
    council's key change, so the chain still leads from the key the genesis names."""
    genesis_key = fingerprint(ledger, COUNCIL)
    ledger.ok("org", "rotate-key", COUNCIL)
    assert fingerprint(ledger, COUNCIL) != genesis_key
    ledger.ok("org", "create", "Hope Trust", "--role", "subcontractor")
    ledger.ok("org", "endorse", "hope-trust", "--as", COUNCIL, "--fingerprint",
              fingerprint(ledger, "hope-trust"))  # fmt: skip
    ledger.ok(*bid(PRIME, "hope-trust"))
    ledger.ok("bid", "acknowledge", "BAR-1", "--as", "hope-trust", "--prime", PRIME)
    with RawEvents(ledger.url) as raw:
        acknowledged = raw.rows()[-1][0]
    proof = tmp_path / "ack.proof"
    ledger.ok("prove", str(acknowledged), "--as", "hope-trust", "-o", str(proof))
    checked = ledger.ok("verify-proof", str(proof), "--signer", fingerprint(ledger, "hope-trust"))
    assert checked.stdout.splitlines()[-1] == (
        f"hope-trust endorsed as Hope Trust by {COUNCIL}, for key "
        f"{fingerprint(ledger, 'hope-trust')}"
    )
    # Without the key change, the council's endorsement no longer leads to the genesis key.
    document = json.loads(proof.read_text())
    document["vouched"] = [e for e in document["vouched"]
                           if b"SigningKeyRotated" not in base64.b64decode(e["state"])]  # fmt: skip
    proof.write_text(json.dumps(document))
    broken = ledger.run("verify-proof", str(proof), "--signer", fingerprint(ledger, "hope-trust"))
    assert broken.exit_code == 1
    assert "other than the one the genesis names" in broken.stderr
