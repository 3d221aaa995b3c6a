"""A whole package's life through the CLI, and bulk import/export of the same steps."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import CliLedger
from tests.ledgers import LedgerStore, event_rows

PACKAGE = "BAR-ES-2026"
QUARTERS = ("2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4")  # in the past: facts, not plans
QUARTER_ENDS = ("2025-03-31", "2025-06-30", "2025-09-30", "2025-12-31")

# (handle, name, promised share %, £/yr, referrals per quarter, payment terms)
SUBCONTRACTORS = (
    ("hope-trust", "Hope Trust", "15", "150000", "60", "30"),
    ("mind-in-barnet", "Mind in Barnet", "10", "100000", "40", "30"),
    ("refugee-advice", "Refugee Advice Collective", "5", "50000", "20", "30"),
    ("womens-centre", "Barnet Women's Centre", "5", "50000", "20", "30"),
)


def promise(handle: str, share: str, value: str, referrals: str, terms: str) -> str:
    return (
        f"{handle}:service=specialist support,share={share},value={value},"
        f"referrals={referrals},model=fixed,terms={terms},fee=5"
    )


def event_types(url: str) -> Counter[str]:
    return Counter(row[3] for row in event_rows(url))


def build_package(ledger: CliLedger) -> None:
    """Everything up to the subcontracts being accepted."""
    ledger.ok("org", "create", "Barnet Council", "--role", "commissioner", "--sector", "public")
    ledger.ok("org", "create", "Northgate Employment", "--role", "prime", "--handle", "northgate")
    for handle, name, *_ in SUBCONTRACTORS:
        ledger.ok("org", "create", name, "--role", "subcontractor", "--sector", "vcs",
                  "--size", "small", "--handle", handle)  # fmt: skip
    ledger.ok(
        "package", "create", PACKAGE, "--as", "barnet-council", "--title", "Employment support",
        "--area", "London Borough of Barnet", "--value", "2000000", "--start", "2025-01-01",
        "--end", "2026-12-31", "--description", "Support for long-term unemployed people",
        "--payment-model", "fee-plus-outcome", "--at-risk", "20",
    )  # fmt: skip
    ledger.ok("kpi", "define", PACKAGE, "--as", "barnet-council", "--name", "job starts",
              "--unit", "people", "--target", "20", "--acceptable", "15")  # fmt: skip
    ledger.ok("interest", "express", PACKAGE, "--as", "hope-trust", "--prime", "northgate",
              "--offer", "mental health support")  # fmt: skip
    promises = [promise(h, s, v, r, t) for h, _, s, v, r, t in SUBCONTRACTORS]
    ledger.ok("bid", "submit", PACKAGE, "--as", "northgate", "--price", "1950000",
              "--self-share", "40", *[arg for p in promises for arg in ("--promise", p)])  # fmt: skip
    shown = json.loads(
        ledger.ok("bid", "show", PACKAGE, "--prime", "northgate", "--format", "json").stdout
    )
    hashes = {p["subcontractor"]: p["hash"] for p in shown}
    ledger.ok("bid", "acknowledge", PACKAGE, "--as", "hope-trust", "--prime", "northgate",
              "--hash", hashes["hope-trust"])  # fmt: skip
    ledger.ok("bid", "acknowledge", PACKAGE, "--as", "mind-in-barnet", "--prime", "northgate")
    # refugee-advice never answers; womens-centre disputes the terms.
    ledger.ok("bid", "dispute", PACKAGE, "--as", "womens-centre", "--prime", "northgate",
              "--reason", "terms-differ", "--note", "we agreed 8%")  # fmt: skip
    ledger.ok("package", "award", PACKAGE, "--as", "barnet-council", "--bid", "northgate")
    for handle, _, share, value, referrals, terms in SUBCONTRACTORS[:3]:
        ledger.ok("subcontract", "issue", PACKAGE, "--as", "northgate", "--sub", handle,
                  "--service", "specialist support", "--share", share, "--value", value,
                  "--referrals", referrals, "--model", "fixed", "--terms", terms, "--fee", "5")  # fmt: skip
        ledger.ok("subcontract", "accept", PACKAGE, "--as", handle)


def run_quarters(ledger: CliLedger) -> None:
    """Four quarters of referrals, invoices, payments and KPI reports for three subcontractors."""
    for q, (quarter, quarter_end) in enumerate(zip(QUARTERS, QUARTER_ENDS, strict=True)):
        for i, (handle, *_rest) in enumerate(SUBCONTRACTORS[:3]):
            sent = 40 - 10 * i
            ledger.ok("referral", "send", PACKAGE, "--as", "northgate", "--sub", handle,
                      "--period", quarter, "--count", str(sent))  # fmt: skip
            ledger.ok("referral", "confirm", PACKAGE, "--as", handle, "--period", quarter,
                      "--count", str(sent - (1 if i == 2 else 0)))  # fmt: skip
            invoice = f"{handle[:4].upper()}-{q + 1}"
            ledger.ok("invoice", "submit", PACKAGE, "--as", handle, "--ref", invoice,
                      "--amount", "12500.00", "--date", quarter_end, "--period", quarter)  # fmt: skip
            paid_on = "2026-01-20" if q == 3 else f"2025-{3 * q + 4:02d}-25"
            ledger.ok("payment", "record", PACKAGE, "--as", "northgate", "--sub", handle,
                      "--invoice", invoice, "--amount", "12500", "--date", paid_on)  # fmt: skip
            ledger.ok("payment", "confirm", PACKAGE, "--as", handle, "--invoice", invoice,
                      "--date", paid_on)  # fmt: skip
            ledger.ok("performance", "report", PACKAGE, "--as", handle, "--kpi", "job starts",
                      "--period", quarter, "--actual", str(18 - i * 4))  # fmt: skip
            ledger.ok("performance", "attest", PACKAGE, "--as", "northgate", "--sub", handle,
                      "--kpi", "job starts", "--period", quarter)  # fmt: skip
        if q == 1:
            ledger.ok("package", "vary", PACKAGE, "--as", "barnet-council", "--value", "1800000",
                      "--reason", "budget cut 2026/27: 10%")  # fmt: skip
            ledger.ok("variation", "propose", PACKAGE, "--as", "northgate", "--sub", "hope-trust",
                      "--value", "135000", "--reason", "pass on the 10% cut")  # fmt: skip
            ledger.ok("variation", "accept", PACKAGE, "--as", "hope-trust", "--number", "1")
            ledger.ok("variation", "propose", PACKAGE, "--as", "northgate", "--sub",
                      "mind-in-barnet", "--value", "60000", "--reason", "cut")  # fmt: skip
            ledger.ok("variation", "dispute", PACKAGE, "--as", "mind-in-barnet", "--number", "1",
                      "--reason", "a 40% cut is not the 10% the council made")  # fmt: skip


@pytest.mark.slow
def test_a_whole_package_through_the_cli(cli_ledger: CliLedger) -> None:
    build_package(cli_ledger)
    run_quarters(cli_ledger)
    cli_ledger.ok("subcontract", "failing-process", PACKAGE, "--as", "northgate", "--sub",
                  "refugee-advice", "--reason", "job starts below acceptable")  # fmt: skip
    cli_ledger.ok("bid", "explain-shortfall", PACKAGE, "--as", "northgate", "--sub",
                  "womens-centre", "--explanation", "terms could not be agreed")  # fmt: skip
    raised = cli_ledger.ok("concern", "raise", PACKAGE, "--as", "mind-in-barnet", "--subject",
                           "Cut passed down", "--text", "Our value was cut by 40%")  # fmt: skip
    reference = raised.stdout.strip().rsplit(" ", 1)[-1]
    assert reference == "c-1"  # the first free reference of the charity's in the package
    again = cli_ledger.ok("concern", "raise", PACKAGE, "--as", "mind-in-barnet", "--subject",
                          "Late payment", "--text", "Paid after 60 days", "--ref", "")  # fmt: skip
    assert again.stdout.strip().endswith("Concern reference: c-2")
    cli_ledger.ok("concern", "respond", PACKAGE, "--as", "barnet-council", "--sub",
                  "mind-in-barnet", "--ref", reference, "--text", "Meeting called")  # fmt: skip
    cli_ledger.ok("package", "close", PACKAGE, "--as", "barnet-council")

    counts = event_types(cli_ledger.url)
    assert counts["OrganisationRegistered"] == 6
    assert counts["PromiseAcknowledged"] == 2
    assert counts["PromiseDisputed"] == 1
    assert counts["SubcontractIssued"] == counts["SubcontractAccepted"] == 3
    for per_quarter in ("ReferralsSent", "ReferralsConfirmed", "InvoiceSubmitted",
                        "PaymentRecorded", "PaymentConfirmed", "PerformanceReported",
                        "PerformanceAttested"):  # fmt: skip
        assert counts[per_quarter] == 12, per_quarter
    assert counts["ContractValueVaried"] == 1
    assert counts["VariationProposed"] == 2
    assert counts["VariationAccepted"] == counts["VariationDisputed"] == 1

    shown = json.loads(
        cli_ledger.ok("bid", "show", PACKAGE, "--prime", "northgate", "--format", "json").stdout
    )
    assert {p["subcontractor"]: p["answer"] for p in shown} == {
        "hope-trust": "acknowledged",
        "mind-in-barnet": "acknowledged",
        "refugee-advice": "awaiting answer",
        "womens-centre": "disputed (terms-differ)",
    }

    history = json.loads(cli_ledger.ok("history", PACKAGE, "--format", "json").stdout)
    assert len(history) == sum(counts.values()) - 7  # all but the genesis and registrations
    assert [h["notification_id"] for h in history] == sorted(h["notification_id"] for h in history)
    assert history[0]["event_type"] == "PackageCreated"
    assert history[-1]["event_type"] == "PackageClosed"
    cut = next(h for h in history if h["event_type"] == "ContractValueVaried")
    assert cut["org"] == "barnet-council"
    assert "(-10.0%): budget cut 2026/27: 10%" in cut["summary"]
    table = cli_ledger.ok("history", PACKAGE).stdout
    assert "mind-in-barnet disputed variation 1" in table

    # (the run-off may still settle the contract period; a new KPI is not part of it)
    closed = cli_ledger.run("kpi", "define", PACKAGE, "--as", "barnet-council", "--name",
                            "outcomes", "--unit", "people")  # fmt: skip
    assert closed.exit_code == 1
    assert f"package {PACKAGE} is closed" in closed.stderr

    audit = cli_ledger.ok("audit", "verify")
    assert "OK: every signature and chain link verifies." in audit.stdout


def test_import_records_all_lines_or_none(cli_ledger: CliLedger, tmp_path: Path) -> None:
    build_package(cli_ledger)
    before = event_types(cli_ledger.url)
    lines = [
        {"step": "referral.send", "package": PACKAGE, "subcontractor": h, "period": q, "count": 10}
        for q in QUARTERS
        for h, *_ in SUBCONTRACTORS[:3]
    ]
    bad = [*lines[:5], {**lines[5], "subcontractor": "womens-centre"}, *lines[6:]]
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in bad) + "\n")
    refused = cli_ledger.run("import", str(path), "--as", "northgate")
    assert refused.exit_code == 1
    assert refused.stderr.startswith(
        "Error: line 6 (referral.send): womens-centre has no subcontract in package BAR-ES-2026"
    )
    assert event_types(cli_ledger.url) == before

    good = tmp_path / "good.jsonl"
    good.write_text("\n".join(json.dumps(line) for line in lines) + "\n\n")
    imported = cli_ledger.ok("import", str(good), "--as", "northgate")
    assert imported.stdout.strip() == "Imported 12 events signed by northgate."
    assert event_types(cli_ledger.url)["ReferralsSent"] == 12
    history = json.loads(cli_ledger.ok("history", PACKAGE, "--format", "json").stdout)
    sent = [h["summary"] for h in history if h["event_type"] == "ReferralsSent"]
    expected = [f"northgate sent 10 referrals for {q}" for q in QUARTERS for _ in range(3)]
    assert sent == expected


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "line 1: not valid JSON"),
        ('["a list"]', "line 1: each line must be a JSON object"),
        ('{"step": "referral.teleport"}', "line 1 (referral.teleport): unknown step 'referral.teleport'; steps are: bid.acknowledge"),
        ('{"step": "referral.send", "package": "BAR-ES-2026"}',
         "line 1 (referral.send): missing field(s) subcontractor, period, count"),
        ('{"step": "referral.send", "package": "BAR-ES-2026", "subcontractor": "hope-trust", '
         '"period": "2026-Q1", "count": 3, "colour": "red"}',
         "line 1 (referral.send): unknown field(s) colour"),
        ('{"step": "payment.record", "package": "BAR-ES-2026", "subcontractor": "hope-trust", '
         '"invoice": "X", "amount": 10.5, "paid_on": "2026-01-01"}',
         "line 1: not valid JSON (10.5 is a float"),
        ('{"step": "referral.send", "package": "BAR-ES-2026", "subcontractor": "hope-trust", '
         '"period": "2026-Q1", "count": NaN}', "line 1: not valid JSON (NaN is not a number"),
    ],
)  # fmt: skip
def test_import_names_the_bad_line(
    ledgers: LedgerStore, tmp_path: Path, line: str, message: str
) -> None:
    ledger = CliLedger(ledgers.url("l"), tmp_path / "keys", CliRunner())
    ledger.ok("init")
    ledger.ok("org", "create", "Northgate", "--role", "prime")
    before = event_types(ledger.url)
    path = tmp_path / "steps.jsonl"
    path.write_text(line + "\n")
    result = ledger.run("import", str(path), "--as", "northgate")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {message}"), result.stderr
    assert "Traceback" not in result.stderr
    assert event_types(ledger.url) == before


def test_export_then_import_reproduces_the_steps(
    cli_ledger: CliLedger, ledgers: LedgerStore, tmp_path: Path
) -> None:
    build_package(cli_ledger)
    exported = {}
    for handle in ("barnet-council", "northgate", *(h for h, *_ in SUBCONTRACTORS)):
        path = tmp_path / f"{handle}.jsonl"
        cli_ledger.ok("export", "--format", "steps", "--as", handle, "-o", str(path))
        exported[handle] = path
    assert (
        json.loads(exported["barnet-council"].read_text().splitlines()[0])["step"]
        == "package.create"
    )

    copy = CliLedger(ledgers.url("copy"), tmp_path / "keys2", CliRunner())
    copy.ok("init")
    copy.ok("org", "create", "Barnet Council", "--role", "commissioner")
    copy.ok("org", "create", "Northgate", "--role", "prime", "--handle", "northgate")
    for handle, name, *_ in SUBCONTRACTORS:
        copy.ok("org", "create", name, "--role", "subcontractor", "--handle", handle)
    # Replay in an order that respects the story: package, bid, answers, award, subcontracts.
    steps = [
        (handle, json.loads(line))
        for handle, path in exported.items()
        for line in path.read_text().splitlines()
    ]
    order = ["package.create", "kpi.define", "interest.express", "bid.submit", "bid.acknowledge",
             "bid.dispute", "package.award", "subcontract.issue", "subcontract.accept"]  # fmt: skip
    steps.sort(key=lambda pair: order.index(pair[1]["step"]))
    for signer, step in steps:
        one = tmp_path / "one.jsonl"
        one.write_text(json.dumps(step) + "\n")
        copy.ok("import", str(one), "--as", signer)
    original = [
        (h["org"], h["event_type"], h["summary"])
        for h in json.loads(cli_ledger.ok("history", PACKAGE, "--format", "json").stdout)
    ]
    replayed = [
        (h["org"], h["event_type"], h["summary"])
        for h in json.loads(copy.ok("history", PACKAGE, "--format", "json").stdout)
    ]
    # The same facts, signed by the same organisations (replayed here grouped by step).
    assert sorted(replayed) == sorted(original)
    assert len(original) == len(steps) == 14
