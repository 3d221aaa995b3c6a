"""``chainledger report html`` through the CLI: what the page holds, checked against the
JSON reports of the same ledger; that it is self-contained; the review views it may show;
verification; and its errors. The demo ledger is read, never written (see ``demo_run``).

The page is also rendered in a real browser by tests/e2e/test_report_browser.py.
"""

from __future__ import annotations

import json
import re
import sqlite3
from decimal import Decimal
from html import escape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from chainledger.report_html.charts import pounds
from tests.conftest import CliLedger, DemoRun
from tests.ledgers import LedgerStore

AS_OF = "2026-10-31"  # the demo's date


class Page(HTMLParser):
    """A page's tags, tables (by caption) and figures, read with the standard library."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.text = text
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.tables: dict[str, list[list[str]]] = {}
        self.figures = 0
        self._caption: str | None = None
        self._rows: list[list[str]] | None = None
        self._cell: list[str] | None = None
        self._in_caption = False
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "figure":
            self.figures += 1
        elif tag == "table":
            self._caption, self._rows = "", []
        elif tag == "caption":
            self._in_caption = True
        elif tag == "tr" and self._rows is not None:
            self._rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "caption":
            self._in_caption = False
        elif tag in ("td", "th") and self._cell is not None and self._rows is not None:
            self._rows[-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table" and self._rows is not None:
            self.tables[self._caption or ""] = self._rows
            self._rows = None

    def handle_data(self, data: str) -> None:
        if self._in_caption:
            self._caption = (self._caption or "") + data
        elif self._cell is not None:
            self._cell.append(data)

    def table(self, caption: str) -> list[dict[str, str]]:
        header, *rows = self.tables[caption]
        return [dict(zip(header, row, strict=True)) for row in rows]

    def svgs(self, kind: str | None = None) -> list[dict[str, str | None]]:
        return [attrs for tag, attrs in self.tags
                if tag == "svg" and (kind is None or f"chart-{kind}" in (attrs.get("class") or ""))]  # fmt: skip


def make_page(demo: DemoRun, tmp_path: Path, *args: str, name: str = "page.html") -> Page:
    out = tmp_path / name
    result = demo.run("report", "html", "--as-of", AS_OF, "-o", str(out), *args)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert result.stderr.endswith(f"Wrote the audit page to {out}\n")
    assert result.stdout == ""
    return Page(out.read_text(encoding="utf-8"))


def report(demo: DemoRun, name: str, *args: str) -> Any:
    dated = ("--as-of", AS_OF) if name != "reviews" else ()
    result = demo.run("report", name, *dated, "--format", "json", *args)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def shared(demo_run: DemoRun, tmp_path_factory: pytest.TempPathFactory) -> Page:
    """The page as the council makes it: with its key, so the review's shared view shows."""
    return make_page(demo_run, tmp_path_factory.mktemp("page"), "--as", "barnet-council")


# -- what the page holds ---------------------------------------------------------------------


def test_the_demo_writes_the_page(demo_run: DemoRun) -> None:
    page = Page((demo_run.directory / "report.html").read_text(encoding="utf-8"))
    for section in ("summary", "findings", "workshare", "payments", "referrals", "performance",
                    "review"):  # fmt: skip
        assert ("section", {"id": section}) in page.tags, section
    assert page.svgs("heatmap"), "the demo's page shows the review's shared view"


def test_one_chart_per_package_prime_subcontract_kpi_and_round(
    demo_run: DemoRun, shared: Page
) -> None:
    workshare = report(demo_run, "workshare")
    payments = report(demo_run, "payments")
    referrals = report(demo_run, "referrals")
    performance = report(demo_run, "performance")
    assert len(shared.svgs("bars")) == len({r["package"] for r in workshare}) == 1
    assert len(shared.svgs("histogram")) == len({r["payer"] for r in payments}) == 1
    pairs = {(r["package"], r["subcontractor"]) for r in referrals}
    kpis = {(r["package"], r["kpi"]) for r in performance}
    assert len(shared.svgs("lines")) == len(pairs) + len(kpis) == 4
    assert len(shared.svgs("heatmap")) == 1  # the demo's one final round
    assert shared.figures == len(shared.svgs())


def test_every_chart_has_a_text_alternative_and_a_table(shared: Page) -> None:
    ids = {attrs.get("id") for _, attrs in shared.tags}
    for svg in shared.svgs():
        assert svg["role"] == "img"
        labels = (svg["aria-labelledby"] or "").split()
        assert len(labels) == 2, svg
        assert set(labels) <= ids, svg
    # a figure holds its caption, its chart and a table of its numbers
    figures = re.findall(r"<figure .*?</figure>", shared.text, re.S)
    assert len(figures) == shared.figures
    for figure in figures:
        for part in ("<figcaption>", "<svg ", "<table>"):
            assert part in figure


def test_the_summary_counts_packages_value_and_organisations(
    demo_run: DemoRun, shared: Page
) -> None:
    orgs = json.loads(demo_run.run("org", "list", "--format", "json").stdout)
    packages = shared.table("Packages")
    assert [p["package"] for p in packages] == ["BAR-ES-2026"]
    assert packages[0]["value"] == "£1,800,000"  # £2m cut by 10%
    assert f"Organisations<b>{len(orgs)}</b>" in shared.text
    assert "Value<b>£1,800,000</b>" in shared.text


def test_the_summary_shows_the_audit_and_the_tree_head(demo_run: DemoRun, shared: Page) -> None:
    audit = json.loads(demo_run.run("audit", "verify", "--format", "json").stdout)
    assert audit["ok"]
    assert "every event verifies" in shared.text
    assert f"{audit['events']:,} events and {audit['signatures']:,} signatures" in shared.text
    head = f'now {audit["tree"]["size"]:,} events, Merkle root <span class="hash">'
    assert head + audit["tree"]["root"] in shared.text
    assert "Latest checkpoint<b>none given</b>" in shared.text


def test_every_finding_is_listed_with_its_evidence(demo_run: DemoRun, shared: Page) -> None:
    # the page to share holds no review findings (the owner's own: see the next test)
    findings = report(demo_run, "findings")
    history = {
        row["notification_id"]: row
        for row in json.loads(demo_run.run("history", "BAR-ES-2026", "--format", "json").stdout)
    }
    items = re.findall(r'<li><span class="sev (\w+)">.*?</ul></li>', shared.text, re.S)
    assert len(items) == len(findings)
    blocks = re.findall(r'<li><span class="sev \w+">(.*?)</ul></li>', shared.text, re.S)
    for finding, block in zip(findings, blocks, strict=True):  # same order: most severe first
        assert f"<b>{finding['rule']}</b>" in block
        assert escape(finding["finding"]) in block
        listed = [int(n) for n in re.findall(r"<li>#(\d+) ", block)]
        assert listed == finding["evidence"][:12]
        for nid in listed:
            row = history[nid]
            assert escape(f"#{nid} {row['on']} {row['event_type']} signed by {row['org']}") in block
        if len(finding["evidence"]) > 12:
            assert f"and {len(finding['evidence']) - 12} more" in block


def test_workshare_table_carries_the_reports_numbers(demo_run: DemoRun, shared: Page) -> None:
    rows = report(demo_run, "workshare")
    table = shared.table("BAR-ES-2026: workshare promised and delivered")
    assert [t["subcontractor"] for t in table] == [r["subcontractor"] for r in rows]
    for t, r in zip(table, rows, strict=True):
        assert t["due to date"] == pounds(Decimal(r["due_to_date"]))
        assert t["paid to date"] == pounds(Decimal(r["paid_to_date"]))
        assert t["% of due"] == (r["value_delivered_pct"] or "–")
        assert t["status"] == r["status"]


def test_every_invoice_is_in_the_payments_table(demo_run: DemoRun, shared: Page) -> None:
    payments = report(demo_run, "payments")
    table = shared.table("northgate: every invoice and the days it took to pay")
    assert len(table) == sum(p["invoices"] for p in payments)
    overdue = [t for t in table if t["days to pay"] == "unpaid" and t["days overdue"] != "–"]
    assert len(overdue) == sum(p["overdue_invoices"] for p in payments)
    for pair in payments:  # the within-30-days share of each payee, from the page's rows
        settled = [int(t["days to pay"]) for t in table
                   if t["payee"] == pair["payee"] and t["days to pay"] != "unpaid"]  # fmt: skip
        within = sum(1 for days in settled if days <= 30)
        assert (
            str(round(Decimal(within) / len(settled) * 100, 1)) == pair["paid_within_30_days_pct"]
        )


def test_referrals_and_kpi_tables_carry_every_period(demo_run: DemoRun, shared: Page) -> None:
    for r in report(demo_run, "referrals"):
        rows = shared.table(f"{r['subcontractor']} ({r['package']}): referrals per period")
        row = next(x for x in rows if x["period"] == r["period"])
        assert row["promised"] == str(r["promised"])
        assert row["sent"] == (str(r["sent"]) if r["sent"] is not None else "–")
        assert row["confirmed"] == (str(r["confirmed"]) if r["confirmed"] is not None else "–")
    performance = report(demo_run, "performance")
    rows = shared.table("job starts (BAR-ES-2026): every result")
    assert len(rows) == len(performance)
    assert {(x["period"], x["provider"], x["actual"], x["rating"]) for x in rows} == {
        (r["period"], r["provider"], r["actual"], r["rating"]) for r in performance
    }


# -- the 360 review: sealed, shared or full --------------------------------------------------


def test_without_the_owners_key_ratings_stay_sealed(demo_run: DemoRun, tmp_path: Path) -> None:
    page = make_page(demo_run, tmp_path)
    assert not page.svgs("heatmap")
    assert "Ratings are sealed for the round&#x27;s owner" in page.text
    assert page.table("Review rounds")[0]["status"] == "final"
    findings = report(demo_run, "findings")  # without --as: no review findings
    assert len(re.findall(r'<span class="sev ', page.text)) == len(findings)
    assert "SELF_OTHER_GAP" not in page.text


def test_the_shared_view_shows_only_what_each_organisation_may_see(
    demo_run: DemoRun, shared: Page
) -> None:
    table = shared.table("360 review 2026-Q2 (BAR-ES-2026), shared view")
    assert "self" not in table[0]  # self-ratings are each organisation's own
    ratees = sorted({row["rated"] for row in table})
    for ratee in ratees:
        view = report(demo_run, "reviews", "--as", "barnet-council", "--for", ratee)
        (round_,) = view["rounds"]
        for dim in round_["dimensions"]:
            row = next(r for r in table if r["rated"] == ratee and r["dimension"] == dim["title"])
            median = dim["others_median"]
            assert row["median of others"] == (
                f"{Decimal(median).normalize():f}" if median else "–"
            )
            assert row["withheld"] == "; ".join(dim["withheld"])
    # the heatmap shows a number exactly where the view shows a median
    shown = sum(1 for row in table if row["median of others"] != "–")
    assert len(re.findall(r">withheld</text>", shared.text)) == len(table) - shown
    assert shown > 0


REVIEW_RULES = ("SELF_OTHER_GAP", "LOW_RATED", "PERCEPTION_GAP")


def test_review_findings_are_only_on_the_owners_page(
    demo_run: DemoRun, shared: Page, tmp_path: Path
) -> None:
    """The review findings are medians over any group of raters, however small: beside the
    shared view they could pin a withheld rater's score (issue 22). The page made to share
    (--as) has none and says where they are; the owner's page (--full-review) has them and
    says on its face that it is not for sharing."""
    owners = [f for f in report(demo_run, "findings", "--as", "barnet-council")
              if f["rule"] in REVIEW_RULES]  # fmt: skip
    assert owners  # the demo's round gives the owner review findings
    for rule in REVIEW_RULES:
        assert f"<b>{rule}</b>" not in shared.text
    assert "Owner only, not for sharing" not in shared.text
    assert "Review findings (self-other gaps, low ratings) are the owner&#x27;s alone" in shared.text
    full = make_page(demo_run, tmp_path, "--as", "barnet-council", "--full-review")
    assert "<strong>Owner only, not for sharing:</strong>" in full.text
    for finding in owners:
        assert escape(finding["finding"]) in full.text
    table = demo_run.run("report", "findings", "--as-of", AS_OF, "--as", "barnet-council")
    assert "owner only, not for sharing" in table.stdout.splitlines()[1]  # on its face
    plain = demo_run.run("report", "findings", "--as-of", AS_OF)
    assert "not for sharing" not in plain.stdout


def test_the_full_view_is_the_owners_and_says_so(demo_run: DemoRun, tmp_path: Path) -> None:
    page = make_page(demo_run, tmp_path, "--as", "barnet-council", "--full-review")
    owner = report(demo_run, "reviews", "--as", "barnet-council")
    table = page.table("360 review 2026-Q2 (BAR-ES-2026), owner's full view")
    for row in table:
        scores = [int(score) for c in owner["cells"]
                  if c["ratee"] == row["rated"] and c["dimension"] == row["dimension"]
                  and c["group"] != "self"
                  for score, count in c["distribution"].items() for _ in range(count)]  # fmt: skip
        assert row["raters"] == str(len(scores))
        ordered, mid = sorted(scores), len(scores) // 2
        median = ordered[mid] if len(scores) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
        assert Decimal(row["median of others"]) == Decimal(str(median))
    assert "Not for sharing beyond the round&#x27;s owner" in page.text
    assert len(table) > len(
        [r for r in page.table("360 review 2026-Q2 (BAR-ES-2026), owner's full view")
         if r["median of others"] == "–"]
    )  # fmt: skip


# -- self-contained and safe -----------------------------------------------------------------


def test_the_page_needs_no_network_and_runs_no_script(shared: Page) -> None:
    names = {tag for tag, _ in shared.tags}
    assert not names & {"script", "link", "iframe", "img", "object", "embed", "base"}
    for tag, attrs in shared.tags:
        for name in ("href", "src", "xlink:href", "action"):
            value = attrs.get(name)
            assert value is None or value.startswith("#"), (tag, attrs)
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
    policy = next(a for t, a in shared.tags if t == "meta" and a.get("http-equiv"))
    assert policy["content"] == "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    outside = re.findall(r"https?://[^\s\"'<)]+", shared.text)
    assert set(outside) == {"http://www.w3.org/2000/svg"}  # the SVG namespace, not a fetch
    assert "url(" not in shared.text
    assert "@import" not in shared.text


def test_text_from_the_ledger_is_escaped(ledgers: LedgerStore, tmp_path: Path) -> None:
    """Runs on SQLite and PostgreSQL: a ledger, organisation and package named in markup."""
    hostile = '<script>alert("x")</script> & <b>bold</b>'
    ledger = CliLedger(ledgers.url("hostile"), tmp_path / "keys", CliRunner())
    ledger.ok("init", "--name", f"Ledger {hostile}")
    ledger.ok("org", "create", hostile, "--role", "commissioner", "--handle", "council")
    ledger.ok("package", "create", "HOST-1", "--as", "council", "--on", "2025-01-10",
              "--title", hostile, "--area", "Anywhere", "--value", "100000", "--start",
              "2025-04-01", "--end", "2026-03-31", "--description", hostile,
              "--payment-model", "fixed")  # fmt: skip
    out = tmp_path / "hostile.html"
    result = ledger.run("report", "html", "--as-of", "2025-06-01", "-o", str(out))
    assert result.exit_code == 0, result.stderr
    page = Page(out.read_text(encoding="utf-8"))
    assert not any(tag == "script" for tag, _ in page.tags)
    assert hostile not in page.text
    assert escape(hostile) in page.text
    assert page.table("Packages")[0]["title"] == hostile


# -- verification and checkpoints ------------------------------------------------------------


def test_a_tampered_ledger_is_shown_as_tampered(demo_run: DemoRun, tmp_path: Path) -> None:
    """The page rests on nothing that does not verify: it says TAMPERED, names the edited
    event, shows no numbers, and the command exits 1."""
    out = tmp_path / "tampered.html"
    tampered = demo_run.directory / "tampered.db"  # the demo's copy with a payment back-dated
    result = demo_run.run("--ledger", str(tampered), "report", "html", "--as-of", AS_OF, "-o",
                          str(out))  # fmt: skip
    assert result.exit_code == 1, result.stderr
    assert result.stderr.startswith("Wrote the audit page (marked TAMPERED) to ")
    assert result.stderr.splitlines()[-1].startswith(
        "Error: tampered ledger data: the ledger holds data that does not verify: event #"
    )
    page = Page(out.read_text(encoding="utf-8"))
    assert "TAMPERED" in page.text
    assert "PaymentRecorded" in page.text
    assert "signature by northgate does not verify" in page.text
    assert "every event verifies" not in page.text
    assert "£" not in page.text  # no number it could not verify


def test_no_audit_says_the_ledger_was_not_checked(demo_run: DemoRun, tmp_path: Path) -> None:
    page = make_page(demo_run, tmp_path, "--no-audit")
    assert "not checked" in page.text
    assert "every event verifies" not in page.text


def test_a_checkpoint_the_ledger_extends_is_named(demo_run: DemoRun, tmp_path: Path) -> None:
    checkpoint = demo_run.directory / "barnet-council.checkpoint"
    page = make_page(demo_run, tmp_path, "--checkpoint", str(checkpoint))
    size = checkpoint.read_text().splitlines()[1]
    assert (
        f"Latest checkpoint<b>{int(size):,} events</b><small>{checkpoint} (signed by "
        "barnet-council): <b>the ledger extends it</b>; now" in page.text
    )


def test_a_checkpoint_the_ledger_does_not_extend_is_shown(
    demo_run: DemoRun, tmp_path: Path
) -> None:
    """The demo's rolled-back copy lost the last events its council's checkpoint covers."""
    checkpoint = demo_run.directory / "barnet-council.checkpoint"
    out = tmp_path / "page.html"
    result = demo_run.run("--ledger", str(demo_run.directory / "rolled-back.db"), "report", "html",
                          "--as-of", AS_OF, "-o", str(out), "--checkpoint", str(checkpoint))  # fmt: skip
    assert result.exit_code == 1, result.stderr
    assert result.stderr.splitlines()[-1] == (
        "Error: tampered ledger data: the audit found 1 failure(s); the page shows the ledger "
        "as TAMPERED (details: chainledger audit verify)"
    )
    page = out.read_text(encoding="utf-8")
    assert "<b>the ledger does NOT extend it</b>" in page
    assert "history was truncated" in page


# -- refusals: usage errors exit 2, others 1, and no file is written -------------------------


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--full-review"], 2, "--full-review needs --as HANDLE"),
        (["--no-audit", "--checkpoint", "x.checkpoint"], 2, "--checkpoint needs the audit"),
        (["--package", "NOPE-1"], 1, "Error: no package 'NOPE-1' in this ledger"),
        (["--package", "bad ref!"], 1, "Error: "),
        (["--as-of", "31/10/2026"], 1, "Error: "),
        (["--threshold", "nonsense"], 2, "use NAME=VALUE"),
        (["--as", "northgate"], 1, "Error: northgate owns none of these review rounds"),
        (["--checkpoint", "missing.checkpoint"], 1, "Error: "),
    ],
)
def test_refusals_write_nothing(demo_run: DemoRun, tmp_path: Path, args: list[str], code: int,
                                message: str) -> None:  # fmt: skip
    out = tmp_path / "page.html"
    result = demo_run.run("report", "html", "--as-of", AS_OF, "-o", str(out), *args)
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_output_is_required(demo_run: DemoRun) -> None:
    result = demo_run.run("report", "html")
    assert result.exit_code == 2
    assert "Missing option '-o'" in result.stderr


def test_a_checkpoint_of_another_ledger_is_refused(demo_run: DemoRun, tmp_path: Path) -> None:
    elsewhere = CliLedger(str(tmp_path / "other.db"), tmp_path / "keys", CliRunner())
    elsewhere.ok("init")
    elsewhere.ok("org", "create", "Other Council", "--role", "commissioner")
    other = tmp_path / "other.checkpoint"
    elsewhere.ok("checkpoint", "--as", "other-council", "-o", str(other))
    out = tmp_path / "page.html"
    result = demo_run.run("report", "html", "-o", str(out), "--checkpoint", str(other))
    assert result.exit_code == 1
    assert "is a checkpoint of another ledger" in result.stderr
    assert not out.exists()


def test_an_earlier_date_shows_less(demo_run: DemoRun, tmp_path: Path) -> None:
    before = tmp_path / "before"
    before.mkdir()
    page = make_page(demo_run, before, "--as-of", "2025-01-15")  # before any bid
    assert not page.svgs("bars")
    assert not page.svgs("histogram")
    assert "Nothing recorded yet." in page.text


def test_the_ledger_is_not_written(demo_run: DemoRun, tmp_path: Path) -> None:
    copy = tmp_path / "copy.db"
    with sqlite3.connect(demo_run.ledger) as source, sqlite3.connect(copy) as target:
        source.backup(target)
    before = copy.read_bytes()
    result = demo_run.run("--ledger", str(copy), "report", "html", "--as-of", AS_OF, "-o",
                          str(tmp_path / "p.html"))  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert copy.read_bytes() == before


def test_a_ledger_with_nothing_recorded_makes_a_page_that_says_so(tmp_path: Path) -> None:
    ledger = CliLedger(str(tmp_path / "empty.db"), tmp_path / "keys", CliRunner())
    ledger.ok("init")
    out = tmp_path / "empty.html"
    result = ledger.run("report", "html", "-o", str(out))
    assert result.exit_code == 0, result.stderr
    page = Page(out.read_text(encoding="utf-8"))
    assert "0 packages, as the ledger stood on" in page.text
    assert "No package recorded yet." in page.text
    assert "1 event and 0 signatures from 0 organisations checked" in page.text  # the genesis
    assert page.text.count("Nothing recorded yet.") == 4  # workshare, payments, referrals, KPIs
    assert "No review round has been opened." in page.text
    assert not page.svgs()


def test_a_package_page_counts_only_the_organisations_party_to_it(tmp_path: Path) -> None:
    ledger = CliLedger(str(tmp_path / "two.db"), tmp_path / "keys", CliRunner())
    ledger.ok("init")
    ledger.ok("org", "create", "Barnet Council", "--role", "commissioner")
    ledger.ok("org", "create", "Camden Council", "--role", "commissioner")
    ledger.ok("org", "create", "Hope Trust", "--role", "subcontractor")
    ledger.ok("package", "create", "BAR-1", "--as", "barnet-council", "--on", "2025-01-10",
              "--title", "t", "--area", "a", "--value", "100000", "--start", "2025-04-01",
              "--end", "2026-03-31", "--description", "d", "--payment-model", "fixed")  # fmt: skip
    one, every = tmp_path / "one.html", tmp_path / "every.html"
    assert ledger.run("report", "html", "--package", "BAR-1", "-o", str(one)).exit_code == 0
    assert ledger.run("report", "html", "-o", str(every)).exit_code == 0
    assert "Organisations<b>1</b><small>1 commissioner</small>" in one.read_text("utf-8")
    # Roles are per package: only barnet-council plays one (commissioner of BAR-1), whatever
    # the others stated when they registered.
    assert "Organisations<b>3</b><small>1 commissioner, 2 in no package</small>" in (
        every.read_text("utf-8")
    )
