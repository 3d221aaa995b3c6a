"""Hostile input, generated: every case ends in a clear error or a correct record.

Never a traceback, never the CLI's "this is a bug in chainledger" message, and
never a partial write: a refused import or command leaves the events table with
exactly the rows it had, and an accepted one adds exactly what it reports.

The small ledger is built once per module (on each engine) through the CLI and
every example starts from a fresh copy of it, so examples neither see nor
depend on each other's writes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.strategies import DrawFn, composite

from tests.conftest import FAST_SCRYPT_N, PASSPHRASE, CliLedger
from tests.ledgers import LedgerStore, event_count

# Locally on each engine, and through `chainledger serve` (the remote engine): the same
# assertions hold for a client of the service.
pytestmark = pytest.mark.also_remote

PACKAGE = "BAR-ES-2026"
OPEN_PACKAGE = "BAR-2"  # open for bids; northgate's bid names hope-trust
COUNCIL, PRIME, SUB = "barnet-council", "northgate", "hope-trust"
HOSTILE_SETTINGS = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# -- the small ledger, its pristine copy, and the checks ----------------------------------

# Hope Trust's terms, as promised in northgate's bids and as issued after the award.
HOPE_TERMS = {
    "--service": "mental health support", "--share": "15", "--value": "150000",
    "--referrals": "60", "--model": "fixed", "--terms": "30", "--fee": "5",
}  # fmt: skip
HOPE_PROMISE = f"{SUB}:" + ",".join(f"{k[2:]}={v}" for k, v in HOPE_TERMS.items())
# What ``bid show`` gives for that promise in the bid for OPEN_PACKAGE: the hash covers the
# package, the prime and the terms only, so it is the same in every ledger.
HOPE_PROMISE_HASH = "d763d321c1b902aec30671cbf13980ce91b5c31c563ee37a753e90a97aa5c64a"
SCORES = "openness=4,fairness=3"  # the review rounds' two dimensions


def build(ledger: CliLedger) -> None:
    """The README's package life up to an accepted subcontract and one invoice, and a
    state for every other recording command to record on (see ``COMMANDS``)."""
    ledger.ok("org", "create", "Barnet Council", "--role", "commissioner", "--handle", COUNCIL)
    ledger.ok("org", "create", "Northgate", "--role", "prime", "--handle", PRIME)
    ledger.ok("org", "create", "Hope Trust", "--role", "subcontractor", "--sector", "vcs", "--size", "small")  # fmt: skip
    ledger.ok("org", "create", "Acme Prime", "--role", "prime", "--handle", "acme-prime")
    for name in ("Refugee Advice", "Carers Trust"):
        ledger.ok("org", "create", name, "--role", "subcontractor")
    for package in (PACKAGE, OPEN_PACKAGE):
        ledger.ok(
            "package", "create", package, "--as", COUNCIL, "--title", "Employment support",
            "--area", "London Borough of Barnet", "--value", "2000000", "--start", "2026-01-01",
            "--end", "2027-12-31", "--description", "Support for people out of work",
            "--payment-model", "fee-plus-outcome", "--at-risk", "20",
        )  # fmt: skip
        ledger.ok("bid", "submit", package, "--as", PRIME, "--price", "1950000",
                  "--self-share", "40", "--promise", HOPE_PROMISE)  # fmt: skip
    shown = ledger.ok("bid", "show", OPEN_PACKAGE, "--prime", PRIME, "--format", "json")
    assert HOPE_PROMISE_HASH in shown.stdout, shown.stdout
    ledger.ok("kpi", "define", PACKAGE, "--as", COUNCIL, "--name", "job starts",
              "--unit", "people", "--target", "20", "--acceptable", "15", "--period", "quarter")  # fmt: skip
    ledger.ok("package", "award", PACKAGE, "--as", COUNCIL, "--bid", PRIME)
    ledger.ok("subcontract", "issue", PACKAGE, "--as", PRIME, "--sub", SUB,
              *(arg for option in HOPE_TERMS.items() for arg in option))  # fmt: skip
    ledger.ok("subcontract", "accept", PACKAGE, "--as", SUB)
    ledger.ok("invoice", "submit", PACKAGE, "--as", SUB, "--ref", "HT-0",
              "--amount", "37500", "--date", "2026-03-31", "--period", "2026-Q1")  # fmt: skip
    # Issued, not yet accepted (subcontract accept; variation propose: no variation pending).
    ledger.ok("subcontract", "issue", PACKAGE, "--as", PRIME, "--sub", "refugee-advice",
              "--service", "advice", "--share", "5", "--value", "50000", "--referrals", "20",
              "--model", "fixed", "--terms", "30")  # fmt: skip
    # Each awaits its answer: variation accept or dispute, referral confirm, payment
    # confirm (£20,000 of HT-0 paid, £17,500 outstanding), performance attest, concern respond.
    ledger.ok("variation", "propose", PACKAGE, "--as", PRIME, "--sub", SUB,
              "--reason", "budget cut", "--value", "140000")  # fmt: skip
    ledger.ok("referral", "send", PACKAGE, "--as", PRIME, "--sub", SUB,
              "--period", "2026-Q1", "--count", "14")  # fmt: skip
    ledger.ok("payment", "record", PACKAGE, "--as", PRIME, "--sub", SUB,
              "--invoice", "HT-0", "--amount", "20000", "--date", "2026-04-28")  # fmt: skip
    ledger.ok("performance", "report", PACKAGE, "--as", SUB, "--kpi", "job starts",
              "--period", "2026-Q1", "--actual", "19")  # fmt: skip
    ledger.ok("concern", "raise", PACKAGE, "--as", SUB, "--subject", "Referrals",
              "--text", "Fewer than promised", "--ref", "C-1")  # fmt: skip
    # Review rounds: 2026-Q1 open (review rate, close); 2026-Q2 closed, northgate's rating
    # of hope-trust committed and not yet revealed (review reveal, finalise).
    for period in ("2026-Q1", "2026-Q2"):
        ledger.ok("review", "open", PACKAGE, "--period", period, "--as", COUNCIL,
                  "--dimension", "openness", "--dimension", "fairness")  # fmt: skip
    ledger.ok("review", "rate", PACKAGE, "--period", "2026-Q2", "--as", PRIME,
              "--ratee", SUB, "--score", SCORES, "--comment", "Reliable")  # fmt: skip
    ledger.ok("review", "close", PACKAGE, "--period", "2026-Q2", "--as", COUNCIL)


Fresh = Callable[[], CliLedger]


@pytest.fixture(scope="module")
def built(module_ledgers: LedgerStore) -> CliLedger:
    """The small ledger, built once per module and engine; nothing records into it after.

    Its keys get the tests' cheap scrypt cost here too (the autouse fixture that sets it
    is function-scoped, so not yet in force for a module-scoped fixture)."""
    directory = module_ledgers.directory
    ledger = module_ledgers.cli(module_ledgers.url("small"), directory / "keys")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("chainledger.adapters.keystore.SCRYPT_N", FAST_SCRYPT_N)
        ledger.ok("init")
        build(ledger)
    return ledger


@pytest.fixture(scope="module")
def built_events(built: CliLedger) -> int:
    """How many events the small ledger holds as built (and so does each fresh copy)."""
    return event_count(built.url)


@pytest.fixture
def small(built: CliLedger, module_ledgers: LedgerStore) -> Fresh:
    """A maker of the small ledger as built, one per example (an example that recorded
    nothing leaves its copy as built, and the next example reuses it)."""
    return lambda: module_ledgers.cli(module_ledgers.fresh(built.url, "example"), built.keys)


def assert_clean(result: Result, codes: tuple[int, ...]) -> None:
    """An allowed exit code; no traceback, bug message or passphrase anywhere."""
    output = result.stdout + result.stderr
    assert result.exit_code in codes, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in output, result.stderr
    assert "bug in chainledger" not in output, result.stderr
    assert "unexpected" not in result.stderr, result.stderr
    assert PASSPHRASE not in output


# -- import lines ------------------------------------------------------------------------

# Good lines per signer; each adds one event (references made unique per line).
TEMPLATES: dict[str, list[dict[str, Any]]] = {
    "hope-trust": [
        {"step": "invoice.submit", "package": PACKAGE, "reference": "G", "amount": "4200.00",
         "invoice_date": "2026-03-31", "period": "2026-Q1"},
        {"step": "concern.raise", "package": PACKAGE, "subject": "Referrals",
         "text": "Fewer than promised", "reference": "G"},
        {"step": "performance.report", "package": PACKAGE, "kpi": "job starts",
         "period": "2026-Q1", "actual": 19},
    ],
    "northgate": [
        {"step": "referral.send", "package": PACKAGE, "subcontractor": "hope-trust",
         "period": "2026-Q1", "count": 14},
        {"step": "payment.record", "package": PACKAGE, "subcontractor": "hope-trust",
         "invoice": "HT-0", "amount": "100", "paid_on": "2026-04-28"},
    ],
}  # fmt: skip


def good_line(signer: str, index: int, number: int) -> dict[str, Any]:
    line = dict(TEMPLATES[signer][index])
    if "reference" in line:
        line["reference"] = f"G-{number}"
    return line


class Raw(str):
    """Text spliced into a JSON line as is (NaN, Infinity, 1e999, 1.5)."""


HOSTILE_VALUES: list[Any] = [
    10**30, -(10**30), 2**63, 2**64, -1, 0, "1e999", "-1", "0.001", "12.345", "-0", "0.00",
    "NaN", "nan", "Infinity", "-Infinity", "inf", "sNaN", "1e3", "0x10", "1_000", "+5",
    " 100 ", "£100", "100,00", "１２３", "٣", "", " ", "\t", "\u00a0", "\u202e", "\u200b",
    "x" * 10_000, "0001-01-01", "9999-12-31", "2026-02-30", "2026-13-01", "26-03-31",
    "2026-Q0", "2026-Q5", "2026-00", "2026-13", "10000-01", "null", "true",
    True, False, None, [], {}, [1], {"a": 1}, ["2026-Q1"],
    Raw("NaN"), Raw("Infinity"), Raw("-Infinity"), Raw("1e999"), Raw("1.5"), Raw("-0.0"),
    Raw("1" * 5000),
]  # fmt: skip

hostile_value = st.one_of(
    st.sampled_from(HOSTILE_VALUES),
    st.integers(),
    st.text(max_size=40),
    st.lists(st.integers(), max_size=3),
)


def dump(line: dict[str, Any]) -> str:
    """JSON text for ``line``, with any Raw values spliced in unquoted."""
    raws: dict[str, str] = {}
    plain: dict[str, Any] = {}
    for key, value in line.items():
        if isinstance(value, Raw):
            marker = f"@@RAW{len(raws)}@@"
            raws[json.dumps(marker)] = str(value)
            plain[key] = marker
        else:
            plain[key] = value
    text = json.dumps(plain, ensure_ascii=False)
    for marker, raw in raws.items():
        text = text.replace(marker, raw)
    return text


@composite
def hostile_line(draw: DrawFn, signer: str) -> bytes:
    """One bad-looking line: a field hostile, missing or extra, or the JSON mangled."""
    line = good_line(signer, draw(st.integers(0, len(TEMPLATES[signer]) - 1)), 999)
    how = draw(
        st.sampled_from(["replace", "replace", "replace", "drop", "extra", "on", "cut", "bytes"])
    )
    if how == "replace":
        line[draw(st.sampled_from(sorted(line)))] = draw(hostile_value)
    elif how == "drop":
        del line[draw(st.sampled_from(sorted(line)))]
    elif how == "extra":
        line[draw(st.sampled_from(["prime", "uow", "signer", "self", "kwargs", "x" * 300]))] = draw(
            hostile_value
        )
    elif how == "on":
        line["on"] = draw(hostile_value)
    data = dump(line).encode()
    if how == "cut":
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif how == "bytes":
        # Valid UTF-8 only: invalid UTF-8 is a known bug, reproduced below.
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.text(min_size=1, max_size=8)).encode() + data[at:]
    return data


@composite
def import_file(draw: DrawFn) -> tuple[str, bytes, int]:
    """(signer, file content, lines in it) with one hostile line among good ones."""
    signer = draw(st.sampled_from(sorted(TEMPLATES)))
    count = draw(st.integers(0, 3))
    lines = [
        dump(good_line(signer, draw(st.integers(0, len(TEMPLATES[signer]) - 1)), n)).encode()
        for n in range(count)
    ]
    hostile = draw(hostile_line(signer))
    lines.insert(draw(st.integers(0, count)), hostile)
    # A line cut down to nothing is blank, and blank lines are skipped.
    return signer, b"\n".join(lines) + b"\n", count + (1 if hostile.strip() else 0)


def run_import(
    fresh: Fresh, tmp_path: Path, signer: str, content: bytes
) -> tuple[Result, int, int]:
    """Into a fresh copy of the small ledger, import ``content``; (result, rows before, after)."""
    ledger = fresh()
    file = tmp_path / "steps.jsonl"
    file.write_bytes(content)
    before = event_count(ledger.url)
    result = ledger.run("import", str(file), "--as", signer)
    return result, before, event_count(ledger.url)


def check_import(result: Result, before: int, after: int, lines: int) -> None:
    assert_clean(result, (0, 1))
    if result.exit_code == 1:
        assert result.stderr.startswith("Error: "), result.stderr
        assert after == before, "a refused import wrote rows"
    else:
        assert after > before
        assert f"Imported {after - before} events" in result.stdout, (result.stdout, after - before)
        assert after - before >= lines


@HOSTILE_SETTINGS
@given(case=import_file())
def test_import_hostile_line_among_good_lines(
    small: Fresh, tmp_path: Path, case: tuple[str, bytes, int]
) -> None:
    signer, content, lines = case
    result, before, after = run_import(small, tmp_path, signer, content)
    check_import(result, before, after, lines)


@pytest.mark.parametrize("signer", sorted(TEMPLATES))
def test_import_good_lines_all_recorded(small: Fresh, tmp_path: Path, signer: str) -> None:
    """The baseline the hostile cases are mixed into: every good line is recorded."""
    lines = [dump(good_line(signer, i, i)).encode() for i in range(len(TEMPLATES[signer]))]
    result, before, after = run_import(small, tmp_path, signer, b"\n".join(lines))
    assert result.exit_code == 0, result.stderr
    assert after - before == len(lines)


# -- known bugs, reproduced --------------------------------------------------------------


def test_import_invalid_utf8_is_a_clear_error(small: Fresh, tmp_path: Path) -> None:
    content = b"\xff" + dump(good_line("hope-trust", 0, 1)).encode() + b"\n"
    result, before, after = run_import(small, tmp_path, "hope-trust", content)
    assert after == before
    assert_clean(result, (1,))
    assert result.stderr.startswith("Error: line 1"), result.stderr


def test_import_refuses_non_string_text(small: Fresh, tmp_path: Path) -> None:
    line = {"step": "concern.raise", "package": PACKAGE, "subject": [1], "text": {"a": 1}}
    result, before, after = run_import(small, tmp_path, "hope-trust", dump(line).encode())
    assert result.exit_code == 1, result.stdout
    assert result.stderr.startswith("Error: line 1 (concern.raise): subject must be text"), (
        result.stderr
    )
    assert after == before


# -- CLI arguments -----------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """A recording command's baseline values, which succeed on the small ledger as built
    and add ``events`` events. Keys without ``--`` are its positional arguments, in order."""

    values: dict[str, str]
    events: int = 1

    def args(self, name: str, values: dict[str, str] | None = None) -> tuple[str, ...]:
        """The command line for ``values`` (default: the baseline)."""
        given = self.values if values is None else values
        args = [*name.split(), *(v for k, v in given.items() if not k.startswith("--"))]
        for option, value in given.items():
            if option.startswith("--"):
                args += [option, value]
        return tuple(args)


TODAY = date.today().isoformat()
Q1 = {"--period": "2026-Q1"}


def step(who: str, options: dict[str, str], package: str = PACKAGE) -> Command:
    """A step on ``package``, signed --as ``who``, taking effect --on today."""
    return Command({"PACKAGE": package, "--as": who, "--on": TODAY, **options})


# Every command that records something: reports, lists and shows record nothing, and
# init, import (its own tests above) and demo are not steps on a ledger.
COMMANDS: dict[str, Command] = {
    "package create": step(COUNCIL, {
        "--title": "Employment support", "--area": "Barnet", "--value": "2400000",
        "--start": "2026-01-01", "--end": "2027-12-31", "--description": "Support into work",
        "--payment-model": "fee-plus-outcome", "--at-risk": "20"}, package="BAR-3"),
    "package award": step(COUNCIL, {"--bid": PRIME}, package=OPEN_PACKAGE),
    "package vary": step(COUNCIL, {"--value": "1800000", "--reason": "budget cut 2027/28"}),
    "package close": step(COUNCIL, {"--reason": "contract ended"}),
    "kpi define": step(COUNCIL, {
        "--name": "referrals seen", "--unit": "people", "--target": "10",
        "--acceptable": "8.5", "--direction": "higher", "--period": "month"}),
    "bid submit": step("acme-prime", {
        "--price": "1900000", "--self-share": "90",
        "--promise": "carers-trust:service=respite,share=10,value=40000,referrals=5,model=fixed,terms=30",
    }, package=OPEN_PACKAGE),
    "bid withdraw": step(PRIME, {"--reason": "no capacity"}, package=OPEN_PACKAGE),
    "bid acknowledge": step(SUB, {"--prime": PRIME, "--hash": HOPE_PROMISE_HASH},
                            package=OPEN_PACKAGE),
    "bid dispute": step(SUB, {"--prime": PRIME, "--reason": "terms-differ",
                              "--note": "we agreed 20%"}, package=OPEN_PACKAGE),
    "bid explain-shortfall": step(PRIME, {"--sub": SUB, "--explanation": "referrals fell"}),
    "interest express": step("carers-trust", {
        "--prime": "acme-prime", "--offer": "respite care", "--document": __file__,
    }, package=OPEN_PACKAGE),
    "subcontract issue": step(PRIME, {
        "--sub": "carers-trust", "--service": "respite", "--share": "2.5", "--value": "40000.50",
        "--referrals": "5", "--cadence": "month", "--model": "fee-plus-outcome",
        "--at-risk": "10", "--terms": "30", "--fee": "3"}),
    "subcontract accept": step("refugee-advice", {}),
    "subcontract failing-process": step(PRIME, {"--sub": SUB, "--reason": "missed targets"}),
    "variation propose": step(PRIME, {
        "--sub": "refugee-advice", "--reason": "more demand", "--service": "advice and casework",
        "--share": "6", "--value": "60000", "--referrals": "25", "--cadence": "quarter",
        "--model": "fixed", "--at-risk": "0", "--terms": "14", "--fee": "1"}),
    "variation accept": step(SUB, {"--number": "1"}),
    "variation dispute": step(SUB, {"--number": "1", "--reason": "not what we agreed"}),
    "referral send": step(PRIME, {"--sub": SUB, "--period": "2026-Q2", "--count": "14"}),
    "referral confirm": step(SUB, {**Q1, "--count": "14"}),
    "invoice submit": step(SUB, {"--ref": "Z-1", "--amount": "500", "--date": "2026-03-31", **Q1}),
    "payment record": step(PRIME, {"--sub": SUB, "--invoice": "HT-0", "--amount": "100",
                                   "--date": "2026-04-28"}),
    "payment confirm": step(SUB, {"--invoice": "HT-0", "--date": "2026-05-01"}),
    "performance report": step(SUB, {"--kpi": "job starts", "--period": "2026-Q2",
                                     "--actual": "19"}),
    "performance attest": step(PRIME, {"--sub": SUB, "--kpi": "job starts", **Q1}),
    "concern raise": step(SUB, {"--subject": "Referrals", "--text": "Fewer than promised",
                                "--ref": "C-2"}),
    "concern respond": step(COUNCIL, {"--sub": SUB, "--ref": "C-1", "--text": "We will look"}),
    "review open": step(COUNCIL, {"--period": "2026-Q3", "--dimension": "co-design:Co-design",
                                  "--min-group": "4"}),
    "review rate": step(SUB, {**Q1, "--ratee": PRIME, "--score": SCORES,
                              "--comment": "Slow to pay"}),
    "review close": step(COUNCIL, Q1),
    "review reveal": step(PRIME, {"--period": "2026-Q2", "--ratee": SUB, "--score": SCORES,
                                  "--comment": "Reliable"}),
    "review finalise": step(COUNCIL, {"--period": "2026-Q2"}),
    "org create": Command({"NAME": "Mind in Barnet", "--role": "subcontractor",
                           "--sector": "vcs", "--size": "micro",
                           "--identifier": "GB-CHC-1089464", "--handle": "mind"}),
    "org rotate-key": Command({"HANDLE": SUB}),
    "org revoke-key": Command({"HANDLE": SUB, "--reason": "laptop stolen"}),
    "org encryption-key": Command({"HANDLE": SUB}),
}  # fmt: skip

# Well-formed values in the wrong place: another party, package, period, date or limit.
PLAUSIBLE = [
    COUNCIL, PRIME, SUB, "acme-prime", "refugee-advice", "carers-trust", "nobody", f"{SUB}\n",
    PACKAGE, OPEN_PACKAGE, "HT-0", "HT-0\n", "C-1", "job starts", "1", "2",
    "2026-Q1", "2026-Q4", "2027-Q4", "2028-Q1", "2025-Q4", "2026-03", "2026-12", "1990-01",
    TODAY, "1990-01-01", "1989-12-31", "2100-12-31", "2101-01-01", "2026-03-30",
    "1000000000000", "1000000000000.01", "999999999999.99", "0.01", "100.00", "99.999",
    "3650", "3651", "10000000", "10000001", "1,000", "1,00", "5", "100", "101",
    "openness=4", "openness=4,fairness=6", "openness=0,fairness=1", "openness=4,openness=4",
    "x:service=a,share=1,value=1,referrals=1,model=fixed,terms=1", "mind:service=a",
    "co-design", "Openness", "a" * 31, "fixed", "payment-by-results", "month", "quarter",
]  # fmt: skip

hostile_text = st.one_of(
    st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=60),
    st.sampled_from([s for s in HOSTILE_VALUES if isinstance(s, str)]),
    st.sampled_from(PLAUSIBLE),
    st.integers().map(str),
    st.integers(10**20, 10**60).map(lambda n: f"{n}.{n % 1000:03d}"),
)
NEWLINE_OPTIONS = ("--handle", "--identifier")  # a trailing newline was once recorded in them
HANDLE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?")


@composite
def hostile_command(draw: DrawFn) -> tuple[str, tuple[str, ...]]:
    """(name, arguments): a command's baseline with one value, option or positional, hostile."""
    name = draw(st.sampled_from(sorted(COMMANDS)))
    command = COMMANDS[name]
    key = draw(st.sampled_from(list(command.values)))
    value = draw(hostile_text)
    event(name)  # --hypothesis-show-statistics: how many examples each command got
    return name, command.args(name, {**command.values, key: value})


def run_counted(ledger: CliLedger, args: tuple[str, ...], before: int) -> tuple[Result, int]:
    """Run ``args`` on ``ledger``, which holds ``before`` events: (result, events added)."""
    result = ledger.run(*args)
    return result, event_count(ledger.url) - before


def check_recorded(name: str, result: Result, added: int) -> None:
    """An accepted command added its baseline's events, and reported each of them."""
    assert added == COMMANDS[name].events, (result.stdout, added)
    if name == "org create":
        handle = result.stdout.removeprefix("Registered ").split(" (", 1)[0]
        assert HANDLE.fullmatch(handle), result.stdout
    elif not name.startswith("org "):
        assert result.stdout.count("Recorded #") == added, result.stdout


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_cli_baseline_values_recorded(small: Fresh, built_events: int, name: str) -> None:
    """What the hostile values replace: each command's baseline is recorded on the small
    ledger as built, so that below a refusal is the hostile value's doing."""
    result, added = run_counted(small(), COMMANDS[name].args(name), built_events)
    assert_clean(result, (0,))
    check_recorded(name, result, added)


@settings(HOSTILE_SETTINGS, max_examples=6 * len(COMMANDS))
@given(case=hostile_command())
def test_cli_hostile_option_values(
    small: Fresh, built_events: int, case: tuple[str, tuple[str, ...]]
) -> None:
    """One value of one recording command hostile: refused plainly, or recorded right."""
    name, args = case
    result, added = run_counted(small(), args, built_events)
    event(f"exit {result.exit_code}")
    assert_clean(result, (0, 1, 2))
    if result.exit_code == 0:
        check_recorded(name, result, added)
    else:
        assert result.stderr.startswith("Error: " if result.exit_code == 1 else "Usage: ")
        assert added == 0, (args, result.stderr)


# -- bugs these tests found in recording commands, now fixed ------------------------------


@pytest.mark.parametrize("option", NEWLINE_OPTIONS)
def test_org_create_records_no_trailing_newline(
    small: Fresh, built_events: int, option: str
) -> None:
    """``org create 'Mind in Barnet' … --handle $'mind\\n'`` registers handle 'mind\\n'."""
    command = COMMANDS["org create"]
    ledger = small()
    values = {**command.values, option: command.values[option] + "\n"}
    result, added = run_counted(ledger, command.args("org create", values), built_events)
    assert_clean(result, (0, 1))
    if result.exit_code == 1:  # refused
        assert added == 0
    else:  # or recorded without the newline
        shown = json.loads(ledger.ok("org", "show", "mind", "--format", "json").stdout)[0]
        assert (shown["handle"], shown["identifier"]) == ("mind", "GB-CHC-1089464")


@pytest.mark.parametrize("name", ["invoice submit", "payment record", "payment confirm"])
def test_fact_dates_are_never_in_the_future(small: Fresh, built_events: int, name: str) -> None:
    """E.g. ``payment record BAR-ES-2026 --as northgate --sub hope-trust --invoice HT-0
    --amount 100 --date 2099-01-01`` is recorded: paid in 2099, recorded today."""
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    command = COMMANDS[name]
    args = command.args(name, {**command.values, "--date": tomorrow})
    result, added = run_counted(small(), args, built_events)
    assert_clean(result, (1,))
    assert result.stderr.startswith("Error: ")
    assert added == 0
