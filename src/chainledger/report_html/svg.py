"""Drawing the report's charts as inline SVG: bars, a histogram, lines and a heatmap.

Our own ~300 lines rather than a charting library: the page must render with
no network and no JavaScript, the same bytes for the same ledger, and every
chart must carry its own text alternative. Libraries that render SVG offline
either embed scripts for interactivity (pygal) or bring a heavy stack and
non-deterministic output (matplotlib) for four simple chart kinds.

Each chart is an ``<svg role="img">`` with a ``viewBox`` (so it scales to the
page's width on a phone or on A4), a ``<title>`` and a ``<desc>`` naming what
it shows; colours come from the Okabe–Ito palette, which stays distinct for
colour-blind readers, and every bar and cell also carries its number as text.
"""

from __future__ import annotations

import math
from decimal import Decimal
from html import escape

from chainledger.report_html.charts import (
    BarChart,
    Chart,
    Heatmap,
    Histogram,
    LineChart,
    Number,
    pounds,
)

WIDTH = 640
FONT = 12
INK = "#222"
GRID = "#ddd"
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442")
ON_TIME, LATE = "#009E73", "#D55E00"
SHORTFALL = "#f4c7b8"
FAILING = "#fbe3dc"
DASH, DOTS = "6 4", "2 3"


def _t(value: object) -> str:
    return escape(str(value), quote=True)


def _f(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


class Canvas:
    """SVG elements in drawing order, closed into one accessible ``<svg>``."""

    def __init__(self, height: float, title: str, summary: str, kind: str) -> None:
        self.height = height
        self.title, self.summary, self.kind = title, summary, kind
        self.parts: list[str] = []

    def rect(self, x: float, y: float, w: float, h: float, fill: str) -> None:
        self.parts.append(f'<rect x="{_f(x)}" y="{_f(y)}" width="{_f(max(w, 0))}" '
                          f'height="{_f(max(h, 0))}" fill="{fill}"/>')  # fmt: skip

    def line(self, x1: float, y1: float, x2: float, y2: float, stroke: str = GRID,
             width: float = 1, dash: str = "") -> None:  # fmt: skip
        dash = f' stroke-dasharray="{dash}"' if dash else ""
        self.parts.append(f'<line x1="{_f(x1)}" y1="{_f(y1)}" x2="{_f(x2)}" y2="{_f(y2)}" '
                          f'stroke="{stroke}" stroke-width="{_f(width)}"{dash}/>')  # fmt: skip

    def text(self, x: float, y: float, value: object, anchor: str = "start",
             size: int = FONT, fill: str = INK, weight: str = "normal") -> None:  # fmt: skip
        self.parts.append(f'<text x="{_f(x)}" y="{_f(y)}" text-anchor="{anchor}" '
                          f'font-size="{size}" fill="{fill}" font-weight="{weight}">'
                          f"{_t(value)}</text>")  # fmt: skip

    def polyline(self, points: list[tuple[float, float]], stroke: str, dash: str,
                 width: float = 2) -> None:  # fmt: skip
        dash = f' stroke-dasharray="{dash}"' if dash else ""
        coords = " ".join(f"{_f(x)},{_f(y)}" for x, y in points)
        self.parts.append(f'<polyline points="{coords}" fill="none" stroke="{stroke}" '
                          f'stroke-width="{_f(width)}"{dash}/>')  # fmt: skip

    def polygon(self, points: list[tuple[float, float]], fill: str) -> None:
        coords = " ".join(f"{_f(x)},{_f(y)}" for x, y in points)
        self.parts.append(f'<polygon points="{coords}" fill="{fill}"/>')

    def circle(self, x: float, y: float, fill: str) -> None:
        self.parts.append(f'<circle cx="{_f(x)}" cy="{_f(y)}" r="3.5" fill="{fill}"/>')

    def legend(self, y: float, items: list[tuple[str, str, str]]) -> float:
        """Swatches and names from the left at ``y``, wrapping; each item is (name, colour,
        kind) with kind "box", "line" or a dash pattern. Returns the last row's ``y``."""
        x = 0.0
        for name, colour, kind in items:
            width = 36 + len(name) * FONT * 0.62
            if x + width > WIDTH:
                x, y = 0.0, y + 18
            if kind == "box":
                self.rect(x, y - 10, 18, 10, colour)
            else:
                self.line(x, y - 4, x + 18, y - 4, colour, 2.5, "" if kind == "line" else kind)
            self.text(x + 24, y, name)
            x += width
        return y

    def svg(self, n: str) -> str:
        return (
            f'<svg class="chart chart-{self.kind}" role="img" viewBox="0 0 {WIDTH} '
            f'{_f(self.height)}" aria-labelledby="{n}-title {n}-desc" '
            f'xmlns="http://www.w3.org/2000/svg" font-family="system-ui, sans-serif">'
            f'<title id="{n}-title">{_t(self.title)}</title>'
            f'<desc id="{n}-desc">{_t(self.summary)}</desc>'
            + "".join(self.parts) + "</svg>"
        )  # fmt: skip


def scale(value: Decimal | float, ticks: int = 5) -> tuple[float, float]:
    """A top at or above ``value`` and a step that divides it into at most ``ticks`` parts,
    the step being 1, 2 or 5 × 10ⁿ (so every tick is a round number)."""
    v = float(value)
    if v <= 0:
        return 1.0, 1.0
    raw = v / ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    return math.ceil(v / step - 1e-9) * step, step


def _ticks(top: float, step: float) -> list[float]:
    return [i * step for i in range(round(top / step) + 1)]


def draw(chart: Chart, ident: str) -> str:
    """``chart`` as an ``<svg>`` whose title and description ids start with ``ident``."""
    if isinstance(chart, BarChart):
        return bars(chart).svg(ident)
    if isinstance(chart, Histogram):
        return histogram(chart).svg(ident)
    if isinstance(chart, LineChart):
        return lines(chart).svg(ident)
    return heatmap(chart).svg(ident)


def bars(chart: BarChart) -> Canvas:
    label_w, note_w, bar_h, gap = 130, 110, 16, 12
    group_h = bar_h * len(chart.series) + gap
    top = 32
    height = top + group_h * len(chart.groups) + 24
    c = Canvas(height, chart.title, chart.summary, "bars")
    c.legend(14, [(name, PALETTE[i], "box") for i, name in enumerate(chart.series)])
    biggest = max((v for g in chart.groups for v in g.values if v is not None), default=0)
    top_value, step = scale(biggest, 4)
    plot_w = WIDTH - label_w - note_w - 60  # room for the value after the longest bar
    for tick in _ticks(top_value, step):
        x = label_w + plot_w * tick / top_value
        c.line(x, top - 4, x, height - 20)
        c.text(x, height - 6, pounds(Decimal(str(tick))), "middle", 10)
    for i, group in enumerate(chart.groups):
        y = top + i * group_h
        middle = y + bar_h * len(chart.series) / 2 + 4
        c.text(label_w - 8, middle, group.label, "end")
        for j, value in enumerate(group.values):
            w = plot_w * float(value or 0) / top_value
            c.rect(label_w, y + j * bar_h, w, bar_h - 2, PALETTE[j])
            c.text(label_w + w + 4, y + j * bar_h + bar_h - 4, pounds(value), size=10)
        c.text(WIDTH, middle, group.note, "end", 11, weight="bold")
    return c


def histogram(chart: Histogram) -> Canvas:
    left, top, plot_h, bottom = 40, 32, 150, 40
    height = top + plot_h + bottom
    c = Canvas(height, chart.title, chart.summary, "histogram")
    c.legend(14, [(f"paid within {chart.line_at} days", ON_TIME, "box"),
                  (f"paid later than {chart.line_at} days", LATE, "box"),
                  (f"the {chart.line_at}-day line", INK, DASH)])  # fmt: skip
    top_value, step = scale(max((b.count for b in chart.bins), default=0), 4)
    top_value, step = max(top_value, 1), max(step, 1)  # whole invoices
    plot_w = WIDTH - left - 10
    slot = plot_w / len(chart.bins)
    base = top + plot_h
    for tick in _ticks(top_value, step):
        y = base - plot_h * tick / top_value
        c.line(left, y, WIDTH - 10, y)
        c.text(left - 6, y + 4, _f(tick), "end", 10)
    for i, b in enumerate(chart.bins):
        h = plot_h * b.count / top_value
        x = left + i * slot
        late = b.high is None or b.high > chart.line_at
        c.rect(x + 4, base - h, slot - 8, h, LATE if late else ON_TIME)
        if b.count:
            c.text(x + slot / 2, base - h - 4, b.count, "middle", 10)
        c.text(x + slot / 2, base + 14, b.label, "middle", 10)
    # the limit falls between the bin that ends at it and the next
    edge = next((i + 1 for i, b in enumerate(chart.bins) if b.high == chart.line_at), None)
    if edge is not None:
        x = left + edge * slot
        c.line(x, top - 4, x, base, INK, 2, DASH)
    unpaid = f"{chart.unpaid_overdue} unpaid invoice{'s' if chart.unpaid_overdue != 1 else ''}"
    c.text(left, base + 32, f"days from invoice to payment in full; {unpaid} past due, not "
                            "in the bars", size=10)  # fmt: skip
    return c


def lines(chart: LineChart) -> Canvas:
    left, plot_h, bottom, inset = 44, 160, 36, 30
    colours = [PALETTE[i % len(PALETTE)] for i in range(len(chart.series))]
    items = [(s.name, colours[i], DASH if s.dashed else "line")
             for i, s in enumerate(chart.series)]  # fmt: skip
    if chart.band:
        items.append((chart.band_name, SHORTFALL, "box"))
    items += [(f"{name} {value.normalize():f}", INK, DASH if k == 0 else DOTS)
              for k, (name, value) in enumerate(chart.levels)]  # fmt: skip
    if chart.failing is not None:
        worse = "below" if chart.higher_is_better else "above"
        items.append((f"{worse} the {chart.levels[-1][0]} level", FAILING, "box"))
    probe = Canvas(0, "", "", "")
    top = probe.legend(14, items) + 20
    height = top + plot_h + bottom
    c = Canvas(height, chart.title, chart.summary, "lines")
    c.legend(14, items)
    values = [v for s in chart.series for v in s.values if v is not None]
    values += [v for _, v in chart.levels]
    high, step = scale(max(values, default=Decimal(0)), 5)
    base = top + plot_h
    x0, x1 = left + inset, WIDTH - inset
    count_ = len(chart.periods)

    def x_of(j: int) -> float:
        return x0 + (x1 - x0) * j / (count_ - 1) if count_ > 1 else (x0 + x1) / 2

    def y_of(v: Decimal | float) -> float:
        return base - plot_h * float(v) / high

    if chart.failing is not None:  # the failing side of the lowest level that passes
        edge = y_of(chart.failing)
        if chart.higher_is_better:
            c.rect(left, edge, WIDTH - 10 - left, base - edge, FAILING)
        else:
            c.rect(left, base - plot_h, WIDTH - 10 - left, edge - (base - plot_h), FAILING)
    for tick in _ticks(high, step):
        c.line(left, y_of(tick), WIDTH - 10, y_of(tick))
        c.text(left - 6, y_of(tick) + 4, _f(tick), "end", 10)
    for j, period in enumerate(chart.periods):
        c.text(x_of(j), base + 16, period, "middle", 10)
    for run in _runs([(j, lo, hi) for j, (lo, hi) in enumerate(chart.band)], shortest=1):
        if len(run) == 1:  # one period alone: a narrow bar, so that it still shows
            (j, lo, hi), half = run[0], 8
            c.polygon([(x_of(j) - half, y_of(hi)), (x_of(j) + half, y_of(hi)),
                       (x_of(j) + half, y_of(lo)), (x_of(j) - half, y_of(lo))], SHORTFALL)  # fmt: skip
            continue
        upper = [(x_of(j), y_of(hi)) for j, _, hi in run]
        lower = [(x_of(j), y_of(lo)) for j, lo, _ in reversed(run)]
        c.polygon(upper + lower, SHORTFALL)
    for k, (_name, value) in enumerate(chart.levels):
        c.line(left, y_of(value), WIDTH - 10, y_of(value), INK, 1.5, DASH if k == 0 else DOTS)
    for i, s in enumerate(chart.series):
        width = 7 if s.wide else 2.5  # a wide line shows beneath a thin one of equal values
        points = [(j, v) for j, v in enumerate(s.values)]
        for run in _runs([(j, v, v) for j, v in points]):
            c.polyline([(x_of(j), y_of(v)) for j, v, _ in run], colours[i],
                       DASH if s.dashed else "", width)  # fmt: skip
        for j, v in points:
            if v is not None:
                c.circle(x_of(j), y_of(v), colours[i])
    c.text(left, base + 32, f"{chart.unit} per period", size=10)
    return c


def _runs(
    points: list[tuple[int, Number, Number]], shortest: int = 2
) -> list[list[tuple[int, Decimal, Decimal]]]:
    """Consecutive stretches without a missing value, of ``shortest`` points or more."""
    runs: list[list[tuple[int, Decimal, Decimal]]] = [[]]
    for j, a, b in points:
        if a is None or b is None:
            runs.append([])
        else:
            runs[-1].append((j, a, b))
    return [run for run in runs if len(run) >= shortest]


def _cell_colour(value: Number, low: int, high: int) -> tuple[str, str]:
    """Fill and ink for a score: from pale (low) to deep blue (high); grey when withheld."""
    if value is None:
        return "#eee", "#666"
    share = (float(value) - low) / ((high - low) or 1)
    light, dark = (239, 243, 255), (8, 69, 148)
    r, g, b = (round(a + (z - a) * share) for a, z in zip(light, dark, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}", "#fff" if share > 0.55 else INK


def heatmap(chart: Heatmap) -> Canvas:
    label_w, top, cell_h = 150, 56, 30
    cell_w = (WIDTH - label_w) / max(len(chart.columns), 1)
    height = top + cell_h * len(chart.rows) + 30
    c = Canvas(height, chart.title, chart.summary, "heatmap")
    for j, column in enumerate(chart.columns):
        x = label_w + j * cell_w + cell_w / 2
        words = column.replace("-", " ").split()
        half = len(words) // 2  # the second line holds the rest, so one word sits low
        size = 10 if max(len(w) for w in words) * 6 <= cell_w else 9
        c.text(x, top - 24, " ".join(words[:half]), "middle", size)
        c.text(x, top - 10, " ".join(words[half:]), "middle", size)
    for i, row in enumerate(chart.rows):
        y = top + i * cell_h
        c.text(label_w - 8, y + cell_h / 2 + 4, row, "end")
        for j, column in enumerate(chart.columns):
            value = chart.cells.get((row, column))
            fill, ink = _cell_colour(value, chart.low, chart.high)
            c.rect(label_w + j * cell_w + 1, y + 1, cell_w - 2, cell_h - 2, fill)
            label = chart.empty if value is None else f"{value.normalize():f}"
            c.text(label_w + j * cell_w + cell_w / 2, y + cell_h / 2 + 4, label, "middle",
                   10 if value is None else FONT, ink)  # fmt: skip
    c.text(label_w - 8, height - 8, "median score", "end", 10)
    for k, score in enumerate(range(chart.low, chart.high + 1)):  # the key: one swatch a score
        fill, ink = _cell_colour(Decimal(score), chart.low, chart.high)
        c.rect(label_w + k * 34, height - 22, 32, 18, fill)
        c.text(label_w + k * 34 + 16, height - 8, score, "middle", 10, ink)
    return c
