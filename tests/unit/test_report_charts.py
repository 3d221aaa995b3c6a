"""The HTML report's charts without a database or a browser: the chart specifications that
``report_html.charts`` makes from the reports' rows, and the SVG that ``report_html.svg`` draws
from them.

The input rows are built by hand with the keys and value types of the functions that make them
in ``domain/assessment.py`` (decimal strings for amounts, ints for counts, None where absent);
the review views come from the real ``review_analysis.shared_report`` and ``owner_report`` on
real ratings. Every expectation is worked out from those inputs, not copied from the output.
"""

from __future__ import annotations

import itertools
import math
import statistics
import xml.etree.ElementTree as ET
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest

from chainledger.domain.assessment import Thresholds, pct, rating, shown
from chainledger.domain.review import Dimension, RaterGroup
from chainledger.domain.review_analysis import (
    OpenedRating,
    RoundRatings,
    owner_report,
    shared_report,
)
from chainledger.report_html import charts, svg

NASTY = 'Evil <script>&"Co'  # an organisation name that must be escaped wherever it is drawn
NS = "{http://www.w3.org/2000/svg}"
BELOW = ("requires improvement", "inadequate")


# -- rows as the reports make them ---------------------------------------------------------------


def workshare_row(
    sub: str,
    *,
    due: str,
    paid: str,
    promised_value: str | None = "120000.00",
    contracted_value: str | None = "120000.00",
    package: str = "P-1",
    status: str = "behind",
) -> dict[str, Any]:
    """A row of ``assessment.workshare``; the delivered % is worked out as it does it."""
    share = shown(pct(Decimal(paid), Decimal(due)))
    promised = promised_value is not None
    contracted = contracted_value is not None
    return {
        "package": package,
        "prime": "acme-prime",
        "subcontractor": sub,
        "promised_share_pct": "20" if promised else None,
        "promised_value_per_year": promised_value,
        "promised_referrals": "10/quarter" if promised else None,
        "answer": "acknowledged" if promised else "not named in the winning bid",
        "contracted_share_pct": "20" if contracted else None,
        "contracted_value_per_year": contracted_value,
        "contracted_referrals": "10/quarter" if contracted else None,
        "due_to_date": due,
        "paid_to_date": paid,
        "referrals_received": 12,
        "elapsed_pct": "50.0",
        "value_delivered_pct": None if share is None else str(share),
        "referrals_delivered_pct": "80.0",
        "status": status,
        "evidence": [3, 7],
    }


def invoice_row(
    payer: str,
    payee: str,
    number: str,
    *,
    days_to_pay: int | None = None,
    overdue_days: int | None = None,
    amount: str = "1500.00",
    dated: str = "2026-01-15",
) -> dict[str, Any]:
    """A row of ``assessment.invoice_days``."""
    return {
        "package": "P-1",
        "payer": payer,
        "payee": payee,
        "invoice": number,
        "invoice_date": dated,
        "amount": amount,
        "days_to_pay": days_to_pay,
        "overdue_days": overdue_days,
        "evidence": [11, 12],
    }


def referral_row(
    sub: str, period: str, promised: int, sent: int | None, confirmed: int | None
) -> dict[str, Any]:
    """A row of ``assessment.referrals``."""
    return {
        "package": "P-1",
        "subcontractor": sub,
        "period": period,
        "promised": promised,
        "sent": sent,
        "confirmed": confirmed,
        "sent_vs_promised_pct": None if sent is None else str(pct(sent, promised)),
        "disagreement": sent is not None and confirmed is not None and sent != confirmed,
        "difference": confirmed - sent if sent is not None and confirmed is not None else None,
        "evidence": [],
    }


def kpi_row(
    kpi: str,
    period: str,
    provider: str,
    actual: str,
    target: str | None,
    acceptable: str | None,
    *,
    package: str = "P-1",
    attested: bool = True,
) -> dict[str, Any]:
    """A row of ``assessment.performance``, rated by the real ``assessment.rating``."""
    return {
        "package": package,
        "kpi": kpi,
        "period": period,
        "provider": provider,
        "actual": actual,
        "target": target,
        "acceptable": acceptable,
        "direction": "higher",
        "rating": rating(
            Decimal(actual),
            None if target is None else Decimal(target),
            None if acceptable is None else Decimal(acceptable),
            "higher",
            Thresholds(),
        ),
        "attested": attested,
        "evidence": [5],
    }


# -- real 360 review rounds ----------------------------------------------------------------------

DIMS = (
    Dimension("openness", "Openness and communication"),
    Dimension("payment", "Payment reliability"),
)
PRIME, OTHER_SUB = "acme-prime", "bravo-care"

# (rater, ratee, group, openness, payment) for the round 2026-Q1 of P-1:
#  - acme-prime: three subcontractors (openness varied, payment all 4, so withheld), one
#    commissioner (a group of one, withheld) and its own rating;
#  - NASTY: four raters in groups of one or two, pooled: openness varied, payment all 3;
#  - bravo-care: two raters only, everything withheld in the shared view.
Q1_RATINGS = [
    ("s1", PRIME, RaterGroup.SUBCONTRACTORS, 2, 4),
    ("s2", PRIME, RaterGroup.SUBCONTRACTORS, 3, 4),
    ("s3", PRIME, RaterGroup.SUBCONTRACTORS, 5, 4),
    ("council", PRIME, RaterGroup.COMMISSIONER, 1, 2),
    (PRIME, PRIME, RaterGroup.SELF, 5, 5),
    (PRIME, NASTY, RaterGroup.PRIME, 2, 3),
    ("council", NASTY, RaterGroup.COMMISSIONER, 4, 3),
    ("s1", NASTY, RaterGroup.SUBCONTRACTORS, 3, 3),
    ("s2", NASTY, RaterGroup.SUBCONTRACTORS, 5, 3),
    (NASTY, NASTY, RaterGroup.SELF, 1, 1),
    (PRIME, OTHER_SUB, RaterGroup.PRIME, 4, 2),
    ("council", OTHER_SUB, RaterGroup.COMMISSIONER, 3, 5),
]
Q2_RATINGS = [
    ("s1", PRIME, RaterGroup.SUBCONTRACTORS, 1, 2),
    ("s2", PRIME, RaterGroup.SUBCONTRACTORS, 2, 3),
    ("s3", PRIME, RaterGroup.SUBCONTRACTORS, 3, 3),
]


def review_round(period: str, ratings: list[tuple[Any, ...]]) -> RoundRatings:
    opened = [
        OpenedRating(rater, ratee, group, {"openness": o, "payment": p}, "", (nid,))
        for nid, (rater, ratee, group, o, p) in enumerate(ratings, start=1)
    ]
    return RoundRatings("P-1", period, "council", "final", DIMS, 1, opened)


def review_rounds() -> list[RoundRatings]:
    return [review_round("2026-Q1", Q1_RATINGS), review_round("2026-Q2", Q2_RATINGS)]


def shared_views() -> dict[str, dict[str, Any]]:
    """Each ratee's shared view, as ``report_page`` gathers them for the page."""
    rounds = review_rounds()
    ratees = sorted({x.ratee for r in rounds for x in r.ratings})
    return {ratee: shared_report(rounds, ratee) for ratee in ratees}


def others_scores(ratings: list[tuple[Any, ...]], ratee: str, slug: str) -> list[int]:
    column = {"openness": 3, "payment": 4}[slug]
    return [r[column] for r in ratings if r[1] == ratee and r[2] is not RaterGroup.SELF]


def median(scores: list[int]) -> Decimal:
    return Decimal(str(statistics.median(scores)))


# -- a few charts of each kind, for the drawing tests --------------------------------------------


def bar_chart(name: str = "bravo-care") -> charts.BarChart:
    rows = [
        workshare_row(name, due="60000.00", paid="45000.00"),
        workshare_row("delta-trust", due="30000.00", paid="12000.00"),
        workshare_row("echo-works", due="15000.00", paid="0"),
    ]
    return charts.workshare_bars(rows)[0]


def histogram_chart(limit: int = 30, payer: str = PRIME) -> charts.Histogram:
    rows = [
        invoice_row(payer, "bravo-care", f"INV-{days}", days_to_pay=days)
        for days in (5, 12, 29, 30, 31, 45, 60, 61, 95)
    ] + [invoice_row(payer, "bravo-care", "INV-late", overdue_days=20)]
    return charts.payment_histograms(rows, limit)[0]


def line_chart(provider: str = "bravo-care") -> charts.LineChart:
    rows = [
        kpi_row("job-starts", "2026-Q1", provider, "85", "80", "70"),
        kpi_row("job-starts", "2026-Q2", provider, "64", "80", "70"),
        kpi_row("job-starts", "2026-Q1", "delta-trust", "72", "80", "70"),
    ]
    return charts.kpi_charts(rows)[0]


def heatmap_chart() -> charts.Heatmap:
    return charts.shared_heatmaps(shared_views())[0]


CHARTS = {
    "bars": bar_chart,
    "histogram": histogram_chart,
    "lines": line_chart,
    "heatmap": heatmap_chart,
}


def parse(text: str) -> ET.Element:
    return ET.fromstring(text)  # noqa: S314 -- our own output, parsed to check it


def number(element: ET.Element, attribute: str) -> float:
    return float(element.attrib[attribute])


def texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{NS}text")]


# -- day_bins ------------------------------------------------------------------------------------


def test_day_bins_put_each_boundary_day_in_its_bin() -> None:
    where = {0: "0–10", 10: "0–10", 11: "11–20", 30: "21–30", 31: "31–40", 90: "61–90",
             91: "91+", 400: "91+"}  # fmt: skip
    bins = charts.day_bins(where)
    expected = Counter(where.values())
    assert {b.label: b.count for b in bins if b.count} == dict(expected)
    for day, label in where.items():
        (home,) = [b for b in bins if b.low <= day and (b.high is None or day <= b.high)]
        assert home.label == label


def test_day_bins_end_a_bin_at_30_and_start_the_next_at_31() -> None:
    bins = charts.day_bins([30, 31])
    (at_30,) = [b for b in bins if b.high == 30]
    (at_31,) = [b for b in bins if b.low == 31]
    assert (at_30.count, at_31.count) == (1, 1)


def test_day_bins_count_every_day_once() -> None:
    days = [0, 3, 10, 11, 20, 21, 30, 31, 55, 60, 61, 89, 90, 91, 120, 400, 400]
    bins = charts.day_bins(days)
    assert sum(b.count for b in bins) == len(days)
    assert bins[-1].high is None
    assert all(a.high is not None and a.high + 1 == b.low for a, b in itertools.pairwise(bins))


def test_day_bins_follow_other_edges() -> None:
    bins = charts.day_bins([0, 6, 7, 13, 14, 100], edges=(0, 7, 14))
    assert [(b.low, b.high, b.count) for b in bins] == [(0, 6, 2), (7, 13, 2), (14, None, 2)]


# -- payment_histograms --------------------------------------------------------------------------


def test_payment_histograms_make_one_chart_per_payer_sorted() -> None:
    rows = [
        invoice_row("zulu-prime", "bravo-care", "Z-1", days_to_pay=10),
        invoice_row("acme-prime", "bravo-care", "A-1", days_to_pay=40),
        invoice_row("zulu-prime", "delta-trust", "Z-2", days_to_pay=20),
    ]
    found = charts.payment_histograms(rows, 30)
    assert [h.title.split(":")[0] for h in found] == ["acme-prime", "zulu-prime"]
    assert [sum(b.count for b in h.bins) for h in found] == [1, 2]


def test_payment_histograms_count_paid_invoices_in_bins_and_overdue_ones_beside() -> None:
    paid_days = [3, 15, 30, 31, 58, 120]
    rows = [invoice_row(PRIME, "bravo-care", f"P-{d}", days_to_pay=d) for d in paid_days]
    rows += [
        invoice_row(PRIME, "bravo-care", "U-1", overdue_days=12),
        invoice_row(PRIME, "delta-trust", "U-2", overdue_days=80),
        invoice_row(PRIME, "delta-trust", "U-3"),  # unpaid, not yet due: in neither
    ]
    (chart,) = charts.payment_histograms(rows, 30)
    assert chart.unpaid_overdue == 2
    assert sum(b.count for b in chart.bins) == len(paid_days)
    for b in chart.bins:
        inside = [d for d in paid_days if b.low <= d and (b.high is None or d <= b.high)]
        assert b.count == len(inside), b.label
    assert "2 unpaid invoices are overdue" in chart.summary


@pytest.mark.parametrize("limit", [30, 45, 60])
def test_payment_histogram_summary_splits_paid_invoices_at_the_limit(limit: int) -> None:
    paid_days = [10, 29, 30, 31, 44, 45, 46, 59, 60, 61, 75]
    rows = [invoice_row(PRIME, "bravo-care", f"P-{d}", days_to_pay=d) for d in paid_days]
    (chart,) = charts.payment_histograms(rows, limit)
    within = sum(1 for d in paid_days if d <= limit)
    later = len(paid_days) - within
    assert f"paid {len(paid_days)} invoices in full" in chart.summary
    assert f"{within} within {limit} days and {later} later" in chart.summary
    assert f"the slowest took {max(paid_days)} days" in chart.summary
    assert chart.line_at == limit


def test_payment_histogram_table_has_a_row_per_invoice() -> None:
    rows = [
        invoice_row(PRIME, "bravo-care", "INV-1", days_to_pay=14, amount="1234.00"),
        invoice_row(PRIME, "delta-trust", "INV-2", overdue_days=9),
        invoice_row(PRIME, "delta-trust", "INV-3"),
    ]
    (chart,) = charts.payment_histograms(rows, 30)
    table = chart.table
    assert len(table.rows) == len(rows)
    assert all(len(row) == len(table.headers) for row in table.rows)
    by_invoice = {row[table.headers.index("invoice")]: row for row in table.rows}
    assert set(by_invoice) == {"INV-1", "INV-2", "INV-3"}
    days = table.headers.index("days to pay")
    overdue = table.headers.index("days overdue")
    assert (by_invoice["INV-1"][days], by_invoice["INV-1"][overdue]) == ("14", "–")
    assert (by_invoice["INV-2"][days], by_invoice["INV-2"][overdue]) == ("unpaid", "9")
    assert (by_invoice["INV-3"][days], by_invoice["INV-3"][overdue]) == ("unpaid", "–")
    assert by_invoice["INV-1"][table.headers.index("amount")] == "£1,234"


def test_payment_histogram_of_a_payer_with_nothing_paid() -> None:
    rows = [invoice_row(PRIME, "bravo-care", "INV-1", overdue_days=3)]
    (chart,) = charts.payment_histograms(rows, 30)
    assert all(b.count == 0 for b in chart.bins)
    assert "paid 0 invoices in full: 0 within 30 days and 0 later" in chart.summary
    assert "1 unpaid invoice is overdue" in chart.summary


# -- workshare_bars ------------------------------------------------------------------------------


def test_workshare_bars_make_one_chart_per_package() -> None:
    rows = [
        workshare_row("bravo-care", due="100.00", paid="50.00", package="P-1"),
        workshare_row("bravo-care", due="200.00", paid="20.00", package="P-2"),
        workshare_row("delta-trust", due="300.00", paid="300.00", package="P-1"),
    ]
    found = charts.workshare_bars(rows)
    assert [c.title.split(":")[0] for c in found] == ["P-1", "P-2"]
    assert [[g.label for g in c.groups] for c in found] == [["bravo-care", "delta-trust"],
                                                            ["bravo-care"]]  # fmt: skip


def test_workshare_bars_draw_due_and_paid_as_decimals() -> None:
    rows = [
        workshare_row("bravo-care", due="60000.00", paid="45000.00"),
        workshare_row("delta-trust", due="30000.50", paid="0"),
    ]
    (chart,) = charts.workshare_bars(rows)
    assert len(chart.series) == 2
    for row, group in zip(rows, chart.groups, strict=True):
        assert group.label == row["subcontractor"]
        assert group.values == (Decimal(row["due_to_date"]), Decimal(row["paid_to_date"]))
        assert all(isinstance(v, Decimal) for v in group.values)


def test_workshare_note_and_summary_give_the_share_delivered() -> None:
    rows = [
        workshare_row("bravo-care", due="60000.00", paid="45000.00"),
        workshare_row("delta-trust", due="30000.00", paid="10000.00", status="far behind"),
    ]
    (chart,) = charts.workshare_bars(rows)
    for row, group in zip(rows, chart.groups, strict=True):
        share = shown(pct(Decimal(row["paid_to_date"]), Decimal(row["due_to_date"])))
        assert f"{share}%" in group.note
        assert f"({share}%)" in chart.summary
    assert "bravo-care paid £45,000 of £60,000 due (75.0%), behind" in chart.summary
    assert "delta-trust paid £10,000 of £30,000 due (33.3%), far behind" in chart.summary
    table = {row[0]: row for row in chart.table.rows}
    assert table["bravo-care"][chart.table.headers.index("% of due")] == "75.0"


def test_workshare_row_without_a_promise_shows_dashes() -> None:
    rows = [
        workshare_row("bravo-care", due="60000.00", paid="45000.00"),
        workshare_row("foxtrot-ltd", due="10000.00", paid="2500.00", promised_value=None),
        workshare_row("golf-cic", due="0.00", paid="0", promised_value=None, status="not started"),
    ]
    (chart,) = charts.workshare_bars(rows)
    headers = chart.table.headers
    table = {row[0]: row for row in chart.table.rows}
    assert len(table) == 3
    assert table["foxtrot-ltd"][headers.index("promised a year")] == "–"
    assert table["foxtrot-ltd"][headers.index("answer")] == "not named in the winning bid"
    assert table["foxtrot-ltd"][headers.index("contracted a year")] == "£120,000"
    assert table["golf-cic"][headers.index("% of due")] == "–"  # nothing was due
    golf = chart.groups[2]
    assert golf.values == (Decimal(0), Decimal(0))
    assert golf.note == "nothing due"
    assert "golf-cic paid £0 of £0 due, not started" in chart.summary


# -- referral_lines ------------------------------------------------------------------------------


def test_referral_periods_run_in_time_order() -> None:
    rows = [
        referral_row("bravo-care", "2026-Q1", 10, 8, 8),
        referral_row("bravo-care", "2025-Q4", 10, 9, None),
        referral_row("delta-trust", "2026-02", 4, 4, 4),
        referral_row("delta-trust", "2025-12", 4, 3, 3),
        referral_row("delta-trust", "2026-01", 4, 2, None),
    ]
    quarterly, monthly = charts.referral_lines(rows)
    assert quarterly.periods == ("2025-Q4", "2026-Q1")
    assert monthly.periods == ("2025-12", "2026-01", "2026-02")
    assert [row[0] for row in monthly.table.rows] == list(monthly.periods)
    sent = next(s for s in monthly.series if s.name == "sent by the prime")
    assert sent.values == (Decimal(3), Decimal(2), Decimal(4))


def test_referral_periods_of_mixed_cadence_run_by_their_first_day() -> None:
    # a variation can change the cadence: 2026-Q1 (from January) comes before 2026-02
    rows = [
        referral_row("bravo-care", "2026-02", 4, 4, 4),
        referral_row("bravo-care", "2026-Q1", 12, 10, 10),
        referral_row("bravo-care", "2025-12", 4, 3, 3),
    ]
    (chart,) = charts.referral_lines(rows)
    assert chart.periods == ("2025-12", "2026-Q1", "2026-02")


def referral_example() -> tuple[list[dict[str, Any]], charts.LineChart]:
    rows = [
        referral_row("bravo-care", "2025-Q3", 10, 10, 10),  # delivered
        referral_row("bravo-care", "2025-Q4", 10, 6, None),  # short, only the prime's count
        referral_row("bravo-care", "2026-Q1", 10, 9, 5),  # short by the confirmation
        referral_row("bravo-care", "2026-Q2", 10, None, 12),  # confirmed, over the promise
        referral_row("bravo-care", "2026-Q3", 10, None, None),  # nothing recorded
    ]
    (chart,) = charts.referral_lines(rows)
    return rows, chart


def test_referral_series_hold_none_where_nothing_was_recorded() -> None:
    rows, chart = referral_example()
    named = {s.name: s.values for s in chart.series}
    expect = {"promised": "promised", "sent by the prime": "sent",
              "confirmed by the subcontractor": "confirmed"}  # fmt: skip
    for name, key in expect.items():
        assert named[name] == tuple(None if r[key] is None else Decimal(r[key]) for r in rows)
    assert named["sent by the prime"][3] is None
    assert named["confirmed by the subcontractor"][1] is None


def test_referral_band_marks_only_the_shortfall() -> None:
    rows, chart = referral_example()
    expected = []
    for r in rows:
        got = r["confirmed"] if r["confirmed"] is not None else r["sent"]
        if got is not None and got < r["promised"]:
            expected.append((Decimal(got), Decimal(r["promised"])))
        else:
            expected.append((None, None))
    assert chart.band == tuple(expected)
    assert chart.band[1] == (Decimal(6), Decimal(10))  # the prime's count when unconfirmed
    assert chart.band[2] == (Decimal(5), Decimal(10))  # the confirmed count when there is one
    assert chart.band[0] == chart.band[3] == (None, None)


def test_referral_summary_totals_received_against_promised() -> None:
    rows, chart = referral_example()
    received = sum(r["confirmed"] if r["confirmed"] is not None else (r["sent"] or 0) for r in rows)
    promised = sum(r["promised"] for r in rows)
    assert f"{received} referrals received against {promised} promised" in chart.summary
    assert f"over {len(rows)} periods" in chart.summary
    assert "short in 3 (2025-Q4, 2026-Q1, 2026-Q3)" in chart.summary
    disagree = chart.table.headers.index("disagree")
    assert [row[disagree] for row in chart.table.rows] == ["", "", "yes", "", ""]


# -- kpi_charts ----------------------------------------------------------------------------------


def kpi_example() -> list[dict[str, Any]]:
    return [
        kpi_row("job-starts", "2026-Q1", "bravo-care", "85", "80", "70"),
        kpi_row("job-starts", "2026-Q1", "acme-prime", "66", "80", "70"),
        kpi_row("job-starts", "2026-Q2", "bravo-care", "72", "80", "70"),
        kpi_row("job-starts", "2026-Q3", "acme-prime", "50", "80", "70", attested=False),
        kpi_row("wellbeing", "2026-Q2", "bravo-care", "3.5", None, None),
        kpi_row("job-starts", "2026-Q1", "bravo-care", "90", "75", None, package="P-2"),
    ]


def test_kpi_charts_make_one_chart_per_package_and_kpi() -> None:
    found = charts.kpi_charts(kpi_example())
    assert sorted((c.title, c.unit) for c in found) == [
        ("job-starts: results against target (P-1)", "job-starts"),
        ("job-starts: results against target (P-2)", "job-starts"),
        ("wellbeing: results against target (P-1)", "wellbeing"),
    ]


def test_kpi_series_per_provider_line_up_with_the_periods() -> None:
    rows = kpi_example()
    chart = charts.kpi_charts(rows)[0]
    assert chart.periods == ("2026-Q1", "2026-Q2", "2026-Q3")
    mine = [r for r in rows if r["package"] == "P-1" and r["kpi"] == "job-starts"]
    assert [s.name for s in chart.series] == sorted({r["provider"] for r in mine})
    for series in chart.series:
        at = {r["period"]: Decimal(r["actual"]) for r in mine if r["provider"] == series.name}
        assert series.values == tuple(at.get(p) for p in chart.periods)
    acme = next(s for s in chart.series if s.name == "acme-prime")
    assert acme.values[1] is None  # acme-prime reported nothing for 2026-Q2


def test_kpi_levels_are_decimals_and_left_out_when_not_set() -> None:
    p1_jobs, wellbeing, p2_jobs = charts.kpi_charts(kpi_example())
    assert p1_jobs.levels == (("target", Decimal(80)), ("acceptable", Decimal(70)))
    assert all(isinstance(value, Decimal) for _, value in p1_jobs.levels)
    assert wellbeing.levels == ()
    assert p2_jobs.levels == (("target", Decimal(75)),)


def test_kpi_summary_counts_results_below_the_acceptable_level() -> None:
    rows = kpi_example()
    chart = charts.kpi_charts(rows)[0]
    mine = [r for r in rows if r["package"] == "P-1" and r["kpi"] == "job-starts"]
    below = [r for r in mine if Decimal(r["actual"]) < Decimal(r["acceptable"])]
    assert {r["rating"] for r in below} == set(BELOW)  # one of each in the example
    assert f"; {len(below)} below the acceptable level" in chart.summary
    for r in below:
        assert f"{r['provider']} {r['period']}: {r['actual']}" in chart.summary
    assert f"{len(mine)} results from 2 providers, target 80, acceptable 70" in chart.summary
    assert len(chart.table.rows) == len(mine)
    attested = chart.table.headers.index("attested")
    assert sorted(row[attested] for row in chart.table.rows) == ["no", "yes", "yes", "yes"]


def test_kpi_summary_without_levels_or_shortfalls() -> None:
    wellbeing = charts.kpi_charts(kpi_example())[1]
    expected = "wellbeing in P-1: 1 result from 1 provider; 0 below the acceptable level."
    assert wellbeing.summary == expected
    headers = wellbeing.table.headers
    (row,) = wellbeing.table.rows
    assert (row[headers.index("target")], row[headers.index("acceptable")]) == ("–", "–")


# -- shared_heatmaps -----------------------------------------------------------------------------


def test_shared_heatmaps_make_one_heatmap_per_round() -> None:
    views = shared_views()
    found = charts.shared_heatmaps(views)
    assert [("2026-Q1" in h.title, "2026-Q2" in h.title) for h in found] == [
        (True, False),
        (False, True),
    ]
    q1, q2 = found
    assert q1.rows == tuple(sorted({r[1] for r in Q1_RATINGS}))
    assert q2.rows == (PRIME,)
    assert q1.columns == q2.columns == tuple(d.slug for d in DIMS)


def test_shared_heatmap_cells_are_the_medians_the_views_may_show() -> None:
    views = shared_views()
    q1, q2 = charts.shared_heatmaps(views)
    for heatmap, period in ((q1, "2026-Q1"), (q2, "2026-Q2")):
        expected = {
            (ratee, d["dimension"]): Decimal(d["others_median"])
            for ratee, view in views.items()
            for r in view["rounds"]
            if r["period"] == period
            for d in r["dimensions"]
            if d["others_median"] is not None
        }
        assert heatmap.cells == expected
    # worked out from the scores: acme-prime's openness from its three subcontractors, and
    # NASTY's from four raters pooled; every other cell of the round is withheld
    assert q1.cells == {
        (PRIME, "openness"): median([2, 3, 5]),
        (NASTY, "openness"): median([2, 4, 3, 5]),
    }
    assert (PRIME, "payment") not in q1.cells  # all three gave 4
    assert not any(row == OTHER_SUB for row, _ in q1.cells)  # two raters only


def test_shared_heatmap_table_has_no_self_score() -> None:
    views = shared_views()
    for heatmap in charts.shared_heatmaps(views):
        assert not any("self" in h.lower() for h in heatmap.table.headers)
        assert all(len(row) == len(heatmap.table.headers) for row in heatmap.table.rows)
        assert len(heatmap.table.rows) == len(heatmap.rows) * len(heatmap.columns)
    q1 = charts.shared_heatmaps(views)[0]
    headers = q1.table.headers
    rows = {(row[0], row[1]): row for row in q1.table.rows}
    withheld_note = rows[(PRIME, "Payment reliability")][headers.index("withheld")]
    assert "every rater gave the same score" in withheld_note
    assert rows[(OTHER_SUB, "Openness and communication")][headers.index("raters shown")] == "–"


def test_shared_heatmap_summary_counts_withheld_cells() -> None:
    views = shared_views()
    q1, q2 = charts.shared_heatmaps(views)
    for heatmap, period in ((q1, "2026-Q1"), (q2, "2026-Q2")):
        dims = [d for v in views.values() for r in v["rounds"] if r["period"] == period
                for d in r["dimensions"]]  # fmt: skip
        withheld = sum(1 for d in dims if d["others_median"] is None)
        assert f"{withheld} of {len(dims)} cells withheld" in heatmap.summary
    assert "4 of 6 cells withheld" in q1.summary
    assert "0 of 2 cells withheld" in q2.summary
    assert f"Lowest: {PRIME} on openness, 3. Highest: {NASTY} on openness, 3.5." in q1.summary


def test_shared_heatmaps_of_no_final_round() -> None:
    assert charts.shared_heatmaps({PRIME: {"view": "shared", "ratee": PRIME, "rounds": [],
                                           "not_final": []}}) == []  # fmt: skip


# -- full_heatmaps -------------------------------------------------------------------------------


def test_full_heatmap_medians_leave_out_the_self_rating() -> None:
    q1, q2 = charts.full_heatmaps(owner_report(review_rounds()))
    for heatmap, ratings in ((q1, Q1_RATINGS), (q2, Q2_RATINGS)):
        expected = {
            (ratee, d.slug): median(others_scores(ratings, ratee, d.slug))
            for ratee in {r[1] for r in ratings}
            for d in DIMS
        }
        assert heatmap.cells == expected
    # with its own 5 counted, acme-prime's openness would be 3, not 2.5
    with_self = [*others_scores(Q1_RATINGS, PRIME, "openness"), 5]
    assert median(with_self) != q1.cells[(PRIME, "openness")]
    headers = q1.table.headers
    rows = {(row[0], row[1]): row for row in q1.table.rows}
    assert rows[(PRIME, "openness")][headers.index("self")] == "5"
    assert rows[(PRIME, "openness")][headers.index("raters")] == "4"
    assert rows[(OTHER_SUB, "payment")][headers.index("self")] == "–"


def test_full_heatmap_median_of_an_even_count_is_the_mean_of_the_middle_two() -> None:
    q1, _ = charts.full_heatmaps(owner_report(review_rounds()))
    assert q1.cells[(PRIME, "openness")] == Decimal("2.5")  # 1 2 | 3 5
    assert q1.cells[(NASTY, "openness")] == Decimal("3.5")  # 2 3 | 4 5
    assert q1.cells[(OTHER_SUB, "payment")] == Decimal("3.5")  # 2 | 5
    assert q1.cells[(PRIME, "payment")] == Decimal(4)  # 2 4 | 4 4


def test_full_heatmap_names_no_withholding() -> None:
    q1, _ = charts.full_heatmaps(owner_report(review_rounds()))
    assert len(q1.cells) == len(q1.rows) * len(q1.columns)
    assert "owner's view" in q1.summary
    assert f"each of {len(q1.rows)} organisations on {len(q1.columns)} dimensions" in q1.summary


# -- svg.scale -----------------------------------------------------------------------------------

SCALE_VALUES = [Decimal("0.01"), 0.3, 1, 3, 7, Decimal("9.99"), 10, 12, 99, 100, 101, 480,
                Decimal("12345.67"), Decimal("60000.00"), 1_000_000, Decimal("999999999999.99")]  # fmt: skip


def is_round_step(step: float) -> bool:
    """1, 2 or 5 × 10ⁿ."""
    mantissa = step / 10 ** math.floor(math.log10(step))
    return any(math.isclose(mantissa, m) for m in (1, 2, 5, 10))


@pytest.mark.parametrize("ticks", [3, 4, 5])
@pytest.mark.parametrize("value", SCALE_VALUES)
def test_scale_gives_a_round_step_and_a_top_at_or_above_the_value(
    value: Decimal | float, ticks: int
) -> None:
    top, step = svg.scale(value, ticks)
    assert top >= float(value)
    assert is_round_step(step)
    parts = top / step
    assert math.isclose(parts, round(parts))  # the top is a tick
    assert round(parts) <= ticks
    assert top - step < float(value)  # no empty tick above the value


def test_scale_of_zero_gives_a_positive_axis() -> None:
    top, step = svg.scale(0)
    assert top > 0
    assert step > 0
    assert math.isclose(top / step, round(top / step))


@pytest.mark.parametrize("ticks", [3, 4, 5])
def test_scale_of_zero_keeps_the_documented_step(ticks: int) -> None:
    top, step = svg.scale(0, ticks)
    assert is_round_step(step)
    assert top / step <= ticks


# -- svg.draw: every chart kind ------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(CHARTS))
def test_draw_makes_an_accessible_svg(kind: str) -> None:
    chart = CHARTS[kind]()
    root = parse(svg.draw(chart, "fig7"))
    assert root.tag == f"{NS}svg"
    assert root.get("role") == "img"
    x, y, width, height = (float(v) for v in root.attrib["viewBox"].split())
    assert (x, y) == (0, 0)
    assert width > 0
    assert height > 0
    title, desc = root.find(f"{NS}title"), root.find(f"{NS}desc")
    assert title is not None
    assert desc is not None
    assert title.text == chart.title
    assert desc.text == chart.summary
    assert root.attrib["aria-labelledby"].split() == [title.attrib["id"], desc.attrib["id"]]
    assert "fig7" in title.attrib["id"]
    assert "fig7" in desc.attrib["id"]
    assert title.attrib["id"] != desc.attrib["id"]


@pytest.mark.parametrize("kind", sorted(CHARTS))
def test_draw_gives_each_figure_its_own_ids(kind: str) -> None:
    chart = CHARTS[kind]()
    ids = [
        {e.attrib["id"] for e in parse(svg.draw(chart, ident)).iter() if "id" in e.attrib}
        for ident in ("fig1", "fig2")
    ]
    assert len(ids[0]) == len(ids[1]) == 2
    assert not ids[0] & ids[1]


def test_draw_ids_start_with_the_ident() -> None:
    for make in CHARTS.values():
        root = parse(svg.draw(make(), "fig3"))
        assert root.find(f"{NS}title").attrib["id"].startswith("fig3")
        assert root.find(f"{NS}desc").attrib["id"].startswith("fig3")


@pytest.mark.parametrize(
    "make",
    [
        lambda: bar_chart(NASTY),
        lambda: histogram_chart(payer=NASTY),
        lambda: line_chart(NASTY),
        heatmap_chart,  # NASTY is one of the organisations rated
    ],
    ids=["bars", "histogram", "lines", "heatmap"],
)
def test_draw_escapes_organisation_names(make: Any) -> None:
    chart = make()
    text = svg.draw(chart, "fig1")
    assert "<script" not in text
    root = parse(text)
    assert NASTY in chart.summary
    assert root.find(f"{NS}desc").text == chart.summary
    if isinstance(chart, charts.Histogram):  # a histogram names its payer in its title only
        assert NASTY in root.find(f"{NS}title").text
    else:
        assert NASTY in texts(root)
    assert not [e for e in root.iter() if "script" in e.tag]


def bar_rects(root: ET.Element, colour: str) -> list[ET.Element]:
    rects = [r for r in root.iter(f"{NS}rect") if r.get("fill") == colour]
    return rects[1:]  # the first is the legend's swatch


def test_bar_widths_are_proportional_to_the_values() -> None:
    chart = bar_chart()
    root = parse(svg.draw(chart, "fig1"))
    due, paid = bar_rects(root, svg.PALETTE[0]), bar_rects(root, svg.PALETTE[1])
    assert len(due) == len(paid) == len(chart.groups)
    pairs = [(number(rect, "width"), float(group.values[j]))
             for j, rects in enumerate((due, paid))
             for rect, group in zip(rects, chart.groups, strict=True)]  # fmt: skip
    widest, biggest = max(pairs)
    assert biggest == max(v for _, v in pairs)
    for width, value in pairs:
        assert width == pytest.approx(widest * value / biggest, abs=0.1)
    assert {number(r, "x") for r in due + paid} == {number(due[0], "x")}  # a common baseline
    assert number(paid[2], "width") == 0  # nothing paid


@pytest.mark.parametrize(
    "values",
    [
        pytest.param(("60000.00", "45000.00"), id="some"),
        pytest.param(
            ("0.00", "0"),
            id="nothing-yet",
        ),
    ],
)
def test_bar_chart_axis_labels_are_distinct(values: tuple[str, str]) -> None:
    due, paid = values
    (chart,) = charts.workshare_bars([workshare_row("bravo-care", due=due, paid=paid)])
    root = parse(svg.draw(chart, "fig1"))
    ticks = [t.text for t in root.iter(f"{NS}text") if t.get("text-anchor") == "middle"]
    assert len(ticks) >= 2
    assert len(set(ticks)) == len(ticks), ticks


def histogram_parts(root: ET.Element) -> tuple[list[ET.Element], list[ET.Element]]:
    """The bins' bars (after the legend's two swatches) and the vertical dashed lines."""
    rects = [r for r in root.iter(f"{NS}rect") if r.get("fill") in (svg.ON_TIME, svg.LATE)]
    lines = [
        line
        for line in root.iter(f"{NS}line")
        if line.get("stroke-dasharray") == svg.DASH and line.get("x1") == line.get("x2")
    ]
    return rects[2:], lines


@pytest.mark.parametrize("limit", [30, 60])
def test_histogram_limit_line_falls_between_the_bin_ending_at_it_and_the_next(limit: int) -> None:
    chart = histogram_chart(limit)
    bars, lines = histogram_parts(parse(svg.draw(chart, "fig1")))
    assert len(bars) == len(chart.bins)
    (line,) = lines
    (k,) = [i for i, b in enumerate(chart.bins) if b.high == limit]
    x = number(line, "x1")
    assert number(bars[k], "x") + number(bars[k], "width") <= x <= number(bars[k + 1], "x")
    for b, bar in zip(chart.bins, bars, strict=True):
        within = b.high is not None and b.high <= limit
        assert bar.get("fill") == (svg.ON_TIME if within else svg.LATE), b.label


def test_histogram_bar_heights_follow_the_counts() -> None:
    chart = histogram_chart()
    bars, _ = histogram_parts(parse(svg.draw(chart, "fig1")))
    tallest = max(number(r, "height") for r in bars)
    most = max(b.count for b in chart.bins)
    for b, bar in zip(chart.bins, bars, strict=True):
        assert number(bar, "height") == pytest.approx(tallest * b.count / most, abs=0.1)


def test_histogram_draws_a_limit_that_is_not_a_bin_edge() -> None:
    chart = histogram_chart(45)
    root = parse(svg.draw(chart, "fig1"))
    assert "the 45-day line" in texts(root)
    _, lines = histogram_parts(root)
    assert len(lines) == 1


def test_line_chart_marks_each_recorded_value() -> None:
    _rows, chart = referral_example()
    root = parse(svg.draw(chart, "fig1"))
    circles = Counter(c.get("fill") for c in root.iter(f"{NS}circle"))
    for i, series in enumerate(chart.series):
        assert circles[svg.PALETTE[i]] == sum(v is not None for v in series.values), series.name
    assert [t for t in texts(root) if t in chart.periods] == list(chart.periods)


def shortfall_polygons(chart: charts.LineChart) -> list[ET.Element]:
    root = parse(svg.draw(chart, "fig1"))
    return [p for p in root.iter(f"{NS}polygon") if p.get("fill") == svg.SHORTFALL]


def test_line_chart_shades_a_shortfall_over_consecutive_periods() -> None:
    rows = [
        referral_row("bravo-care", "2026-Q1", 10, 10, 10),
        referral_row("bravo-care", "2026-Q2", 10, 4, 4),
        referral_row("bravo-care", "2026-Q3", 10, 6, 6),
    ]
    (chart,) = charts.referral_lines(rows)
    (polygon,) = shortfall_polygons(chart)
    assert len(polygon.get("points").split()) == 4  # two periods, top and bottom


def test_line_chart_shows_a_shortfall_in_a_single_period() -> None:
    rows = [
        referral_row("bravo-care", "2026-Q1", 10, 10, 10),
        referral_row("bravo-care", "2026-Q2", 10, 4, 4),
        referral_row("bravo-care", "2026-Q3", 10, 10, 10),
    ]
    (chart,) = charts.referral_lines(rows)
    assert chart.band[1] == (Decimal(4), Decimal(10))
    assert shortfall_polygons(chart)


def test_line_chart_draws_its_levels_across_the_plot() -> None:
    chart = line_chart()
    root = parse(svg.draw(chart, "fig1"))
    for name, value in chart.levels:
        assert f"{name} {value}" in texts(root)
    across = [
        ln
        for ln in root.iter(f"{NS}line")
        if ln.get("stroke") == svg.INK and number(ln, "x2") - number(ln, "x1") > svg.WIDTH / 2
    ]  # the legend's samples are short
    assert len(across) == len(chart.levels)
    assert all(ln.get("y1") == ln.get("y2") for ln in across)
    # the target (80) is drawn above the acceptable level (70)
    (target, _), (acceptable, _) = chart.levels
    assert (target, acceptable) == ("target", "acceptable")
    assert number(across[0], "y1") < number(across[1], "y1")


def test_heatmap_draws_a_cell_for_every_row_and_column() -> None:
    chart = heatmap_chart()
    root = parse(svg.draw(chart, "fig1"))
    rects = list(root.iter(f"{NS}rect"))
    key = chart.high - chart.low + 1  # the key below: one swatch a score
    assert len(rects) == len(chart.rows) * len(chart.columns) + key
    swatches = rects[-key:]
    assert len({r.get("fill") for r in swatches}) == key  # every score its own shade
    shown = texts(root)
    assert shown.count("withheld") == len(chart.rows) * len(chart.columns) - len(chart.cells)
    for value in chart.cells.values():
        assert f"{value.normalize():f}" in shown
    assert [t for t in shown if t in chart.rows] == list(chart.rows)


def test_kpi_chart_of_many_providers_shows_their_spread() -> None:
    """More providers than colours to tell apart: the lowest, median and highest result
    per period, and every result still in the table."""
    providers = [f"sub-{i}" for i in range(charts.MAX_SERIES + 3)]
    rows = [kpi_row("job starts", period, p, str(10 + i + k), "20", "15")
            for i, p in enumerate(providers)
            for k, period in enumerate(("2026-Q1", "2026-Q2"))]  # fmt: skip
    (chart,) = charts.kpi_charts(rows)
    names = [s.name for s in chart.series]
    assert names == [f"median of {len(providers)} providers", "lowest", "highest"]
    for k, period in enumerate(chart.periods):
        values = sorted(Decimal(r["actual"]) for r in rows if r["period"] == period)
        median, low, high = (s.values[k] for s in chart.series)
        assert (low, high) == (values[0], values[-1])
        assert len(values) == 9
        assert median == values[4]
    assert len(chart.table.rows) == len(rows)
    root = parse(svg.draw(chart, "fig1"))  # draws with as many colours as it needs
    assert chart.summary == root.find(f"{NS}desc").text


def test_a_long_list_in_a_summary_is_cut_short() -> None:
    periods = [f"2026-{m:02d}" for m in range(1, 11)]
    rows = [referral_row("bravo-care", p, 10, 4, 4) for p in periods]
    (chart,) = charts.referral_lines(rows)
    assert "short in 10 (" + ", ".join(periods[:8]) + " and 2 more)." in chart.summary


@pytest.mark.parametrize("direction", ["higher", "lower"])
def test_kpi_chart_shades_the_failing_side_of_the_acceptable_level(direction: str) -> None:
    rows = [{**kpi_row("waiting days", p, "bravo-care", "12", "20", "15"), "direction": direction}
            for p in ("2026-Q1", "2026-Q2")]  # fmt: skip
    (chart,) = charts.kpi_charts(rows)
    assert chart.failing == Decimal("15")
    assert chart.higher_is_better is (direction == "higher")
    root = parse(svg.draw(chart, "fig1"))
    (zone,) = [r for r in root.iter(f"{NS}rect")
               if r.get("fill") == svg.FAILING and number(r, "width") > svg.WIDTH / 2]  # fmt: skip
    level = next(ln for ln in root.iter(f"{NS}line")
                 if ln.get("stroke-dasharray") == svg.DOTS and number(ln, "x2") > svg.WIDTH / 2)  # fmt: skip
    y = number(level, "y1")
    top, bottom = number(zone, "y"), number(zone, "y") + number(zone, "height")
    if direction == "higher":  # failing is below the line: the zone starts at it
        assert top == pytest.approx(y, abs=0.1)
        assert bottom > y
    else:  # failing is above the line: the zone ends at it
        assert bottom == pytest.approx(y, abs=0.1)
        assert top < y
    worse = "below" if direction == "higher" else "above"
    assert f"{worse} the acceptable level" in texts(root)


def test_kpi_chart_without_levels_shades_nothing() -> None:
    rows = [kpi_row("job starts", "2026-Q1", "bravo-care", "12", None, None)]
    (chart,) = charts.kpi_charts(rows)
    assert chart.failing is None
    root = parse(svg.draw(chart, "fig1"))
    assert not [r for r in root.iter(f"{NS}rect") if r.get("fill") == svg.FAILING]
