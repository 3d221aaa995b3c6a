"""Rules, reports and history put facts in the order their signers signed: by effective
date, then signed timestamp. Never by notification id: the database numbers the rows of
its events table, and anyone who can write to it can renumber them.

The attack: someone with write access to the database moves a row of the events table
(each row stays byte for byte as it was signed, so every signature and hash chain still
verifies), grows the stored Merkle tree again over the new order, and rebuilds the
views. Before this rule, moving the commissioner's cut after the prime's variation made
CUT_PASSED_DOWN disappear, and moving a subcontractor's acknowledgement after the award
made NAMED_WITHOUT_CONSENT appear. The findings must not change at all.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy

from chainledger.adapters import merkle_store
from chainledger.bootstrap import ChainLedger
from chainledger.domain.assessment import Thresholds, cut_passed_down, named_without_consent
from chainledger.domain.facts import (
    At,
    PackageFacts,
    PromiseFact,
    SubcontractFact,
    ValueChange,
    VariationFact,
    signed_time,
)
from chainledger.domain.terms import Terms
from chainledger.domain.values import Role
from tests.conftest import PASSPHRASE, CliLedger
from tests.ledgers import RawEvents

PACKAGE = "SIGNED-1"
AS_OF = "2026-04-30"
TERMS = {"service": "specialist support", "share_pct": "10", "value_per_year": "100000",
         "referrals_per_period": "40", "payment_model": "fixed", "payment_terms_days": "30",
         "management_fee_pct": "5"}  # fmt: skip


# -- the story, the attacker's edits, and what the reader sees -----------------------------


def record_story(ledger: CliLedger) -> None:
    """The council cuts the package by 10% and, the same day, Northgate proposes cutting
    Hope Trust's subcontract by 20%; Hope Trust acknowledged its promise the day the package
    was awarded. Events of the same day are ordered only by their signed timestamps."""
    ledger.ok("org", "create", "Barnet Council", "--role", "commissioner", "--sector", "public")
    ledger.ok("org", "create", "Northgate", "--role", "prime", "--handle", "northgate")
    ledger.ok("org", "create", "Hope Trust", "--role", "subcontractor", "--sector", "vcs",
              "--size", "small", "--handle", "hope-trust")  # fmt: skip
    ledger.ok("package", "create", PACKAGE, "--as", "barnet-council", "--on", "2026-01-05",
              "--title", "Employment support", "--area", "Barnet", "--value", "2000000",
              "--start", "2026-04-01", "--end", "2028-03-31", "--description", "Into work",
              "--payment-model", "fixed")  # fmt: skip
    ledger.ok("bid", "submit", PACKAGE, "--as", "northgate", "--on", "2026-02-01",
              "--price", "1950000", "--self-share", "0", "--promise",
              "hope-trust:service=specialist support,share=10,value=100000,referrals=40,"
              "model=fixed,terms=30,fee=5")  # fmt: skip
    ledger.ok("bid", "acknowledge", PACKAGE, "--as", "hope-trust", "--prime", "northgate",
              "--on", "2026-03-10")  # fmt: skip
    ledger.ok("package", "award", PACKAGE, "--as", "barnet-council", "--bid", "northgate",
              "--on", "2026-03-10")  # fmt: skip
    ledger.ok("subcontract", "issue", PACKAGE, "--as", "northgate", "--sub", "hope-trust",
              "--on", "2026-03-15", "--service", "specialist support", "--share", "10",
              "--value", "100000", "--referrals", "40", "--model", "fixed", "--terms", "30",
              "--fee", "5")  # fmt: skip
    ledger.ok("subcontract", "accept", PACKAGE, "--as", "hope-trust", "--on", "2026-03-16")
    ledger.ok("package", "vary", PACKAGE, "--as", "barnet-council", "--on", "2026-04-20",
              "--value", "1800000", "--reason", "budget cut: 10%")  # fmt: skip
    ledger.ok("variation", "propose", PACKAGE, "--as", "northgate", "--sub", "hope-trust",
              "--on", "2026-04-20", "--value", "80000", "--reason", "pass on the cut")  # fmt: skip


def findings_json(ledger: CliLedger) -> str:
    return ledger.ok("report", "findings", "--package", PACKAGE, "--as-of", AS_OF,
                     "--format", "json").stdout  # fmt: skip


def history(ledger: CliLedger) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(
        ledger.ok("history", PACKAGE, "--format", "json").stdout
    )
    return rows


def ids_by_type(url: str) -> dict[str, list[int]]:
    """Notification ids of the stored events, by event type, in the log's order."""
    found: dict[str, list[int]] = {}
    with RawEvents(url) as raw:
        for nid, _aggregate, _version, topic, _state in raw.rows():
            found.setdefault(topic, []).append(nid)
    return found


def swap_rows(url: str, first: int, second: int) -> None:
    """Swap two whole rows (record, version, type and signed state) between two ids."""
    with RawEvents(url) as raw:
        rows = {row[0]: row for row in raw.rows() if row[0] in (first, second)}
        t = raw.table
        with raw.engine.begin() as connection:
            # out of the way of the unique (record, version) index first
            connection.execute(
                sqlalchemy.update(t).where(t.c.id == second).values(originator_version=-1)
            )
            for target, source in ((first, second), (second, first)):
                _, aggregate, version, topic, state = rows[source]
                connection.execute(
                    sqlalchemy.update(t).where(t.c.id == target).values(
                        originator_id=aggregate, originator_version=version, topic=topic,
                        state=state,
                    )
                )  # fmt: skip


def move_to_end(url: str, nid: int) -> int:
    """Give row ``nid`` the id after the last one; returns its new id."""
    with RawEvents(url) as raw:
        t = raw.table
        with raw.engine.begin() as connection:
            last = connection.execute(sqlalchemy.select(sqlalchemy.func.max(t.c.id))).scalar_one()
            connection.execute(sqlalchemy.update(t).where(t.c.id == nid).values(id=last + 1))
    return int(last) + 1


def regrow_merkle_tree(url: str) -> None:
    """Empty the stored Merkle tree and grow it again over the events in their new order,
    as an attacker who edited the log would, so that the stored tree agrees with it."""
    with RawEvents(url) as raw, raw.engine.begin() as connection:
        for table in merkle_store.TABLES:
            connection.execute(sqlalchemy.delete(table))
        merkle_store.append(connection, raw.table, [])


# -- the attack, through the CLI -----------------------------------------------------------

ATTACKS = [
    # (the event signed first, the one signed just after it, both dated the same day)
    ("ContractValueVaried", "VariationProposed"),
    ("PromiseAcknowledged", "PackageAwarded"),
]


@pytest.mark.parametrize(("signed_first", "signed_next"), ATTACKS,
                         ids=["cut moved after the variation",
                              "acknowledgement moved after the award"])  # fmt: skip
def test_reordering_the_events_table_changes_no_finding(
    cli_ledger: CliLedger, signed_first: str, signed_next: str
) -> None:
    record_story(cli_ledger)
    before = findings_json(cli_ledger)
    assert [f["rule"] for f in json.loads(before)] == ["CUT_PASSED_DOWN"]
    ids = ids_by_type(cli_ledger.url)
    first, second = ids[signed_first][0], ids[signed_next][0]
    # Adjacent rows: swapping them moves one after the other, and every id a finding
    # cites still names an event, so the findings can be compared byte for byte.
    assert second == first + 1

    swap_rows(cli_ledger.url, first, second)
    regrow_merkle_tree(cli_ledger.url)
    moved = ids_by_type(cli_ledger.url)
    assert (moved[signed_next][0], moved[signed_first][0]) == (first, second)
    assert "Rebuilt the views" in cli_ledger.ok("projections", "rebuild").stdout

    assert findings_json(cli_ledger) == before
    # History lists them as signed, although the log now holds them the other way round.
    rows = history(cli_ledger)
    types = [row["event_type"] for row in rows]
    assert types.index(signed_first) == types.index(signed_next) - 1
    assert rows[types.index(signed_first)]["notification_id"] == second
    assert rows[types.index(signed_next)]["notification_id"] == first


def test_moving_the_cut_to_the_end_of_the_log_changes_only_the_id_it_is_cited_by(
    cli_ledger: CliLedger,
) -> None:
    record_story(cli_ledger)
    before = json.loads(findings_json(cli_ledger))
    cut = ids_by_type(cli_ledger.url)["ContractValueVaried"][0]

    moved = move_to_end(cli_ledger.url, cut)
    regrow_merkle_tree(cli_ledger.url)
    cli_ledger.ok("projections", "rebuild")

    renumbered = {cut: moved}
    expected = [
        {**f, "evidence": sorted(renumbered.get(n, n) for n in f["evidence"])} for f in before
    ]
    assert json.loads(findings_json(cli_ledger)) == expected
    assert [f["rule"] for f in expected] == ["CUT_PASSED_DOWN"]
    assert moved in expected[0]["evidence"]
    types = [row["event_type"] for row in history(cli_ledger)]
    assert types[-2:] == ["ContractValueVaried", "VariationProposed"]


# -- effective dates first, through the application ----------------------------------------


def _subcontracted(app: ChainLedger) -> Callable[[str, str], Any]:
    """PACKAGE awarded to northgate, hope-trust's subcontract accepted; returns who signs
    facts that took effect on a day."""
    for handle, role in (("council", Role.COMMISSIONER), ("northgate", Role.PRIME),
                         ("hope-trust", Role.SUBCONTRACTOR)):  # fmt: skip
        app.create_organisation(handle, role, passphrase=PASSPHRASE, handle=handle)
    signers = {h: app.signer(h, PASSPHRASE) for h in ("council", "northgate", "hope-trust")}

    def at(handle: str, day: str) -> Any:
        return signers[handle].dated(date.fromisoformat(day))

    app.create_package(at("council", "2026-01-05"), PACKAGE, "Employment support", "Barnet",
                       "2000000", "2026-04-01", "2028-03-31", "Into work", "fixed")  # fmt: skip
    app.submit_bid(at("northgate", "2026-02-01"), PACKAGE, "1950000", "0",
                   [{"subcontractor": "hope-trust", **TERMS}])  # fmt: skip
    app.acknowledge_promise(at("hope-trust", "2026-03-01"), PACKAGE, "northgate")
    app.award_package(at("council", "2026-03-10"), PACKAGE, "northgate")
    app.issue_subcontract(at("northgate", "2026-03-15"), PACKAGE, "hope-trust", **TERMS)
    app.accept_subcontract(at("hope-trust", "2026-03-16"), PACKAGE)
    return at


def test_a_fact_dated_earlier_comes_first_though_recorded_later(app: ChainLedger) -> None:
    """Northgate's variation is recorded first; the council's cut, recorded after it, took
    effect five days before it: the variation passed the cut down."""
    at = _subcontracted(app)
    app.propose_variation(at("northgate", "2026-04-20"), PACKAGE, "hope-trust",
                          "pass on the cut", value_per_year="80000")  # fmt: skip
    app.vary_contract_value(at("council", "2026-04-15"), PACKAGE, "1800000", "10% cut")

    (facts,) = app.package_facts(PACKAGE, date(2026, 4, 30))
    (cut,), (variation,) = facts.value_changes, facts.variations
    assert cut.nid > variation.nid
    assert cut.at < variation.at
    found = app.report("findings", package=PACKAGE, as_of=date(2026, 4, 30))
    assert [(f["rule"], f["evidence"]) for f in found] == [
        ("CUT_PASSED_DOWN", [variation.nid, cut.nid])
    ]
    types = [row.event_type for row in app.history(PACKAGE)]
    assert types[-2:] == ["ContractValueVaried", "VariationProposed"]


def test_an_answer_dated_before_what_it_answers_still_answers_it(app: ChainLedger) -> None:
    """A signer may date an agreement before the proposal it agrees to: the views still read
    the proposal first, and as of a day between the two the agreement has nothing to answer."""
    at = _subcontracted(app)
    app.propose_variation(at("northgate", "2026-04-20"), PACKAGE, "hope-trust",
                          "pass on the cut", value_per_year="80000")  # fmt: skip
    app.answer_variation(at("hope-trust", "2026-04-18"), PACKAGE, 1, True)

    def contracted(as_of: date) -> str:
        (row,) = app.report("workshare", package=PACKAGE, as_of=as_of)
        return str(row["contracted_value_per_year"])

    assert contracted(date(2026, 4, 30)) == "80000.00"
    assert contracted(date(2026, 4, 19)) == "100000.00"
    (facts,) = app.package_facts(PACKAGE, date(2026, 4, 30))
    assert facts.variations[0].status == "agreed"


# -- the rules themselves: signed order, not notification ids ------------------------------


def _at(day: str, time: str) -> At:
    return (date.fromisoformat(day), f"{day}T{time}+00:00")


def _facts(*, cut: tuple[At, int], variation: tuple[At, int]) -> PackageFacts:
    """A package cut by 10% whose prime proposed cutting its subcontractor by 20%."""
    terms = Terms.parse(TERMS)
    day = date(2026, 1, 5)
    facts = PackageFacts(
        reference=PACKAGE, commissioner="council", title="t", area="a", value=Decimal(1800000),
        original_value=Decimal(2000000), start=date(2026, 4, 1), end=date(2028, 3, 31),
        payment_model="fixed", at_risk_pct=Decimal(0), on=day, nid=1,
        at=_at("2026-01-05", "09:00:00.000000"), as_of=date(2026, 4, 30), prime="northgate",
    )  # fmt: skip
    facts.subcontracts["hope-trust"] = SubcontractFact("northgate", "hope-trust", terms, day, 2,
                                                       facts.at, terms)  # fmt: skip
    (cut_at, cut_nid), (variation_at, variation_nid) = cut, variation
    facts.value_changes.append(ValueChange(cut_at[0], cut_nid, cut_at, Decimal(2000000),
                                           Decimal(1800000), "10% cut"))  # fmt: skip
    facts.variations.append(VariationFact("hope-trust", 1, Terms.parse({**TERMS,
                            "value_per_year": "80000"}), "pass on the cut", variation_at[0],
                            variation_nid, variation_at))  # fmt: skip
    return facts


def _cuts_passed_down(facts: PackageFacts) -> list[tuple[int, ...]]:
    return [f.evidence for f in cut_passed_down(facts, Thresholds())]


def test_the_same_day_is_ordered_by_signed_timestamps_not_ids() -> None:
    cut_first = _facts(cut=(_at("2026-04-20", "10:00:00.000001"), 9),
                       variation=(_at("2026-04-20", "10:00:00.000002"), 8))  # fmt: skip
    assert _cuts_passed_down(cut_first) == [(8, 9)]
    variation_first = _facts(cut=(_at("2026-04-20", "10:00:00.000002"), 8),
                             variation=(_at("2026-04-20", "10:00:00.000001"), 9))  # fmt: skip
    assert _cuts_passed_down(variation_first) == []


def test_an_earlier_effective_date_comes_first_whatever_its_timestamp_and_id() -> None:
    # Recorded a day later (later timestamp, later id), but signed as taking effect earlier.
    cut_dated_earlier = _facts(cut=((date(2026, 4, 15), "2026-04-21T08:00:00.000000+00:00"), 9),
                               variation=(_at("2026-04-20", "10:00:00.000000"), 8))  # fmt: skip
    assert _cuts_passed_down(cut_dated_earlier) == [(8, 9)]
    variation_dated_earlier = _facts(
        cut=(_at("2026-04-20", "10:00:00.000000"), 8),
        variation=((date(2026, 4, 15), "2026-04-21T08:00:00.000000+00:00"), 9),
    )
    assert _cuts_passed_down(variation_dated_earlier) == []


def test_acknowledged_before_the_award_by_signed_order_not_ids() -> None:
    facts = _facts(cut=(_at("2026-04-20", "10:00:00.000001"), 9),
                   variation=(_at("2026-04-20", "10:00:00.000000"), 8))  # fmt: skip
    facts.award_on, facts.award_nid = date(2026, 3, 10), 5
    facts.award_at = _at("2026-03-10", "12:00:00.000000")
    promise = PromiseFact("northgate", "hope-trust", Terms.parse(TERMS), date(2026, 2, 1), 3,
                          _at("2026-02-01", "09:00:00.000000"), answer="acknowledged",
                          answer_on=date(2026, 3, 10), answer_nid=6)  # fmt: skip
    facts.promises.append(promise)

    promise.answer_at = _at("2026-03-10", "11:59:59.999999")  # signed just before the award
    assert list(named_without_consent(facts, Thresholds())) == []
    promise.answer_at, promise.answer_nid = _at("2026-03-10", "12:00:00.000001"), 4
    (late,) = named_without_consent(facts, Thresholds())
    assert late.rule == "NAMED_WITHOUT_CONSENT"
    assert late.evidence == (3, 5)


def test_signed_times_sort_as_text_in_time_order() -> None:
    moments = [
        datetime(2026, 4, 20, 10, 0, 0, tzinfo=UTC),  # isoformat would drop the microseconds
        datetime(2026, 4, 20, 10, 0, 0, 1, tzinfo=UTC),
        datetime(2026, 4, 20, 11, 30, 0, 5, tzinfo=timezone(timedelta(hours=2))),  # 09:30 UTC
        datetime(2026, 4, 20, 9, 59, 59, 999999, tzinfo=UTC),
        datetime(2026, 4, 20, 10, 0, 0, 999999),  # no offset: read as UTC
    ]
    texts = [signed_time(m) for m in moments]
    assert {len(t) for t in texts} == {32}
    assert texts[0] == "2026-04-20T10:00:00.000000+00:00"
    assert texts[2] == "2026-04-20T09:30:00.000005+00:00"
    by_time = sorted(range(len(moments)), key=lambda i: moments[i].replace(tzinfo=UTC)
                     if moments[i].tzinfo is None else moments[i])  # fmt: skip
    assert sorted(range(len(texts)), key=texts.__getitem__) == by_time
