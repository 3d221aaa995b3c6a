"""The data behind each chart of the HTML report, from the reports' rows.

Pure functions: rows in, chart specifications out. Each specification holds
the numbers it draws, a text alternative that says what the chart shows, and
the table that carries the same numbers for anyone who cannot see the chart.
Drawing is ``svg.py``'s job; nothing here knows about pixels.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from chainledger.domain.quantities import Period
from chainledger.domain.review_analysis import Stats

Number = Decimal | None


@dataclass(frozen=True)
class Table:
    """The numbers of a chart as rows of text, for screen readers, printing and copying."""

    caption: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class BarGroup:
    label: str
    values: tuple[Number, ...]  # one per series
    note: str = ""  # shown at the end of the group, e.g. "83% of the promise"


@dataclass(frozen=True)
class BarChart:
    """Horizontal bars, one group per label, one bar per series."""

    title: str
    series: tuple[str, ...]
    groups: tuple[BarGroup, ...]
    summary: str
    table: Table


@dataclass(frozen=True)
class Bin:
    label: str
    low: int  # days, inclusive
    high: int | None  # days, inclusive; None for the open-ended last bin
    count: int


@dataclass(frozen=True)
class Histogram:
    """How many invoices took how long to pay, with a line at the legal limit."""

    title: str
    bins: tuple[Bin, ...]
    line_at: int  # days: the limit drawn as a line
    unpaid_overdue: int
    summary: str
    table: Table


@dataclass(frozen=True)
class Series:
    name: str
    values: tuple[Number, ...]  # one per period; None where nothing was recorded
    dashed: bool = False
    wide: bool = False  # drawn wide, so that a series of equal values on top leaves it visible


@dataclass(frozen=True)
class LineChart:
    """Values per period, with optional horizontal reference levels."""

    title: str
    periods: tuple[str, ...]
    series: tuple[Series, ...]
    unit: str
    summary: str
    table: Table
    levels: tuple[tuple[str, Decimal], ...] = ()  # (name, value), e.g. target and acceptable
    band: tuple[tuple[Number, Number], ...] = ()  # (low, high) per period, shaded
    band_name: str = ""
    failing: Number = None  # results beyond this level, on the worse side, are failing
    higher_is_better: bool = True


@dataclass(frozen=True)
class Heatmap:
    """Scores 1–5 per row (who was rated) and column (what they were rated on)."""

    title: str
    rows: tuple[str, ...]
    columns: tuple[str, ...]
    cells: dict[tuple[str, str], Number] = field(default_factory=dict)  # missing: withheld
    summary: str = ""
    table: Table = Table("", (), ())
    low: int = 1
    high: int = 5
    empty: str = "withheld"  # what an empty cell says


Chart = BarChart | Histogram | LineChart | Heatmap


def _d(value: Any) -> Number:
    return None if value is None or value == "" else Decimal(str(value))


def pounds(value: Number) -> str:
    if value is None:
        return "–"
    return f"£{value.quantize(Decimal('1')):,}"


def _n(value: Number) -> str:
    return "–" if value is None else f"{value.normalize():f}"


def _listing(items: Sequence[str], most: int = 8) -> str:
    """``items`` joined by commas: the first ``most`` of them, and how many more."""
    shown = ", ".join(items[:most])
    return shown + (f" and {len(items) - most} more" if len(items) > most else "")


def _by(rows: Iterable[dict[str, Any]], *keys: str) -> dict[tuple[Any, ...], list[dict[str, Any]]]:
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row[k] for k in keys), []).append(row)
    return groups


# -- workshare: promised against delivered -------------------------------------------------------


def workshare_bars(rows: Sequence[dict[str, Any]]) -> list[BarChart]:
    """Per package: for each subcontractor, the value due to date under its promise against
    what it has been paid to date."""
    charts = []
    for (package,), group in _by(rows, "package").items():
        bars, lines, table = [], [], []
        for row in group:
            due, paid = _d(row["due_to_date"]), _d(row["paid_to_date"])
            share = row["value_delivered_pct"]
            note = f"{share}% of due" if share is not None else "nothing due"
            bars.append(BarGroup(row["subcontractor"], (due, paid), note))
            lines.append(f"{row['subcontractor']} paid {pounds(paid)} of {pounds(due)} due"
                         + (f" ({share}%)" if share is not None else "") + f", {row['status']}")  # fmt: skip
            table.append((row["subcontractor"], pounds(_d(row["promised_value_per_year"])),
                          row["answer"], pounds(_d(row["contracted_value_per_year"])),
                          pounds(due), pounds(paid), share or "–", row["status"]))  # fmt: skip
        charts.append(BarChart(
            title=f"{package}: promised against paid, to date",
            series=("due to date under the promise (or the subcontract)", "paid to date"),
            groups=tuple(bars),
            summary=f"{package}, paid against what the promise makes due by now: "
            + "; ".join(lines) + ".",
            table=Table(f"{package}: workshare promised and delivered",
                        ("subcontractor", "promised a year", "answer", "contracted a year",
                         "due to date", "paid to date", "% of due", "status"), tuple(table)),
        ))  # fmt: skip
    return charts


# -- payments: days to pay against the 30-day line ----------------------------------------------


def bin_edges(limit: int) -> tuple[int, ...]:
    """Where the day bins start, so that one ends exactly at ``limit``: three bins up to it,
    three as wide after it, then up to twice and three times it (for 30: 0–10, 11–20, 21–30,
    31–40, 41–50, 51–60, 61–90, 91+)."""
    width = max(1, -(-limit // 3))
    wanted = (0, limit - 2 * width + 1, limit - width + 1, limit + 1, limit + width + 1,
              limit + 2 * width + 1, 2 * limit + 1, 3 * limit + 1)  # fmt: skip
    edges: list[int] = []
    for edge in wanted:
        if edge > (edges[-1] if edges else -1):
            edges.append(edge)
    return tuple(edges)


BIN_EDGES = bin_edges(30)


def day_bins(days: Iterable[int], edges: Sequence[int] = BIN_EDGES) -> tuple[Bin, ...]:
    """Count ``days`` into bins [edges[i], edges[i+1] - 1], the last one open-ended."""
    values = list(days)
    bins = []
    for i, low in enumerate(edges):
        high = edges[i + 1] - 1 if i + 1 < len(edges) else None
        count = sum(1 for d in values if d >= low and (high is None or d <= high))
        label = f"{low}+" if high is None else (f"{low}–{high}" if high > low else str(low))
        bins.append(Bin(label, low, high, count))
    return tuple(bins)


def payment_histograms(invoices: Sequence[dict[str, Any]], limit_days: int) -> list[Histogram]:
    """Per prime (payer): how many days its invoices took to pay in full, in bins, against
    ``limit_days``; unpaid invoices past their due date are counted beside the bins."""
    charts = []
    for (payer,), group in sorted(_by(invoices, "payer").items()):
        days = [r["days_to_pay"] for r in group if r["days_to_pay"] is not None]
        overdue = [r for r in group if r["overdue_days"] is not None]
        late = sum(1 for d in days if d > limit_days)
        bins = day_bins(days, bin_edges(limit_days))
        summary = (
            f"{payer} paid {len(days)} invoice{'s' if len(days) != 1 else ''} in full: "
            f"{len(days) - late} within {limit_days} days and {late} later"
            + (f"; the slowest took {max(days)} days" if days else "")
            + f". {len(overdue)} unpaid invoice{'s are' if len(overdue) != 1 else ' is'} overdue."
        )
        table = tuple(
            (r["package"], r["payee"], r["invoice"], r["invoice_date"], pounds(_d(r["amount"])),
             str(r["days_to_pay"]) if r["days_to_pay"] is not None else "unpaid",
             str(r["overdue_days"]) if r["overdue_days"] is not None else "–")
            for r in group
        )  # fmt: skip
        charts.append(Histogram(
            title=f"{payer}: days to pay an invoice",
            bins=bins, line_at=limit_days, unpaid_overdue=len(overdue), summary=summary,
            table=Table(f"{payer}: every invoice and the days it took to pay",
                        ("package", "payee", "invoice", "dated", "amount", "days to pay",
                         "days overdue"),
                        table),
        ))  # fmt: skip
    return charts


# -- referrals over time --------------------------------------------------------------------------


def _periods(rows: Iterable[dict[str, Any]]) -> tuple[str, ...]:
    return tuple(sorted({r["period"] for r in rows}, key=Period.parse))


def referral_lines(rows: Sequence[dict[str, Any]]) -> list[LineChart]:
    """Per package and subcontractor: referrals promised, sent by the prime and confirmed by
    the subcontractor, period by period."""
    charts = []
    for (package, sub), group in _by(rows, "package", "subcontractor").items():
        periods = _periods(group)
        at = {r["period"]: r for r in group}

        def column(key: str, at: dict[str, dict[str, Any]] = at) -> tuple[Number, ...]:
            return tuple(_d(at[p][key]) if p in at else None for p in periods)  # noqa: B023

        promised, sent, confirmed = column("promised"), column("sent"), column("confirmed")
        received = tuple(c if c is not None else s for s, c in zip(sent, confirmed, strict=True))
        total_promised = sum((p for p in promised if p is not None), Decimal(0))
        total_received = sum((r for r in received if r is not None), Decimal(0))
        short = [p for p, want, got in zip(periods, promised, received, strict=True)
                 if want is not None and (got or 0) < want]  # fmt: skip
        summary = (
            f"{sub} in {package}: {_n(total_received)} referrals received against "
            f"{_n(total_promised)} promised over {len(periods)} period"
            f"{'s' if len(periods) != 1 else ''}; short in {len(short)}"
            + (f" ({_listing(short)})" if short else "")
            + "."
        )
        table = tuple(
            (p, _n(a), _n(b), _n(c), "yes" if at[p]["disagreement"] else "")
            for p, a, b, c in zip(periods, promised, sent, confirmed, strict=True)
        )
        charts.append(LineChart(
            title=f"{sub}: referrals promised and received ({package})",
            periods=periods,
            series=(Series("promised", promised, dashed=True), Series("sent by the prime", sent, wide=True),
                    Series("confirmed by the subcontractor", confirmed)),
            unit="referrals", summary=summary,
            band=tuple((got, want) if want is not None and got is not None and got < want
                       else (None, None) for got, want in zip(received, promised, strict=True)),
            band_name="shortfall",
            table=Table(f"{sub} ({package}): referrals per period",
                        ("period", "promised", "sent", "confirmed", "disagree"), table),
        ))  # fmt: skip
    return charts


# -- KPI performance ------------------------------------------------------------------------------


def kpi_charts(rows: Sequence[dict[str, Any]]) -> list[LineChart]:
    """Per package and KPI: each provider's actual per period, against the target and the
    acceptable level."""
    charts = []
    for (package, kpi), group in _by(rows, "package", "kpi").items():
        periods = _periods(group)
        providers = sorted({r["provider"] for r in group})
        first = group[0]
        levels = tuple((name, Decimal(first[name])) for name in ("target", "acceptable")
                       if first[name] is not None)  # fmt: skip
        if len(providers) <= MAX_SERIES:
            series = []
            for provider in providers:
                at = {r["period"]: r for r in group if r["provider"] == provider}
                series.append(Series(provider, tuple(_d(at[p]["actual"]) if p in at else None
                                                     for p in periods)))  # fmt: skip
        else:  # too many lines to tell apart: the spread of the providers' results instead
            series = _spread(group, periods, len(providers))
        below = [r for r in group if r["rating"] in ("requires improvement", "inadequate")]
        summary = (
            f"{kpi} in {package}: {len(group)} result{'s' if len(group) != 1 else ''} from "
            f"{len(providers)} provider{'s' if len(providers) != 1 else ''}"
            + "".join(f", {name} {_n(value)}" for name, value in levels)
            + f"; {len(below)} below the acceptable level"
            + (" (" + _listing([f"{r['provider']} {r['period']}: {r['actual']}" for r in below])
               + ")" if below else "")
            + "."
        )  # fmt: skip
        table = tuple(
            (r["period"], r["provider"], r["actual"], r["target"] or "–", r["acceptable"] or "–",
             r["rating"], "yes" if r["attested"] else "no")
            for r in sorted(group, key=lambda r: (Period.parse(r["period"]), r["provider"]))
        )  # fmt: skip
        charts.append(LineChart(
            title=f"{kpi}: results against target ({package})",
            periods=periods, series=tuple(series), unit=kpi, summary=summary, levels=levels,
            failing=levels[-1][1] if levels else None,
            higher_is_better=first["direction"] == "higher",
            table=Table(f"{kpi} ({package}): every result",
                        ("period", "provider", "actual", "target", "acceptable", "rating",
                         "attested"), table),
        ))  # fmt: skip
    return charts


MAX_SERIES = 6  # lines one chart can show apart, each in its own colour


def _spread(group: list[dict[str, Any]], periods: tuple[str, ...], providers: int) -> list[Series]:
    """Per period: the lowest, median and highest of the providers' results."""
    by_period: dict[str, list[Decimal]] = {}
    for r in group:
        by_period.setdefault(r["period"], []).append(Decimal(r["actual"]))
    lows, middles, highs = [], [], []
    for period in periods:
        values = sorted(by_period.get(period, []))
        lows.append(values[0] if values else None)
        middles.append(statistics.median(values) if values else None)
        highs.append(values[-1] if values else None)
    return [Series(f"median of {providers} providers", tuple(middles), wide=True),
            Series("lowest", tuple(lows), dashed=True),
            Series("highest", tuple(highs), dashed=True)]  # fmt: skip


# -- the 360 review heatmap -----------------------------------------------------------------------


def shared_heatmaps(views: dict[str, dict[str, Any]]) -> list[Heatmap]:
    """From each ratee's shared view (``review_analysis.shared_report``), one heatmap per
    round: ratees by dimension, the median of the scores that view may show; a cell the
    view withholds (too few raters, or all alike) stays empty."""
    rounds: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    titles: dict[str, str] = {}
    for ratee, view in sorted(views.items()):
        for r in view["rounds"]:
            rounds.setdefault((r["package"], r["period"]), {})[ratee] = r
            for d in r["dimensions"]:
                titles[d["dimension"]] = d["title"]
    charts = []
    for (package, period), by_ratee in rounds.items():
        ratees = tuple(sorted(by_ratee))
        columns = tuple(d["dimension"] for d in next(iter(by_ratee.values()))["dimensions"])
        cells: dict[tuple[str, str], Number] = {}
        table = []
        for ratee in ratees:
            for d in by_ratee[ratee]["dimensions"]:
                value = _d(d["others_median"])
                if value is not None:
                    cells[(ratee, d["dimension"])] = value
                n = sum(g["n"] for g in d["groups"])
                table.append((ratee, titles[d["dimension"]], _n(value), str(n) if n else "–",
                              "; ".join(d["withheld"])))  # fmt: skip
        min_group = next(iter(by_ratee.values()))["min_group"]
        withheld = len(ratees) * len(columns) - len(cells)
        charts.append(Heatmap(
            title=f"360 review {period} ({package}): median of others' scores, shared view",
            rows=ratees, columns=columns, cells=cells,
            summary=(f"Median score from 1 to 5 given by others to each of {len(ratees)} "
                     f"organisations on {len(columns)} dimensions, in groups of at least "
                     f"{min_group} raters; {withheld} of {len(ratees) * len(columns)} cells "
                     "withheld to protect raters. " + _extremes(cells)),
            table=Table(f"360 review {period} ({package}), shared view",
                        ("rated", "dimension", "median of others", "raters shown", "withheld"),
                        tuple(table)),
        ))  # fmt: skip
    return charts


def full_heatmaps(report: dict[str, Any]) -> list[Heatmap]:
    """From the owner's report (``review_analysis.owner_report``), one heatmap per round:
    ratees by dimension, the median of every other rater's score, nothing withheld."""
    charts = []
    for r in report["rounds"]:
        package, period = r["package"], r["period"]
        cells_in = [c for c in report["cells"] if c["package"] == package and c["period"] == period]
        ratees = tuple(sorted({c["ratee"] for c in cells_in}))
        columns = tuple(r["dimensions"])
        cells: dict[tuple[str, str], Number] = {}
        table = []
        for ratee in ratees:
            for dim in columns:
                scores = [int(score) for c in cells_in
                          if c["ratee"] == ratee and c["dimension"] == dim and c["group"] != "self"
                          for score, count in c["distribution"].items() for _ in range(count)]  # fmt: skip
                own = [c["median"] for c in cells_in
                       if c["ratee"] == ratee and c["dimension"] == dim and c["group"] == "self"]  # fmt: skip
                value = Stats.of(scores).median if scores else None
                if value is not None:
                    cells[(ratee, dim)] = value
                table.append((ratee, dim, _n(value), str(len(scores)) if scores else "–",
                              own[0] if own else "–"))  # fmt: skip
        charts.append(Heatmap(
            title=f"360 review {period} ({package}): median of others' scores, owner's full view",
            rows=ratees, columns=columns, cells=cells, empty="no ratings",
            summary=(f"Median score from 1 to 5 given by every other rater to each of "
                     f"{len(ratees)} organisations on {len(columns)} dimensions (the round "
                     "owner's view, not to be shared). " + _extremes(cells)),
            table=Table(f"360 review {period} ({package}), owner's full view",
                        ("rated", "dimension", "median of others", "raters", "self"),
                        tuple(table)),
        ))  # fmt: skip
    return charts


def _extremes(cells: dict[tuple[str, str], Number]) -> str:
    shown = {k: v for k, v in cells.items() if v is not None}
    if not shown:
        return "No cell can be shown."
    (lo_r, lo_c), lo = min(shown.items(), key=lambda kv: (kv[1], kv[0]))
    (hi_r, hi_c), hi = max(shown.items(), key=lambda kv: (kv[1], kv[0]))
    return f"Lowest: {lo_r} on {lo_c}, {_n(lo)}. Highest: {hi_r} on {hi_c}, {_n(hi)}."
