"""The read models: incremental catch-up equals a rebuild, on a generated ledger."""

from __future__ import annotations

from collections.abc import Callable

from chainledger.adapters.local_store import VERIFIER_TABLES
from chainledger.bootstrap import ChainLedger
from chainledger.tools.generator import generate


def dump_views(app: ChainLedger) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table of the reader's verified store, in a stable order."""
    dump = {}
    with app.projections.session() as session:
        for table in [*app.projections.tables(), *VERIFIER_TABLES]:
            rows = session.execute(table.select_sql()).fetchall()
            dump[table.name] = sorted(tuple(map(str, row)) for row in rows)
    return dump


def test_rebuild_equals_incremental_catch_up(make_app: Callable[..., ChainLedger]) -> None:
    app = make_app()
    app.init_ledger("generated")
    generate(app, events=900, seed=7, subcontractors=40, primes=4, commissioners=2)
    app.projections.catch_up()  # views built while the ledger grows…
    generate(app, events=900, seed=8, subcontractors=40, primes=4, commissioners=2)
    assert app.projections.catch_up() >= 900  # …and caught up incrementally
    incremental = dump_views(app)
    assert len(incremental["sc_referrals"]) > 100
    assert len(incremental["view_timeline"]) > 1500

    rebuilt_count = app.projections.rebuild()
    assert rebuilt_count == app.recorder.max_notification_id()
    assert dump_views(app) == incremental
    head = app.projections.head()
    assert head is not None
    assert head.position == head.size == app.recorder.max_notification_id()


def test_the_generated_ledger_passes_audit(make_app: Callable[..., ChainLedger]) -> None:
    app = make_app()
    app.init_ledger("generated")
    result = generate(app, events=900, seed=3, subcontractors=30, primes=3, commissioners=2)
    assert result.events >= 900
    report = app.audit()
    assert report.ok, report.failures[:3]
    assert report.events == app.recorder.max_notification_id()
    kinds = {row["rule"] for row in app.report("findings")}
    assert kinds  # the generator's misbehaviour shows up as findings
    assert app.report("workshare")


def test_reports_catch_up_without_replaying(make_app: Callable[..., ChainLedger]) -> None:
    app = make_app()
    app.init_ledger("generated")
    generate(app, events=900, seed=5, subcontractors=30, primes=3, commissioners=2)
    app.report("workshare", package="GEN-00000")
    # Nothing new: a second report reads no notifications at all.
    assert app.projections.catch_up() == 0
