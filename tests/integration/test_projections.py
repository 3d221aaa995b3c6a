"""The read models: incremental catch-up equals a rebuild, on a generated ledger."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select, update

from chainledger.application import ChainLedger
from chainledger.audit import audit_ledger
from chainledger.errors import TamperError
from chainledger.generator import generate
from chainledger.projections.engine import metadata, tracking_table


def dump_views(app: ChainLedger) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every view table, in a stable order."""
    dump = {}
    with app.recorder.datastore.transaction(commit=False) as session:
        for table in metadata.sorted_tables:
            if table.name == "projection_tracking":
                continue
            rows = session.execute(select(table)).all()
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
    positions = app.projections.positions()
    assert set(positions.values()) == {app.recorder.max_notification_id()}


def test_the_generated_ledger_passes_audit(make_app: Callable[..., ChainLedger]) -> None:
    app = make_app()
    app.init_ledger("generated")
    result = generate(app, events=900, seed=3, subcontractors=30, primes=3, commissioners=2)
    assert result.events >= 900
    report = audit_ledger(app)
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


def test_views_out_of_step_with_their_positions_are_reported_not_retried_for_ever(
    make_app: Callable[..., ChainLedger],
) -> None:
    """A row already in a view for an event the view has not read clashes on every
    attempt: that is no race with another reader, and catch-up says so."""
    app = make_app()
    app.init_ledger("generated")
    generate(app, events=200, seed=5, subcontractors=10, primes=2, commissioners=1)
    app.projections.catch_up()
    with app.recorder.datastore.transaction(commit=True) as session:
        # Wind the timeline's position back, leaving its rows in place.
        session.execute(
            update(tracking_table).where(tracking_table.c.name == "timeline").values(position=1)
        )
    with pytest.raises(TamperError) as raised:
        app.projections.catch_up()
    message = str(raised.value)
    assert "the views hold rows beyond the positions they track" in message
    assert message.endswith("rebuild them with: chainledger projections rebuild")
    # The remedy works.
    app.projections.rebuild()
    assert app.projections.catch_up() == 0
