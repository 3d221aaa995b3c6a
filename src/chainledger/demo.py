"""The demo story: a realistic package recorded, verified, then tampered with.

Barnet Council tenders employment support; Northgate wins with a bid naming
four charities. One acknowledges, one disputes the terms, one never answers;
the council cuts the budget by 10% and Northgate tries to pass a 40% cut to
one charity. Everything runs through the same application API as the CLI, on
an embedded SQLite ledger in its own directory, and the demo says what it
found as it goes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from shutil import rmtree

from chainledger.audit import AuditReport, audit_ledger
from chainledger.bootstrap import open_ledger
from chainledger.contracting import UnitOfWork
from chainledger.domain.values import Role, Sector, Size
from chainledger.persistence import EVENTS_TABLE

DEMO_PASSPHRASE = "demo passphrase, not a secret"  # noqa: S105 - the demo publishes it
PACKAGE = "BAR-ES-2026"

ORGANISATIONS = (
    ("barnet-council", "Barnet Council", Role.COMMISSIONER, Sector.PUBLIC, Size.LARGE, None),
    ("northgate", "Northgate Employment Services", Role.PRIME, Sector.PRIVATE, Size.LARGE,
     "GB-COH-04567890"),
    ("hope-trust", "Hope Trust", Role.SUBCONTRACTOR, Sector.VCS, Size.SMALL, "GB-CHC-1089464"),
    ("mind-in-barnet", "Mind in Barnet", Role.SUBCONTRACTOR, Sector.VCS, Size.MEDIUM,
     "GB-CHC-1041637"),
    ("refugee-advice", "Refugee Advice Collective", Role.SUBCONTRACTOR, Sector.VCS, Size.MICRO,
     None),
    ("womens-centre", "Barnet Women's Centre", Role.SUBCONTRACTOR, Sector.VCS, Size.SMALL, None),
)  # fmt: skip

PROMISES = (
    ("hope-trust", "mental health support", "15", "150000", "60"),
    ("mind-in-barnet", "wellbeing coaching", "10", "100000", "40"),
    ("refugee-advice", "ESOL and refugee advice", "5", "50000", "20"),
    ("womens-centre", "support for women", "5", "50000", "20"),
)
QUARTERS = (("2026-Q1", "2026-03-31"), ("2026-Q2", "2026-06-30"), ("2026-Q3", "2026-09-30"),
            ("2026-Q4", "2026-12-31"))  # fmt: skip


def _promise(handle: str, service: str, share: str, value: str, referrals: str) -> dict[str, str]:
    return {
        "subcontractor": handle,
        "service": service,
        "share_pct": share,
        "value_per_year": value,
        "referrals_per_period": referrals,
        "payment_model": "fixed",
        "payment_terms_days": "30",
        "management_fee_pct": "5",
    }


def run_demo(directory: Path, say: Callable[[str], None]) -> bool:
    """Run the story in ``directory`` (replaced if it exists); True if all went as expected."""
    if directory.exists():
        rmtree(directory)
    directory.mkdir(parents=True)
    ledger_path = directory / "chainledger.db"
    app = open_ledger(str(ledger_path), directory / "keys", create=True)

    say(f"Ledger {app.init_ledger('Barnet employment support programme')} at {ledger_path}")
    for handle, name, role, sector, size, identifier in ORGANISATIONS:
        app.create_organisation(
            name, role, passphrase=DEMO_PASSPHRASE, handle=handle, sector=sector, size=size,
            identifier=identifier,
        )  # fmt: skip
    say(f"Registered {len(ORGANISATIONS)} organisations, each with its own Ed25519 key.")
    council, prime, hope, mind, refugee, women = (
        app.signer(handle, DEMO_PASSPHRASE) for handle, *_ in ORGANISATIONS
    )

    app.create_package(
        council, PACKAGE, "Employment support", "London Borough of Barnet", "2000000",
        "2026-01-01", "2027-12-31", "Support for people out of work for over a year",
        "fee-plus-outcome", "20",
    )  # fmt: skip
    app.define_kpi(council, PACKAGE, "job starts", "people", "20", "15")
    app.express_interest(hope, PACKAGE, "northgate", "mental health support for job seekers")
    app.submit_bid(prime, PACKAGE, "1950000", "40", [_promise(*p) for p in PROMISES])
    say("Northgate bid £1.95m naming four charities for 35% of the work.")
    app.acknowledge_promise(hope, PACKAGE, "northgate")
    app.acknowledge_promise(mind, PACKAGE, "northgate")
    app.dispute_promise(women, PACKAGE, "northgate", "terms-differ", "we agreed 8%, not 5%")
    say("Hope Trust and Mind acknowledged their promises; the Women's Centre disputed its terms;")
    say("the Refugee Advice Collective never answered.")
    app.award_package(council, PACKAGE, "northgate")
    for handle, service, share, value, referrals in PROMISES[:3]:
        app.issue_subcontract(
            prime, PACKAGE, handle, service=service, share_pct=share,
            value_per_year=value if handle != "refugee-advice" else str(int(value) // 2),
            referrals_per_period=referrals, payment_model="fixed", payment_terms_days="30",
            management_fee_pct="5",
        )  # fmt: skip
    for signer in (hope, mind, refugee):
        app.accept_subcontract(signer, PACKAGE)
    say("Awarded to Northgate, which issued three subcontracts (the Refugee Advice Collective's")
    say("at £25,000 a year against £50,000 promised) and none to the Women's Centre.")

    for q, (quarter, quarter_end) in enumerate(QUARTERS):
        # What a back office sends in bulk: one unit of work per organisation per quarter.
        prime_unit = UnitOfWork(app)
        for handle, sent in (("hope-trust", 55), ("mind-in-barnet", 30), ("refugee-advice", 2)):
            app.send_referrals(prime, PACKAGE, handle, quarter, sent, uow=prime_unit)
        prime_unit.commit()
        for signer, received, actual in ((hope, 55, 19), (mind, 30, 16), (refugee, 2, 1)):
            unit = UnitOfWork(app)
            reference = f"{signer.org[:4].upper()}-{quarter}"
            app.confirm_referrals(signer, PACKAGE, quarter, received, uow=unit)
            app.submit_invoice(signer, PACKAGE, reference, "12500", quarter_end, quarter, uow=unit)
            app.report_performance(signer, PACKAGE, "job starts", quarter, actual, uow=unit)
            unit.commit()
            late = signer is refugee
            paid_on = f"2026-{3 * q + 5 + (1 if late else 0):02d}-{'20' if late else '15'}"
            paid_on = paid_on if q < 3 else ("2027-02-20" if late else "2027-01-15")
            app.record_payment(prime, PACKAGE, signer.org, reference, "12500", paid_on)
            app.confirm_payment(signer, PACKAGE, reference, paid_on)
        if q == 1:
            app.vary_contract_value(council, PACKAGE, "1800000", "budget cut 2026/27: 10%")
            app.propose_variation(prime, PACKAGE, "mind-in-barnet", "pass on the cut",
                                  value_per_year="30000")  # fmt: skip
            app.answer_variation(mind, PACKAGE, 1, False, "a 40% cut, when the council cut 10%")
            app.raise_concern(mind, PACKAGE, "Cut passed down", "Our value was cut by 40%.",
                              "MIND-1")  # fmt: skip
    say("Four quarters of referrals, invoices, payments and KPI reports recorded; the council")
    say("cut the budget by 10%, Northgate proposed a 40% cut to Mind, which disputed it and")
    say("raised a concern with the council directly.")

    history = app.history(PACKAGE)
    say(f"The package's history holds {len(history)} signed events; the last few:")
    for row in history[-4:]:
        say(f"  #{row.notification_id} {row.org}: {row.summary}")

    bid = app.bid_view(PACKAGE, "northgate")
    say("What the charities said about the promises made in their names:")
    for promise in bid["promises"]:
        say(f"  {promise['subcontractor']:<16} {promise['share_pct']:>3}%  {promise['answer']}")

    clean = audit_ledger(app)
    say(_summary("Audit of the ledger as recorded", clean))

    tampered_path = directory / "tampered.db"
    _copy_database(ledger_path, tampered_path)
    target = _edit_a_payment_date(tampered_path)
    say(f"Someone with database access back-dates a late payment in a copy: {target}")
    caught = audit_ledger(open_ledger(str(tampered_path), directory / "keys"))
    say(_summary("Audit of the edited copy", caught))
    for failure in caught.failures:
        where = f"notification {failure.notification_id} ({failure.event_type})"
        say(f"  FAILED {where}: {failure.message}")
    return clean.ok and not caught.ok


def _summary(title: str, report: AuditReport) -> str:
    verdict = "clean" if report.ok else f"{report.failure_count} failure(s)"
    return (
        f"{title}: {report.events} events, {report.signatures} signatures, "
        f"{report.organisations} organisations — {verdict}."
    )


def _copy_database(source: Path, target: Path) -> None:
    """A consistent copy of an SQLite ledger, including what is still in its WAL."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)


def _edit_a_payment_date(path: Path) -> str:
    """Change the date of the last late payment to look on time."""
    with sqlite3.connect(path) as db:
        row_id, state = db.execute(
            f"SELECT id, state FROM {EVENTS_TABLE} WHERE topic = 'PaymentRecorded' "
            "AND instr(state, ?) > 0 ORDER BY id DESC LIMIT 1",
            (b'"paid_on":"2027-02-20"',),
        ).fetchone()
        edited = state.replace(b'"paid_on":"2027-02-20"', b'"paid_on":"2027-01-15"')
        db.execute(f"UPDATE {EVENTS_TABLE} SET state = ? WHERE id = ?", (edited, row_id))
    return f"notification {row_id}, paid on 2027-02-20 becomes 2027-01-15"
