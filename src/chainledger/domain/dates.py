"""One calendar for every rule: lengths of time counted in calendar months, not in
average days.

A contract from 1 January to 31 December is exactly one year long, and one from 1 July
2024 to 30 June 2026 exactly two; a quarter is three calendar months. A part of a month
counts as its share of that month's days. (A year of 365.25 days made a one-year £5m
package "£5,003,424.66 a year".)
"""

from __future__ import annotations

import calendar
from datetime import date
from decimal import Decimal

# The Late Payment of Commercial Debts (Interest) Act 1998: simple interest, accruing
# daily at the annual rate divided by 365 (leap years included).
INTEREST_DAYS_PER_YEAR = 365


def add_months(day: date, months: int) -> date:
    """``day`` moved by whole months, kept within the month (31 January + 1: 28/29 February)."""
    month = day.month - 1 + months
    year = day.year + month // 12
    month = month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def months_between(start: date, end: date) -> Decimal:
    """Calendar months from ``start`` up to ``end`` (exclusive): whole months, then the
    share of the next month's days that the rest covers. 0 when ``end`` is not after."""
    if end <= start:
        return Decimal(0)
    whole = (end.year - start.year) * 12 + end.month - start.month
    while whole > 0 and add_months(start, whole) > end:
        whole -= 1
    reached = add_months(start, whole)
    if reached == end:
        return Decimal(whole)
    following = add_months(start, whole + 1)
    return whole + Decimal((end - reached).days) / Decimal((following - reached).days)


def years_between(start: date, end: date) -> Decimal:
    """Calendar years from ``start`` up to ``end`` (exclusive), as months over 12."""
    return months_between(start, end) / 12
