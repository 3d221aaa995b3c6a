"""The report commands end to end through the CLI: the fields each report carries in every
format, --as-of, --threshold and --base-rate, the errors, and ``projections rebuild``.

The ledgers are built once per module with the application API (the scenario builder of
tests/integration/test_findings.py) and then only read through the CLI; tests that write
(a rebuild, a second package) work on a copy.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from chainledger.adapters.keystore import Keystore
from chainledger.bootstrap import open_ledger
from chainledger.cli.reports import TABLE_COLUMNS
from tests.conftest import FAST_SCRYPT_N, CliLedger
from tests.integration.test_findings import AS_OF, PACKAGE, Story, build
from tests.ledgers import LedgerStore, event_count

# Every field of every report's rows, in order: the dict keys in domain/assessment.py.
# A field added, removed or renamed there must be added, removed or renamed here too.
FIELDS: dict[str, tuple[str, ...]] = {
    "workshare": (
        "package", "prime", "subcontractor", "promised_share_pct", "promised_value_per_year",
        "promised_referrals", "answer", "contracted_share_pct", "contracted_value_per_year",
        "contracted_referrals", "due_to_date", "paid_to_date", "referrals_received", "elapsed_pct",
        "value_delivered_pct", "referrals_delivered_pct", "status", "evidence",
    ),
    "payments": (
        "package", "payer", "payee", "invoices", "invoiced", "paid", "mean_days_to_pay",
        "paid_within_30_days_pct", "paid_1_30_days_pct", "paid_31_60_days_pct",
        "paid_61_plus_days_pct", "overdue_invoices", "overdue_amount", "oldest_overdue",
        "oldest_overdue_days", "late_payment_interest", "base_rate_pct", "evidence",
    ),
    "referrals": (
        "package", "subcontractor", "period", "promised", "sent", "confirmed",
        "sent_vs_promised_pct", "disagreement", "difference", "evidence",
    ),
    "performance": (
        "package", "kpi", "period", "provider", "actual", "target", "acceptable", "direction",
        "rating", "attested", "evidence",
    ),
    "findings": ("rule", "severity", "package", "organisations", "roles", "finding", "amounts",
                 "evidence"),
    "scorecard": ("prime", "area", "rating", "findings", "rules", "metrics", "evidence"),
}  # fmt: skip
REPORTS = tuple(FIELDS)
MERLIN_AREAS = ["Supply Chain Design", "Commitment", "Conduct", "Review"]


def report_args(name: str, *extra: str, package: str | None = PACKAGE) -> list[str]:
    """``report NAME`` for the scenario's package as of the scenario's date."""
    args = ["report", name]
    if name == "scorecard":
        args += ["--prime", "prime"]
    if package is not None:
        args += ["--package", package]
    return [*args, "--as-of", str(AS_OF), *extra]


def rows_of(ledger: CliLedger, name: str, *extra: str, package: str | None = PACKAGE) -> Any:
    return json.loads(
        ledger.ok(*report_args(name, "--format", "json", *extra, package=package)).stdout
    )


def failed(result: Result, code: int) -> str:
    """The error output of a run that must have failed with ``code`` and no traceback."""
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert "this is a bug" not in result.stderr
    return result.stderr


def build_ledger(store: LedgerStore, name: str, story: Story) -> CliLedger:
    """A ledger holding ``story``, built with the application (fast keys)."""
    path, keys = store.url(name), store.directory / f"{name}-keys"
    app = open_ledger(path, keys, create=True)
    app.keystore = Keystore(keys, scrypt_n=FAST_SCRYPT_N)
    app.init_ledger("reports test ledger")
    build(app, story)
    app.close()
    return CliLedger(path, keys, CliRunner())


def copy_of(ledger: CliLedger, store: LedgerStore) -> CliLedger:
    """A copy of the ledger (same keys) that a test may write to."""
    return CliLedger(store.copy(ledger.url, "copy"), ledger.keys, CliRunner())


@pytest.fixture(scope="module")
def late(module_ledgers: LedgerStore) -> CliLedger:
    """WELL-RUN-1 with every invoice to mind paid in 45 days against terms of 30."""
    return build_ledger(module_ledgers, "late", Story(s2_pay_days=45))


@pytest.fixture(scope="module")
def concern(module_ledgers: LedgerStore) -> CliLedger:
    """WELL-RUN-1 with a concern mind raised on 2026-09-01 and nobody answered."""
    return build_ledger(module_ledgers, "concern", Story(concern_on=date(2026, 9, 1)))


def csv_cell(value: Any) -> str:
    """How a JSON value of a report reads in its CSV output."""
    if value is None:
        return ""
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {v}" for k, v in value.items())
    return str(value)


# -- the fields of every report --------------------------------------------------------------


@pytest.mark.parametrize("name", REPORTS)
def test_json_rows_have_exactly_the_documented_fields(late: CliLedger, name: str) -> None:
    rows = rows_of(late, name)
    assert isinstance(rows, list)
    assert rows, f"{name} has no rows on the scenario"
    for row in rows:
        assert list(row) == list(FIELDS[name]), row


@pytest.mark.parametrize("name", REPORTS)
def test_csv_has_the_same_fields_and_one_line_per_row(late: CliLedger, name: str) -> None:
    rows = rows_of(late, name)
    text = late.ok(*report_args(name, "--format", "csv")).stdout
    lines = text.splitlines()
    assert lines[0] == ",".join(FIELDS[name])
    assert len(lines) == len(rows) + 1
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert [list(r) for r in parsed] == [list(FIELDS[name])] * len(rows)
    assert parsed == [{k: csv_cell(v) for k, v in row.items()} for row in rows]


@pytest.mark.parametrize("name", REPORTS)
def test_table_names_the_report_date_and_package(late: CliLedger, name: str) -> None:
    assert set(TABLE_COLUMNS[name]) <= set(FIELDS[name])  # a table shows real fields only
    rows = rows_of(late, name)
    lines = late.ok(*report_args(name)).stdout.splitlines()
    assert lines[0] == f"{name} as of {AS_OF}, package {PACKAGE}"
    assert lines[1].split() == list(TABLE_COLUMNS[name])
    assert set(lines[2]) == {"-", " "}
    assert len(lines) == 3 + len(rows)


def test_table_without_a_package_names_no_package(late: CliLedger) -> None:
    lines = late.ok("report", "workshare", "--as-of", str(AS_OF)).stdout.splitlines()
    assert lines[0] == f"workshare as of {AS_OF}"


# -- values on a known scenario ------------------------------------------------------------


def test_payments_show_late_payment_to_mind(late: CliLedger) -> None:
    rows = {row["payee"]: row for row in rows_of(late, "payments")}
    assert set(rows) == {"hope", "mind"}
    mind = rows["mind"]
    assert mind["package"] == PACKAGE
    assert mind["payer"] == "prime"
    assert mind["invoices"] == 8
    assert (mind["invoiced"], mind["paid"]) == ("400000.00", "400000.00")
    assert mind["mean_days_to_pay"] == "45.0"
    assert mind["paid_within_30_days_pct"] == "0.0"
    assert mind["paid_31_60_days_pct"] == "100.0"
    assert mind["paid_61_plus_days_pct"] == "0.0"
    assert mind["overdue_invoices"] == 0
    assert (mind["oldest_overdue"], mind["oldest_overdue_days"]) == (None, None)
    # 8 invoices of £50,000, each paid 15 days late: base 4% + 8% a year, per invoice.
    per_invoice = (Decimal(50000) * Decimal("0.12") * 15 / 365).quantize(
        Decimal("0.01")
    )
    assert Decimal(mind["late_payment_interest"]) == per_invoice * 8
    assert mind["base_rate_pct"] == "4.00"
    hope = rows["hope"]
    assert (hope["invoices"], hope["mean_days_to_pay"]) == (8, "20.0")
    assert (hope["paid_within_30_days_pct"], hope["late_payment_interest"]) == ("100.0", "0.00")


def test_findings_are_one_late_payment_resting_on_events_in_the_history(late: CliLedger) -> None:
    found = rows_of(late, "findings")
    assert [f["rule"] for f in found] == ["LATE_PAYMENT"]
    finding = found[0]
    assert finding["package"] == PACKAGE
    assert finding["severity"] == "medium"
    assert finding["organisations"] == ["prime", "mind"]
    assert finding["roles"] == {"prime": "prime", "mind": "subcontractor"}
    assert finding["finding"].startswith("prime paid 8 invoice(s) late (up to 45 days) to mind")
    history = json.loads(late.ok("history", PACKAGE, "--format", "json").stdout)
    events = {row["notification_id"]: row["event_type"] for row in history}
    assert len(finding["evidence"]) == 16  # each invoice and its payment
    assert set(finding["evidence"]) <= set(events)
    assert {events[n] for n in finding["evidence"]} == {"InvoiceSubmitted", "PaymentRecorded"}
    mind = next(r for r in rows_of(late, "payments") if r["payee"] == "mind")
    assert finding["evidence"] == mind["evidence"]  # every one of mind's invoices was late


def test_workshare_referrals_and_performance_on_the_scenario(late: CliLedger) -> None:
    workshare = rows_of(late, "workshare")
    assert [(r["subcontractor"], r["answer"], r["status"]) for r in workshare] == [
        ("hope", "acknowledged", "on track"),
        ("mind", "acknowledged", "on track"),
    ]
    assert [r["paid_to_date"] for r in workshare] == ["600000.00", "400000.00"]
    referrals = rows_of(late, "referrals")
    assert len(referrals) == 16  # two subcontractors, eight quarters
    assert not any(r["disagreement"] for r in referrals)
    assert {(r["subcontractor"], r["promised"], r["sent"]) for r in referrals} == {
        ("hope", 60, 60),
        ("mind", 40, 40),
    }
    performance = rows_of(late, "performance")
    assert len(performance) == 16
    assert {(r["rating"], r["attested"]) for r in performance} == {("good", True)}


def test_scorecard_has_the_four_merlin_areas_in_order(late: CliLedger) -> None:
    rows = rows_of(late, "scorecard")
    assert [r["area"] for r in rows] == MERLIN_AREAS
    assert {r["prime"] for r in rows} == {"prime"}
    assert [r["rating"] for r in rows] == ["green", "green", "amber", "green"]
    conduct = rows[2]
    assert (conduct["findings"], conduct["rules"]) == (1, ["LATE_PAYMENT"])
    assert conduct["evidence"] == rows_of(late, "findings")[0]["evidence"]
    assert conduct["metrics"]["invoices"] == 16
    assert conduct["metrics"]["mean days to pay"] == "32.5"


# -- --as-of ---------------------------------------------------------------------------------


def test_before_the_package_existed_there_is_nothing_to_report(late: CliLedger) -> None:
    args = ["report", "workshare", "--package", PACKAGE, "--as-of", "2024-01-01"]
    assert late.ok(*args).stdout == (
        f"workshare as of 2024-01-01, package {PACKAGE}\nNothing to report as of 2024-01-01.\n"
    )
    assert json.loads(late.ok(*args, "--format", "json").stdout) == []


def test_as_of_answers_as_the_ledger_stood(late: CliLedger) -> None:
    args = ["--package", PACKAGE, "--format", "json"]
    early = json.loads(late.ok("report", "payments", *args, "--as-of", "2024-11-05").stdout)
    mind = next(r for r in early if r["payee"] == "mind")
    assert (mind["invoices"], mind["overdue_invoices"], mind["oldest_overdue"]) == (
        1, 1, "mind-2024-Q3",
    )  # fmt: skip
    assert mind["oldest_overdue_days"] == 6


@pytest.mark.parametrize("bad", ["2026-13-01", "2026-02-30", "31/10/2026", "tomorrow"])
def test_an_invalid_as_of_is_an_error(late: CliLedger, bad: str) -> None:
    stderr = failed(late.run("report", "workshare", "--as-of", bad), 1)
    assert stderr.startswith("Error: --as-of date ")
    assert bad in stderr


def test_a_future_as_of_is_a_reporting_date(late: CliLedger) -> None:
    future = "2030-01-01"
    result = late.ok("report", "findings", "--package", PACKAGE, "--as-of", future)
    assert result.stdout.startswith(f"findings as of {future}, package {PACKAGE}\n")
    args = ["--package", PACKAGE, "--as-of", future, "--format", "json"]
    assert json.loads(late.ok("report", "findings", *args).stdout) == rows_of(late, "findings")
    assert json.loads(late.ok("report", "workshare", *args).stdout) == rows_of(late, "workshare")


# -- thresholds and the base rate --------------------------------------------------------------


def test_a_threshold_changes_the_findings(concern: CliLedger) -> None:
    found = rows_of(concern, "findings")
    assert [f["rule"] for f in found] == ["CONCERN_UNANSWERED"]
    # 2026-09-01 (a Tuesday) to 2026-10-31: 43 working days without an answer.
    assert "in 43 working days" in found[0]["finding"]
    assert rows_of(concern, "findings", "--threshold", "concern_working_days=50") == []
    assert rows_of(concern, "findings", "--threshold", "concern_working_days=43") == []
    assert rows_of(concern, "findings", "--threshold", "concern_working_days=42") == found
    assert rows_of(concern, "findings", "--threshold", "concern_working_days = 42") == found


def test_the_last_of_repeated_thresholds_counts(concern: CliLedger) -> None:
    args = ("--threshold", "concern_working_days=50", "--threshold", "concern_working_days=20")
    assert [f["rule"] for f in rows_of(concern, "findings", *args)] == ["CONCERN_UNANSWERED"]


def test_an_unknown_threshold_is_an_error(late: CliLedger) -> None:
    stderr = failed(late.run(*report_args("findings", "--threshold", "nope=1")), 1)
    assert stderr.startswith("Error: unknown threshold 'nope'")
    assert "concern_working_days" in stderr  # it lists the ones there are


@pytest.mark.parametrize("value", ["soon", "1.5", "-1"])
def test_a_threshold_must_be_a_non_negative_number(late: CliLedger, value: str) -> None:
    result = late.run(*report_args("findings", "--threshold", f"late_payment_days={value}"))
    stderr = failed(result, 1)
    assert stderr.startswith("Error: threshold late_payment_days must be")


def test_a_threshold_without_a_value_is_a_usage_error(late: CliLedger) -> None:
    stderr = failed(late.run(*report_args("findings", "--threshold", "bad")), 2)
    assert "NAME=VALUE" in stderr


def test_the_base_rate_changes_the_interest(late: CliLedger) -> None:
    def mind(*extra: str) -> dict[str, Any]:
        return next(r for r in rows_of(late, "payments", *extra) if r["payee"] == "mind")

    default, zero = mind(), mind("--base-rate", "0")
    assert zero["base_rate_pct"] == "0"
    assert Decimal(zero["late_payment_interest"]) < Decimal(default["late_payment_interest"])
    per_invoice = (Decimal(50000) * Decimal("0.08") * 15 / 365).quantize(
        Decimal("0.01")
    )
    assert Decimal(zero["late_payment_interest"]) == per_invoice * 8
    assert mind("--base-rate", "4.00") == default
    assert mind("--threshold", "base_rate_pct=0") == zero
    # the finding quotes the interest owed
    found = rows_of(late, "findings", "--base-rate", "0")
    assert f"£{Decimal(zero['late_payment_interest']):,}" in found[0]["finding"]


def test_an_invalid_base_rate_is_an_error(late: CliLedger) -> None:
    stderr = failed(late.run(*report_args("payments", "--base-rate", "high")), 1)
    assert stderr.startswith("Error: threshold base_rate_pct must be a number")


@pytest.mark.parametrize(
    "option",
    [
        ("--base-rate", "nan"),
        ("--threshold", "bid_candy_pct=NaN"),
        ("--base-rate", "1e999999"),
        ("--threshold", "bid_candy_months=99999999999"),
        ("--threshold", "shortfall_explanation_days=99999999999"),
    ],
    ids=["base-rate-nan", "threshold-nan", "base-rate-huge", "months-huge", "days-huge"],
)
def test_extreme_threshold_values_fail_cleanly(late: CliLedger, option: tuple[str, str]) -> None:
    name = "payments" if option[0] == "--base-rate" else "findings"
    result = late.run(*report_args(name, *option))
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: threshold "), result.stderr
    assert "this is a bug" not in result.stderr, result.stderr
    assert "unexpected" not in result.stderr, result.stderr


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", REPORTS)
def test_an_unknown_package_is_an_error(late: CliLedger, name: str) -> None:
    stderr = failed(late.run(*report_args(name, package="NOPE")), 1)
    assert stderr == "Error: no package 'NOPE' in this ledger\n"


def test_the_scorecard_needs_a_prime(late: CliLedger) -> None:
    stderr = failed(late.run("report", "scorecard", "--as-of", str(AS_OF)), 2)
    assert "Missing option '--prime'" in stderr


def test_the_scorecard_refuses_a_handle_that_is_not_a_prime(late: CliLedger) -> None:
    stderr = failed(late.run("report", "scorecard", "--prime", "mind"), 1)
    assert stderr == "Error: mind is not a prime in any package\n"
    stderr = failed(late.run("report", "scorecard", "--prime", "mind", "--package", PACKAGE), 1)
    assert stderr == f"Error: mind is not a prime in package {PACKAGE}\n"
    stderr = failed(late.run("report", "scorecard", "--prime", "nobody"), 1)
    assert stderr == "Error: no organisation with handle 'nobody' in this ledger\n"


def test_reports_on_a_missing_ledger_fail_without_creating_it(tmp_path: Path) -> None:
    nowhere = tmp_path / "nowhere.db"
    ledger = CliLedger(str(nowhere), tmp_path / "keys", CliRunner())
    stderr = failed(ledger.run("report", "workshare"), 1)
    assert stderr.startswith("Error: no ledger at ")
    assert not nowhere.exists()


# -- projections rebuild ---------------------------------------------------------------------


def every_report(ledger: CliLedger) -> dict[str, Any]:
    return {name: rows_of(ledger, name, package=package)
            for name in REPORTS for package in (PACKAGE, None)}  # fmt: skip


def test_rebuild_replays_every_event_and_changes_no_report(
    late: CliLedger, ledgers: LedgerStore
) -> None:
    ledger = copy_of(late, ledgers)
    before = every_report(ledger)
    count = event_count(ledger.url)
    assert ledger.ok("projections", "rebuild").stdout == f"Rebuilt the views from {count} events.\n"
    assert event_count(ledger.url) == count  # a rebuild records nothing
    assert every_report(ledger) == before
    assert ledger.ok("projections", "rebuild").stdout == f"Rebuilt the views from {count} events.\n"
    assert every_report(ledger) == before


# -- every package -------------------------------------------------------------------------------


def test_without_a_package_reports_cover_every_package(
    late: CliLedger, ledgers: LedgerStore
) -> None:
    ledger = copy_of(late, ledgers)
    second = "SECOND-1"
    ledger.ok("package", "create", second, "--as", "council", "--on", "2025-01-01",
              "--title", "Housing advice", "--area", "Barnet", "--value", "500000",
              "--start", "2025-04-01", "--end", "2026-03-31", "--description", "Advice",
              "--payment-model", "fixed")  # fmt: skip
    promise = "arts:service=advice,share=10,value=50000,referrals=10,model=fixed,terms=30,fee=5"
    ledger.ok("bid", "submit", second, "--as", "prime", "--on", "2025-01-10", "--price", "480000",
              "--self-share", "0", "--promise", promise)  # fmt: skip
    ledger.ok("package", "award", second, "--as", "council", "--on", "2025-02-01", "--bid", "prime")

    workshare = rows_of(ledger, "workshare", package=None)
    assert {r["package"] for r in workshare} == {PACKAGE, second}
    arts = next(r for r in workshare if r["package"] == second)
    assert (arts["subcontractor"], arts["answer"]) == ("arts", "no answer")
    assert rows_of(ledger, "workshare", package=second) == [arts]
    assert [r for r in workshare if r["package"] == PACKAGE] == rows_of(ledger, "workshare")
    # arts never acknowledged and never received anything
    findings = rows_of(ledger, "findings", package=None)
    assert {f["package"] for f in findings} == {PACKAGE, second}
    assert sorted(f["rule"] for f in findings if f["package"] == second) == [
        "BID_CANDY", "NAMED_WITHOUT_CONSENT", "UNEXPLAINED_SHORTFALL",
    ]  # fmt: skip
    scorecard = rows_of(ledger, "scorecard", package=None)
    assert scorecard[0]["metrics"]["packages primed"] == 2
    assert rows_of(ledger, "scorecard")[0]["metrics"]["packages primed"] == 1
