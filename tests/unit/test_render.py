"""Tables show values as written and money as pounds (issue 24: '184.8' for £184.80 and
'£1950000.00' in tables); JSON and CSV keep exact decimal text."""

from __future__ import annotations

import json

from chainledger.cli.render import render

ROWS = [
    {"payee": "hope-trust", "invoices": 6, "paid": "1950000.00", "late_payment_interest": "184.80",
     "mean_days_to_pay": "21.50"},
    {"payee": "mind", "invoices": 12, "paid": "0.00", "late_payment_interest": None,
     "mean_days_to_pay": "7.0"},
]  # fmt: skip


def test_tables_show_money_as_pounds_and_decimals_as_written() -> None:
    table = render(ROWS, "table")
    assert "£1,950,000.00" in table
    assert "£184.80" in table
    assert "21.50" in table  # not parsed into 21.5
    assert "184.8 " not in table
    lines = table.splitlines()
    assert lines[2].index("£1,950,000.00") + len("£1,950,000.00") == lines[3].index(
        "£0.00") + len("£0.00")  # right-aligned, like the number it is


def test_json_and_csv_keep_exact_decimal_text() -> None:
    assert json.loads(render(ROWS, "json"))[0]["paid"] == "1950000.00"
    csv = render(ROWS, "csv")
    assert "1950000.00,184.80" in csv
    assert "£" not in csv
