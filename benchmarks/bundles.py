"""Measure bundles between ledgers: export a package, import it elsewhere, import it again.

    .venv/bin/python benchmarks/bundles.py --events 20000     # a generated ledger
    .venv/bin/python benchmarks/bundles.py --ledger L.db      # an existing generated ledger
                                                              # (keys beside it; its views
                                                              # are caught up)

Takes the package with the most events and reports: the bundle's events and
size; the time to export it (with every event's audit path and a signed
checkpoint); to check it alone (``verify_bundle``); to import it into a fresh
ledger; and to import it again (nothing new).
"""

from __future__ import annotations

import json

from sqlalchemy import func, select

from chainledger.application.bundles import verify_bundle
from chainledger.bootstrap import open_ledger
from chainledger.projections.supply_chain import packages
from chainledger.projections.timeline import timeline_table
from chainledger.tools.generator import PASSPHRASE
from ledgers import ledger_to_measure, timed  # benchmarks/ledgers.py


def main() -> None:
    path, keys, scratch = ledger_to_measure(__doc__.splitlines()[0], "chainledger-bundles-")
    app = open_ledger(str(path), keys)
    seconds, _ = timed(app.projections.catch_up)
    print(f"ledger: {app.tree_head().size:,} events (views caught up in {seconds:.1f} s)")
    count = func.count().label("events")
    with app.recorder.datastore.transaction(commit=False) as session:
        package, events = session.execute(
            select(timeline_table.c.package, count)
            .group_by(timeline_table.c.package)
            .order_by(count.desc())
            .limit(1)
        ).one()
        commissioner = session.execute(
            select(packages.c.commissioner).where(packages.c.package == package)
        ).scalar_one()
    signer = app.signer(commissioner, PASSPHRASE)

    seconds, document = timed(lambda: app.export_bundle(package, signer))
    size = len(json.dumps(document, separators=(",", ":")))
    carried = len(document["events"])
    print(f"package {package}: {events:,} events of its own; the bundle carries {carried:,} "
          f"({size / 1e6:.1f} MB)")  # fmt: skip
    print(f"export: {seconds:.2f} s ({seconds / carried * 1e6:,.0f} µs per event)")
    seconds, _ = timed(lambda: verify_bundle(document))
    print(f"check alone: {seconds:.2f} s ({seconds / carried * 1e6:,.0f} µs per event)")
    other = open_ledger(str(scratch / "other.db"), scratch / "other-keys", create=True)
    other.init_ledger("benchmark importer")
    seconds, done = timed(lambda: other.import_bundle(document))
    print(f"import into a fresh ledger: {seconds:.2f} s ({done.new:,} new events)")
    seconds, again = timed(lambda: other.import_bundle(document))
    print(f"import again: {seconds:.2f} s ({again.new:,} new events)")


if __name__ == "__main__":
    main()
