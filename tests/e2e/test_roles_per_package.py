"""Roles per package, through the CLI: one organisation, prime in one package and
subcontractor in another, with the reports and findings of each naming the part it played.

The ledger is built once per module through the CLI, every step dated (``--on``) so the
reports, as of ``AS_OF``, do not depend on the day the tests run:

    BAR-1 (barnet-council): northgate bids keeping 50% itself and names hope-trust, who
          acknowledges; awarded to northgate, who subcontracts hope-trust and pays its
          invoice HT-1 45 days after its date (terms: 30); hope-trust raises a concern that
          nobody answers.
    CAM-1 (camden-council): mind offers its service to hope-trust; hope-trust bids keeping
          70% itself and names mind, who acknowledges; awarded to hope-trust, who
          subcontracts mind and pays its invoice M-1 51 days after its date (terms: 30).
    BAR-2 (barnet-council): open, for the refusals.

hope-trust states "subcontractor" as its usual part when it registers; mind states none.
Neither limits what they do: what an organisation does in a package is its role there.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.conftest import CliLedger
from tests.ledgers import LedgerStore, event_rows

AS_OF = "2025-06-30"
TERMS = ("--model", "fixed", "--terms", "30")
HOPE_PROMISE = "hope-trust:service=advice,share=10,value=40000,referrals=20,model=fixed,terms=30"
MIND_PROMISE = "mind:service=peer support,share=10,value=30000,referrals=10,model=fixed,terms=30"
SUBCONTRACTOR_PART = "so it cannot be a subcontractor in it"


def register(ledger: CliLedger, name: str, handle: str, *options: str) -> None:
    """Register an organisation (the one place its set-up is written)."""
    ledger.ok("org", "create", name, "--handle", handle, *options)


def package(ledger: CliLedger, reference: str, commissioner: str, on: str, value: str) -> None:
    ledger.ok("package", "create", reference, "--as", commissioner, "--on", on,
              "--title", "Employment support", "--area", "London", "--value", value,
              "--start", "2025-04-01", "--end", "2026-03-31", "--description", "Into work",
              "--payment-model", "fixed")  # fmt: skip


def chain(ledger: CliLedger, reference: str, commissioner: str, prime: str, sub: str,
          promise: str, terms: tuple[str, ...], self_share: str, invoice: str,
          amount: str, paid_on: str, on: str) -> None:  # fmt: skip
    """A bid naming ``sub``, acknowledged, awarded, subcontracted, invoiced and paid."""
    ledger.ok("bid", "submit", reference, "--as", prime, "--on", f"{on}-20", "--price", "250000",
              "--self-share", self_share, "--promise", promise)  # fmt: skip
    ledger.ok("bid", "acknowledge", reference, "--as", sub, "--prime", prime, "--on", f"{on}-22")
    ledger.ok("package", "award", reference, "--as", commissioner, "--bid", prime,
              "--on", f"{on}-25")  # fmt: skip
    ledger.ok("subcontract", "issue", reference, "--as", prime, "--sub", sub, "--on", "2025-02-03",
              *terms)  # fmt: skip
    ledger.ok("subcontract", "accept", reference, "--as", sub, "--on", "2025-02-04")
    ledger.ok("referral", "send", reference, "--as", prime, "--sub", sub, "--period", "2025-Q2",
              "--count", terms[terms.index("--referrals") + 1], "--on", "2025-06-30")  # fmt: skip
    ledger.ok("invoice", "submit", reference, "--as", sub, "--ref", invoice, "--amount", amount,
              "--date", "2025-04-30", "--period", "2025-Q2", "--on", "2025-04-30")  # fmt: skip
    ledger.ok("payment", "record", reference, "--as", prime, "--sub", sub, "--invoice", invoice,
              "--amount", amount, "--date", paid_on, "--on", paid_on)  # fmt: skip


@pytest.fixture(scope="module")
def ledger(module_ledgers: LedgerStore) -> CliLedger:
    directory = module_ledgers.directory
    ledger = CliLedger(module_ledgers.url("roles"), directory / "keys", CliRunner())
    ledger.ok("init", "--name", "Roles per package")
    register(ledger, "Barnet Council", "barnet-council", "--sector", "public", "--size", "large")
    register(ledger, "Camden Council", "camden-council", "--sector", "public", "--size", "large")
    register(ledger, "Northgate", "northgate", "--sector", "private", "--size", "large")
    register(ledger, "Hope Trust", "hope-trust", "--role", "subcontractor", "--sector", "vcs",
             "--size", "small")  # fmt: skip
    register(ledger, "Mind", "mind", "--sector", "vcs", "--size", "small")

    package(ledger, "BAR-1", "barnet-council", "2025-01-06", "1000000")
    package(ledger, "CAM-1", "camden-council", "2025-01-08", "300000")
    package(ledger, "BAR-2", "barnet-council", "2025-01-09", "500000")
    ledger.ok("interest", "express", "CAM-1", "--as", "mind", "--prime", "hope-trust",
              "--offer", "peer support", "--on", "2025-01-15")  # fmt: skip
    chain(ledger, "BAR-1", "barnet-council", "northgate", "hope-trust", HOPE_PROMISE,
          ("--service", "advice", "--share", "10", "--value", "40000", "--referrals", "20",
           *TERMS), "50", "HT-1", "10000", "2025-06-14", "2025-01")  # fmt: skip
    chain(ledger, "CAM-1", "camden-council", "hope-trust", "mind", MIND_PROMISE,
          ("--service", "peer support", "--share", "10", "--value", "30000", "--referrals", "10",
           *TERMS), "70", "M-1", "7500", "2025-06-20", "2025-01")  # fmt: skip
    ledger.ok("concern", "raise", "BAR-1", "--as", "hope-trust", "--ref", "HT-C1",
              "--subject", "Late payment", "--text", "Paid 45 days after invoice.",
              "--on", "2025-06-01")  # fmt: skip
    return ledger


def rows(ledger: CliLedger, *args: str) -> Any:
    return json.loads(ledger.ok(*args, "--format", "json").stdout)


def report(ledger: CliLedger, name: str, *args: str) -> Any:
    return rows(ledger, "report", name, "--as-of", AS_OF, *args)


def by_rule(findings: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {f["rule"]: f for f in findings}


# -- one organisation, two roles ------------------------------------------------------------


def test_hope_trust_is_a_subcontractor_in_bar_1(ledger: CliLedger) -> None:
    [share] = report(ledger, "workshare", "--package", "BAR-1")
    assert (share["prime"], share["subcontractor"], share["answer"]) == (
        "northgate", "hope-trust", "acknowledged")  # fmt: skip
    [paid] = report(ledger, "payments", "--package", "BAR-1")
    assert (paid["payer"], paid["payee"], paid["paid"]) == ("northgate", "hope-trust", "10000.00")
    found = by_rule(report(ledger, "findings", "--package", "BAR-1"))
    assert set(found) == {"LATE_PAYMENT", "CONCERN_UNANSWERED", "PRIME_SELF_DELIVERY"}
    assert found["LATE_PAYMENT"]["roles"] == {"northgate": "prime", "hope-trust": "subcontractor"}
    assert found["LATE_PAYMENT"]["finding"].startswith(
        "northgate paid 1 invoice(s) late (up to 45 days) to hope-trust")
    assert found["CONCERN_UNANSWERED"]["roles"] == {
        "barnet-council": "commissioner", "hope-trust": "subcontractor"}  # fmt: skip
    assert found["PRIME_SELF_DELIVERY"]["roles"] == {"northgate": "prime"}


def test_hope_trust_is_the_prime_in_cam_1(ledger: CliLedger) -> None:
    [share] = report(ledger, "workshare", "--package", "CAM-1")
    assert (share["prime"], share["subcontractor"], share["answer"]) == (
        "hope-trust", "mind", "acknowledged")  # fmt: skip
    [paid] = report(ledger, "payments", "--package", "CAM-1")
    assert (paid["payer"], paid["payee"], paid["paid"]) == ("hope-trust", "mind", "7500.00")
    found = by_rule(report(ledger, "findings", "--package", "CAM-1"))
    assert set(found) == {"LATE_PAYMENT", "PRIME_SELF_DELIVERY"}
    assert found["LATE_PAYMENT"]["roles"] == {"hope-trust": "prime", "mind": "subcontractor"}
    assert found["LATE_PAYMENT"]["finding"].startswith(
        "hope-trust paid 1 invoice(s) late (up to 51 days) to mind")
    assert found["PRIME_SELF_DELIVERY"]["roles"] == {"hope-trust": "prime"}
    assert "hope-trust primes this package and keeps 70" in found["PRIME_SELF_DELIVERY"]["finding"]


def test_every_finding_names_the_role_each_organisation_played_in_its_package(
    ledger: CliLedger,
) -> None:
    found = report(ledger, "findings")
    assert {(f["package"], o, r) for f in found for o, r in f["roles"].items()} == {
        ("BAR-1", "barnet-council", "commissioner"),
        ("BAR-1", "northgate", "prime"),
        ("BAR-1", "hope-trust", "subcontractor"),
        ("CAM-1", "hope-trust", "prime"),
        ("CAM-1", "mind", "subcontractor"),
    }
    assert all(list(f["roles"]) == f["organisations"] for f in found)
    table = ledger.ok("report", "findings", "--as-of", AS_OF, "--package", "CAM-1").stdout
    assert table.splitlines()[1].split() == ["rule", "severity", "roles", "finding", "evidence"]
    assert "hope-trust: prime; mind: subcontractor" in table


def test_the_scorecard_of_hope_trust_covers_the_package_it_primes(ledger: CliLedger) -> None:
    # It stated "subcontractor" when it registered: that does not stop it priming CAM-1.
    card = {row["area"]: row for row in report(ledger, "scorecard", "--prime", "hope-trust")}
    assert card["Supply Chain Design"]["metrics"]["packages primed"] == 1
    assert card["Conduct"]["rules"] == ["LATE_PAYMENT"]
    assert card["Commitment"]["metrics"]["promises made in winning bids"] == 1
    # BAR-1's late payment to hope-trust is northgate's record, not hope-trust's.
    northgate = {row["area"]: row for row in report(ledger, "scorecard", "--prime", "northgate")}
    assert northgate["Conduct"]["rules"] == ["LATE_PAYMENT"]
    assert northgate["Conduct"]["evidence"] != card["Conduct"]["evidence"]


def test_history_names_the_role_the_signer_played_in_the_package(ledger: CliLedger) -> None:
    def roles_of(reference: str, org: str) -> set[str]:
        return {row["role"] for row in rows(ledger, "history", reference) if row["org"] == org}

    assert roles_of("BAR-1", "hope-trust") == {"subcontractor"}
    assert roles_of("CAM-1", "hope-trust") == {"prime"}
    assert roles_of("BAR-1", "barnet-council") == {"commissioner"}
    assert roles_of("CAM-1", "mind") == {"subcontractor"}
    table = ledger.ok("history", "CAM-1").stdout.splitlines()
    assert table[0].split()[:5] == ["id", "recorded", "signed", "by", "role"]
    bid = next(line for line in table if "BidSubmitted" in line)
    assert bid.split()[2:5] == ["hope-trust", "prime", "BidSubmitted"]


def test_the_audit_page_counts_the_roles_played(ledger: CliLedger, tmp_path: Path) -> None:
    every, one = tmp_path / "every.html", tmp_path / "cam.html"
    ledger.ok("report", "html", "-o", str(every), "--as-of", AS_OF, "--no-audit")
    ledger.ok("report", "html", "-o", str(one), "--as-of", AS_OF, "--no-audit",
              "--package", "CAM-1")  # fmt: skip
    # hope-trust counts as a prime (CAM-1) and as a subcontractor (BAR-1).
    assert ("Organisations<b>5</b><small>2 commissioners, 2 primes, 2 subcontractors</small>"
            in every.read_text("utf-8"))  # fmt: skip
    page = one.read_text("utf-8")
    assert "Organisations<b>3</b><small>1 commissioner, 1 prime, 1 subcontractor</small>" in page
    assert "<b>LATE_PAYMENT</b> (CAM-1; hope-trust as prime; mind as subcontractor)" in page


def test_registration_states_a_usual_role_or_none(ledger: CliLedger) -> None:
    listed = {o["handle"]: o["role"] for o in rows(ledger, "org", "list")}
    assert listed == {"barnet-council": "", "camden-council": "", "northgate": "",
                      "hope-trust": "subcontractor", "mind": ""}  # fmt: skip
    stated = rows(ledger, "org", "list", "--role", "subcontractor")
    assert [o["handle"] for o in stated] == ["hope-trust"]
    [mind] = rows(ledger, "org", "show", "mind")
    assert (mind["role"], mind["sector"], mind["size"]) == (None, "vcs", "small")
    assert "role:        - (stated;" in ledger.ok("org", "show", "mind").stdout
    assert "OK: every signature and chain link verifies." in ledger.ok("audit", "verify").stdout


# -- refusals: one line, exit 1, nothing written ---------------------------------------------


def bid(reference: str, who: str, *promises: str) -> tuple[str, ...]:
    args = ("bid", "submit", reference, "--as", who, "--price", "400000", "--self-share", "50")
    return args + tuple(option for p in promises for option in ("--promise", p))


def interest(who: str, prime: str) -> tuple[str, ...]:
    return ("interest", "express", "BAR-2", "--as", who, "--prime", prime, "--offer", "advice")


def issue(reference: str, who: str, sub: str) -> tuple[str, ...]:
    return ("subcontract", "issue", reference, "--as", who, "--sub", sub, "--service", "advice",
            "--share", "5", "--value", "1000", "--referrals", "1", *TERMS)  # fmt: skip


def concern(reference: str, who: str) -> tuple[str, ...]:
    return ("concern", "raise", reference, "--as", who, "--subject", "s", "--text", "t")


PROMISE_TERMS = "service=advice,share=5,value=1000,referrals=1,model=fixed,terms=30"
REFUSALS = [
    (bid("BAR-2", "barnet-council"),
     "barnet-council is the commissioner of BAR-2, so it cannot bid for it"),
    (bid("BAR-2", "northgate", f"northgate:{PROMISE_TERMS}"),
     "northgate cannot be its own subcontractor"),
    (bid("BAR-2", "northgate", f"barnet-council:{PROMISE_TERMS}"),
     f"barnet-council is the commissioner of BAR-2, {SUBCONTRACTOR_PART}"),
    (interest("barnet-council", "northgate"),
     f"barnet-council is the commissioner of BAR-2, {SUBCONTRACTOR_PART}"),
    (interest("hope-trust", "hope-trust"), "hope-trust cannot be its own subcontractor"),
    (interest("hope-trust", "barnet-council"),
     "barnet-council is the commissioner of BAR-2, so it cannot be a prime in it"),
    (issue("BAR-1", "northgate", "northgate"), "northgate cannot be its own subcontractor"),
    (issue("BAR-1", "northgate", "barnet-council"),
     f"barnet-council is the commissioner of BAR-1, {SUBCONTRACTOR_PART}"),
    (issue("CAM-1", "hope-trust", "hope-trust"), "hope-trust cannot be its own subcontractor"),
    (issue("CAM-1", "hope-trust", "camden-council"),
     f"camden-council is the commissioner of CAM-1, {SUBCONTRACTOR_PART}"),
    (issue("CAM-1", "mind", "hope-trust"),
     "only hope-trust, the prime of CAM-1, can issue subcontracts"),
    (issue("BAR-1", "hope-trust", "mind"),
     "only northgate, the prime of BAR-1, can issue subcontracts"),
    (concern("CAM-1", "hope-trust"),
     "only a subcontractor can raise a concern; hope-trust is a prime in CAM-1"),
    (concern("BAR-1", "barnet-council"),
     "only a subcontractor can raise a concern; barnet-council is the commissioner of BAR-1"),
    (concern("CAM-1", "northgate"), "northgate is not a party to package CAM-1"),
    (("package", "award", "CAM-1", "--as", "hope-trust", "--bid", "hope-trust"),
     "only camden-council, the commissioner of CAM-1, can award it"),
    (("payment", "record", "BAR-1", "--as", "hope-trust", "--sub", "hope-trust", "--invoice",
      "HT-1", "--amount", "1", "--date", "2025-07-01"),
     "only northgate, who was invoiced, can record its payment"),
    (("invoice", "submit", "CAM-1", "--as", "hope-trust", "--ref", "X-1", "--amount", "1",
      "--date", "2025-07-01", "--period", "2025-Q3"),
     "hope-trust has no subcontract in package CAM-1"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "message"), REFUSALS,
                         ids=[" ".join(a[:2]) + f" {i}" for i, (a, _) in enumerate(REFUSALS)])  # fmt: skip
def test_refused_roles_write_nothing(
    ledger: CliLedger, args: tuple[str, ...], message: str
) -> None:
    before = list(event_rows(ledger.url))
    result = ledger.run(*args)
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert result.stderr == f"Error: {message}\n"
    assert result.stdout == ""
    assert list(event_rows(ledger.url)) == before


def test_a_refused_role_in_an_import_names_its_line_and_writes_nothing(
    ledger: CliLedger, tmp_path: Path
) -> None:
    steps = tmp_path / "steps.jsonl"
    allowed = {"step": "referral.send", "package": "BAR-1", "subcontractor": "hope-trust",
               "period": "2025-Q3", "count": 20}  # fmt: skip
    own = {"step": "subcontract.issue", "package": "BAR-1", "subcontractor": "northgate",
           "service": "advice", "share_pct": "5", "value_per_year": "1000",
           "referrals_per_period": 1, "payment_model": "fixed", "payment_terms_days": 30}  # fmt: skip
    as_prime = {"step": "concern.raise", "package": "BAR-1", "subject": "s", "text": "t"}
    before = list(event_rows(ledger.url))
    for refused, message in (
        (own, "line 2 (subcontract.issue): northgate cannot be its own subcontractor"),
        (as_prime, "line 2 (concern.raise): only a subcontractor can raise a concern; "
                   "northgate is a prime in BAR-1"),
    ):  # fmt: skip
        lines = (json.dumps(allowed), json.dumps(refused))
        steps.write_text("\n".join(lines) + "\n", encoding="utf-8")
        result = ledger.run("import", str(steps), "--as", "northgate")
        assert result.exit_code == 1, (result.stdout, result.stderr)
        assert result.stderr == f"Error: {message}\n"
        assert list(event_rows(ledger.url)) == before
