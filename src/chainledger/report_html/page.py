"""The commissioner's audit report as one self-contained HTML page.

Inline CSS and SVG only: no network, no scripts (a Content-Security-Policy in
the page forbids both), so it opens the same from an e-mail attachment, a USB
stick or an archive in ten years. It reads on a phone (charts scale to the
width, but no smaller than keeps their text readable: then they, like wide
tables, scroll inside their own box) and prints on A4 (no chart or table row
split across pages, navigation left out). Every chart has a text
alternative and is followed by a table of its numbers.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from html import escape
from typing import Any

from chainledger.application.pages import PageData
from chainledger.domain.assessment import role_in
from chainledger.report_html import charts, svg

CSS = """
:root { --ink: #222; --muted: #555; --line: #ccc; --high: #b2182b; --medium: #a84a00;
        --low: #0072b2; --ok: #1b7837; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink);
       margin: 0 auto; max-width: 60rem; padding: 0 1rem 3rem; }
h1 { font-size: 1.6rem; margin: 1.2rem 0 .2rem; }
h2 { font-size: 1.3rem; margin-top: 2.2rem; border-bottom: 2px solid var(--ink); }
h3 { font-size: 1.05rem; margin: 1.4rem 0 .4rem; }
p.lede, .muted { color: var(--muted); }
p.owner-only { border: 2px solid currentColor; padding: 0.5em 0.75em; }
nav ul { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: .3rem 1rem; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(9.5rem, 1fr)); gap: .8rem; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: .6rem .8rem; }
.card > b { display: block; font-size: 1.4rem; }
.card.ok { border-left: 6px solid var(--ok); }
.card.bad { border-left: 6px solid var(--high); }
.card.unchecked { border-left: 6px solid var(--medium); }
code, .hash { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: .85em;
              word-break: break-all; }
figure { margin: 1rem 0 1.6rem; }
figure svg { width: 100%; height: auto; display: block; }
.chart-box { overflow-x: auto; max-width: 100%; }
figcaption { font-size: .9rem; color: var(--muted); margin: .3rem 0; }
.table-wrap { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; font-size: .85rem; margin: .4rem 0; min-width: 50%; }
caption { text-align: left; font-weight: 600; padding: .2rem 0; }
th, td { border-bottom: 1px solid var(--line); padding: .25rem .5rem; text-align: left;
         vertical-align: top; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
ol.findings { padding-left: 1.4rem; }
ol.findings > li { margin-bottom: .9rem; }
.sev { display: inline-block; color: #fff; border-radius: 3px; padding: 0 .4rem;
       font-size: .8rem; text-transform: uppercase; }
.sev.high { background: var(--high); } .sev.medium { background: var(--medium); }
.sev.low { background: var(--low); }
ul.evidence { font-size: .85rem; color: var(--muted); margin: .2rem 0; }
footer { margin-top: 3rem; font-size: .85rem; color: var(--muted); }
@media (max-width: 40rem) {
  body { font-size: 14px; padding: 0 .6rem 2rem; }
  figure svg { min-width: 34rem; }  /* chart text stays readable; the chart scrolls in its box */
}
@page { size: A4; margin: 14mm 12mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 10.5pt; }
  nav { display: none; }
  h2 { break-after: avoid; }
  figure, tr, .card, ol.findings > li { break-inside: avoid; }
  * { print-color-adjust: exact; -webkit-print-color-adjust: exact; }
}
"""

POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
SECTIONS = (("summary", "Summary"), ("findings", "Findings"),
            ("workshare", "Promised against delivered"), ("payments", "Payments"),
            ("referrals", "Referrals"), ("performance", "Performance"),
            ("review", "360 review"))  # fmt: skip
MAX_EVIDENCE = 12  # events listed under one finding; the rest are counted


def counted(n: int, noun: str) -> str:
    """``n`` and ``noun``, plural unless one: "1 event", "1,200 events"."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def render_page(data: PageData) -> str:
    """The whole page as one string of HTML."""
    figures = _Figures()
    count = len(data.packages)
    scope = f"package {data.package}" if data.package else counted(count, "package")
    body = [
        f"<header><h1>Supply-chain audit: {e(data.ledger_name)}</h1>",
        *(['<p class="owner-only"><strong>Owner only, not for sharing:</strong> this page '
           f"holds {e(data.review.owner or '')}'s full 360 review view and its findings, "
           "which can single out a rater. Make the page to share without --full-review.</p>"]
          if data.review.view == "full" else []),
        f'<p class="lede">{e(scope)}, as the ledger stood on {data.as_of.isoformat()}. '
        "Every number below comes from events signed by the organisation accountable for "
        "them; a number after # is the id of such an event in the ledger.</p></header>",
        "<nav aria-label=\"Sections\"><ul>"
        + "".join(f'<li><a href="#{k}">{e(t)}</a></li>' for k, t in SECTIONS) + "</ul></nav>",
        _summary(data),
        _findings(data),
        _section("workshare", "Promised against delivered",
                 "Per subcontractor: what its promise in the winning bid (or its subcontract, "
                 "if the bid did not name it) makes due by now, the yearly value pro rata to "
                 "the time elapsed, against what it has been paid.",
                 charts.workshare_bars(data.workshare), figures),
        _section("payments", "Payments",
                 f"How many days each prime took to pay its subcontractors' invoices in full, "
                 f"against the {data.thresholds.late_payment_days}-day line of the Code of "
                 "Practice and the Procurement Act.",
                 charts.payment_histograms(data.invoices, data.thresholds.late_payment_days),
                 figures),
        _section("referrals", "Referrals",
                 "Referrals promised to each subcontractor, sent by the prime and confirmed by "
                 "the subcontractor, period by period.",
                 charts.referral_lines(data.referrals), figures),
        _section("performance", "Performance",
                 "Each KPI's results per period against its target and acceptable level.",
                 charts.kpi_charts(data.performance), figures),
        _review(data, figures),
        "<footer><p>Made by chainledger from ledger <code>"
        f"{e(data.ledger_id)}</code>. Check it yourself: <code>chainledger audit verify</code>, "
        "and keep the Merkle root above: any later change to what this page rests on shows "
        "as a ledger that no longer extends it.</p></footer>",
    ]  # fmt: skip
    return (
        '<!DOCTYPE html>\n<html lang="en-GB"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{POLICY}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Supply-chain audit: {e(data.ledger_name)}, {data.as_of.isoformat()}</title>"
        f"<style>{CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def render_refusal(ledger_name: str, ledger_id: str, scope: str, as_of: str, reason: str) -> str:
    """A page that says the ledger is TAMPERED and shows nothing it could not verify."""
    body = [
        f"<header><h1>Supply-chain audit: {e(ledger_name)}</h1>",
        f'<p class="lede">{e(scope)}, as the ledger stood on {e(as_of)}.</p></header>',
        '<section id="summary"><h2>Summary</h2><div class="cards">',
        _card("Verification", "TAMPERED", e(reason), "bad"),
        "</div><p>The data this page would rest on does not verify against the signatures of "
        "the organisations accountable for it, so the page shows none of it. See every failure "
        "with <code>chainledger audit verify</code>.</p></section>",
        "<footer><p>Made by chainledger from ledger <code>"
        f"{e(ledger_id)}</code>.</p></footer>",
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en-GB"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{POLICY}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>TAMPERED: supply-chain audit: {e(ledger_name)}, {e(as_of)}</title>"
        f"<style>{CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


class _Figures:
    """Numbers the figures of one page, so each chart's ids are unique on it."""

    def __init__(self) -> None:
        self.count = 0

    def figure(self, chart: charts.Chart) -> str:
        self.count += 1
        ident = f"fig{self.count}"
        return (
            f'<figure id="{ident}">'
            f"<figcaption><b>Figure {self.count}.</b> {e(chart.summary)}</figcaption>"
            f'<div class="chart-box">{svg.draw(chart, ident)}</div>{table(chart.table)}</figure>'
        )


def table(t: charts.Table) -> str:
    numeric = [bool(t.rows) and all(_numeric(row[i]) for row in t.rows)
               for i in range(len(t.headers))]  # fmt: skip
    head = "".join(f'<th scope="col"{_n(numeric[i])}>{e(h)}</th>' for i, h in enumerate(t.headers))
    rows = "".join(
        "<tr>" + "".join(f"<td{_n(numeric[i])}>{e(v)}</td>" for i, v in enumerate(row)) + "</tr>"
        for row in t.rows
    )
    return (f'<div class="table-wrap"><table><caption>{e(t.caption)}</caption>'
            f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>")  # fmt: skip


def _n(numeric: bool) -> str:
    return ' class="n"' if numeric else ""


def _numeric(text: str) -> bool:
    return text == "–" or text.lstrip("£-").replace(",", "").replace(".", "", 1).isdigit()


def _section(key: str, title: str, lede: str, found: list[Any], figures: _Figures) -> str:
    if not found:
        inner = "<p>Nothing recorded yet.</p>"
    else:
        inner = "".join(figures.figure(chart) for chart in found)
    return f'<section id="{key}"><h2>{e(title)}</h2><p class="lede">{e(lede)}</p>{inner}</section>'


# -- summary ------------------------------------------------------------------------------


def _summary(data: PageData) -> str:
    value = sum((f.value for f in data.packages), Decimal(0))
    cards = [
        _card("Packages", str(len(data.packages)), ""),
        _card("Value", charts.pounds(value), "current value after variations"),
        _card("Organisations", str(len(data.organisations)), e(_roles_played(data))),
        _verification(data),
        _checkpoint(data),
        *_compromised(data),
    ]  # fmt: skip
    packages = charts.Table(
        "Packages",
        ("package", "title", "commissioner", "prime", "value", "from", "to"),
        tuple((f.reference, f.title, f.commissioner, f.prime or "not awarded",
               charts.pounds(f.value), f.start.isoformat(), f.end.isoformat())
              for f in data.packages),
    )  # fmt: skip
    listed = table(packages) if data.packages else "<p>No package recorded yet.</p>"
    return (f'<section id="summary"><h2>Summary</h2><div class="cards">{"".join(cards)}</div>'
            f"{listed}</section>")  # fmt: skip


def _roles_played(data: PageData) -> str:
    """How many organisations played each role in the page's packages (one organisation
    can play several: commissioner of one package, prime or subcontractor in another)."""
    played: dict[str, set[str]] = {}
    for f in data.packages:
        for handle in f.orgs:
            if role := role_in(f, handle):
                played.setdefault(role, set()).add(handle)
    parts = [counted(len(played[r]), r) for r in ("commissioner", "prime", "subcontractor")
             if r in played]  # fmt: skip
    idle = {o.handle for o in data.organisations}.difference(*played.values())
    if idle:
        parts.append(f"{len(idle)} in no package")
    return ", ".join(parts)


def _card(title: str, value: str, detail: str, kind: str = "") -> str:
    """A summary card; ``detail`` is HTML (escape text before passing it)."""
    cls = f"card {kind}".strip()
    return f'<div class="{cls}">{e(title)}<b>{e(value)}</b><small>{detail}</small></div>'


def _verification(data: PageData) -> str:
    audit = data.audit
    if audit is None:
        return _card("Verification", "not checked", e("made with --no-audit: run chainledger "
                     "audit verify before relying on this page"), "unchecked")  # fmt: skip
    details = [f"{counted(audit.events, 'event')} and {counted(audit.signatures, 'signature')} "
               f"from {counted(audit.organisations, 'organisation')} checked"]  # fmt: skip
    # (what each checkpoint showed is on the checkpoint card)
    if audit.ok:
        return _card("Verification", "every event verifies", e("; ".join(details)), "ok")
    problems = [f.message for f in audit.failures[:3]]
    return _card("Verification", f"TAMPERED: {audit.failure_count} failure(s)",
                 e("; ".join(details + problems)), "bad")  # fmt: skip


def _compromised(data: PageData) -> list[str]:
    """A card naming the events on this page signed by a key a registrar later declared
    compromised (none: no card)."""
    rows = [*data.findings, *data.workshare, *data.invoices, *data.referrals, *data.performance]
    events = sorted({n for row in rows for n in row.get("compromised_evidence", ())})
    if not events:
        return []
    listed = ", ".join(f"#{n}" for n in events)
    return [_card("Compromised keys", counted(len(events), "event"),
                  e(f"{listed}: signed by a key a registrar later declared compromised; the "
                    "findings and figures that rest on them say so"), "bad")]  # fmt: skip


def _checkpoint(data: PageData) -> str:
    """The newest signed checkpoint given, and whether the ledger extends it; without one,
    the tree head a checkpoint would sign now."""
    head = (f'now {counted(data.tree.size, "event")}, Merkle root <span class="hash">'
            f"{data.tree.root.hex()}</span>")  # fmt: skip
    if not data.checkpoints:
        return _card("Latest checkpoint", "none given", "The ledger's tree head is " + head
                     + ". Sign one to keep: <code>chainledger checkpoint --as HANDLE</code>; "
                     "show it here with --checkpoint FILE.")  # fmt: skip
    label, latest = max(data.checkpoints, key=lambda item: item[1].size)
    if data.audit is None:
        return _card("Latest checkpoint", counted(latest.size, "event"), e(label) + "; " + head)
    extended = any(line.startswith(f"checkpoint {label} ") for line in data.audit.checkpoints)
    verdict = "the ledger extends it" if extended else "the ledger does NOT extend it"
    return _card("Latest checkpoint", counted(latest.size, "event"),
                 f"{e(label)}: <b>{verdict}</b>; {head}", "ok" if extended else "bad")  # fmt: skip


# -- findings -----------------------------------------------------------------------------


def _findings(data: PageData) -> str:
    if not data.findings:
        return ('<section id="findings"><h2>Findings</h2><p>No rule of the Code of Practice '
                "is broken by what the ledger holds.</p></section>")  # fmt: skip
    counts = Counter(f["severity"] for f in data.findings)
    items = []
    for f in data.findings:
        evidence = []
        for nid in f["evidence"][:MAX_EVIDENCE]:
            row = data.evidence.get(nid)
            role = f" ({row.role})" if row and row.role else ""
            what = (f"{row.on} {row.event_type} signed by {row.org}{role}: {row.summary}"
                    if row else "an event outside the timeline")  # fmt: skip
            evidence.append(f"<li>#{nid} {e(what)}</li>")
        more = len(f["evidence"]) - MAX_EVIDENCE
        if more > 0:
            evidence.append(f"<li>and {more} more: <code>chainledger history "
                            f"{e(f['package'])}</code></li>")  # fmt: skip
        who = "".join(f"; {o} as {r}" if r else f"; {o}" for o, r in f["roles"].items())
        items.append(
            f'<li><span class="sev {e(f["severity"])}">{e(f["severity"])}</span> '
            f"<b>{e(f['rule'])}</b> ({e(f['package'] + who)}): {e(f['finding'])}"
            f'<ul class="evidence" aria-label="Evidence">{"".join(evidence)}</ul></li>'
        )
    summary = ", ".join(f"{counts[s]} {s}" for s in ("high", "medium", "low") if counts[s])
    return (f'<section id="findings"><h2>Findings</h2><p class="lede">{len(data.findings)} '
            f"findings ({summary}), most severe first, each with the events it rests on.</p>"
            f'<ol class="findings">{"".join(items)}</ol></section>')  # fmt: skip


# -- 360 review ---------------------------------------------------------------------------


def _review(data: PageData, figures: _Figures) -> str:
    review = data.review
    rounds = charts.Table(
        "Review rounds",
        ("package", "period", "owner", "status", "opened"),
        tuple((r.package, r.period, r.owner, r.status, r.opened_on) for r in review.rounds),
    )
    if not review.rounds:
        return '<section id="review"><h2>360 review</h2><p>No review round has been opened.</p></section>'
    if review.view == "sealed":
        lede = (
            "Ratings are sealed for the round's owner: make the page with --as OWNER to "
            "show the shared view (groups of at least the round's minimum of raters)."
        )
        found: list[Any] = []
    elif review.view == "shared":
        lede = (
            f"The shared view, opened by {review.owner}: for each organisation, the median "
            "of others' scores in each group of at least the round's minimum number of "
            "raters (smaller groups pooled), final rounds only, nobody named; cells that "
            "could single out a rater are withheld. Safe to hand to the organisations rated. "
            "Review findings (self-other gaps, low ratings) are the owner's alone: they are on "
            "the page made with --full-review, which is not for sharing."
        )
        found = charts.shared_heatmaps(review.shared)
    else:
        lede = (
            f"The owner's full view, opened by {review.owner}: every revealed rating counts, "
            "however small the group. Not for sharing beyond the round's owner."
        )
        found = charts.full_heatmaps(review.full or {})
    figures_html = "".join(figures.figure(c) for c in found) if found else (
        "<p>No final round holds ratings this view may show.</p>"
        if review.view != "sealed" else "")  # fmt: skip
    return (f'<section id="review"><h2>360 review</h2><p class="lede">{e(lede)}</p>'
            f"{table(rounds)}{figures_html}</section>")  # fmt: skip
