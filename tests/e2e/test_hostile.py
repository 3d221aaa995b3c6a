"""Hostile input, generated: every case ends in a clear error or a correct record.

Never a traceback, never the CLI's "this is a bug in chainledger" message, and
never a partial write: a refused import or command leaves the events table with
exactly the rows it had, and an accepted one adds exactly what it reports.

Each test builds one small ledger through the CLI and every example starts from
a fresh copy of it, so examples neither see nor depend on each other's writes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.strategies import DrawFn, composite

from tests.conftest import CliLedger
from tests.ledgers import LedgerStore, event_count

PACKAGE = "BAR-ES-2026"
HOSTILE_SETTINGS = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# -- the small ledger, its pristine copy, and the checks ----------------------------------


def build(ledger: CliLedger) -> None:
    """The README's package life up to an accepted subcontract and one invoice."""
    ledger.ok("org", "create", "Barnet Council", "--role", "commissioner", "--handle", "barnet-council")  # fmt: skip
    ledger.ok("org", "create", "Northgate", "--role", "prime", "--handle", "northgate")
    ledger.ok("org", "create", "Hope Trust", "--role", "subcontractor", "--sector", "vcs", "--size", "small")  # fmt: skip
    ledger.ok(
        "package", "create", PACKAGE, "--as", "barnet-council", "--title", "Employment support",
        "--area", "London Borough of Barnet", "--value", "2000000", "--start", "2026-01-01",
        "--end", "2027-12-31", "--description", "Support for people out of work",
        "--payment-model", "fee-plus-outcome", "--at-risk", "20",
    )  # fmt: skip
    ledger.ok("kpi", "define", PACKAGE, "--as", "barnet-council", "--name", "job starts",
              "--unit", "people", "--target", "20", "--acceptable", "15", "--period", "quarter")  # fmt: skip
    ledger.ok(
        "bid", "submit", PACKAGE, "--as", "northgate", "--price", "1950000", "--self-share", "40",
        "--promise",
        "hope-trust:service=mental health support,share=15,value=150000,referrals=60,model=fixed,terms=30,fee=5",
    )  # fmt: skip
    ledger.ok("package", "award", PACKAGE, "--as", "barnet-council", "--bid", "northgate")
    ledger.ok(
        "subcontract", "issue", PACKAGE, "--as", "northgate", "--sub", "hope-trust",
        "--service", "mental health support", "--share", "15", "--value", "150000",
        "--referrals", "60", "--model", "fixed", "--terms", "30", "--fee", "5",
    )  # fmt: skip
    ledger.ok("subcontract", "accept", PACKAGE, "--as", "hope-trust")
    ledger.ok("invoice", "submit", PACKAGE, "--as", "hope-trust", "--ref", "HT-0",
              "--amount", "37500", "--date", "2026-03-31", "--period", "2026-Q1")  # fmt: skip


Fresh = Callable[[], CliLedger]


@pytest.fixture
def small(cli_ledger: CliLedger, ledgers: LedgerStore) -> Fresh:
    """Builds the small ledger; returns a maker of the ledger as built, one per example
    (an example that recorded nothing leaves it as built for the next)."""
    build(cli_ledger)
    pristine = ledgers.copy(cli_ledger.url, "pristine")
    return lambda: CliLedger(ledgers.fresh(pristine, "example"), cli_ledger.keys, CliRunner())


def assert_clean(result: Result, codes: tuple[int, ...]) -> None:
    """An allowed exit code, and no traceback or bug message anywhere."""
    output = result.stdout + result.stderr
    assert result.exit_code in codes, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in output, result.stderr
    assert "bug in chainledger" not in output, result.stderr
    assert "unexpected" not in result.stderr, result.stderr


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

INVOICE = {"--ref": "Z-1", "--amount": "500", "--date": "2026-03-31", "--period": "2026-Q1"}
COMMANDS: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    "invoice submit": (("invoice", "submit", PACKAGE, "--as", "hope-trust"), INVOICE),
    "payment record": (
        ("payment", "record", PACKAGE, "--as", "northgate", "--sub", "hope-trust"),
        {"--invoice": "HT-0", "--amount": "100", "--date": "2026-04-28"},
    ),
    "referral send": (
        ("referral", "send", PACKAGE, "--as", "northgate", "--sub", "hope-trust"),
        {"--period": "2026-Q1", "--count": "14"},
    ),
    "org create": (("org", "create"), {"NAME": "Mind in Barnet", "--role": "subcontractor", "--handle": "mind"}),
}  # fmt: skip

hostile_text = st.one_of(
    st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=60),
    st.sampled_from([s for s in HOSTILE_VALUES if isinstance(s, str)]),
    st.integers().map(str),
    st.integers(10**20, 10**60).map(lambda n: f"{n}.{n % 1000:03d}"),
)


@composite
def hostile_command(draw: DrawFn) -> tuple[str, ...]:
    prefix, options = COMMANDS[draw(st.sampled_from(sorted(COMMANDS)))]
    options = dict(options)
    options[draw(st.sampled_from(sorted(options)))] = draw(hostile_text)
    name = options.pop("NAME", None)
    args = [*prefix[:2], *([name] if name is not None else []), *prefix[2:]]
    for option, value in options.items():
        args += [option, value]
    return tuple(args)


@HOSTILE_SETTINGS
@given(args=hostile_command())
def test_cli_hostile_option_values(small: Fresh, args: tuple[str, ...]) -> None:
    ledger = small()
    before = event_count(ledger.url)
    result = ledger.run(*args)
    assert_clean(result, (0, 1, 2))
    after = event_count(ledger.url)
    if result.exit_code == 0:
        assert after == before + 1, (args, result.stdout)
    else:
        assert result.stderr.startswith("Error: " if result.exit_code == 1 else "Usage: ")
        assert after == before, (args, result.stderr)
