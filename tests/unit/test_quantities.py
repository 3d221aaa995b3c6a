"""Money, percentages, counts, dates and periods as the edge accepts them."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chainledger.domain.quantities import (
    Cadence,
    Period,
    parse_count,
    parse_date,
    parse_decimal,
    parse_money,
    parse_percent,
)
from chainledger.errors import InvalidValue


@pytest.mark.parametrize(
    ("text", "amount"),
    [("1200", "1200.00"), ("1,200.5", "1200.50"), ("£3,000,000", "3000000.00"), ("0", "0.00"),
     ("-0", "0.00"), (" 7.10 ", "7.10")],
)  # fmt: skip
def test_money_is_pounds_and_pence(text: str, amount: str) -> None:
    value = parse_money(text)
    assert value == Decimal(amount)
    assert str(value) == amount


@pytest.mark.parametrize(
    ("text", "message"),
    [("-1", "must not be negative"), ("10.005", "fractions of a penny"), ("ten", "is not a number"),
     ("NaN", "finite"), ("Infinity", "finite"), ("1e3", "is not a number"),
     ("1e1000000", "is not a number"), ("1,2,3", "is not a number"), ("1_000", "is not a number"),
     ("١٠٠", "is not a number"), ("1000000000000.01", "larger than")],
)  # fmt: skip
def test_bad_money_is_refused(text: str, message: str) -> None:
    with pytest.raises(InvalidValue, match=message):
        parse_money(text)


def test_floats_never_become_money() -> None:
    with pytest.raises(InvalidValue, match="not a float"):
        parse_money(0.1)


@given(st.integers(min_value=0, max_value=10**12 * 100))
def test_any_whole_number_of_pence_round_trips(pence: int) -> None:
    text = f"{pence // 100}.{pence % 100:02d}"
    assert parse_money(text) == Decimal(pence) / 100
    assert str(parse_money(text)) == text


def test_percentages_and_decimals() -> None:
    assert parse_percent("12.5") == Decimal("12.5")
    assert str(parse_percent("40")) == "40"
    assert str(parse_percent("-0")) == "0"
    for bad in ("-1", "100.01", "12.345"):
        with pytest.raises(InvalidValue):
            parse_percent(bad)
    assert parse_decimal("-3.25", "actual") == Decimal("-3.25")
    with pytest.raises(InvalidValue, match="too large"):
        parse_decimal("2000000000000", "target")


def test_counts_are_ascii_whole_numbers() -> None:
    assert parse_count("42") == 42
    assert parse_count(7) == 7
    for bad in ("4.5", "-1", "١٠", "1e3", True, 1.0, "99999999999999"):
        with pytest.raises(InvalidValue):
            parse_count(bad)


def test_dates_are_iso_8601_calendar_dates() -> None:
    assert parse_date("2026-02-28") == date(2026, 2, 28)
    for bad in (
        "2026-02-30",
        "2026-13-01",
        "26-01-01",
        "01/02/2026",
        "２０２６-01-01",
        "1989-12-31",
    ):
        with pytest.raises(InvalidValue):
            parse_date(bad)


def test_periods_are_months_or_quarters() -> None:
    q = Period.parse("2026-Q2")
    assert (q.first_day, q.last_day, q.cadence) == (
        date(2026, 4, 1),
        date(2026, 6, 30),
        Cadence.QUARTER,
    )
    m = Period.parse("2026-12")
    assert (m.first_day, m.last_day, str(m)) == (date(2026, 12, 1), date(2026, 12, 31), "2026-12")
    for bad in ("2026-Q5", "2026-13", "2026", "Q1-2026", "２０２６-Q1"):
        with pytest.raises(InvalidValue, match="is not a period"):
            Period.parse(bad)
