"""Measure ``report html``: gathering the page's data, drawing it, and the audit it runs.

    .venv/bin/python benchmarks/report_html.py --events 100000   # a generated ledger
    .venv/bin/python benchmarks/report_html.py --ledger L.db     # an existing generated ledger

Reports, with the views caught up first (timed apart): the page's data for the whole
ledger and for its largest package without the audit, the audit alone, the drawing
of the page, and its size and number of charts.
"""

from __future__ import annotations

from chainledger.bootstrap import open_ledger
from chainledger.report_html import render_page
from ledgers import ledger_to_measure, timed  # benchmarks/ledgers.py


def main() -> None:
    path, keys, _ = ledger_to_measure(__doc__.splitlines()[0], "chainledger-html-")
    app = open_ledger(str(path), keys)
    seconds, _ = timed(app.projections.catch_up)
    print(f"ledger: {app.tree_head().size:,} events (views caught up in {seconds:.1f} s)")
    seconds, data = timed(lambda: app.report_page(audit=False))
    drawn, page = timed(lambda: render_page(data))
    print(f"every package ({len(data.packages)}): data in {seconds:.2f} s, drawn in "
          f"{drawn:.2f} s, {page.count('<figure ')} charts, {len(page) / 1e6:.1f} MB")  # fmt: skip
    largest = max(data.packages, key=lambda f: len(f.invoices)).reference
    seconds, one = timed(lambda: app.report_page(package=largest, audit=False))
    drawn, page = timed(lambda: render_page(one))
    print(f"package {largest} ({len(one.invoices)} invoices): data in {seconds:.2f} s, drawn "
          f"in {drawn:.2f} s, {page.count('<figure ')} charts, {len(page) / 1e3:.0f} kB")  # fmt: skip
    seconds, full = timed(lambda: app.report_page(package=largest))
    assert full.audit is not None
    print(f"package {largest} with the audit of the whole ledger: {seconds:.2f} s "
          f"({full.audit.events:,} events verified, {full.audit.workers} workers)")  # fmt: skip


if __name__ == "__main__":
    main()
