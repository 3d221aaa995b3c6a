"""Open data: the demo ledger and a generated 10,000-event ledger published as OCDS 1.1,
validated offline.

The schemas are the structural copies of OCDS 1.1.5's release, release-package and
record-package schemas in ``tests/data/ocds`` (Apache-2.0, see its README.txt and
LICENSE), with the subcontracting and metrics extensions' release schemas applied as
JSON Merge Patches, as OCDS tools apply extensions; codelist values are checked against
the CSV codelists beside them. No network.

Round trips check that every promise of the awarded bid, every payment, every referral
count sent and every KPI result in the ledger appears in the export, with its numbers.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from jsonschema import Draft4Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from chainledger.application.open_data import write_json
from chainledger.bootstrap import open_ledger
from chainledger.cli.main import cli
from chainledger.domain import invoice, subcontract
from chainledger.domain.bid import BidSubmitted
from chainledger.domain.package import PackageAwarded
from chainledger.projections.ocds import compile_releases
from chainledger.tools.demo import DEMO_PASSPHRASE
from chainledger.tools.generator import generate
from tests.conftest import CliLedger, DemoRun
from tests.e2e.test_lifecycle import build_package, event_types, run_quarters

DATA = Path(__file__).resolve().parents[1] / "data" / "ocds"
CORE = DATA / "ocds-1.1.5"
PREFIX = "ocds-213czf"


def _merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: how an OCDS extension's release schema patches the core schema."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge_patch(result.get(key), value)
    return result


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _validator(package_schema: str) -> Draft4Validator:
    release = _load(CORE / "release-schema.json")
    for extension in ("subcontracting", "metrics"):
        release = _merge_patch(
            release, _load(DATA / "extensions" / extension / "release-schema.json")
        )
    registry = Registry().with_resource(
        release["id"], Resource.from_contents(release, default_specification=DRAFT4)
    )
    schema = _load(CORE / package_schema)
    Draft4Validator.check_schema(schema)
    return Draft4Validator(schema, registry=registry, format_checker=Draft4Validator.FORMAT_CHECKER)


def _codes(path: Path) -> set[str]:
    with path.open(encoding="utf-8") as file:
        return {row["Code"] for row in csv.DictReader(file)}


CODELISTS = {
    "tag": _codes(CORE / "codelists" / "releaseTag.csv"),
    "roles": _codes(CORE / "codelists" / "partyRole.csv")
    | _codes(DATA / "extensions" / "subcontracting" / "+partyRole.csv"),
    "currency": _codes(CORE / "codelists" / "currency.csv"),
    "award": _codes(CORE / "codelists" / "awardStatus.csv"),
    "contract": _codes(CORE / "codelists" / "contractStatus.csv"),
    "tender": _codes(CORE / "codelists" / "tenderStatus.csv"),
}


def _errors(validator: Draft4Validator, document: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    ]


def _package_errors(schema: str, package: dict[str, Any], key: str) -> list[str]:
    """Errors of a release or record package, its ``key`` items one at a time.

    jsonschema checks ``uniqueItems`` by comparing every pair of items, which takes
    minutes on thousands of releases; items are unique when their ids are, which is
    checked here instead.
    """
    validator = _validator(schema)
    items = package[key]
    identity = "id" if key == "releases" else "ocid"
    assert len({item[identity] for item in items}) == len(items)
    errors = _errors(validator, {**package, key: items[:1]})
    for number, item in enumerate(items[1:], 1):
        errors += [f"{key}/{number}/{e}" for e in _errors(validator, {**package, key: [item]})]
    return errors


def _values(document: Any, key: str) -> Iterator[Any]:
    """Every value stored under ``key`` anywhere in ``document``."""
    if isinstance(document, dict):
        for k, v in document.items():
            if k == key:
                yield v
            yield from _values(v, key)
    elif isinstance(document, list):
        for item in document:
            yield from _values(item, key)


def _check_codelists(releases: list[dict[str, Any]]) -> None:
    for release in releases:
        assert set(release["tag"]) <= CODELISTS["tag"], release["tag"]
        for party in release.get("parties", []):
            assert set(party["roles"]) <= CODELISTS["roles"], party
        assert set(_values(release, "currency")) <= CODELISTS["currency"]
        for award in release.get("awards", []):
            assert award.get("status", "active") in CODELISTS["award"]
        for contract in release.get("contracts", []):
            assert contract.get("status", "active") in CODELISTS["contract"]
        assert release.get("tender", {}).get("status", "active") in CODELISTS["tender"]
        # jsonschema checks "format": "date-time" only with optional libraries: check here.
        for key in ("date", "startDate", "endDate", "dateSigned"):
            for value in _values(release, key):
                assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", value), (key, value)
                datetime.fromisoformat(value.replace("Z", "+00:00"))


def _parse(text: str) -> Any:
    return json.loads(text, parse_float=Decimal)


# -- the demo ledger ------------------------------------------------------------------


@pytest.fixture
def demo(demo_run: DemoRun) -> Path:
    return demo_run.directory


def _run(directory: Path, *args: str) -> Any:
    result = CliRunner().invoke(
        cli,
        ["--ledger", str(directory / "chainledger.db"), *args],
        env={
            "CHAINLEDGER_KEYS": str(directory / "keys"),
            "CHAINLEDGER_PASSPHRASE": DEMO_PASSPHRASE,
        },
    )
    assert result.exit_code == 0, result.stderr
    return result


def test_the_demo_exports_a_valid_release_package(demo: Path, tmp_path: Path) -> None:
    path = tmp_path / "demo.ocds.json"
    result = _run(demo, "export", "ocds", "--ocid-prefix", PREFIX, "-o", str(path))
    package = _parse(path.read_text(encoding="utf-8"))
    assert result.stderr == f"Wrote {len(package['releases'])} releases to {path}\n"
    assert _errors(_validator("release-package-schema.json"), package) == []
    _check_codelists(package["releases"])
    assert package["extensions"] == [
        "https://raw.githubusercontent.com/open-contracting-extensions/ocds_subcontracting_extension/master/extension.json",
        "https://raw.githubusercontent.com/open-contracting-extensions/ocds_metrics_extension/master/extension.json",
    ]
    assert {r["ocid"] for r in package["releases"]} == {f"{PREFIX}-BAR-ES-2026"}
    ids = [r["id"] for r in package["releases"]]
    assert len(ids) == len(set(ids))
    tags = [t for r in package["releases"] for t in r["tag"]]
    for tag in ("tender", "tenderUpdate", "award", "contract", "contractAmendment",
                "contractUpdate", "implementation"):  # fmt: skip
        assert tag in tags, tag


def test_the_demo_exports_a_valid_record_package(demo: Path) -> None:
    result = _run(demo, "export", "ocds", "--compiled", "--ocid-prefix", PREFIX)
    package = _parse(result.stdout)
    assert _errors(_validator("record-package-schema.json"), package) == []
    (record,) = package["records"]
    compiled = record["compiledRelease"]
    assert compiled["tag"] == ["compiled"]
    _check_codelists([compiled, *record["releases"]])
    assert compiled == _parse(write_json(compile_releases(record["releases"])))
    roles = {p["id"]: set(p["roles"]) for p in compiled["parties"]}
    assert roles["barnet-council"] >= {"buyer", "payer"}
    assert roles["northgate"] >= {"tenderer", "supplier", "payer"}
    assert roles["hope-trust"] >= {"subcontractor", "payee"}
    # Named in the bid, never contracted or paid: a subcontractor, not a payee.
    assert roles["womens-centre"] == {"subcontractor"}
    # The budget cut is an amendment with its rationale, and the contract value follows it.
    (contract,) = compiled["contracts"]
    assert contract["value"]["amount"] == Decimal("1800000")
    assert [a["rationale"] for a in contract["amendments"]] == ["budget cut 2025/26: 10%"]


def test_every_promise_payment_referral_and_kpi_result_is_in_the_export(demo: Path) -> None:
    app = open_ledger(str(demo / "chainledger.db"), demo / "keys")
    try:
        events = list(app.all_events())
        package = app.ocds(PREFIX, "BAR-ES-2026", compiled=True)
    finally:
        app.close()
    compiled = package["records"][0]["compiledRelease"]
    (award,) = compiled["awards"]
    (contract,) = compiled["contracts"]
    implementation = contract["implementation"]

    awarded = next(e for e in events if isinstance(e, PackageAwarded))
    bid = next(e for e in events if isinstance(e, BidSubmitted) and e.org == awarded.prime)
    promised = {s["subcontractor"]["id"] for s in award["subcontracting"]["subcontracts"]}
    assert promised == {p.subcontractor for p in bid.promises}
    assert (
        award["subcontracting"]["minimumPercentage"]
        == sum((p.terms.share_pct for p in bid.promises), Decimal(0)) / 100
    )
    agreed = {m["id"]: m for m in award["agreedMetrics"]}
    for p in bid.promises:
        (observation,) = agreed[f"referrals-{p.subcontractor}"]["observations"]
        assert observation["measure"] == p.terms.referrals_per_period
        assert f"{p.subcontractor}: {p.terms.service}" in award["subcontracting"]["description"]
    # Every bid's promises, the losing ones too, are forecasts named after their prime.
    forecasts = {
        (m["id"], o["id"]): o for m in compiled["planning"]["forecasts"] for o in m["observations"]
    }
    bids = [e for e in events if isinstance(e, BidSubmitted)]
    assert len(forecasts) == 2 * sum(len(b.promises) for b in bids)
    for b in bids:
        for p in b.promises:
            workshare = forecasts[(f"workshare-{p.subcontractor}", f"bid-{b.org}")]
            assert workshare["measure"] == p.terms.share_pct
            assert workshare["value"] == {"amount": p.terms.value_per_year, "currency": "GBP"}
            referrals = forecasts[(f"referrals-{p.subcontractor}", f"bid-{b.org}")]
            assert referrals["measure"] == p.terms.referrals_per_period

    payments = [e for e in events if isinstance(e, invoice.PaymentRecorded)]
    transactions = {t["id"]: t for t in implementation["transactions"]}
    assert len(transactions) == len(payments)
    for payment in payments:
        t = transactions[f"payment-{payment.notification_id}"]
        assert t["value"] == {"amount": payment.amount, "currency": "GBP"}
        assert t["payer"]["id"] == payment.org
        assert t["date"].startswith(payment.paid_on.isoformat())

    metrics = {m["id"]: m for m in implementation["metrics"]}
    sent = [e for e in events if isinstance(e, subcontract.ReferralsSent)]
    reported = [e for e in events if isinstance(e, subcontract.PerformanceReported)]
    assert sent
    assert reported
    found_sent = {(m, o["id"], o["measure"]) for m, metric in metrics.items()
                  for o in metric["observations"] if o["id"].endswith("-sent")}  # fmt: skip
    assert len(found_sent) == len(sent)
    found_actual = {(o["dimensions"]["subcontractor"], o["period"]["startDate"][:7], o["measure"])
                    for metric in metrics.values() for o in metric["observations"]
                    if o["id"].endswith("-actual")}  # fmt: skip
    assert len(found_actual) == len(reported)
    for e in reported:
        assert any(sub == e.org and measure == e.actual for sub, _, measure in found_actual), e


def test_nothing_in_the_export_names_a_person_or_a_free_text_concern(demo: Path) -> None:
    text = _run(demo, "export", "ocds").stdout
    # Concerns and review comments are free text; none of it is published.
    assert "Our value was cut by 40%" not in text
    assert "Named in the bid, never contracted" not in text
    assert "MIND-1" not in text


def test_csv_tables_hold_the_same_payments(demo: Path, tmp_path: Path) -> None:
    out = tmp_path / "tables"
    result = _run(demo, "export", "ocds", "--format", "csv", "-o", str(out),
                  "--ocid-prefix", PREFIX)  # fmt: skip
    assert result.stderr.startswith("Wrote releases.csv, parties.csv, awards.csv")
    with (out / "transactions.csv").open(encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    record = _parse(_run(demo, "export", "ocds", "--compiled").stdout)["records"][0]
    transactions = record["compiledRelease"]["contracts"][0]["implementation"]["transactions"]
    assert [(r["transaction_id"], Decimal(r["amount"]), r["payee"]) for r in rows] == [
        (t["id"], t["value"]["amount"], t["payee"]["id"]) for t in transactions
    ]


def test_csv_needs_a_directory(demo: Path) -> None:
    result = CliRunner().invoke(
        cli, ["--ledger", str(demo / "chainledger.db"), "export", "ocds", "--format", "csv"]
    )
    assert result.exit_code == 2
    assert "give -o DIRECTORY" in result.stderr


@pytest.mark.parametrize("prefix", ["OCDS-1", "ocds-", "ocds_abc", "ocds-abc def", ""])
def test_a_malformed_ocid_prefix_is_refused(demo: Path, prefix: str) -> None:
    result = CliRunner().invoke(
        cli, ["--ledger", str(demo / "chainledger.db"), "export", "ocds", "--ocid-prefix", prefix]
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: an OCID prefix is 'ocds-' followed by")


def test_an_unknown_package_is_refused(demo: Path) -> None:
    result = CliRunner().invoke(
        cli, ["--ledger", str(demo / "chainledger.db"), "export", "ocds", "--package", "NOPE-1"]
    )
    assert result.exit_code == 1
    assert result.stderr == "Error: no package 'NOPE-1' in this ledger\n"


# -- a generated ledger of 10,000 events ---------------------------------------------


def test_a_generated_ten_thousand_event_ledger_exports_valid_ocds(tmp_path: Path) -> None:
    app = open_ledger(str(tmp_path / "ledger.db"), tmp_path / "keys", create=True)
    app.init_ledger("generated for OCDS")
    try:
        generate(app, events=10_000, subcontractors=80)  # 12 packages need far fewer than 400
        assert (app.recorder.max_notification_id() or 0) >= 10_000
        releases = app.ocds(PREFIX)
        records = app.ocds(PREFIX, compiled=True)
        payments = sum(1 for e in app.all_events() if isinstance(e, invoice.PaymentRecorded))
    finally:
        app.close()
    releases, records = _parse(write_json(releases)), _parse(write_json(records))
    assert _package_errors("release-package-schema.json", releases, "releases") == []
    # Each record's releases are the release package's, validated just above (checked
    # equal here); the record package is validated with each record's first release, so
    # that every compiled release is validated without validating each release twice.
    by_ocid: dict[str, list[Any]] = {}
    for release in releases["releases"]:
        by_ocid.setdefault(release["ocid"], []).append(release)
    assert {r["ocid"]: r["releases"] for r in records["records"]} == by_ocid
    shortened = {**records,
                 "records": [{**r, "releases": r["releases"][:1]} for r in records["records"]]}  # fmt: skip
    assert _package_errors("record-package-schema.json", shortened, "records") == []
    _check_codelists(releases["releases"])
    assert len(records["records"]) > 1
    assert len(records["records"]) == len({r["ocid"] for r in releases["releases"]})
    transactions = [
        t
        for record in records["records"]
        for c in record["compiledRelease"].get("contracts", [])
        for t in c.get("implementation", {}).get("transactions", [])
    ]
    assert len(transactions) == payments


# -- on each engine, through the CLI -------------------------------------------------


def test_a_package_recorded_through_the_cli_exports_valid_ocds_on_each_engine(
    cli_ledger: CliLedger,
) -> None:
    build_package(cli_ledger)
    run_quarters(cli_ledger)
    package = _parse(cli_ledger.ok("export", "ocds", "--ocid-prefix", PREFIX).stdout)
    assert _package_errors("release-package-schema.json", package, "releases") == []
    _check_codelists(package["releases"])
    records = _parse(cli_ledger.ok("export", "ocds", "--compiled").stdout)
    assert _package_errors("record-package-schema.json", records, "records") == []
    (record,) = records["records"]
    assert record["ocid"] == "ocds-chainledger-BAR-ES-2026"
    (contract,) = record["compiledRelease"]["contracts"]
    payments = [e for e in event_types(cli_ledger.url).elements() if e == "PaymentRecorded"]
    assert payments
    assert len(contract["implementation"]["transactions"]) == len(payments)


def test_ocds_dates_are_when_the_facts_took_effect(demo: Path) -> None:
    """The award, the contract's signature and each amendment are dated when they took effect
    (their signed effective date), not when someone typed them in (issue 24): the demo
    records in one sitting, on one day, a package awarded on 1 March 2025."""
    app = open_ledger(str(demo / "chainledger.db"), demo / "keys")
    try:
        events = {e.notification_id: e for e in app.all_events()}
        package = app.ocds(PREFIX, "BAR-ES-2026", compiled=True)
    finally:
        app.close()
    awarded = next(e for e in events.values() if e.type_name == "PackageAwarded")
    compiled = package["records"][0]["compiledRelease"]
    (award,) = compiled["awards"]
    (contract,) = compiled["contracts"]
    assert award["date"] == contract["dateSigned"] == f"{awarded.on.isoformat()}T00:00:00Z"
    assert award["date"] == "2025-03-01T00:00:00Z"
    varied = [e for e in events.values() if e.type_name == "ContractValueVaried"]
    amendments = contract.get("amendments", [])
    assert len(amendments) == len(varied) > 0
    for amendment in amendments:
        event = events[int(amendment["id"].removeprefix("amendment-"))]
        assert amendment["date"] == f"{event.on.isoformat()}T00:00:00Z"
        assert event.timestamp.date() != event.on  # recorded later than it took effect


def test_the_default_ocid_prefix_comes_with_a_note(demo: Path) -> None:
    plain = _run(demo, "export", "ocds")
    assert "Note: ocds-chainledger is not a registered OCID prefix" in plain.stderr
    assert '"ocid": "ocds-chainledger-' in plain.stdout
    given = _run(demo, "export", "ocds", "--ocid-prefix", PREFIX)
    assert "Note:" not in given.stderr
