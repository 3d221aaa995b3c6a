"""The demo story: a realistic package recorded, verified, then tampered with.

Barnet Council tenders employment support; Northgate wins with a bid naming
four charities. One acknowledges, one disputes the terms, one never answers;
the council cuts the budget by 10% and Northgate tries to pass a 40% cut to
one charity. The council then runs a 360 review round: sealed ratings between
Northgate, the charities and itself, read back beside the ledger's evidence.
Everything runs through the same application API as the CLI, on
an embedded SQLite ledger in its own directory, and the demo says what it
found as it goes.
"""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from shutil import rmtree
from typing import Any

from sqlalchemy import delete, select

from chainledger.adapters import merkle_store
from chainledger.adapters.event_store import EVENTS_TABLE
from chainledger.application.audit import AuditReport
from chainledger.application.contracting import UnitOfWork
from chainledger.application.proofs import verify_bundle
from chainledger.bootstrap import open_ledger
from chainledger.domain.checkpoint import parse_checkpoint
from chainledger.domain.identity import readable_fingerprint
from chainledger.domain.quantities import Period
from chainledger.domain.review import DEFAULT_DIMENSIONS
from chainledger.domain.values import Role, Sector, Size
from chainledger.errors import ProofFailed, Refused, SecurityError, TamperError
from chainledger.report_html import render_page

DEMO_PASSPHRASE = "demo passphrase, not a secret"  # noqa: S105 - the demo publishes it
PACKAGE = "BAR-ES-2026"

ORGANISATIONS = (
    ("barnet-council", "Barnet Council", Role.COMMISSIONER, Sector.PUBLIC, Size.LARGE,
     "GB-LAE-BNE"),
    ("northgate", "Northgate Employment Services", Role.PRIME, Sector.PRIVATE, Size.LARGE,
     "GB-COH-04567890"),
    ("hope-trust", "Hope Trust", Role.SUBCONTRACTOR, Sector.VCS, Size.SMALL, "GB-CHC-1089464"),
    ("mind-in-barnet", "Mind in Barnet", Role.SUBCONTRACTOR, Sector.VCS, Size.MEDIUM,
     "GB-CHC-1041637"),
    ("refugee-advice", "Refugee Advice Collective", Role.SUBCONTRACTOR, Sector.VCS, Size.MICRO,
     None),
    ("womens-centre", "Barnet Women's Centre", Role.SUBCONTRACTOR, Sector.VCS, Size.SMALL,
     "GB-CHC-1157311"),
)  # fmt: skip

PROMISES = (
    ("hope-trust", "mental health support", "15", "150000", "60"),
    ("mind-in-barnet", "wellbeing coaching", "10", "100000", "40"),
    ("refugee-advice", "ESOL and refugee advice", "5", "50000", "20"),
    ("womens-centre", "support for women", "5", "50000", "20"),
)
QUARTERS = ("2025-Q2", "2025-Q3", "2025-Q4", "2026-Q1", "2026-Q2", "2026-Q3")
AS_OF = date(2026, 10, 31)  # the demo reports as of a fixed date, so it reads the same every run
# (subcontractor, referrals sent each quarter, KPI actual, quarterly invoice £)
FLOWS = (
    ("hope-trust", 58, "21", "37500"),
    ("mind-in-barnet", 38, "17", "25000"),
    ("refugee-advice", 2, "1", "6250"),
)


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
    app = open_ledger(str(ledger_path), directory / "keys", create=True, state=_state(directory))

    (council, council_name, _, _, _, council_id), *others = ORGANISATIONS
    ledger_id, _ = app.init_with_registrar(
        "Barnet employment support programme", council_name, passphrase=DEMO_PASSPHRASE,
        handle=council, identifier=council_id,
    )  # fmt: skip
    say(f"Ledger {ledger_id} at {ledger_path}, created by {council_name}, its registrar:")
    say("the council's key is the ledger's root of identity, named in its first event.")
    for handle, name, role, sector, size, identifier in others:
        app.create_organisation(
            name, role, passphrase=DEMO_PASSPHRASE, handle=handle, sector=sector, size=size,
            identifier=identifier,
        )  # fmt: skip
        # Each organisation reads its fingerprint to the council by phone; the council types
        # what it hears (here: what the organisation's own `org show` prints).
        app.endorse_organisation(council, DEMO_PASSPHRASE, handle,
                                 readable_fingerprint(app.organisation(handle).key_id))  # fmt: skip
    say(f"Registered {len(others)} organisations, each with its own Ed25519 key; the council")
    say("confirmed each key's fingerprint with the organisation by phone and endorsed it.")
    keys = {handle: app.signer(handle, DEMO_PASSPHRASE) for handle, *_ in ORGANISATIONS}

    def at(handle: str, day: str | date) -> Any:
        """``handle`` signing facts that took effect on ``day`` (recorded now)."""
        return keys[handle].dated(date.fromisoformat(str(day)))

    app.create_package(
        at("barnet-council", "2025-01-10"), PACKAGE, "Employment support",
        "London Borough of Barnet", "2000000", "2025-04-01", "2027-03-31",
        "Support for people out of work for over a year", "fee-plus-outcome", "20",
    )  # fmt: skip
    app.define_kpi(at("barnet-council", "2025-01-10"), PACKAGE, "job starts", "people", "20", "15")
    _impersonation_refused(app, council, say)
    # The Refugee Advice Collective's only laptop, with its key, is lost: it makes a new key
    # and reads the fingerprint to the council, which installs it (a registrar's recovery).
    offered = app.request_recovery("refugee-advice", DEMO_PASSPHRASE)
    app.recover_organisation(council, DEMO_PASSPHRASE, "refugee-advice",
                             readable_fingerprint(offered), compromised_since=None)  # fmt: skip
    keys["refugee-advice"] = app.signer("refugee-advice", DEMO_PASSPHRASE)
    say("The Refugee Advice Collective lost the laptop holding its key; it made a new one and")
    say("read the fingerprint to the council, which installed it in place of the lost one.")
    app.express_interest(at("hope-trust", "2025-01-20"), PACKAGE, "northgate",
                         "mental health support for job seekers")  # fmt: skip
    app.submit_bid(at("northgate", "2025-02-10"), PACKAGE, "1950000", "40",
                   [_promise(*p) for p in PROMISES])  # fmt: skip
    say("Northgate bid £1.95m naming four charities for 35% of the work, keeping 40% itself.")
    app.acknowledge_promise(at("hope-trust", "2025-02-15"), PACKAGE, "northgate")
    app.acknowledge_promise(at("mind-in-barnet", "2025-02-16"), PACKAGE, "northgate")
    app.dispute_promise(at("womens-centre", "2025-02-16"), PACKAGE, "northgate", "terms-differ",
                        "we agreed 8%, not 5%")  # fmt: skip
    say("Hope Trust and Mind acknowledged their promises; the Women's Centre disputed its terms;")
    say("the Refugee Advice Collective never answered.")
    app.award_package(at("barnet-council", "2025-03-01"), PACKAGE, "northgate")
    for handle, service, share, value, referrals in PROMISES[:3]:
        app.issue_subcontract(
            at("northgate", "2025-03-15"), PACKAGE, handle, service=service, share_pct=share,
            value_per_year=value if handle != "refugee-advice" else str(int(value) // 2),
            referrals_per_period=referrals, payment_model="fixed", payment_terms_days="30",
            management_fee_pct="5",
        )  # fmt: skip
        app.accept_subcontract(at(handle, "2025-03-20"), PACKAGE)
    say("Awarded to Northgate, which issued three subcontracts (the Refugee Advice Collective's")
    say("at £25,000 a year against £50,000 promised) and none to the Women's Centre.")

    for q, quarter in enumerate(QUARTERS):
        end = Period.parse(quarter).last_day
        # What a back office sends in bulk: one unit of work, one transaction, per quarter.
        unit = UnitOfWork(app.core)
        for handle, sent, actual, value in FLOWS:
            reference = f"{handle[:4].upper()}-{quarter}"
            app.send_referrals(at("northgate", end), PACKAGE, handle, quarter, sent, uow=unit)
            app.confirm_referrals(at(handle, end + timedelta(2)), PACKAGE, quarter, sent, uow=unit)
            app.submit_invoice(at(handle, end), PACKAGE, reference, value, end.isoformat(),
                               quarter, uow=unit)  # fmt: skip
            app.report_performance(at(handle, end + timedelta(5)), PACKAGE, "job starts",
                                   quarter, actual, uow=unit)  # fmt: skip
            paid_on = end + timedelta(days=52 if handle == "refugee-advice" else 21)
            app.record_payment(at("northgate", paid_on), PACKAGE, handle, reference, value,
                               paid_on.isoformat(), uow=unit)  # fmt: skip
            app.confirm_payment(at(handle, paid_on), PACKAGE, reference, paid_on.isoformat(),
                                uow=unit)  # fmt: skip
        unit.commit()
        if q == 1:
            app.vary_contract_value(at("barnet-council", "2025-10-01"), PACKAGE, "1800000",
                                    "budget cut 2025/26: 10%")  # fmt: skip
            app.propose_variation(at("northgate", "2025-10-08"), PACKAGE, "mind-in-barnet",
                                  "pass on the cut", value_per_year="60000")  # fmt: skip
            app.answer_variation(at("mind-in-barnet", "2025-10-10"), PACKAGE, 1, False,
                                 "a 40% cut, when the council cut 10%")  # fmt: skip
            app.raise_concern(at("mind-in-barnet", "2025-10-13"), PACKAGE, "Cut passed down",
                              "Our value was cut by 40%.", "MIND-1")  # fmt: skip
    say(f"{len(QUARTERS)} quarters of referrals, invoices, payments and KPI reports; the council")
    say("cut the budget by 10%, Northgate proposed a 40% cut to Mind, which disputed it and")
    say("raised a concern with the council directly.")
    say(f"The package's history holds {len(app.history(PACKAGE))} signed events.")

    owner = _review_round(app, at, say)

    say(f"\nPromised against delivered, as of {AS_OF}:")
    for row in app.report("workshare", package=PACKAGE, as_of=AS_OF):
        promised = row["promised_value_per_year"] or "-"
        say(f"  {row['subcontractor']:<16} promised £{promised:>10}/yr  paid £{row['paid_to_date']:>10}"
            f"  {row['answer']:<26} {row['status']}")  # fmt: skip

    found = app.report("findings", package=PACKAGE, as_of=AS_OF, review_opener=owner)
    say(f"\nWhat the audit found ({len(found)} findings; evidence = event ids in the history):")
    for finding in found:
        evidence = " ".join(f"#{n}" for n in finding["evidence"][:6])
        more = " …" if len(finding["evidence"]) > 6 else ""
        say(f"  [{finding['severity']}] {finding['rule']}: {finding['finding']} ({evidence}{more})")

    clean = app.audit()
    say("\n" + _summary("Audit of the ledger as recorded", clean))
    tampered_path = directory / "tampered.db"
    _copy_database(ledger_path, tampered_path)
    target = _edit_a_payment_date(tampered_path)
    say(f"Someone with database access back-dates a late payment in a copy: {target}")
    edited = open_ledger(str(tampered_path), directory / "keys", state=_state(directory))
    caught = edited.audit()
    say(_summary("Audit of the edited copy", caught))
    _say_failures(caught, say)
    try:
        edited.report("findings", package=PACKAGE, as_of=AS_OF)
        refused = False
    except TamperError as error:
        say("A report on the edited copy verifies what it reads, and refuses:")
        say(f"  Error: {error}")
        refused = True
    edited.close()

    plain, checked = _checkpoint_and_rollback(app, directory, ledger_path, say)
    _audit_page(app, directory, owner, say)
    carried = _bundle_to_the_council(app, directory, say)
    served = _through_the_service(directory, ledger_path, say)
    say(f"\nExplore it: chainledger --ledger {ledger_path} report findings --as-of {AS_OF}")
    say(f"       and: chainledger --ledger {ledger_path} history {PACKAGE}")
    say(f"       and: chainledger --ledger {directory / 'council.db'} imported {PACKAGE}")
    say(
        f"       and: CHAINLEDGER_KEYS={directory / 'keys'} CHAINLEDGER_PASSPHRASE='{DEMO_PASSPHRASE}' \\"
    )
    say(f"            chainledger --ledger {ledger_path} report reviews --as barnet-council")
    rules = {f["rule"] for f in found}
    expected = {"BID_CANDY", "LATE_PAYMENT", "SELF_OTHER_GAP", "LOW_RATED"}
    return (
        clean.ok and not caught.ok and refused and plain.ok and not checked.ok and carried
        and served and expected <= rules
    )  # fmt: skip


def _impersonation_refused(app: Any, council: str, say: Callable[[str], None]) -> None:
    """Someone registers in the Women's Centre's name, with its charity number: until the
    council endorses it, it can sign nothing; the council cannot endorse it under a charity
    number already endorsed to the real one, and rejects it."""
    fake = "bwc-charity"
    app.create_organisation("Barnet Women's Centre (fake)", Role.SUBCONTRACTOR,
                            passphrase=DEMO_PASSPHRASE, handle=fake, identifier="GB-CHC-1157311")  # fmt: skip
    say(f"An impostor registers as {fake!r}, claiming the Women's Centre's charity number:")
    try:
        app.express_interest(app.signer(fake, DEMO_PASSPHRASE), PACKAGE, "northgate",
                             "support for women")  # fmt: skip
    except Refused as refused:
        say(f"  refused: {refused}")
    try:
        app.endorse_organisation(council, DEMO_PASSPHRASE, fake, app.organisation(fake).key_id)
    except Refused as refused:
        say(f"  endorsing it is refused too: {refused}")
    app.reject_registration(council, DEMO_PASSPHRASE, fake, "not registered by the Women's Centre")
    say("  the council rejects the request: the real charity's number stays its own.")


def _state(directory: Path) -> Path:
    """The demo's own state directory (verified views), so that it leaves nothing behind."""
    return directory / "state"


def _say_failures(report: AuditReport, say: Callable[[str], None]) -> None:
    for failure in report.failures:
        if failure.notification_id:
            say(f"  FAILED notification {failure.notification_id} ({failure.event_type}): "
                f"{failure.message}")  # fmt: skip
        else:
            say(f"  FAILED: {failure.message}")


def _audit_page(app: Any, directory: Path, owner: Any, say: Callable[[str], None]) -> None:
    """The council's audit as a web page, with the review's shared view and its checkpoint."""
    path = directory / "barnet-council.checkpoint"
    signed = parse_checkpoint(path.read_text(encoding="utf-8"))
    data = app.report_page(as_of=AS_OF, review_opener=owner,
                           checkpoints=[(f"{path.name} (signed by barnet-council)", signed.checkpoint)])  # fmt: skip
    page = directory / "report.html"
    page.write_text(render_page(data), encoding="utf-8")
    say(f"\nThe council's audit as a web page, with charts (opens offline in any browser): {page}")


def _checkpoint_and_rollback(
    app: Any, directory: Path, ledger_path: Path, say: Callable[[str], None]
) -> tuple[AuditReport, AuditReport]:
    """The council keeps a checkpoint; Hope Trust proves its acknowledgement offline; an
    operator who rolls a copy back and rebuilds its Merkle tree passes a plain audit but
    not the checkpoint. Returns (plain audit, audit against the checkpoint) of that copy."""
    signed = app.checkpoint(app.signer("barnet-council", DEMO_PASSPHRASE))
    checkpoint_path = directory / "barnet-council.checkpoint"
    checkpoint_path.write_text(signed.text(), encoding="utf-8")
    head = signed.checkpoint
    say(f"\nThe council keeps a signed checkpoint: {head.size} events, Merkle root "
        f"{head.root.hex()[:16]}… ({checkpoint_path.name})")  # fmt: skip
    acknowledged = next(row.notification_id for row in app.history(PACKAGE)
                        if row.event_type == "PromiseAcknowledged" and row.org == "hope-trust")  # fmt: skip
    hope = app.signer("hope-trust", DEMO_PASSPHRASE)
    verified = verify_bundle(app.inclusion_bundle(acknowledged, hope), hope.key_id)
    say(f"Hope Trust proves its acknowledgement #{acknowledged} is in the ledger, checkable "
        "offline with the proof file alone:")  # fmt: skip
    say(f"  {verified.lines[0]}")

    rolled_path = directory / "rolled-back.db"
    _copy_database(ledger_path, rolled_path)
    rolled = open_ledger(str(rolled_path), directory / "keys", state=_state(directory))
    _roll_back(rolled, 3)
    say("Someone with database access rolls a copy back by 3 events (the review's last steps)")
    say("and rebuilds its Merkle tree to match: every signature left is still valid.")
    plain = rolled.audit()
    say(_summary("Audit of the rolled-back copy", plain))
    checked = rolled.audit(checkpoints=[(checkpoint_path.name, head)])
    say(_summary("The same copy against the council's checkpoint", checked))
    _say_failures(checked, say)
    return plain, checked


def _bundle_to_the_council(app: Any, directory: Path, say: Callable[[str], None]) -> bool:
    """Northgate sends the package to the council's own ledger as a bundle; the council's
    ledger checks it all, keeps it once, and refuses a copy with one payment back-dated.
    Returns whether all three happened."""
    document = app.export_bundle(PACKAGE, app.signer("northgate", DEMO_PASSPHRASE))
    bundle_path = directory / f"{PACKAGE}.bundle"
    bundle_path.write_text(json.dumps(document, separators=(",", ":")), encoding="utf-8")
    council = open_ledger(str(directory / "council.db"), directory / "keys", create=True,
                          state=_state(directory))  # fmt: skip
    council.init_ledger("Barnet Council's own ledger")
    first, again = council.import_bundle(document), council.import_bundle(document)
    say(f"\nNorthgate exports the package as a bundle ({bundle_path.name}) and the council")
    say(f"imports it into its own ledger: {first.events} events checked — every signature, chain")
    say(f"link and Merkle proof — {first.new} kept; importing it again keeps {again.new} more.")
    altered = json.loads(json.dumps(document))
    for entry in altered["events"]:
        state = base64.b64decode(entry["state"])
        if b'"paid_on":"2026-11-21"' in state:
            edited = state.replace(b'"paid_on":"2026-11-21"', b'"paid_on":"2026-10-21"')
            entry["state"] = base64.b64encode(edited).decode()
    try:
        council.import_bundle(altered)
    except ProofFailed as refused:
        say("A copy of the bundle with one payment back-dated is refused whole, naming it:")
        say(f"  {refused}")
        return first.new == first.events and again.new == 0
    return False


@contextmanager
def _serving(database: Path, directory: Path, port: int = 0) -> Iterator[str]:
    """``chainledger serve`` on ``database``, in this process, on a loopback port (0: any)."""
    import threading

    import uvicorn

    from chainledger.service.app import create_app
    from chainledger.service.listener import tcp_listener
    from chainledger.service.log import LogKey

    ledger = open_ledger(str(database), directory / "service-keys",
                         state=directory / "state" / "service")  # fmt: skip
    log = LogKey(ledger.ledger_id, directory / "service-keys" / "log", DEMO_PASSPHRASE)
    listener = tcp_listener("127.0.0.1", port, 64)
    server = uvicorn.Server(uvicorn.Config(create_app(ledger, log), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        ledger.close()


def _through_the_service(directory: Path, ledger_path: Path, say: Callable[[str], None]) -> bool:
    """The council serves (a copy of) the ledger; Hope Trust records through the service
    from its own machine; then a rolled-back service is caught by the council's client.
    Returns whether both happened."""
    served = directory / "service.db"
    _copy_database(ledger_path, served)
    with _serving(served, directory) as url:
        hope = open_ledger(url, directory / "keys", state=directory / "state" / "hope-trust")
        signer = hope.signer("hope-trust", DEMO_PASSPHRASE).dated(AS_OF)
        unit = UnitOfWork(hope.core)
        hope.submit_invoice(signer, PACKAGE, "HT-2026-Q4", "25000", AS_OF, "2026-Q4", uow=unit)
        (recorded,) = unit.commit()
        council = open_ledger(url, directory / "keys", state=directory / "state" / "council")
        seen = len(council.history(PACKAGE))
        hope.close()
    say("\nThe council runs the ledger as a service (chainledger serve). Hope Trust, on its")
    say("own machine, submits an invoice through it: signed there with its own key, run again")
    say(f"by the service (which holds no key) and recorded as #{recorded.notification_id}. The "
        "council's client")  # fmt: skip
    say(f"reads the package's {seen} events, verifies each, and keeps the service's checkpoint.")
    rolled = open_ledger(str(served), directory / "keys", state=directory / "state" / "rolled")
    _roll_back(rolled, 2)
    rolled.close()
    with _serving(served, directory, int(url.rsplit(":", 1)[1])):
        try:
            council.history(PACKAGE)
            return False
        except SecurityError as error:
            say("The service is then rolled back by 2 events; the council's client refuses:")
            say(f"  Error: {error}")
            return True
        finally:
            council.close()


def _roll_back(app: Any, count: int) -> None:
    """Delete the newest ``count`` events and rebuild the stored tree over what is left,
    as an operator hiding a rollback would."""
    table = app.recorder.events_record_cls.__table__
    with app.recorder.datastore.transaction(commit=True) as session:
        newest = [row[0] for row in session.execute(
            select(table.c.id).order_by(table.c.id.desc()).limit(count))]  # fmt: skip
        session.execute(delete(table).where(table.c.id.in_(newest)))
        for tree_table in merkle_store.TABLES:
            session.execute(delete(tree_table))
        merkle_store.append(session, table, [])


# Scores on the eight dimensions (openness, fairness, payment, support, commitments,
# clarity, equality, improvement), with a comment.
REVIEW = {
    ("northgate", "northgate"): ("55555545", "We pride ourselves on partnership."),
    ("hope-trust", "northgate"): ("43442434", "Pays on time; rarely shares plans."),
    ("mind-in-barnet", "northgate"): ("21321323", "A 40% cut proposed without a conversation."),
    ("refugee-advice", "northgate"): ("31212312", "Half the promised value, paid late."),
    ("womens-centre", "northgate"): ("11111111", "Named in the bid, never contracted."),
    ("barnet-council", "northgate"): ("33434343", ""),
    **{("northgate", h): ("44444444", "") for h, *_ in PROMISES},
    **{(h, h): ("44434444", "") for h, *_ in PROMISES},
}  # fmt: skip


def _review_round(app: Any, at: Callable[[str, str], Any], say: Callable[[str], None]) -> Any:
    """The council's 360 review of 2026-Q2; returns what opens its ratings (the council's
    encryption key), for the findings."""
    period = "2026-Q2"
    slugs = [d.slug for d in DEFAULT_DIMENSIONS]
    app.open_review(at("barnet-council", "2026-07-01"), PACKAGE, period)
    for (rater, ratee), (digits, comment) in REVIEW.items():
        scores = dict(zip(slugs, digits, strict=True))
        app.rate(at(rater, "2026-07-10"), PACKAGE, period, ratee, scores, comment)
    app.close_review(at("barnet-council", "2026-07-31"), PACKAGE, period)
    say(f"\nThe council ran a 360 review for {period}: {len(REVIEW)} ratings committed, sealed;")
    say("nobody, the council included, could read one until the round closed.")
    kinder = dict(zip(slugs, "55555555", strict=True))
    try:
        app.reveal(at("refugee-advice", "2026-08-05"),
                   app.opener("refugee-advice", DEMO_PASSPHRASE), PACKAGE, period, "northgate",
                   kinder)  # fmt: skip
    except Refused as refused:
        say(f"The Refugee Advice Collective tried to reveal a kinder rating: refused ({refused}).")
    for handle in ("barnet-council", "northgate", "hope-trust", "mind-in-barnet", "refugee-advice"):
        app.reveal(at(handle, "2026-08-05"), app.opener(handle, DEMO_PASSPHRASE), PACKAGE, period)
    app.finalise_review(at("barnet-council", "2026-08-15"), PACKAGE, period)
    say("Everyone revealed to the council except the Women's Centre, whose ratings stay sealed;")
    say("then the council ended the reveals, so the results can no longer change.")
    owner = app.opener("barnet-council", DEMO_PASSPHRASE)
    shared = app.review_report(owner, package=PACKAGE, period=period, for_handle="northgate")
    say("What Northgate may see of how it was rated (groups of 3 or more, nobody named):")
    for dim in shared["rounds"][0]["dimensions"]:
        groups = ", ".join(f"{g['group']} median {g['median']} (n={g['n']})" for g in dim["groups"])
        ledger = dim["ledger"]
        beside = f"; ledger: {ledger['measure']} {ledger['value']}" if ledger else ""
        say(f"  {dim['title']:<44} self {dim['self']}; {groups or 'withheld'}{beside}")
    return owner


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
            (b'"paid_on":"2026-11-21"',),
        ).fetchone()
        edited = state.replace(b'"paid_on":"2026-11-21"', b'"paid_on":"2026-10-21"')
        db.execute(f"UPDATE {EVENTS_TABLE} SET state = ? WHERE id = ?", (edited, row_id))
    return f"notification {row_id}, paid on 2026-11-21 becomes 2026-10-21"
