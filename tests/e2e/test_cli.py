"""The CLI end to end through CliRunner: exit codes, messages, nothing written on refusal."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from chainledger.cli.main import cli
from tests.conftest import PASSPHRASE, CliLedger, DemoRun
from tests.ledgers import LedgerStore, event_count


def test_help_teaches_the_first_commands() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert "chainledger init" in result.stdout
    for command in ("init", "org", "audit", "demo"):
        assert command in result.stdout


def test_python_dash_m_runs_the_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "chainledger", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    assert result.stdout.strip() == "chainledger, version 0.1.0"


def test_init_creates_a_ledger_once(ledgers: LedgerStore, tmp_path: Path) -> None:
    ledger = CliLedger(ledgers.url("l"), tmp_path / "keys", CliRunner())
    first = ledger.ok("init", "--name", "Barnet programme")
    assert first.stdout.startswith("Created ledger ")
    again = ledger.run("init")
    assert again.exit_code == 1
    assert "already holds ledger" in again.stderr
    assert event_count(ledger.url) == 1


def test_commands_on_a_missing_ledger_fail_without_creating_it(tmp_path: Path) -> None:
    nowhere = tmp_path / "nowhere.db"
    ledger = CliLedger(str(nowhere), tmp_path / "keys", CliRunner())
    for args in (("org", "list"), ("audit", "verify"), ("org", "create", "X", "--role", "prime")):
        result = ledger.run(*args)
        assert result.exit_code == 1
        assert result.stderr.startswith("Error: no ledger at ")
        assert "chainledger init" in result.stderr
    assert not nowhere.exists()


def test_bad_database_url_is_a_clear_error(tmp_path: Path) -> None:
    ledger = CliLedger(str(tmp_path / "l.db"), tmp_path / "keys", CliRunner())
    result = ledger.run("--ledger", "nosuchdb://host/x", "org", "list")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: cannot open the ledger at nosuchdb://host/x")
    assert "Traceback" not in result.stderr


def test_org_create_list_show(cli_ledger: CliLedger) -> None:
    created = cli_ledger.ok(
        "org", "create", "Hope Trust", "--role", "subcontractor",
        "--sector", "vcs", "--size", "small", "--identifier", "GB-CHC-1089464",
    )  # fmt: skip
    assert created.stdout.startswith("Registered hope-trust (subcontractor): Hope Trust\n")
    cli_ledger.ok("org", "create", "Barnet Council", "--role", "commissioner", "--handle", "barnet")

    listed = json.loads(cli_ledger.ok("org", "list", "--format", "json").stdout)
    assert [(o["handle"], o["role"]) for o in listed] == [
        ("barnet", "commissioner"),
        ("hope-trust", "subcontractor"),
    ]
    only_subs = cli_ledger.ok("org", "list", "--role", "subcontractor").stdout
    assert "hope-trust" in only_subs
    assert "barnet" not in only_subs

    shown = json.loads(cli_ledger.ok("org", "show", "hope-trust", "--format", "json").stdout)[0]
    assert shown["sector"] == "vcs"
    assert shown["size"] == "small"
    assert shown["identifier"] == "GB-CHC-1089464"
    assert len(shown["fingerprint"]) == 64
    assert f"Key fingerprint: {shown['fingerprint']}" in created.stdout
    key_file = cli_ledger.keys / f"{shown['fingerprint']}.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    table = cli_ledger.ok("org", "show", "hope-trust").stdout
    assert "fingerprint: " + shown["fingerprint"] in table


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("org", "create", "X Ltd", "--role", "boss"), 2, "Invalid value for '--role'"),
        (("org", "create", "X Ltd", "--role", "prime", "--size", "huge"), 2, "'--size'"),
        (("org", "create", "X Ltd", "--role", "prime", "--identifier", "123"), 1,
         "Error: invalid identifier '123'"),
        (("org", "create", "X Ltd", "--role", "prime", "--handle", "Bad Handle"), 1,
         "Error: invalid handle 'Bad Handle'"),
        (("org", "create", "   ", "--role", "prime"), 1,
         "Error: organisation name must not be empty"),
        (("org", "create", "★", "--role", "prime"), 1, "give one with --handle"),
        (("org", "create", "Hope Trust", "--role", "prime"), 1,
         "Error: an organisation with handle 'hope-trust' already exists"),
        (("org", "show", "nobody"), 1, "Error: no organisation with handle 'nobody'"),
        (("org", "rotate-key", "nobody"), 1, "Error: no organisation with handle 'nobody'"),
        (("org", "revoke-key", "hope-trust"), 2, "Missing option '--reason'"),
        (("org", "frobnicate"), 2, "No such command 'frobnicate'"),
    ],
)  # fmt: skip
def test_refusals_write_nothing(
    cli_ledger: CliLedger, args: tuple[str, ...], code: int, message: str
) -> None:
    cli_ledger.ok("org", "create", "Hope Trust", "--role", "subcontractor")
    keys_before = sorted(cli_ledger.keys.iterdir())
    before = event_count(cli_ledger.url)
    result = cli_ledger.run(*args)
    assert result.exit_code == code
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert event_count(cli_ledger.url) == before
    assert sorted(cli_ledger.keys.iterdir()) == keys_before


def test_passphrase_is_required_and_never_echoed(cli_ledger: CliLedger) -> None:
    no_passphrase = cli_ledger.run(
        "org", "create", "Hope Trust", "--role", "prime", env={"CHAINLEDGER_PASSPHRASE": None}
    )
    assert no_passphrase.exit_code == 2
    assert "set CHAINLEDGER_PASSPHRASE" in no_passphrase.stderr

    cli_ledger.ok("org", "create", "Hope Trust", "--role", "prime")
    before = event_count(cli_ledger.url)
    wrong = cli_ledger.run(
        "org", "rotate-key", "hope-trust", env={"CHAINLEDGER_PASSPHRASE": "not the passphrase"}
    )
    assert wrong.exit_code == 1
    assert wrong.stderr.startswith("Error: wrong passphrase for the key of hope-trust")
    assert "not the passphrase" not in wrong.stderr + wrong.stdout
    assert event_count(cli_ledger.url) == before
    everything = "".join(
        cli_ledger.ok(*a).stdout for a in (("org", "list"), ("org", "show", "hope-trust"))
    )
    assert PASSPHRASE not in everything


def test_rotate_then_revoke_keeps_history_and_audit_clean(cli_ledger: CliLedger) -> None:
    cli_ledger.ok("org", "create", "Hope Trust", "--role", "subcontractor")
    first = json.loads(cli_ledger.ok("org", "show", "hope-trust", "--format", "json").stdout)[0]
    rotated = cli_ledger.ok("org", "rotate-key", "hope-trust").stdout
    second = rotated.strip().rsplit(" ", 1)[-1]
    revoked = cli_ledger.ok("org", "revoke-key", "hope-trust", "--reason", "laptop stolen").stdout
    third = revoked.strip().rsplit(" ", 1)[-1]

    shown = json.loads(cli_ledger.ok("org", "show", "hope-trust", "--format", "json").stdout)[0]
    assert shown["fingerprint"] == third
    assert [(k["key"], k["status"]) for k in shown["keys"]] == [
        (first["fingerprint"], "rotated"),
        (second, "revoked"),
        (third, "active"),
    ]
    assert all(k["until"] for k in shown["keys"][:2])
    listed = json.loads(cli_ledger.ok("org", "list", "--format", "json").stdout)
    assert listed[0]["key"] == third

    audit = cli_ledger.ok("audit", "verify")
    assert "checked 4 events (5 signatures) from 1 organisations" in audit.stdout
    assert audit.stdout.rstrip().endswith("OK: every signature and chain link verifies.")
    report = json.loads(cli_ledger.ok("audit", "verify", "--format", "json").stdout)
    assert report["ok"] is True
    assert report["events"] == 4
    assert report["failures"] == []


def test_audit_verify_with_two_workers_matches_one(cli_ledger: CliLedger) -> None:
    cli_ledger.ok("org", "create", "Hope Trust", "--role", "subcontractor")
    one = json.loads(cli_ledger.ok("audit", "verify", "--format", "json").stdout)
    two = json.loads(cli_ledger.ok("audit", "verify", "--format", "json", "--workers", "2").stdout)
    assert (one["ok"], one["events"], one["signatures"]) == (
        two["ok"],
        two["events"],
        two["signatures"],
    )


def test_demo_runs_and_reports_what_it_found(demo_run: DemoRun) -> None:
    out = demo_run.stdout
    assert (
        "womens-centre    promised £  50000.00/yr  paid £         0  disputed (terms-differ)" in out
    )
    for rule in ("BID_CANDY", "NAMED_WITHOUT_CONSENT", "TERMS_WORSENED", "CUT_PASSED_DOWN",
                 "LATE_PAYMENT", "REFERRAL_SHORTFALL", "PRIME_SELF_DELIVERY", "PERFORMANCE_FAILING",
                 "CONCERN_UNANSWERED", "SELF_OTHER_GAP", "LOW_RATED"):  # fmt: skip
        assert f"] {rule}: " in out, rule
    assert "tried to reveal a kinder rating: refused" in out
    # Identity: the council is the registrar and endorses each organisation; an impostor
    # claiming the Women's Centre's charity number can sign nothing and is not endorsed.
    assert "created by Barnet Council, its registrar:" in out
    assert "confirmed each key's fingerprint with the organisation by phone and endorsed it." in out
    assert ("  refused: bwc-charity is not endorsed yet, so it can sign nothing on a package"
            in out)  # fmt: skip
    assert ("  endorsing it is refused too: identifier GB-CHC-1157311 is already endorsed as "
            "womens-centre's" in out)  # fmt: skip
    assert "read the fingerprint to the council, which installed it in place of the lost one." in out
    assert (
        "Audit of the ledger as recorded: 178 events, 177 signatures, 7 organisations — clean."
        in out
    )
    assert "paid on 2026-11-21 becomes 2026-10-21" in out
    assert (
        f"The council's audit as a web page, with charts (opens offline in any browser): {demo_run.directory / 'report.html'}"
        in out
    )
    assert (
        "FAILED notification 148 (PaymentRecorded): signature by northgate does not verify" in out
    )
    assert "  FAILED: the stored Merkle tree (178 events, root " in out
    # A proof checked offline, and a rollback a plain audit misses but the checkpoint catches.
    assert re.search(
        r"^  OK: PromiseAcknowledged on \S+ \(version 2\) is event 28 of 178 ", out, re.M
    )
    assert (
        "Audit of the rolled-back copy: 175 events, 174 signatures, 7 organisations — clean." in out
    )
    assert (
        "  FAILED: checkpoint barnet-council.checkpoint covers 178 events but the ledger holds "
        "175: history was truncated" in out
    )
    assert (demo_run.directory / "barnet-council.checkpoint").read_text().startswith("chainledger/")
    # The package carried to the council's own ledger as a bundle: kept once, an edit refused.
    assert "imports it into its own ledger: 170 events checked" in out
    assert "— 170 kept; importing it again keeps 0 more." in out
    assert re.search(
        r"^  the bundle is refused: event 148 \(PaymentRecorded, version 2 of record \S+, "
        r"signed by northgate\): it is not in ledger \S+ as its checkpoint of 178 events signs it",
        out,
        re.M,
    )
    again = demo_run.run("report", "findings", "--as-of", "2026-10-31", "--format", "json",
                         "--as", "barnet-council")  # fmt: skip
    assert again.exit_code == 0, again.stderr
    printed = re.findall(r"^  \[(?:high|medium|low)\] ([A-Z_]+): ", out, re.M)
    assert [f["rule"] for f in json.loads(again.stdout)] == printed


@pytest.mark.real_scrypt
def test_keys_are_made_with_the_real_scrypt_cost(tmp_path: Path) -> None:
    """Other tests make keys cheaply; a real ``org create`` stretches with n=2**15."""
    ledger = CliLedger(str(tmp_path / "l.db"), tmp_path / "keys", CliRunner())
    ledger.ok("init")
    ledger.ok("org", "create", "Hope Trust", "--role", "subcontractor")
    headers = [path.read_text().splitlines()[2] for path in sorted(ledger.keys.iterdir())]
    assert len(headers) == 2  # the signing key and the encryption key
    assert all(h.startswith("kdf: scrypt n=32768 r=8 p=1 salt=") for h in headers), headers
