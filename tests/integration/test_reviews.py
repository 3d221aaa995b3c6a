"""The 360 review scenario: a round on a package with a prime and five subcontractors.

Commitments while open; close; reveals (one mismatched and refused, one never
revealed); the owner's report; the prime's shared report. And the point of it
all: neither the prime's view of the ledger nor its shared report reveals any
single rating.
"""

from __future__ import annotations

import itertools
import json
import statistics
from dataclasses import dataclass, replace
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest

from chainledger.adapters.crypto import seal_to
from chainledger.adapters.keystore import Keystore
from chainledger.bootstrap import ChainLedger, open_ledger
from chainledger.domain.assessment import Thresholds
from chainledger.domain.ids import organisation_id, rating_id, review_round_id
from chainledger.domain.review import (
    DEFAULT_DIMENSIONS,
    Rating,
    RatingContent,
    RatingKey,
    RatingRevealed,
    RoundStatus,
)
from chainledger.domain.review_analysis import shared_report
from chainledger.domain.values import Role, Sector, Size
from chainledger.errors import InvalidValue, KeyProblem, NotFound, Refused
from tests.conftest import FAST_SCRYPT_N, PASSPHRASE
from tests.ledgers import LedgerStore, event_count, event_rows

PACKAGE = "P-360"
PERIOD = "2026-Q1"
SUBS = ("s1", "s2", "s3", "s4", "s5")
DIMS = [d.slug for d in DEFAULT_DIMENSIONS]
ON = date(2026, 3, 20)  # while the round is open
AFTER = date(2026, 4, 10)  # after it closes


def flat(score: int, **overrides: int) -> dict[str, int]:
    return {slug: overrides.get(slug, score) for slug in DIMS}


# Who rates whom, with what. The subcontractors' view of the prime: fairness low,
# commitments high (the ledger says otherwise: nothing paid), clarity unanimous.
RATINGS: dict[tuple[str, str], tuple[dict[str, int], str]] = {
    ("prime", "prime"): (flat(5), "We are a model partner."),
    ("s1", "prime"): (flat(3, fairness=1, commitments=4, payment=2, clarity=3), "Cuts passed down without notice."),
    ("s2", "prime"): (flat(4, fairness=2, commitments=5, payment=3, clarity=3), "Friendly but slow to pay."),
    ("s3", "prime"): (flat(2, fairness=1, commitments=4, payment=2, clarity=3), ""),
    ("s4", "prime"): (flat(3, fairness=2, commitments=4, payment=4, clarity=3), "Referrals dried up in March."),
    ("s5", "prime"): (flat(1), "Never revealed, so never counted."),
    ("council", "prime"): (flat(4, fairness=3), "Council's own view."),
    **{("prime", s): (flat(4, support=3), f"{s} delivers.") for s in SUBS},
    **{(s, s): (flat(4), "") for s in SUBS},
    ("s1", "s2"): (flat(5), "Great partner."),
    ("s3", "s2"): (flat(4), ""),
    ("council", "s2"): (flat(3), ""),
}  # fmt: skip
NEVER_REVEALED = "s5"
MISMATCHED = ("s4", "prime")


@dataclass
class Scenario:
    app: ChainLedger
    url: str
    keys: Path
    refusal: str  # the message of the refused, mismatched reveal
    events_before_mismatch: int
    events_after_mismatch: int


def _app(url: str, keys: Path) -> ChainLedger:
    app = open_ledger(url, keys, create=True)
    app.keystore = Keystore(keys, scrypt_n=FAST_SCRYPT_N)
    return app


def _build(store: LedgerStore) -> Scenario:
    url, keys = store.url("review"), store.directory / "keys"
    app = _app(url, keys)
    app.init_ledger("review scenario")
    orgs = [("council", Role.COMMISSIONER, Sector.PUBLIC), ("prime", Role.PRIME, Sector.PRIVATE)]
    orgs += [(s, Role.SUBCONTRACTOR, Sector.VCS) for s in SUBS]
    for handle, role, sector in orgs:
        app.create_organisation(handle.title(), role, passphrase=PASSPHRASE, handle=handle,
                                sector=sector, size=Size.SMALL)  # fmt: skip
    signer = {h: app.signer(h, PASSPHRASE) for h, _, _ in orgs}

    def at(handle: str, day: date) -> Any:
        return signer[handle].dated(day)

    app.create_package(at("council", date(2025, 1, 10)), PACKAGE, "Wellbeing", "Barnet",
                       "2000000", "2025-04-01", "2027-03-31", "Support", "fixed")  # fmt: skip
    promises = [
        {"subcontractor": s, "service": "support", "share_pct": "10", "value_per_year": "100000",
         "referrals_per_period": "20", "referral_cadence": "quarter", "payment_model": "fixed",
         "payment_terms_days": "30"}
        for s in SUBS
    ]  # fmt: skip
    app.submit_bid(at("prime", date(2025, 2, 1)), PACKAGE, "1900000", "50", promises)
    app.award_package(at("council", date(2025, 3, 1)), PACKAGE, "prime")

    app.open_review(at("council", date(2026, 3, 1)), PACKAGE, PERIOD)
    for (rater, ratee), (scores, comment) in RATINGS.items():
        app.rate(at(rater, ON), PACKAGE, PERIOD, ratee, scores, comment)
    app.close_review(at("council", date(2026, 4, 1)), PACKAGE, PERIOD)

    before = event_count(url)
    rater, ratee = MISMATCHED
    changed = {**RATINGS[MISMATCHED][0], "fairness": 5}  # kinder, after the fact
    with pytest.raises(Refused) as refused:
        app.reveal(at(rater, AFTER), app.opener(rater, PASSPHRASE), PACKAGE, PERIOD, ratee,
                   changed)  # fmt: skip
    after = event_count(url)
    for handle in ("prime", "council", *SUBS):
        if handle != NEVER_REVEALED:
            app.reveal(at(handle, AFTER), app.opener(handle, PASSPHRASE), PACKAGE, PERIOD)
    app.finalise_review(at("council", AFTER), PACKAGE, PERIOD)
    return Scenario(app, url, keys, str(refused.value), before, after)


@pytest.fixture(scope="module")
def scenario(module_ledgers: LedgerStore) -> Scenario:
    return _build(module_ledgers)


def owner_report(s: Scenario, **options: Any) -> dict[str, Any]:
    return s.app.review_report(s.app.opener("council", PASSPHRASE), package=PACKAGE, **options)


def others_of(ratee: str, *, revealed_only: bool = True) -> dict[str, dict[str, int]]:
    return {
        rater: scores
        for (rater, r), (scores, _) in RATINGS.items()
        if r == ratee and rater != ratee and not (revealed_only and rater == NEVER_REVEALED)
    }


# -- the protocol ------------------------------------------------------------------------


def test_the_mismatched_reveal_is_refused_and_writes_nothing(scenario: Scenario) -> None:
    assert "does not match what s4 committed to" in scenario.refusal
    assert scenario.events_after_mismatch == scenario.events_before_mismatch
    status = scenario.app.review_status(PACKAGE, PERIOD)
    s4_prime = next(r for r in status["ratings"] if (r["rater"], r["ratee"]) == MISMATCHED)
    assert s4_prime["revealed_on"] == AFTER.isoformat()  # the true rating, revealed afterwards


def test_commitments_only_while_open_and_reveals_only_after_close(
    ledgers: LedgerStore, tmp_path: Path
) -> None:
    app = _app(ledgers.url("l"), tmp_path / "keys")
    app.init_ledger("t")
    for handle, role in (("council", Role.COMMISSIONER), ("prime", Role.PRIME),
                         ("s1", Role.SUBCONTRACTOR), ("other", Role.SUBCONTRACTOR)):  # fmt: skip
        app.create_organisation(handle, role, passphrase=PASSPHRASE, handle=handle)
    sign = {h: app.signer(h, PASSPHRASE) for h in ("council", "prime", "s1", "other")}
    app.create_package(sign["council"], "P", "t", "a", "100000", "2026-01-01", "2026-12-31",
                       "d", "fixed")  # fmt: skip
    promise = {"subcontractor": "s1", "service": "x", "share_pct": "10", "value_per_year": "1000",
               "referrals_per_period": "1", "referral_cadence": "quarter",
               "payment_model": "fixed", "payment_terms_days": "30"}  # fmt: skip
    with pytest.raises(NotFound, match="no review round"):
        app.rate(sign["s1"], "P", PERIOD, "prime", flat(3))
    app.submit_bid(sign["prime"], "P", "90000", "50", [promise])
    with pytest.raises(Refused, match="has not been awarded"):
        app.open_review(sign["council"], "P", PERIOD)
    app.award_package(sign["council"], "P", "prime")
    with pytest.raises(Refused, match="only council, the commissioner of P, can open its review"):
        app.open_review(sign["prime"], "P", PERIOD)
    with pytest.raises(Refused, match="outside package P's contract"):
        app.open_review(sign["council"], "P", "2027-Q1")
    app.open_review(sign["council"], "P", PERIOD)
    with pytest.raises(Refused, match="already has a review round"):
        app.open_review(sign["council"], "P", PERIOD)

    with pytest.raises(Refused, match="before the round opened"):
        app.rate(sign["s1"].dated(date(2020, 1, 1)), "P", PERIOD, "prime", flat(3))
    with pytest.raises(Refused, match="other is not a party"):
        app.rate(sign["other"], "P", PERIOD, "prime", flat(3))
    with pytest.raises(Refused, match=r"prime \(prime\) does not rate council"):
        app.rate(sign["prime"], "P", PERIOD, "council", flat(3))
    with pytest.raises(InvalidValue, match="missing: improvement"):
        app.rate(sign["s1"], "P", PERIOD, "prime", dict.fromkeys(DIMS[:-1], 3))
    with pytest.raises(InvalidValue, match="not a whole number from 1 to 5"):
        app.rate(sign["s1"], "P", PERIOD, "prime", flat(6))
    app.rate(sign["s1"], "P", PERIOD, "prime", flat(3))
    with pytest.raises(Refused, match="already committed"):
        app.rate(sign["s1"], "P", PERIOD, "prime", flat(4))
    opener = app.opener("s1", PASSPHRASE)
    with pytest.raises(Refused, match="still open"):
        app.reveal(sign["s1"], opener, "P", PERIOD)

    with pytest.raises(Refused, match="only council"):
        app.close_review(sign["prime"], "P", PERIOD)
    app.close_review(sign["council"], "P", PERIOD)
    with pytest.raises(Refused, match="closed: ratings can no longer be committed"):
        app.rate(sign["prime"], "P", PERIOD, "s1", flat(3))
    with pytest.raises(KeyProblem, match="not one of prime's encryption keys"):
        app.reveal(sign["s1"], app.opener("prime", PASSPHRASE), "P", PERIOD)
    with pytest.raises(Refused, match="before the round closed"):
        app.reveal(sign["s1"].dated(date(2020, 1, 1)), opener, "P", PERIOD)
    assert app.reveal(sign["s1"], opener, "P", PERIOD) == ["prime"]
    with pytest.raises(Refused, match="no unrevealed rating"):
        app.reveal(sign["s1"], opener, "P", PERIOD)
    with pytest.raises(Refused, match="only council"):
        app.finalise_review(sign["prime"], "P", PERIOD)
    app.finalise_review(sign["council"], "P", PERIOD)
    with pytest.raises(Refused, match="final: reveals have ended"):
        app.reveal(sign["prime"], app.opener("prime", PASSPHRASE), "P", PERIOD)


# -- the owner's report -------------------------------------------------------------------


def test_owner_sees_every_revealed_rating_by_group(scenario: Scenario) -> None:
    report = owner_report(scenario)
    cells = {(c["ratee"], c["dimension"], c["group"]): c for c in report["cells"]}
    subs_of_prime = [s for r, s in others_of("prime").items() if r in SUBS]
    assert len(subs_of_prime) == 4
    for slug in DIMS:
        cell = cells[("prime", slug, "subcontractors")]
        values = [s[slug] for s in subs_of_prime]
        assert cell["n"] == 4
        assert Decimal(cell["median"]) == Decimal(str(statistics.median(values)))
        assert cell["range"] == f"{min(values)}-{max(values)}"
        assert [cell["distribution"][str(v)] for v in range(1, 6)] == [
            values.count(v) for v in range(1, 6)
        ]
        assert cells[("prime", slug, "self")]["n"] == 1
        assert cells[("prime", slug, "commissioner")]["median"] == str(
            RATINGS[("council", "prime")][0][slug]
        )
    assert report["rounds"][0]["status"] == "final"


def test_unrevealed_commitments_are_reported_as_such(scenario: Scenario) -> None:
    report = owner_report(scenario)
    unusable = {(u["rater"], u["ratee"]): u["status"] for u in report["unusable"]}
    assert unusable == {("s5", "prime"): "never revealed", ("s5", "s5"): "never revealed"}
    assert all(c["n"] <= 4 for c in report["cells"] if c["ratee"] == "prime")


def test_self_other_gap_matrix_and_trend(scenario: Scenario) -> None:
    report = owner_report(scenario)
    gaps = {(g["ratee"], g["dimension"]): g for g in report["gaps"]}
    others = others_of("prime")
    for slug in DIMS:
        median = Decimal(str(statistics.median(s[slug] for s in others.values())))
        assert Decimal(gaps[("prime", slug)]["gap"]) == 5 - median
    assert gaps[("prime", "commitments")]["ledger_measure"] == "promised value delivered to date %"
    assert gaps[("prime", "commitments")]["ledger_value"] == "0.0"

    pairs = {(m["a"], m["b"]): m for m in report["matrix"]}
    s1_prime = Decimal(sum(RATINGS[("s1", "prime")][0].values())) / len(DIMS)
    prime_s1 = Decimal(sum(RATINGS[("prime", "s1")][0].values())) / len(DIMS)
    pair = pairs.get(("prime", "s1")) or pairs[("s1", "prime")]
    ab = {pair["a"]: pair["a_rated_b"], pair["b"]: pair["b_rated_a"]}
    assert Decimal(ab["s1"]) == s1_prime.quantize(Decimal("0.1"))
    assert Decimal(ab["prime"]) == prime_s1.quantize(Decimal("0.1"))
    assert ("s1", "s2") in pairs or ("s2", "s1") in pairs

    trend = {(t["ratee"], t["dimension"]): t["medians"] for t in report["trend"]}
    assert list(trend[("prime", "fairness")]) == [PERIOD]


def test_review_findings_join_the_findings(scenario: Scenario) -> None:
    found = scenario.app.review_findings(
        scenario.app.opener("council", PASSPHRASE), PACKAGE, Thresholds()
    )
    by_rule = {f.rule: f for f in found if f.organisations == ("prime",)}
    assert set(by_rule) == {"SELF_OTHER_GAP", "LOW_RATED", "PERCEPTION_GAP"}
    assert "fairness of contracting and funding" in by_rule["LOW_RATED"].sentence
    assert "honouring commitments rated well" in by_rule["PERCEPTION_GAP"].sentence
    assert "promised value delivered to date % 0.0" in by_rule["PERCEPTION_GAP"].sentence
    assert by_rule["PERCEPTION_GAP"].evidence  # the promises it rests on, and the reveals
    rows = scenario.app.report("findings", package=PACKAGE, as_of=date(2026, 4, 30),
                               review_opener=scenario.app.opener("council", PASSPHRASE))  # fmt: skip
    assert {"SELF_OTHER_GAP", "LOW_RATED", "PERCEPTION_GAP"} <= {r["rule"] for r in rows}
    without = scenario.app.report("findings", package=PACKAGE, as_of=date(2026, 4, 30))
    assert not {"SELF_OTHER_GAP", "LOW_RATED", "PERCEPTION_GAP"} & {r["rule"] for r in without}


def test_only_the_round_owner_can_read_it(scenario: Scenario) -> None:
    with pytest.raises(Refused, match="prime owns none of these review rounds"):
        scenario.app.review_report(scenario.app.opener("prime", PASSPHRASE), package=PACKAGE)


def test_reveals_that_skip_the_checks_are_not_counted(
    ledgers: LedgerStore, tmp_path: Path, scenario: Scenario
) -> None:
    """A rater whose software skips the checks reveals a different rating, and another
    reveals after the round was made final: the owner's report re-checks every reveal
    and counts neither."""
    import shutil

    # Its idle pooled connections would keep PostgreSQL from copying the database.
    scenario.app.recorder.datastore.engine.dispose()
    shutil.copytree(scenario.keys, tmp_path / "keys")
    app = _app(ledgers.copy(scenario.url, "copy"), tmp_path / "keys")
    signer = app.signer(NEVER_REVEALED, PASSPHRASE).dated(AFTER)
    round_ = app.load(review_round_id(PACKAGE, PERIOD))
    assert round_.status is RoundStatus.FINAL

    def reveal_anyway(ratee: str, content: RatingContent) -> None:
        rating = app.load(rating_id(PACKAGE, PERIOD, NEVER_REVEALED, ratee))
        key = RatingKey(app.ledger_id, PACKAGE, PERIOD, NEVER_REVEALED, ratee)
        sealed = seal_to(round_.owner_key, content.to_bytes(), key.sealing_context("owner"))
        rating._trigger(RatingRevealed, signer, sealed=sealed)  # no domain checks
        app.save_aggregates(rating)

    reveal_anyway("prime", RatingContent(flat(5), "", "00" * 32))  # not what was committed
    own = app.load(rating_id(PACKAGE, PERIOD, NEVER_REVEALED, NEVER_REVEALED))
    key = RatingKey(app.ledger_id, PACKAGE, PERIOD, NEVER_REVEALED, NEVER_REVEALED)
    genuine = app.opener(NEVER_REVEALED, PASSPHRASE).open(own.sealed_for_rater,
                                                          key.sealing_context("rater"))  # fmt: skip
    reveal_anyway(NEVER_REVEALED, RatingContent.from_bytes(genuine))  # true, but too late

    report = app.review_report(app.opener("council", PASSPHRASE), package=PACKAGE)
    unusable = {(u["rater"], u["ratee"]): u["status"] for u in report["unusable"]}
    assert unusable == {
        (NEVER_REVEALED, "prime"): "does not match its commitment",
        (NEVER_REVEALED, NEVER_REVEALED): "revealed after the round was final",
    }
    assert report == {**owner_report(scenario), "unusable": report["unusable"]}


# -- what the prime can see ------------------------------------------------------------------


def test_the_prime_reading_the_whole_ledger_learns_no_rating(scenario: Scenario) -> None:
    """Everything stored, byte for byte, holds no score, no comment, and nothing the
    prime's own keys can open."""
    raw = b"".join(row[4] for row in event_rows(scenario.url))
    scenario.app.projections.catch_up()
    with scenario.app.projections.store.reading() as db:  # the views: in the verified store
        rows = db.execute("SELECT * FROM rv_ratings").fetchall()
    assert rows
    views = json.dumps([list(map(str, r)) for r in rows])
    for (_, _), (_, comment) in RATINGS.items():
        if comment:
            assert comment.encode() not in raw
            assert comment not in views
    assert b'"scores"' not in raw

    prime_opener = scenario.app.opener("prime", PASSPHRASE)
    sealed = [e for e in scenario.app.all_events() if hasattr(e, "sealed")]
    assert len(sealed) > len(RATINGS)  # every commitment and every reveal
    others = [e.sealed for e in sealed if e.org != "prime"]  # the prime's own it may read
    assert others
    for sealed_value in others:
        with pytest.raises(KeyProblem):
            prime_opener.open(sealed_value, b"")
    # Identical ratings give unrelated commitments: the salt hides them.
    status = scenario.app.review_status(PACKAGE, PERIOD)
    self_ratings = [r["commitment"] for r in status["ratings"] if r["rater"] == r["ratee"] in SUBS]
    assert len(self_ratings) == len(set(self_ratings)) == len(SUBS)


def possible_scores(cell: dict[str, Any]) -> set[int]:
    """Every score one rater in the cell could have given, consistent with everything the
    cell publishes: brute force over all assignments of scores to its raters."""
    published = (cell["n"], Decimal(cell["median"]), Decimal(cell["mean"]), cell["range"],
                 cell["distribution"])  # fmt: skip
    possible: set[int] = set()
    for assignment in itertools.product(range(1, 6), repeat=cell["n"]):
        stats = (
            len(assignment),
            Decimal(str(statistics.median(assignment))),
            (Decimal(sum(assignment)) / len(assignment)).quantize(Decimal("0.1"), ROUND_HALF_UP),
            f"{min(assignment)}-{max(assignment)}",
            {str(v): assignment.count(v) for v in range(1, 6)},
        )
        if stats == published:
            possible.add(assignment[0])  # raters are unnamed: any one of them is "the first"
    return possible


def test_the_prime_shared_report_reveals_no_single_rating(scenario: Scenario) -> None:
    shared = owner_report(scenario, for_handle="prime")
    text = json.dumps(shared)
    for other in ("council", *SUBS):
        assert other not in text  # no rater is named
    (view,) = shared["rounds"]
    shown = 0
    for dim in view["dimensions"]:
        for cell in dim["groups"]:
            assert cell["n"] >= 3
            # Each rater in the cell could have given at least two different scores.
            assert len(possible_scores(cell)) >= 2, (dim["dimension"], cell)
            shown += 1
        groups = {g["group"] for g in dim["groups"]}
        assert "commissioner" not in groups  # one rater: withheld, never shown alone
    assert shown > 0
    clarity = next(d for d in view["dimensions"] if d["dimension"] == "clarity")
    assert clarity["groups"] == []  # all four subcontractors gave 3: withheld
    assert any("same score" in w for w in clarity["withheld"])
    # Comments from the subcontractors' group (4 raters), sorted, unattributed; the
    # council's comment (a group of one) and the unrevealed one are not there.
    expected = sorted(c for (r, e), (_, c) in RATINGS.items()
                      if e == "prime" and r in SUBS and r != NEVER_REVEALED and c)  # fmt: skip
    assert view["comments"] == expected
    own = {d["dimension"]: d["self"] for d in view["dimensions"]}
    assert own == RATINGS[("prime", "prime")][0]


def test_shared_report_never_below_three(scenario: Scenario) -> None:
    opener = scenario.app.opener("council", PASSPHRASE)
    (round_,) = scenario.app.opened_rounds(opener, package=PACKAGE)
    assert round_.min_group == 3  # the default, fixed when the round was opened

    def shared_with(k: int) -> dict[str, Any]:
        return shared_report([replace(round_, min_group=k)], "prime")

    with pytest.raises(InvalidValue, match="never below 3"):
        shared_with(2)
    # With five: the four subcontractors are too few alone, so they are pooled with the
    # council's one rating, and the pool of five shows.
    five = shared_with(5)
    groups = [g for d in five["rounds"][0]["dimensions"] for g in d["groups"]]
    assert groups
    assert all(g["group"] == "pooled" and g["n"] == 5 for g in groups)
    assert {tuple(g["members"]) for g in groups} == {("subcontractors", "commissioner")}
    assert "Council's own view." in five["rounds"][0]["comments"]
    six = shared_with(6)
    assert all(not d["groups"] for d in six["rounds"][0]["dimensions"])
    assert six["rounds"][0]["comments"] == []


def test_a_rating_recorded_around_the_rules_is_not_counted(
    ledgers: LedgerStore, tmp_path: Path
) -> None:
    """The prime's own software records a rating of the commissioner (which the use case
    refuses) straight through the domain: it is signed and revealed, but not counted."""
    app = _app(ledgers.url("l"), tmp_path / "keys")
    app.init_ledger("t")
    for handle, role in (("council", Role.COMMISSIONER), ("prime", Role.PRIME),
                         ("s1", Role.SUBCONTRACTOR)):  # fmt: skip
        app.create_organisation(handle, role, passphrase=PASSPHRASE, handle=handle)
    sign = {h: app.signer(h, PASSPHRASE) for h in ("council", "prime", "s1")}
    app.create_package(sign["council"], "P", "t", "a", "100000", "2026-01-01", "2026-12-31",
                       "d", "fixed")  # fmt: skip
    app.submit_bid(sign["prime"], "P", "90000", "50", [])
    app.award_package(sign["council"], "P", "prime")
    app.open_review(sign["council"], "P", PERIOD)
    with pytest.raises(Refused, match="does not rate council"):
        app.rate(sign["prime"], "P", PERIOD, "council", flat(1))

    round_ = app.load(review_round_id("P", PERIOD))
    key = RatingKey(app.ledger_id, "P", PERIOD, "prime", "council")
    content = RatingContent(flat(1), "", "11" * 32)
    own_key = app.load(organisation_id("prime")).encryption_key[1]
    sealed = seal_to(own_key, content.to_bytes(), key.sealing_context("rater"))
    around = Rating.commit(sign["prime"], round_, ratee="council",
                           commitment=key.commitment(content), sealed=sealed)  # fmt: skip
    app.save_aggregates(around)
    app.close_review(sign["council"], "P", PERIOD)
    assert app.reveal(sign["prime"], app.opener("prime", PASSPHRASE), "P", PERIOD) == ["council"]

    report = app.review_report(app.opener("council", PASSPHRASE), package="P")
    assert report["cells"] == []
    assert [(u["rater"], u["ratee"], u["status"]) for u in report["unusable"]] == [
        ("prime", "council", "not a rating this rater may give")
    ]


def test_every_sealed_value_of_a_round_has_the_same_length(scenario: Scenario) -> None:
    """The scenario's comments run from none to 35 characters; every sealed copy the ledger
    holds, the raters' own and those revealed to the owner, is exactly as long as every
    other: a blob's length says nothing about what it holds."""
    sealed = [getattr(e, name) for e in scenario.app.all_events()
              for name in ("sealed", "sealed_for_rater") if getattr(e, name, None)]  # fmt: skip
    assert len(sealed) > 2 * len(SUBS)
    assert len({len(s) for s in sealed}) == 1, sorted({len(s) for s in sealed})
