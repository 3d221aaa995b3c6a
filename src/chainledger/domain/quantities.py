"""Money, percentages, counts, dates and reporting periods, checked at the edge.

Money is ``Decimal`` with at most two decimal places (pence), never a float,
and is written to events as a decimal string.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum

from chainledger.errors import InvalidValue

MAX_MONEY = Decimal("1000000000000")  # £1 trillion: above any public contract
MAX_COUNT = 10_000_000
MAX_DAYS = 3650
EARLIEST = date(1990, 1, 1)
LATEST = date(2100, 12, 31)
PERIOD_PATTERN = re.compile(r"^([0-9]{4})-(?:Q([1-4])|(0[1-9]|1[0-2]))\Z")
NUMBER_PATTERN = re.compile(r"^[+-]?(?:[0-9]+|[0-9]{1,3}(?:,[0-9]{3})+)(?:\.[0-9]+)?\Z")


def _decimal(value: object, what: str) -> Decimal:
    """A decimal written plainly: ASCII digits, an optional sign, point and thousands commas."""
    if isinstance(value, float):
        raise InvalidValue(f"{what} must be given as a decimal string, not a float")
    if isinstance(value, bool):
        raise InvalidValue(f"{what} must be a number")
    text = str(value).strip().removeprefix("£")
    if text.lstrip("+-").lower() in ("nan", "snan", "inf", "infinity"):
        raise InvalidValue(f"{what} must be a finite number")
    if not NUMBER_PATTERN.match(text):
        raise InvalidValue(f"{what} {value!r} is not a number")
    number = Decimal(text.replace(",", ""))
    return number if number != 0 else Decimal(0)  # no negative zero


def _plain(number: Decimal) -> Decimal:
    """Without trailing zeros and without an exponent: 40.50 -> 40.5, 4E+1 -> 40."""
    return Decimal(format(number.normalize(), "f"))


def parse_money(value: object, what: str = "amount") -> Decimal:
    """Pounds as ``Decimal`` with two places: ``"1,200.5"`` -> ``Decimal("1200.50")``."""
    amount = _decimal(value, what)
    if amount < 0:
        raise InvalidValue(f"{what} must not be negative")
    if amount > MAX_MONEY:
        raise InvalidValue(f"{what} is larger than £{MAX_MONEY:,}")
    if amount != amount.quantize(Decimal("0.01")):
        raise InvalidValue(f"{what} {value} has fractions of a penny: use at most two decimals")
    return amount.quantize(Decimal("0.01"))


def parse_percent(value: object, what: str = "percentage") -> Decimal:
    """A percentage from 0 to 100 with at most two decimal places."""
    pct = _decimal(value, what)
    if pct < 0 or pct > 100:
        raise InvalidValue(f"{what} must be between 0 and 100")
    if pct != pct.quantize(Decimal("0.01")):
        raise InvalidValue(f"{what} {value} has more than two decimal places")
    return _plain(pct)


def parse_decimal(value: object, what: str) -> Decimal:
    """Any finite decimal (a KPI target or actual), at most six decimal places."""
    number = _decimal(value, what)
    if number > MAX_MONEY or number < -MAX_MONEY:
        raise InvalidValue(f"{what} is too large")
    if number != number.quantize(Decimal("0.000001")):
        raise InvalidValue(f"{what} {value} has more than six decimal places")
    return _plain(number)


def parse_count(value: object, what: str = "count") -> int:
    """A whole number from 0 up to ten million."""
    if isinstance(value, (bool, float)):
        raise InvalidValue(f"{what} must be a whole number")
    text = str(value).strip()
    if not re.fullmatch(r"[+-]?[0-9]{1,12}", text):
        raise InvalidValue(f"{what} {value!r} is not a whole number")
    number = int(text)
    if number < 0 or number > MAX_COUNT:
        raise InvalidValue(f"{what} must be between 0 and {MAX_COUNT:,}")
    return number


def parse_days(value: object, what: str = "payment terms") -> int:
    days = parse_count(value, what)
    if days > MAX_DAYS:
        raise InvalidValue(f"{what} must be at most {MAX_DAYS} days")
    return days


def parse_date(value: object, what: str = "date") -> date:
    """An ISO 8601 calendar date, ``YYYY-MM-DD``, between 1990 and 2100."""
    if isinstance(value, date):
        day = value
    else:
        text = str(value).strip()
        if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
            raise InvalidValue(f"{what} {value!r} is not an ISO 8601 date (YYYY-MM-DD)")
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise InvalidValue(f"{what} {value!r} is not a real date") from None
    if not EARLIEST <= day <= LATEST:
        raise InvalidValue(f"{what} {day} is outside {EARLIEST.year}-{LATEST.year}")
    return day


class Cadence(StrEnum):
    """How often something is counted or reported."""

    MONTH = "month"
    QUARTER = "quarter"


@dataclass(frozen=True, order=True)
class Period:
    """A reporting period: a calendar month (``2026-03``) or quarter (``2026-Q1``)."""

    first_day: date
    cadence: Cadence

    @classmethod
    def parse(cls, text: object, what: str = "period") -> Period:
        match = PERIOD_PATTERN.match(str(text).strip())
        if not match:
            raise InvalidValue(
                f"{what} {text!r} is not a period: use a month like 2026-03 or a quarter "
                "like 2026-Q1"
            )
        year = int(match.group(1))
        if not EARLIEST.year <= year <= LATEST.year:
            raise InvalidValue(f"{what} {text} is outside {EARLIEST.year}-{LATEST.year}")
        if match.group(2):
            return cls(date(year, 3 * int(match.group(2)) - 2, 1), Cadence.QUARTER)
        return cls(date(year, int(match.group(3)), 1), Cadence.MONTH)

    @property
    def last_day(self) -> date:
        months = 3 if self.cadence is Cadence.QUARTER else 1
        month = self.first_day.month - 1 + months
        year = self.first_day.year + month // 12
        return date(year, month % 12 + 1, 1) - timedelta(days=1)

    def __str__(self) -> str:
        if self.cadence is Cadence.QUARTER:
            return f"{self.first_day.year}-Q{(self.first_day.month - 1) // 3 + 1}"
        return f"{self.first_day.year}-{self.first_day.month:02d}"
