"""Rules through the CLI: each refusal is a clear ``Error: …`` and writes nothing.

The starting ledger is built once per module through the CLI (every step
unlocks a key with scrypt, which is slow on purpose) and each test gets its own
copy. A refusal exits 1 (2 where click itself rejects the usage), says which
rule on stderr, shows no traceback, and leaves every row of the events table
exactly as it was.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CliLedger
from tests.ledgers import LedgerStore, event_rows

# Locally on each engine, and through `chainledger serve` (the remote engine): the same
# assertions hold for a client of the service.
pytestmark = pytest.mark.also_remote

Args = tuple[str, ...]

# The starting ledger:
#   BAR-1 (barnet-council): KPI "job starts" per quarter; bids by northgate (naming
#         hope-trust and mind-in-barnet) and acme-prime; awarded to northgate; subcontracts
#         to hope-trust and refugee-advice; hope-trust's invoice INV-1 of £1000 dated
#         2026-02-01; variation 1 proposed to hope-trust; hope-trust's concern C-1.
#   BAR-2 (barnet-council): open; acme-prime's bid withdrawn.
#   CAM-1 (camden-council): awarded to acme-prime; camden-carers its only subcontractor.
#   OLD-1 (barnet-council): awarded to northgate, hope-trust subcontracted and invoiced
#         (INV-1), then closed.
TERMS = (
    "--service", "advice", "--share", "5", "--value", "50000",
    "--referrals", "20", "--model", "fixed", "--terms", "30",
)  # fmt: skip
PROMISE = "service=advice,value=50000,referrals=20,model=fixed,terms=30"
NOT_A_PERIOD = "is not a period: use a month like 2026-03 or a quarter like 2026-Q1"


# -- commands (click keeps the last of a repeated option, so extra options override) ------


def new_package(reference: str, *options: str, who: str = "barnet-council") -> Args:
    return (
        "package", "create", reference, "--as", who, "--title", "Employment support",
        "--area", "Barnet", "--value", "2400000", "--start", "2026-01-01",
        "--end", "2027-12-31", "--description", "Support into work",
        "--payment-model", "fee-plus-outcome", "--at-risk", "20", *options,
    )  # fmt: skip


def bid(package: str, who: str, self_share: str, *promises: str, price: str = "900000") -> Args:
    args = ("bid", "submit", package, "--as", who, "--price", price, "--self-share", self_share)
    return args + tuple(option for p in promises for option in ("--promise", p))


def issue(package: str, sub: str, *options: str, who: str = "northgate") -> Args:
    return ("subcontract", "issue", package, "--as", who, "--sub", sub, *TERMS, *options)


def propose(sub: str, *options: str, package: str = "BAR-1", who: str = "northgate") -> Args:
    return ("variation", "propose", package, "--as", who, "--sub", sub, "--reason", "budget cut",
            *options)  # fmt: skip


def answer(verb: str, who: str, number: str = "1") -> Args:
    args = ("variation", verb, "BAR-1", "--as", who, f"--number={number}")
    return (*args, "--reason", "not what we agreed") if verb == "dispute" else args


def referral(package: str = "BAR-1", sub: str = "hope-trust", period: str = "2026-Q1",
             who: str = "northgate") -> Args:  # fmt: skip
    return ("referral", "send", package, "--as", who, "--sub", sub, "--period", period,
            "--count", "5")  # fmt: skip


def confirm(who: str, period: str = "2026-Q1", package: str = "BAR-1") -> Args:
    return ("referral", "confirm", package, "--as", who, "--period", period, "--count", "5")


def invoice(ref: str, *options: str, package: str = "BAR-1", who: str = "hope-trust") -> Args:
    return (
        "invoice", "submit", package, "--as", who, "--ref", ref, "--amount", "500",
        "--date", "2026-03-01", "--period", "2026-Q1", *options,
    )  # fmt: skip


def pay(amount: str = "100", *options: str, package: str = "BAR-1", who: str = "northgate",
        sub: str = "hope-trust", ref: str = "INV-1") -> Args:  # fmt: skip
    return (
        "payment", "record", package, "--as", who, "--sub", sub, "--invoice", ref,
        "--amount", amount, "--date", "2026-02-10", *options,
    )  # fmt: skip


def received(who: str = "hope-trust", date: str = "2026-03-01", package: str = "BAR-1",
             ref: str = "INV-1") -> Args:  # fmt: skip
    return ("payment", "confirm", package, "--as", who, "--invoice", ref, "--date", date)


def report(kpi: str = "job starts", period: str = "2026-Q1", who: str = "hope-trust",
           package: str = "BAR-1") -> Args:  # fmt: skip
    return ("performance", "report", package, "--as", who, "--kpi", kpi, "--period", period,
            "--actual", "12")  # fmt: skip


def attest(kpi: str = "job starts", period: str = "2026-Q1", who: str = "northgate") -> Args:
    return ("performance", "attest", "BAR-1", "--as", who, "--sub", "hope-trust", "--kpi", kpi,
            "--period", period)  # fmt: skip


def concern(package: str = "BAR-1", who: str = "hope-trust") -> Args:
    return ("concern", "raise", package, "--as", who, "--subject", "Referrals",
            "--text", "Fewer referrals than promised")  # fmt: skip


def respond(who: str, sub: str = "hope-trust", ref: str = "C-1") -> Args:
    return ("concern", "respond", "BAR-1", "--as", who, "--sub", sub, "--ref", ref,
            "--text", "We will look into it")  # fmt: skip


def award(package: str, prime: str, who: str = "barnet-council") -> Args:
    return ("package", "award", package, "--as", who, "--bid", prime)


def command_id(value: object) -> str | None:
    """Test ids like ``payment record`` for command arguments; pytest's own for the rest."""
    return " ".join(value[:2]) if isinstance(value, tuple) else None


# -- the starting ledger, its copies, and the check ---------------------------------------


def snapshot(url: str) -> list[tuple[object, ...]]:
    """Every row of the events table, as stored."""
    return list(event_rows(url))


@pytest.fixture(scope="module")
def base(module_ledgers: LedgerStore) -> CliLedger:
    """The starting ledger, built once through the CLI."""
    directory = module_ledgers.directory
    ledger = module_ledgers.cli(module_ledgers.url("refusals"), directory / "keys")
    ledger.ok("init", "--name", "Refusals")
    for handle, role in (
        ("barnet-council", "commissioner"),
        ("camden-council", "commissioner"),
        ("northgate", "prime"),
        ("acme-prime", "prime"),
        ("hope-trust", "subcontractor"),
        ("mind-in-barnet", "subcontractor"),
        ("refugee-advice", "subcontractor"),
        ("camden-carers", "subcontractor"),
    ):
        name = handle.replace("-", " ").title()
        ledger.ok("org", "create", name, "--role", role, "--handle", handle)

    ledger.ok(*new_package("BAR-1"))
    ledger.ok("kpi", "define", "BAR-1", "--as", "barnet-council", "--name", "job starts",
              "--unit", "people", "--target", "100", "--acceptable", "80")  # fmt: skip
    ledger.ok(*bid("BAR-1", "northgate", "40", f"hope-trust:share=15,{PROMISE}",
                   f"mind-in-barnet:share=10,{PROMISE}", price="2350000"))  # fmt: skip
    ledger.ok(*bid("BAR-1", "acme-prime", "100", price="2300000"))
    ledger.ok(*award("BAR-1", "northgate"))
    ledger.ok(*issue("BAR-1", "hope-trust"))
    ledger.ok(*issue("BAR-1", "refugee-advice"))
    ledger.ok(*invoice("INV-1", "--amount", "1000", "--date", "2026-02-01"))
    ledger.ok(*propose("hope-trust", "--value", "40000"))
    ledger.ok(*concern(), "--ref", "C-1")

    ledger.ok(*new_package("BAR-2"))
    ledger.ok(*bid("BAR-2", "acme-prime", "100"))
    ledger.ok("bid", "withdraw", "BAR-2", "--as", "acme-prime", "--reason", "no capacity")

    ledger.ok(*new_package("CAM-1", "--area", "Camden", who="camden-council"))
    ledger.ok(*bid("CAM-1", "acme-prime", "95", f"camden-carers:share=5,{PROMISE}"))
    ledger.ok(*award("CAM-1", "acme-prime", who="camden-council"))
    ledger.ok(*issue("CAM-1", "camden-carers", who="acme-prime"))

    ledger.ok(*new_package("OLD-1"))
    ledger.ok(*bid("OLD-1", "northgate", "95", f"hope-trust:share=5,{PROMISE}"))
    ledger.ok(*award("OLD-1", "northgate"))
    ledger.ok(*issue("OLD-1", "hope-trust"))
    ledger.ok(*invoice("INV-1", package="OLD-1"))
    ledger.ok("package", "close", "OLD-1", "--as", "barnet-council")
    return ledger


@pytest.fixture
def ledger(base: CliLedger, module_ledgers: LedgerStore) -> CliLedger:
    """A copy of the starting ledger as it was built, with the same (read-only) keys.

    A test that records nothing leaves the copy as it was, and the next test
    reuses it; any test that records gets the next test a new copy."""
    return module_ledgers.cli(module_ledgers.fresh(base.url, "ledger"), base.keys)


def assert_refused(
    ledger: CliLedger,
    args: Args,
    message: str,
    code: int = 1,
    env: dict[str, str | None] | None = None,
) -> None:
    """``args`` exits ``code`` with ``Error: message`` on stderr, and writes nothing.

    A refusal by chainledger (exit 1) starts with the message; a usage error
    rejected by click (exit 2) shows the usage first.
    """
    before = snapshot(ledger.url)
    result = ledger.run(*args, env=env)
    assert result.exit_code == code, (result.stdout, result.stderr)
    if code == 1:
        assert result.stderr.startswith(f"Error: {message}"), result.stderr
    else:
        assert result.stderr.startswith("Usage: "), result.stderr
        assert f"Error: {message}" in result.stderr
    assert "Traceback" not in result.stderr
    assert "this is a bug" not in result.stderr
    assert result.stdout == ""
    assert snapshot(ledger.url) == before


def test_the_starting_ledger_is_as_described(ledger: CliLedger) -> None:
    topics = [row[3] for row in snapshot(ledger.url)]
    assert topics.count("OrganisationRegistered") == 8
    assert topics.count("PackageCreated") == 4
    assert topics.count("PackageAwarded") == 3
    assert topics.count("SubcontractIssued") == 4
    assert topics.count("BidWithdrawn") == 1
    assert topics.count("VariationProposed") == 1
    assert topics.count("ConcernRaised") == 1
    assert topics.count("PackageClosed") == 1
    # The copy takes a step the rules allow, so the refusals below are the rules at work.
    ledger.ok(*pay("100"))
    assert len(snapshot(ledger.url)) == len(topics) + 1


# -- only the right party signs each step -------------------------------------------------


@pytest.mark.parametrize("who", ["hope-trust", "mind-in-barnet", "acme-prime", "barnet-council"])
def test_only_the_invoiced_prime_records_a_payment(ledger: CliLedger, who: str) -> None:
    assert_refused(ledger, pay(who=who), "only northgate, who was invoiced, can record its payment")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("bid", "acknowledge", "BAR-1", "--as", "northgate", "--prime", "northgate"),
         "northgate's bid for BAR-1 does not name northgate"),
        (("bid", "dispute", "BAR-1", "--as", "northgate", "--prime", "northgate",
          "--reason", "terms-differ"), "northgate's bid for BAR-1 does not name northgate"),
        (("subcontract", "accept", "BAR-1", "--as", "northgate"),
         "northgate has no subcontract in package BAR-1"),
        (answer("accept", "northgate"), "northgate has no subcontract in package BAR-1"),
        (confirm("northgate"), "northgate has no subcontract in package BAR-1"),
        (invoice("INV-9", who="northgate"), "northgate has no subcontract in package BAR-1"),
        (report(who="northgate"), "northgate has no subcontract in package BAR-1"),
        (received("northgate"), "northgate has no invoice 'INV-1' on BAR-1"),
        (concern(who="northgate"),
         "only a subcontractor can raise a concern; northgate is a prime in BAR-1"),
    ],
    ids=command_id,
)  # fmt: skip
def test_a_prime_cannot_sign_for_a_subcontractor(
    ledger: CliLedger, args: Args, message: str
) -> None:
    assert_refused(ledger, args, message)


def test_a_prime_holding_only_its_own_key_cannot_sign_as_its_subcontractor(
    ledger: CliLedger, tmp_path: Path
) -> None:
    shown = json.loads(ledger.ok("org", "show", "northgate", "--format", "json").stdout)
    key_file = f"{shown[0]['fingerprint']}.key"
    own_keys = tmp_path / "northgate-keys"
    own_keys.mkdir(mode=0o700)
    shutil.copy2(ledger.keys / key_file, own_keys / key_file)
    env: dict[str, str | None] = {"CHAINLEDGER_KEYS": str(own_keys)}
    assert_refused(
        ledger,
        ("bid", "acknowledge", "BAR-1", "--as", "hope-trust", "--prime", "northgate"),
        f"no private key of hope-trust in {own_keys}",
        env=env,
    )
    assert ledger.run(*referral(), env=env).exit_code == 0  # its own key signs its own steps


@pytest.mark.parametrize("who", ["northgate", "camden-council", "hope-trust"])
@pytest.mark.parametrize(
    ("args", "step"),
    [
        (("package", "award", "BAR-1", "--bid", "northgate"), "award it"),
        (("package", "vary", "BAR-1", "--value", "2000000", "--reason", "budget cut"),
         "vary its value"),
        (("package", "close", "BAR-1"), "close it"),
        (("kpi", "define", "BAR-1", "--name", "outcomes", "--unit", "people"),
         "define its KPIs"),
    ],
    ids=["award", "vary", "close", "kpi"],
)  # fmt: skip
def test_only_the_commissioner_awards_varies_or_closes(
    ledger: CliLedger, who: str, args: Args, step: str
) -> None:
    message = f"only barnet-council, the commissioner of BAR-1, can {step}"
    assert_refused(ledger, (*args, "--as", who), message)


def test_a_subcontractor_of_another_package_cannot_raise_a_concern(ledger: CliLedger) -> None:
    assert_refused(
        ledger, concern(who="camden-carers"), "camden-carers is not a party to package BAR-1"
    )
    ledger.ok(*concern("CAM-1", who="camden-carers"))  # on its own package it can


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (invoice("INV-9", who="camden-carers"), "camden-carers has no subcontract in package BAR-1"),
        (("subcontract", "accept", "BAR-1", "--as", "camden-carers"),
         "camden-carers has no subcontract in package BAR-1"),
        (issue("BAR-1", "mind-in-barnet", who="acme-prime"),
         "only northgate, the prime of BAR-1, can issue subcontracts"),
        (referral(who="acme-prime"), "only northgate, the prime of BAR-1, can send referrals"),
        (propose("hope-trust", "--value", "1000", who="acme-prime"),
         "only northgate, the prime of BAR-1, can vary subcontracts"),
        (("subcontract", "failing-process", "BAR-1", "--as", "acme-prime", "--sub", "hope-trust",
          "--reason", "late reports"),
         "only northgate, the prime of BAR-1, can start a failing-provider process"),
        (attest(who="camden-council"),
         "only northgate, the prime of BAR-1, can attest performance reports"),
        (("bid", "explain-shortfall", "BAR-1", "--as", "camden-council", "--sub", "hope-trust",
          "--explanation", "none"), "camden-council has no bid for package BAR-1"),
    ],
    ids=command_id,
)  # fmt: skip
def test_only_parties_act_on_a_package(ledger: CliLedger, args: Args, message: str) -> None:
    assert_refused(ledger, args, message)


# -- steps out of order -------------------------------------------------------------------


def test_award_of_a_withdrawn_bid_is_refused(ledger: CliLedger) -> None:
    assert_refused(ledger, award("BAR-2", "acme-prime"), "acme-prime's bid for BAR-2 was withdrawn")


@pytest.mark.parametrize("prime", ["acme-prime", "northgate"])
def test_a_package_is_awarded_only_once(ledger: CliLedger, prime: str) -> None:
    assert_refused(
        ledger, award("BAR-1", prime), "package BAR-1 has already been awarded to northgate"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("package", "vary", "BAR-2", "--as", "barnet-council", "--value", "1000",
          "--reason", "budget cut"),
         "package BAR-2 is not awarded yet: there is no contract to vary"),
        (issue("BAR-2", "hope-trust"), "package BAR-2 has not been awarded yet"),
        (referral("BAR-2"), "package BAR-2 has not been awarded yet"),
        (bid("BAR-1", "acme-prime", "100"), "package BAR-1 is no longer open for bids"),
        (("interest", "express", "BAR-1", "--as", "mind-in-barnet", "--prime", "northgate",
          "--offer", "advice"), "package BAR-1 is no longer open for bids"),
    ],
    ids=["vary", "issue", "referral", "bid", "interest"],
)  # fmt: skip
def test_steps_before_or_after_the_award_are_refused(
    ledger: CliLedger, args: Args, message: str
) -> None:
    assert_refused(ledger, args, message)


@pytest.mark.parametrize(
    ("sub", "message"),
    [
        ("northgate", "northgate cannot be its own subcontractor"),
        ("barnet-council",
         "barnet-council is the commissioner of BAR-1, so it cannot be a subcontractor in it"),
    ],
)  # fmt: skip
def test_no_subcontract_to_the_prime_itself_or_the_commissioner(
    ledger: CliLedger, sub: str, message: str
) -> None:
    assert_refused(ledger, issue("BAR-1", sub), message)


def test_a_prime_or_commissioner_elsewhere_can_be_a_subcontractor_here(ledger: CliLedger) -> None:
    # Roles are per package: acme-prime lost BAR-1's tender and primes CAM-1; camden-council
    # commissions CAM-1. Either may deliver part of BAR-1 for its prime.
    ledger.ok(*issue("BAR-1", "acme-prime"))
    ledger.ok(*issue("BAR-1", "camden-council"))


@pytest.mark.parametrize(
    ("sub", "ref"),
    [("hope-trust", "INV-404"), ("mind-in-barnet", "INV-1"), ("refugee-advice", "INV-1")],
)
def test_payment_of_an_unknown_invoice_is_refused(ledger: CliLedger, sub: str, ref: str) -> None:
    assert_refused(ledger, pay(sub=sub, ref=ref), f"no invoice {ref!r} from {sub} on BAR-1")


@pytest.mark.parametrize(
    ("paid", "amount", "outstanding"),
    [
        ((), "1000.01", "£1,000.00 outstanding: a payment of £1,000.01"),
        ((), "5000", "£1,000.00 outstanding: a payment of £5,000.00"),
        (("600",), "400.01", "£400.00 outstanding: a payment of £400.01"),
        (("600", "400"), "0.01", "£0.00 outstanding: a payment of £0.01"),
    ],
)
def test_payment_beyond_what_is_outstanding_is_refused(
    ledger: CliLedger, paid: Args, amount: str, outstanding: str
) -> None:
    for earlier in paid:
        ledger.ok(*pay(earlier))
    assert_refused(ledger, pay(amount), f"invoice INV-1 has {outstanding} is more than that")


@pytest.mark.parametrize(
    ("args", "sub"),
    [
        (referral(sub="mind-in-barnet"), "mind-in-barnet"),
        (referral(sub="camden-carers"), "camden-carers"),
        (confirm("mind-in-barnet"), "mind-in-barnet"),
    ],
    ids=["send-named", "send-other-package", "confirm"],
)
def test_referrals_need_a_subcontract(ledger: CliLedger, args: Args, sub: str) -> None:
    assert_refused(ledger, args, f"{sub} has no subcontract in package BAR-1")


@pytest.mark.parametrize(
    ("verb", "who", "prime"),
    [
        ("acknowledge", "refugee-advice", "northgate"),
        ("acknowledge", "camden-carers", "northgate"),
        ("acknowledge", "hope-trust", "acme-prime"),
        ("dispute", "refugee-advice", "northgate"),
    ],
)
def test_acknowledging_a_bid_that_does_not_name_you_is_refused(
    ledger: CliLedger, verb: str, who: str, prime: str
) -> None:
    args = ("bid", verb, "BAR-1", "--as", who, "--prime", prime)
    if verb == "dispute":
        args += ("--reason", "named-without-consent")
    assert_refused(ledger, args, f"{prime}'s bid for BAR-1 does not name {who}")


@pytest.mark.parametrize(
    "args",
    [
        ("kpi", "define", "OLD-1", "--as", "barnet-council", "--name", "outcomes", "--unit", "people"),
        concern("OLD-1"),
        issue("OLD-1", "mind-in-barnet"),
        bid("OLD-1", "acme-prime", "100"),
        propose("hope-trust", "--value", "1000", package="OLD-1"),
        ("bid", "acknowledge", "OLD-1", "--as", "hope-trust", "--prime", "northgate"),
        award("OLD-1", "northgate"),
        ("package", "vary", "OLD-1", "--as", "barnet-council", "--value", "1000", "--reason", "cut"),
        ("package", "close", "OLD-1", "--as", "barnet-council"),
    ],
    ids=command_id,
)  # fmt: skip
def test_nothing_more_is_recorded_on_a_closed_package(ledger: CliLedger, args: Args) -> None:
    assert_refused(ledger, args, "package OLD-1 is closed: nothing more can be recorded")


@pytest.mark.parametrize(
    "args",
    [
        referral("OLD-1", period="2027-Q1"),
        invoice("INV-2", "--period", "2027-Q1", package="OLD-1"),
        confirm("hope-trust", period="2027-Q1", package="OLD-1"),
        report(period="2027-Q1", package="OLD-1"),
    ],
    ids=command_id,
)  # fmt: skip
def test_the_run_off_of_a_closed_package_is_for_periods_it_ran(
    ledger: CliLedger, args: Args
) -> None:
    """Settling steps after close are for periods that began before it closed (OLD-1 was
    closed today, 2 December 2026 or later, so 2027-Q1 began after it)."""
    assert_refused(ledger, args, "package OLD-1 closed on ")


def test_the_run_off_of_a_closed_package_is_recorded(ledger: CliLedger) -> None:
    """The last quarter is settled after the close: referrals, an invoice, its payment and
    the receipt; each recorded."""
    for args in (referral("OLD-1"), confirm("hope-trust", package="OLD-1"),
                 invoice("INV-2", package="OLD-1"),
                 pay("100", "--date", "2026-03-10", package="OLD-1", ref="INV-2"),
                 received(date="2026-03-10", package="OLD-1", ref="INV-2")):  # fmt: skip
        ledger.ok(*args)


# -- values -------------------------------------------------------------------------------

MONEY: dict[str, Callable[[str], Args]] = {
    "payment": lambda v: pay(v),
    "invoice amount": lambda v: invoice("INV-9", "--amount", v),
    "contract value": lambda v: new_package("NEW-1", "--value", v),
    "new contract value": lambda v: (
        "package", "vary", "BAR-1", "--as", "barnet-council", "--value", v, "--reason", "cut",
    ),
    "bid price": lambda v: bid("BAR-2", "northgate", "100", price=v),
    "subcontract terms: value per year": lambda v: issue("BAR-1", "mind-in-barnet", "--value", v),
}  # fmt: skip
NEGATIVE = "must not be negative"
PENNIES = "has fractions of a penny: use at most two decimals"
INFINITE = "must be a finite number"


@pytest.mark.parametrize(
    ("what", "value", "problem"),
    [
        ("payment", "-1", NEGATIVE),
        ("payment", "-0.01", NEGATIVE),
        ("payment", "10.005", f"10.005 {PENNIES}"),
        ("payment", "ten", "'ten' is not a number"),
        ("payment", "NaN", INFINITE),
        ("payment", "Infinity", INFINITE),
        ("payment", "-Infinity", INFINITE),
        ("invoice amount", "-1", NEGATIVE),
        ("invoice amount", "10.005", f"10.005 {PENNIES}"),
        ("invoice amount", "£12.5p", "'£12.5p' is not a number"),
        ("invoice amount", "NaN", INFINITE),
        ("contract value", "-1", NEGATIVE),
        ("contract value", "2400000.001", f"2400000.001 {PENNIES}"),
        ("contract value", "Infinity", INFINITE),
        ("new contract value", "-2000000", NEGATIVE),
        ("new contract value", "0.999", f"0.999 {PENNIES}"),
        ("bid price", "-1", NEGATIVE),
        ("bid price", "ten", "'ten' is not a number"),
        ("subcontract terms: value per year", "-50000", NEGATIVE),
        ("subcontract terms: value per year", "NaN", INFINITE),
    ],
)
def test_money_is_pounds_and_pence_and_never_negative(
    ledger: CliLedger, what: str, value: str, problem: str
) -> None:
    assert_refused(ledger, MONEY[what](value), f"{what} {problem}")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (invoice("INV-9", "--amount", "0"), "an invoice must be for more than £0"),
        (pay("0"), "a payment must be more than £0"),
    ],
    ids=["invoice", "payment"],
)
def test_invoices_and_payments_are_for_more_than_nothing(
    ledger: CliLedger, args: Args, message: str
) -> None:
    assert_refused(ledger, args, message)


PERCENT: dict[str, Callable[[str], Args]] = {
    "self-delivery share": lambda v: bid("BAR-2", "northgate", v),
    "promise to hope-trust: share %": lambda v: bid(
        "BAR-2", "northgate", "0", f"hope-trust:share={v},{PROMISE}"
    ),
    "at-risk %": lambda v: new_package("NEW-1", "--at-risk", v),
    "subcontract terms: share %": lambda v: issue("BAR-1", "mind-in-barnet", "--share", v),
    "subcontract terms: at-risk %": lambda v: issue("BAR-1", "mind-in-barnet", "--at-risk", v),
    "subcontract terms: management fee %": lambda v: issue("BAR-1", "mind-in-barnet", "--fee", v),
    "terms: share %": lambda v: propose("refugee-advice", "--share", v),
}
OUT_OF_RANGE = "must be between 0 and 100"


@pytest.mark.parametrize(
    ("what", "value", "problem"),
    [
        ("self-delivery share", "-1", OUT_OF_RANGE),
        ("self-delivery share", "100.01", OUT_OF_RANGE),
        ("self-delivery share", "101", OUT_OF_RANGE),
        ("self-delivery share", "12.345", "12.345 has more than two decimal places"),
        ("self-delivery share", "NaN", INFINITE),
        ("promise to hope-trust: share %", "-1", OUT_OF_RANGE),
        ("promise to hope-trust: share %", "100.01", OUT_OF_RANGE),
        ("promise to hope-trust: share %", "101", OUT_OF_RANGE),
        ("at-risk %", "-1", OUT_OF_RANGE),
        ("at-risk %", "101", OUT_OF_RANGE),
        ("subcontract terms: share %", "-1", OUT_OF_RANGE),
        ("subcontract terms: share %", "100.01", OUT_OF_RANGE),
        ("subcontract terms: at-risk %", "101", OUT_OF_RANGE),
        ("subcontract terms: management fee %", "100.01", OUT_OF_RANGE),
        ("terms: share %", "101", OUT_OF_RANGE),
    ],
)
def test_percentages_are_from_0_to_100(
    ledger: CliLedger, what: str, value: str, problem: str
) -> None:
    assert_refused(ledger, PERCENT[what](value), f"{what} {problem}")


@pytest.mark.parametrize(
    ("self_share", "shares", "total"),
    [
        ("60", ("41",), "101"),
        ("40", ("30", "30.01"), "100.01"),
        ("100", ("0.01",), "100.01"),
        ("0", ("60", "60"), "120"),
    ],
)
def test_self_delivery_plus_promised_shares_is_at_most_100(
    ledger: CliLedger, self_share: str, shares: Args, total: str
) -> None:
    subs = ("hope-trust", "mind-in-barnet")
    promises = [f"{sub}:share={share},{PROMISE}" for sub, share in zip(subs, shares, strict=False)]
    assert_refused(
        ledger,
        bid("BAR-2", "northgate", self_share, *promises),
        f"the self-delivery share plus the promised shares come to {total}%: at most 100%",
    )


def test_promised_shares_from_a_json_file_count_too(ledger: CliLedger, tmp_path: Path) -> None:
    promises = tmp_path / "promises.json"
    promises.write_text(
        '[{"subcontractor": "hope-trust", "service": "advice", "share_pct": 50.5,'
        ' "value_per_year": "50000", "referrals_per_period": 20, "payment_model": "fixed",'
        ' "payment_terms_days": 30}]'
    )
    assert_refused(
        ledger,
        (*bid("BAR-2", "northgate", "50"), "--promises", str(promises)),
        "the self-delivery share plus the promised shares come to 100.5%: at most 100%",
    )


DATES: dict[str, Callable[[str], Args]] = {
    "payment date": lambda v: pay("100", "--date", v),
    "invoice date": lambda v: invoice("INV-9", "--date", v),
    "start date": lambda v: new_package("NEW-1", "--start", v),
    "end date": lambda v: new_package("NEW-1", "--end", v),
    "date received": lambda v: received(date=v),
    "--on date": lambda v: pay("100", "--on", v),
}
NOT_REAL = "is not a real date"
NOT_ISO = "is not an ISO 8601 date (YYYY-MM-DD)"


@pytest.mark.parametrize(
    ("what", "value", "problem"),
    [
        ("payment date", "2026-13-01", NOT_REAL),
        ("payment date", "2026-02-30", NOT_REAL),
        ("payment date", "26-01-01", NOT_ISO),
        ("payment date", "01/02/2026", NOT_ISO),
        ("invoice date", "2026-13-01", NOT_REAL),
        ("invoice date", "2026-02-30", NOT_REAL),
        ("invoice date", "26-01-01", NOT_ISO),
        ("invoice date", "01/02/2026", NOT_ISO),
        ("start date", "2026-13-01", NOT_REAL),
        ("start date", "01/02/2026", NOT_ISO),
        ("end date", "2027-02-29", NOT_REAL),
        ("date received", "2026-3-1", NOT_ISO),
        ("--on date", "2026-02-30", NOT_REAL),
        ("--on date", "01/02/2026", NOT_ISO),
    ],
)
def test_dates_are_iso_8601(ledger: CliLedger, what: str, value: str, problem: str) -> None:
    assert_refused(ledger, DATES[what](value), f"{what} {value!r} {problem}")


def test_a_step_is_not_dated_in_the_future(ledger: CliLedger) -> None:
    assert_refused(
        ledger,
        pay("100", "--on", "2100-12-31"),
        "the date 2100-12-31 is in the future: facts are recorded once they happen",
    )


PERIODS: dict[str, Callable[[str], Args]] = {
    "referral send": lambda v: referral(period=v),
    "invoice submit": lambda v: invoice("INV-9", "--period", v),
    "performance report": lambda v: report(period=v),
    "referral confirm": lambda v: confirm("hope-trust", period=v),
    "performance attest": lambda v: attest(period=v),
}


@pytest.mark.parametrize(
    ("command", "value"),
    [
        ("referral send", "2026-Q5"),
        ("referral send", "2026-13"),
        ("referral send", "2026"),
        ("referral send", "Q1-2026"),
        ("referral send", "2026-Q0"),
        ("referral send", "2026-00"),
        ("invoice submit", "2026-Q5"),
        ("invoice submit", "2026-13"),
        ("invoice submit", "2026"),
        ("invoice submit", "Q1-2026"),
        ("performance report", "2026-Q5"),
        ("performance report", "2026-3"),
        ("referral confirm", "2026-13"),
        ("performance attest", "Q1-2026"),
    ],
)
def test_periods_are_a_month_or_a_quarter(ledger: CliLedger, command: str, value: str) -> None:
    assert_refused(ledger, PERIODS[command](value), f"period {value!r} {NOT_A_PERIOD}")


NO_NOBODY = "no organisation with handle 'nobody' in this ledger"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (pay(who="nobody"), NO_NOBODY),
        (new_package("NEW-1", who="nobody"), NO_NOBODY),
        (concern(who="nobody"), NO_NOBODY),
        (pay(who="North Gate"), "invalid handle 'North Gate'"),
        (issue("BAR-1", "nobody"), "no subcontractor with handle 'nobody' in this ledger"),
        (referral(sub="nobody"), "nobody has no subcontract in package BAR-1"),
        (propose("nobody", "--value", "1000"), "nobody has no subcontract in package BAR-1"),
        (pay(sub="nobody"), "no invoice 'INV-1' from nobody on BAR-1"),
        (award("BAR-2", "nobody"), "nobody has no bid for package BAR-2"),
        (("bid", "acknowledge", "BAR-1", "--as", "hope-trust", "--prime", "nobody"),
         "nobody has no bid for package BAR-1"),
        (bid("BAR-2", "northgate", "50", f"nobody:share=10,{PROMISE}"),
         "no subcontractor with handle 'nobody' in this ledger"),
        (("interest", "express", "BAR-2", "--as", "mind-in-barnet", "--prime", "nobody",
          "--offer", "advice"), "no prime with handle 'nobody' in this ledger"),
        (respond("barnet-council", sub="nobody"), "no concern 'C-1' from nobody on BAR-1"),
        (respond("barnet-council", ref="C-404"), "no concern 'C-404' from hope-trust on BAR-1"),
        (received(ref="INV-404"), "hope-trust has no invoice 'INV-404' on BAR-1"),
    ],
)  # fmt: skip
def test_handles_and_references_must_exist(ledger: CliLedger, args: Args, message: str) -> None:
    assert_refused(ledger, args, message)


@pytest.mark.parametrize(
    "args",
    [
        award("NOPE-1", "northgate"),
        ("kpi", "define", "NOPE-1", "--as", "barnet-council", "--name", "x", "--unit", "people"),
        bid("NOPE-1", "northgate", "100"),
        invoice("INV-9", package="NOPE-1"),
        pay(package="NOPE-1"),
        concern("NOPE-1"),
    ],
    ids=command_id,
)  # fmt: skip
def test_an_unknown_package_is_refused(ledger: CliLedger, args: Args) -> None:
    assert_refused(ledger, args, "no package 'NOPE-1' in this ledger")


def test_a_malformed_package_reference_is_refused(ledger: CliLedger) -> None:
    assert_refused(ledger, pay(package="BAR 1"), "invalid package reference 'BAR 1'")


def test_an_unknown_kpi_is_refused(ledger: CliLedger) -> None:
    assert_refused(ledger, report(kpi="jobs"), "package BAR-1 has no KPI 'jobs' (KPIs: job starts)")


def test_only_a_reported_kpi_can_be_attested(ledger: CliLedger) -> None:
    assert_refused(
        ledger,
        attest(kpi="jobs"),
        "hope-trust has not reported KPI 'jobs' for 2026-Q1: nothing to attest",
    )


@pytest.mark.parametrize("who", ["northgate", "camden-council", "hope-trust"])
def test_only_the_commissioner_responds_to_a_concern(ledger: CliLedger, who: str) -> None:
    assert_refused(
        ledger,
        respond(who),
        "only barnet-council, the commissioner of BAR-1, can respond to concerns",
    )


@pytest.mark.parametrize(
    ("verb", "who", "message"),
    [
        ("accept", "northgate", "northgate has no subcontract in package BAR-1"),
        ("accept", "barnet-council", "barnet-council has no subcontract in package BAR-1"),
        ("accept", "mind-in-barnet", "mind-in-barnet has no subcontract in package BAR-1"),
        ("accept", "refugee-advice", "there is no variation 1 to refugee-advice's subcontract"),
        ("dispute", "northgate", "northgate has no subcontract in package BAR-1"),
        ("dispute", "refugee-advice", "there is no variation 1 to refugee-advice's subcontract"),
    ],
)
def test_only_its_subcontractor_answers_a_variation(
    ledger: CliLedger, verb: str, who: str, message: str
) -> None:
    assert_refused(ledger, answer(verb, who), message)


@pytest.mark.parametrize(
    ("verb", "number", "message"),
    [
        ("accept", "2", "there is no variation 2 to hope-trust's subcontract"),
        ("dispute", "2", "there is no variation 2 to hope-trust's subcontract"),
        ("accept", "0", "there is no variation 0 to hope-trust's subcontract"),
        ("dispute", "10000001", "variation number must be between 0 and 10,000,000"),
    ],
)
def test_only_a_proposed_variation_can_be_answered(
    ledger: CliLedger, verb: str, number: str, message: str
) -> None:
    assert_refused(ledger, answer(verb, "hope-trust", number), message)


def test_a_variation_is_answered_once(ledger: CliLedger) -> None:
    ledger.ok(*answer("accept", "hope-trust"))
    assert_refused(ledger, answer("dispute", "hope-trust"), "variation 1 has already been accepted")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (report(period="2026-03"),
         "KPI 'job starts' are counted per quarter here, so give a quarter, not 2026-03"),
        (referral(period="2026-03"),
         "referrals are counted per quarter here, so give a quarter, not 2026-03"),
        (confirm("hope-trust", period="2026-03"),
         "referrals are counted per quarter here, so give a quarter, not 2026-03"),
        (report(period="2029-Q1"),
         "2029-Q1 is outside the contract period (2026-01-01 to 2027-12-31)"),
    ],
    ids=["report", "referral-send", "referral-confirm", "outside-contract"],
)  # fmt: skip
def test_reports_and_referrals_follow_their_cadence(
    ledger: CliLedger, args: Args, message: str
) -> None:
    assert_refused(ledger, args, message)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("bid", "dispute", "BAR-1", "--as", "hope-trust", "--prime", "northgate",
          "--reason", "changed-my-mind"), "Invalid value for '--reason'"),
        (new_package("NEW-1", "--payment-model", "whatever-works"),
         "Invalid value for '--payment-model'"),
        (("kpi", "define", "BAR-1", "--as", "barnet-council", "--name", "x", "--unit", "people",
          "--period", "year"), "Invalid value for '--period'"),
        (("referral", "send", "BAR-1", "--as", "northgate", "--sub", "hope-trust",
          "--period", "2026-Q1", "--count", "five"), "Invalid value for '--count'"),
        (answer("accept", "hope-trust", "one"), "Invalid value for '--number'"),
        (bid("BAR-2", "northgate", "50", "share=10"), "Invalid value for '--promise'"),
        (pay()[:3] + pay()[5:], "Missing option '--as'"),
    ],
    ids=["reason", "payment-model", "kpi-period", "count", "number", "promise", "as"],
)  # fmt: skip
def test_usage_errors_are_refused_by_click(ledger: CliLedger, args: Args, message: str) -> None:
    assert_refused(ledger, args, message, code=2)


# -- strict values (issue 24): what int() would take, and text that displays other than it is


@pytest.mark.parametrize(
    "count", ["\u0661\u0662", "\uff11\uff12", "1_000", "+5", "-1", "1e3", " "],
    ids=["arabic-indic", "full-width", "underscore", "plus", "minus", "exponent", "blank"],
)  # fmt: skip
def test_counts_are_ascii_digits_only(ledger: CliLedger, count: str) -> None:
    args = ("referral", "send", "BAR-1", "--as", "northgate", "--sub", "hope-trust",
            "--period", "2026-Q1", "--count", count)  # fmt: skip
    assert_refused(ledger, args, "Invalid value for '--count'", code=2)


@pytest.mark.parametrize("number", ["\u0661", "-1", "+1"], ids=["arabic-indic", "minus", "plus"])
def test_a_variation_number_is_ascii_digits_only(ledger: CliLedger, number: str) -> None:
    assert_refused(ledger, answer("accept", "hope-trust", number),
                   "Invalid value for '--number'", code=2)  # fmt: skip


@pytest.mark.parametrize("char", ["\u202e", "\u2066", "\u200f", "\u061c"],
                         ids=["rlo", "lri", "rlm", "alm"])  # fmt: skip
def test_text_with_bidirectional_controls_is_refused(ledger: CliLedger, char: str) -> None:
    args = ("concern", "raise", "BAR-1", "--as", "hope-trust", "--subject",
            f"Paid {char}0001£", "--text", "Fewer referrals than promised")  # fmt: skip
    assert_refused(ledger, args, "subject contains a bidirectional control character")


def test_an_empty_as_of_date_is_refused(ledger: CliLedger) -> None:
    assert_refused(ledger, ("report", "findings", "--as-of", ""),
                   "--as-of date '' is not an ISO 8601 date")  # fmt: skip
