"""Measure the OCDS export: the release package, the record package and the flat tables.

    .venv/bin/python benchmarks/ocds.py --events 10000      # a generated ledger
    .venv/bin/python benchmarks/ocds.py --ledger L.db       # an existing generated ledger

Reports the time to build each (views caught up first, and timed apart), the
number of releases and records, and the size of the JSON written.
"""

from __future__ import annotations

from chainledger.application.open_data import write_json
from chainledger.bootstrap import open_ledger
from chainledger.projections.ocds import tables
from ledgers import ledger_to_measure, timed  # benchmarks/ledgers.py

PREFIX = "ocds-213czf"


def main() -> None:
    path, keys, _ = ledger_to_measure(__doc__.splitlines()[0], "chainledger-ocds-")
    app = open_ledger(str(path), keys)
    seconds, _ = timed(app.projections.catch_up)
    print(f"ledger: {app.tree_head().size:,} events (views caught up in {seconds:.1f} s)")
    seconds, releases = timed(lambda: app.ocds(PREFIX))
    written, text = timed(lambda: write_json(releases))
    print(f"release package: {len(releases['releases']):,} releases in {seconds:.2f} s; "
          f"written in {written:.2f} s ({len(text) / 1e6:.1f} MB)")  # fmt: skip
    seconds, records = timed(lambda: app.ocds(PREFIX, compiled=True))
    written, text = timed(lambda: write_json(records))
    print(f"record package: {len(records['records']):,} records, compiled, in {seconds:.2f} s; "
          f"written in {written:.2f} s ({len(text) / 1e6:.1f} MB)")  # fmt: skip
    seconds, flat = timed(lambda: tables(records))
    rows = sum(len(r) for r in flat.values())
    print(f"flat tables: {rows:,} rows in {seconds:.2f} s")


if __name__ == "__main__":
    main()
