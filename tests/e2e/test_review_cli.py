"""The 360 review through the real CLI: ``review open|rate|status|close|reveal``,
``report reviews`` and review findings, refusals that write nothing, and encryption keys.

A package is built once per module (commissioner, prime, three subcontractors named in the
winning bid, and one subcontractor that is no party to it) and copied at each stage of the
round: open with ratings committed, closed, revealed. Tests that write work on a copy.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import statistics
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from click.testing import CliRunner, Result

from chainledger.adapters.crypto import sealed_recipient
from chainledger.bootstrap import open_ledger
from chainledger.domain.assessment import Thresholds
from chainledger.domain.ids import rating_id, review_round_id
from chainledger.domain.review import DEFAULT_DIMENSIONS
from tests.conftest import PASSPHRASE, CliLedger
from tests.ledgers import LedgerStore, event_count, event_rows

PACKAGE = "P-360"
PERIOD = "2026-Q1"
COUNCIL, PRIME = "the-council", "big-prime"
SUBS = ("alpha-care", "beta-trust", "gamma-aid")
OUTSIDER = "lone-sub"  # a registered subcontractor, named in no bid of the package
DIMS = [d.slug for d in DEFAULT_DIMENSIONS]
OPENED_ON, RATED_ON, CLOSED_ON, REVEALED_ON = "2026-03-01", "2026-03-10", "2026-04-01", "2026-04-10"
REVIEW_RULES = {"SELF_OTHER_GAP", "LOW_RATED", "PERCEPTION_GAP"}


def flat(score: int, **overrides: int) -> dict[str, int]:
    return {slug: overrides.get(slug, score) for slug in DIMS}


# Who rates whom, with what. The subcontractors agree the prime is unfair (fairness low),
# honours its commitments (it has paid nothing: the ledger disagrees) and all give clarity 3.
RATINGS: dict[tuple[str, str], tuple[dict[str, int], str]] = {
    ("alpha-care", PRIME): (flat(3, fairness=1, payment=2, commitments=4), "Cuts passed down."),
    ("beta-trust", PRIME): (flat(2, fairness=2, payment=3, commitments=5, clarity=3), "Slow to pay."),
    ("gamma-aid", PRIME): (flat(3, fairness=1, payment=2, support=4, commitments=4), ""),
    (COUNCIL, PRIME): (flat(4, fairness=3), "The council's own view."),
    (PRIME, PRIME): (flat(5), "We are a model partner."),
    (PRIME, "alpha-care"): (flat(4, support=3), "Delivers well."),
    ("alpha-care", "beta-trust"): (flat(5, equality=4), "A generous partner."),
    ("alpha-care", "alpha-care"): (flat(4), ""),
}  # fmt: skip
ROLE = {COUNCIL: "commissioner", PRIME: "prime", **dict.fromkeys(SUBS, "subcontractors")}


def group_of(rater: str, ratee: str) -> str:
    return "self" if rater == ratee else ROLE[rater]


def score_args(scores: dict[str, int], *, split: bool = True) -> list[str]:
    """``--score a=1,b=2 --score c=3 …``: half in one option, the rest one option each."""
    items = [f"{slug}={value}" for slug, value in scores.items()]
    if not split:
        return ["--score", ",".join(items)]
    half = len(items) // 2
    return ["--score", ",".join(items[:half]), *(a for i in items[half:] for a in ("--score", i))]


# -- ledgers -------------------------------------------------------------------------------


@dataclass
class Checked(CliLedger):
    """A CLI ledger whose every run is checked: no passphrase and no traceback in any output."""

    def run(self, *args: str, env: dict[str, str | None] | None = None) -> Result:
        result = super().run(*args, env=env)
        for stream in (result.stdout, result.stderr):
            assert PASSPHRASE not in stream, args
            assert "Traceback" not in stream, args
        return result


def events(ledger: CliLedger) -> int:
    return event_count(ledger.url)


def copy_of(ledger: CliLedger, store: LedgerStore, name: str = "copy") -> Checked:
    """A copy of ``ledger`` and its keys, which a test may add to."""
    keys = store.directory / f"{name}-keys"
    shutil.copytree(ledger.keys, keys)
    return Checked(store.copy(ledger.url, name), keys, CliRunner())


def build(ledger: CliLedger) -> dict[str, str]:
    """Organisations, a package and its award. Returns each one's first encryption key id."""
    encryption_keys = {}
    for handle in (COUNCIL, PRIME, *SUBS, OUTSIDER):
        role = {COUNCIL: "commissioner", PRIME: "prime"}.get(handle, "subcontractor")
        created = ledger.ok("org", "create", handle.replace("-", " ").title(), "--role", role,
                            "--handle", handle)  # fmt: skip
        (encryption_keys[handle],) = re.findall(r"^Encryption key: ([0-9a-f]{64})$",
                                                created.stdout, re.MULTILINE)  # fmt: skip
    ledger.ok("package", "create", PACKAGE, "--as", COUNCIL, "--on", "2025-01-10",
              "--title", "Wellbeing support", "--area", "Barnet", "--value", "1000000",
              "--start", "2025-04-01", "--end", "2027-03-31", "--description", "Support",
              "--payment-model", "fixed")  # fmt: skip
    promises = [f"{s}:service=support,share=10,value=50000,referrals=10,model=fixed,terms=30"
                for s in SUBS]  # fmt: skip
    ledger.ok("bid", "submit", PACKAGE, "--as", PRIME, "--on", "2025-02-01", "--price", "900000",
              "--self-share", "40", *(a for p in promises for a in ("--promise", p)))  # fmt: skip
    ledger.ok("package", "award", PACKAGE, "--as", COUNCIL, "--on", "2025-03-01", "--bid", PRIME)
    return encryption_keys


def rate(ledger: CliLedger, rater: str, ratee: str, period: str = PERIOD) -> Result:
    scores, comment = RATINGS[(rater, ratee)]
    return ledger.ok("review", "rate", PACKAGE, "--period", period, "--as", rater, "--on",
                     RATED_ON if period == PERIOD else "2026-06-10", "--ratee", ratee,
                     *score_args(scores, split=rater != COUNCIL),
                     *(["--comment", comment] if comment else []))  # fmt: skip


RATERS = sorted({rater for rater, _ in RATINGS})


@dataclass
class Stages:
    awarded: Checked
    encryption_keys: dict[str, str]
    open: Checked  # the round open, every rating committed
    closed: Checked  # … and closed
    revealed: Checked  # … and every rating revealed
    final: Checked  # … and the reveals ended


@pytest.fixture(scope="module")
def stages(module_ledgers: LedgerStore) -> Stages:
    store = module_ledgers
    awarded = Checked(store.url("awarded"), store.directory / "awarded-keys", CliRunner())
    awarded.ok("init")
    keys = build(awarded)
    opened = copy_of(awarded, store, "open")
    opened.ok("review", "open", PACKAGE, "--period", PERIOD, "--as", COUNCIL, "--on", OPENED_ON)
    for rater, ratee in RATINGS:
        rate(opened, rater, ratee)
    closed = copy_of(opened, store, "closed")
    closed.ok("review", "close", PACKAGE, "--period", PERIOD, "--as", COUNCIL, "--on", CLOSED_ON)
    revealed = copy_of(closed, store, "revealed")
    for rater in RATERS:
        revealed.ok("review", "reveal", PACKAGE, "--period", PERIOD, "--as", rater,
                    "--on", REVEALED_ON)  # fmt: skip
    final = copy_of(revealed, store, "final")
    final.ok(
        "review", "finalise", PACKAGE, "--period", PERIOD, "--as", COUNCIL, "--on", REVEALED_ON
    )
    return Stages(awarded, keys, opened, closed, revealed, final)


def failed(ledger: CliLedger, code: int, *args: str) -> str:
    """Run a command that must fail with ``code``, plainly and without writing anything."""
    before = events(ledger)
    result = ledger.run(*args)
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert result.stdout == ""
    if code == 1:  # refused: one plain sentence
        assert result.stderr.startswith("Error: ")
    else:  # a usage error: click's usage line, then the error
        assert result.stderr.startswith("Usage: ")
        assert "\nError: " in result.stderr
    assert events(ledger) == before
    return result.stderr


def test_review_commands_on_an_empty_ledger(cli_ledger: CliLedger) -> None:
    ledger = Checked(cli_ledger.url, cli_ledger.keys, cli_ledger.runner)
    assert failed(ledger, 1, "review", "status", PACKAGE, "--period", PERIOD) == (
        f"Error: no package {PACKAGE!r} in this ledger\n"
    )
    assert failed(ledger, 1, "report", "reviews", "--as", COUNCIL) == (
        f"Error: no organisation with handle {COUNCIL!r} in this ledger\n"
    )
    assert failed(ledger, 1, "review", "open", PACKAGE, "--period", PERIOD, "--as", COUNCIL) == (
        f"Error: no organisation with handle {COUNCIL!r} in this ledger\n"
    )


# -- opening and rating ------------------------------------------------------------------------


def test_each_commitment_is_recorded_once_and_shows_no_rating(
    stages: Stages, ledgers: LedgerStore
) -> None:
    ledger = copy_of(stages.awarded, ledgers)
    before = events(ledger)
    opened = ledger.ok("review", "open", PACKAGE, "--period", PERIOD, "--as", COUNCIL,
                       "--on", OPENED_ON)  # fmt: skip
    assert f"ReviewRoundOpened: {COUNCIL} opened the review of {PACKAGE} for {PERIOD} (" in (
        opened.stdout
    )
    assert ", ".join(DIMS) in opened.stdout
    rated = rate(ledger, "beta-trust", PRIME)
    assert re.fullmatch(
        r"Recorded #\d+ RatingCommitted: beta-trust committed a sealed rating of big-prime "
        r"\(commitment [0-9a-f]{12}…\)\n",
        rated.stdout,
    )
    assert events(ledger) == before + 2
    assert "Slow to pay." not in rated.stdout
    stored = b"".join(row[4] for row in event_rows(ledger.url))
    assert b"Slow to pay." not in stored
    assert b'"scores"' not in stored


def test_status_lists_who_committed_but_no_score(stages: Stages) -> None:
    ledger = stages.open
    status = json.loads(
        ledger.ok("review", "status", PACKAGE, "--period", PERIOD, "--format", "json").stdout
    )
    assert (status["package"], status["period"], status["owner"], status["status"]) == (
        PACKAGE, PERIOD, COUNCIL, "open",
    )  # fmt: skip
    assert status["dimensions"] == DIMS
    assert {(r["rater"], r["ratee"]) for r in status["ratings"]} == set(RATINGS)
    assert len(status["ratings"]) == len(RATINGS)
    for row in status["ratings"]:
        assert set(row) == {"rater", "ratee", "committed_on", "revealed_on", "commitment"}
        assert row["committed_on"] == RATED_ON
        assert row["revealed_on"] is None
        assert re.fullmatch(r"[0-9a-f]{64}", row["commitment"])
    assert len({r["commitment"] for r in status["ratings"]}) == len(RATINGS)

    table = ledger.ok("review", "status", PACKAGE, "--period", PERIOD).stdout
    assert table.startswith(f"Review of {PACKAGE} for {PERIOD}: open, owned by {COUNCIL}\n")
    for row in status["ratings"]:
        assert f"{row['commitment'][:16]}…" in table
        assert row["commitment"] not in table  # shortened in a table
    rows = list(csv.DictReader(io.StringIO(
        ledger.ok("review", "status", PACKAGE, "--period", PERIOD, "--format", "csv").stdout
    )))  # fmt: skip
    assert [(r["rater"], r["ratee"], r["commitment"]) for r in rows] == [
        (r["rater"], r["ratee"], r["commitment"]) for r in status["ratings"]
    ]
    rounds = json.loads(ledger.ok("review", "status", PACKAGE, "--format", "json").stdout)
    assert [(r["period"], r["owner"], r["status"], r["opened"]) for r in rounds] == [
        (PERIOD, COUNCIL, "open", OPENED_ON)
    ]
    everything = table + json.dumps(status) + json.dumps(rows) + json.dumps(rounds)
    for _, comment in RATINGS.values():
        if comment:
            assert comment not in everything
    assert '"scores"' not in everything


@pytest.mark.parametrize(
    ("rater", "ratee", "scores", "message"),
    [
        ("alpha-care", "gamma-aid", flat(3, payment=6),
         "Error: score for payment '6' is not a whole number from 1 to 5"),
        ("alpha-care", "gamma-aid", flat(3, openness=0),
         "Error: score for openness '0' is not a whole number from 1 to 5"),
        ("alpha-care", "gamma-aid", {s: 3 for s in DIMS if s != "equality"},
         "Error: score every dimension of the round; missing: equality"),
        ("alpha-care", "gamma-aid", {**flat(3), "bogus": 3},
         "Error: this round has no dimension 'bogus'"),
        (PRIME, COUNCIL, flat(3),
         f"Error: {PRIME} (prime) does not rate {COUNCIL} (commissioner) in package {PACKAGE}; "
         f"it may rate: {PRIME}, {', '.join(SUBS)}"),
        ("gamma-aid", COUNCIL, flat(3), "Error: gamma-aid (subcontractors) does not rate"),
        (OUTSIDER, PRIME, flat(3),
         f"Error: {OUTSIDER} is not a party to package {PACKAGE}, so it does not rate in it"),
        (COUNCIL, OUTSIDER, flat(3), f"Error: {OUTSIDER} is not a party to package {PACKAGE}"),
        ("alpha-care", PRIME, RATINGS[("alpha-care", PRIME)][0],
         "Error: alpha-care has already committed a rating of big-prime in this round; "
         "a sealed rating cannot be changed"),
        ("alpha-care", PRIME, flat(1),
         "Error: alpha-care has already committed a rating of big-prime"),
    ],
    ids=["score-6", "score-0", "missing", "unknown", "prime-rates-council",
         "sub-rates-council", "outsider-rates", "outsider-rated", "second-same",
         "second-different"],
)  # fmt: skip
def test_refused_ratings_write_nothing(
    stages: Stages, rater: str, ratee: str, scores: dict[str, int], message: str
) -> None:
    error = failed(stages.open, 1, "review", "rate", PACKAGE, "--period", PERIOD, "--as", rater,
                   "--ratee", ratee, *score_args(scores))  # fmt: skip
    assert error.startswith(message)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["review", "reveal", PACKAGE, "--period", PERIOD, "--as", "alpha-care"],
         f"the review of {PACKAGE} for {PERIOD} is still open: ratings are revealed only after "
         f"{COUNCIL} closes it"),
        (["review", "close", PACKAGE, "--period", PERIOD, "--as", PRIME],
         f"only {COUNCIL}, who opened the review of {PACKAGE} for {PERIOD}, can close it"),
        (["review", "open", PACKAGE, "--period", PERIOD, "--as", COUNCIL],
         f"package {PACKAGE} already has a review round for {PERIOD}"),
        (["review", "open", PACKAGE, "--period", "2026-Q2", "--as", PRIME],
         f"only {COUNCIL}, the commissioner of {PACKAGE}, can open its review"),
        (["review", "open", PACKAGE, "--period", "2027-Q2", "--as", COUNCIL],
         f"2027-Q2 is outside package {PACKAGE}'s contract"),
        (["review", "open", PACKAGE, "--period", "2026-Q2", "--as", COUNCIL, "--dimension",
          "co-design"], "dimension 'co-design' is not a default one: give it a title"),
        (["review", "rate", PACKAGE, "--period", "2026-Q2", "--as", "alpha-care", "--ratee",
          PRIME, *score_args(flat(3))], f"no review round for package {PACKAGE} in 2026-Q2"),
        (["review", "rate", PACKAGE, "--period", "2026-13", "--as", "alpha-care", "--ratee",
          PRIME, *score_args(flat(3))], "review period '2026-13' is not a period"),
        (["review", "rate", PACKAGE, "--period", PERIOD, "--as", "alpha-care", "--ratee",
          "gamma-aid", "--on", "2099-01-01", *score_args(flat(3))],
         "the date 2099-01-01 is in the future"),
        (["review", "rate", PACKAGE, "--period", PERIOD, "--as", "nobody", "--ratee",
          PRIME, *score_args(flat(3))], "no organisation with handle 'nobody'"),
        (["review", "open", PACKAGE, "--period", "2026-Q2", "--as", COUNCIL, "--min-group", "2"],
         "minimum group size is never below 3"),
    ],
    ids=["reveal-while-open", "close-not-owner", "open-twice", "prime-opens",
         "outside-contract", "untitled-dimension", "no-round", "bad-period", "future",
         "unknown-rater", "min-group-2"],
)  # fmt: skip
def test_refused_steps_while_open_write_nothing(
    stages: Stages, args: list[str], message: str
) -> None:
    assert failed(stages.open, 1, *args).startswith(f"Error: {message}")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["review", "rate", PACKAGE, "--period", PERIOD, "--as", "alpha-care", "--ratee",
          PRIME, "--score", "openness"], "Invalid value for '--score': 'openness': use DIMENSION=SCORE"),
        (["review", "rate", PACKAGE, "--period", PERIOD, "--as", "alpha-care", "--ratee",
          PRIME, "--score", "=3"], "Invalid value for '--score': '=3': use DIMENSION=SCORE"),
        (["review", "rate", PACKAGE, "--period", PERIOD, "--as", "alpha-care", "--ratee",
          PRIME, "--score", "openness=3,openness=4"],
         "Invalid value for '--score': openness is scored twice"),
        (["review", "rate", PACKAGE, "--period", PERIOD, "--as", "alpha-care", "--ratee",
          PRIME, "--score", "openness=3", "--score", "openness=4"],
         "Invalid value for '--score': openness is scored twice"),
        (["review", "reveal", PACKAGE, "--period", PERIOD, "--as", "alpha-care", "--ratee",
          PRIME, "--score", "openness:3"], "Invalid value for '--score'"),
        (["review", "rate", PACKAGE, "--period", PERIOD, "--as", "alpha-care",
          *score_args(flat(3))], "Missing option '--ratee'"),
        (["review", "rate", PACKAGE, "--as", "alpha-care", "--ratee", PRIME,
          *score_args(flat(3))], "Missing option '--period'"),
        (["report", "reviews", "--as", COUNCIL, "--format", "xml"], "Invalid value for '--format'"),
        (["review", "reveal", PACKAGE, "--period", PERIOD, "--as", "alpha-care", "--ratee",
          PRIME, "--comment", "kinder words"], "--comment is checked only with --score"),
    ],
    ids=["no-equals", "no-slug", "twice-in-one", "twice-repeated", "reveal-colon",
         "no-ratee", "no-period", "bad-format", "comment-without-score"],
)  # fmt: skip
def test_usage_errors_exit_2(stages: Stages, args: list[str], message: str) -> None:
    assert message in failed(stages.open, 2, *args)


# -- closing and revealing ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["review", "rate", PACKAGE, "--period", PERIOD, "--as", "beta-trust", "--ratee",
          "gamma-aid", *score_args(flat(3))],
         f"the review of {PACKAGE} for {PERIOD} is closed: ratings can no longer be committed"),
        (["review", "close", PACKAGE, "--period", PERIOD, "--as", COUNCIL],
         f"the review of {PACKAGE} for {PERIOD} is already closed"),
        (["review", "reveal", PACKAGE, "--period", PERIOD, "--as", "alpha-care",
          *score_args(RATINGS[("alpha-care", PRIME)][0])],
         "give --ratee with --score: scores belong to one rating"),
        (["review", "reveal", PACKAGE, "--period", PERIOD, "--as", "alpha-care", "--ratee",
          COUNCIL], f"alpha-care committed no rating of {COUNCIL} in this round"),
        (["review", "reveal", PACKAGE, "--period", PERIOD, "--as", OUTSIDER],
         f"{OUTSIDER} has no unrevealed rating in the review of {PACKAGE} for {PERIOD}"),
    ],
    ids=["rate-after-close", "close-twice", "score-without-ratee", "nothing-to-reveal",
         "outsider-reveals"],
)  # fmt: skip
def test_refused_steps_once_closed_write_nothing(
    stages: Stages, args: list[str], message: str
) -> None:
    assert failed(stages.closed, 1, *args).startswith(f"Error: {message}")


def test_a_reveal_must_match_the_commitment(stages: Stages, ledgers: LedgerStore) -> None:
    ledger = copy_of(stages.closed, ledgers)
    scores, comment = RATINGS[("alpha-care", PRIME)]
    reveal = ["review", "reveal", PACKAGE, "--period", PERIOD, "--as", "alpha-care",
              "--ratee", PRIME, "--on", REVEALED_ON]  # fmt: skip
    kinder = {**scores, "fairness": scores["fairness"] + 1}
    for attempt in (
        [*score_args(kinder), "--comment", comment],  # a kinder score
        [*score_args(scores), "--comment", comment + " Sorry."],  # another comment
    ):
        error = failed(ledger, 1, *reveal, *attempt)
        assert error == (
            f"Error: this rating of {PRIME} does not match what alpha-care committed to while "
            "the round was open; a sealed rating cannot change after the fact, so nothing was "
            "revealed\n"
        )
    status = json.loads(
        ledger.ok("review", "status", PACKAGE, "--period", PERIOD, "--format", "json").stdout
    )
    assert all(r["revealed_on"] is None for r in status["ratings"])

    before = events(ledger)
    matched = ledger.ok(*reveal, *score_args(scores, split=False))  # comment as committed
    assert re.fullmatch(
        r"Recorded #\d+ RatingRevealed: alpha-care revealed its rating to the round's owner "
        r"\(sealed\)\n",
        matched.stdout,
    )
    assert events(ledger) == before + 1
    again = failed(ledger, 1, *reveal)
    assert again == f"Error: alpha-care has already revealed its rating of {PRIME}\n"
    # The rest of alpha-care's ratings, and nothing twice.
    rest = ledger.ok("review", "reveal", PACKAGE, "--period", PERIOD, "--as", "alpha-care")
    mine = [ratee for rater, ratee in RATINGS if rater == "alpha-care" and ratee != PRIME]
    assert rest.stdout.count("RatingRevealed") == len(mine)
    status = json.loads(
        ledger.ok("review", "status", PACKAGE, "--period", PERIOD, "--format", "json").stdout
    )
    revealed = {(r["rater"], r["ratee"]) for r in status["ratings"] if r["revealed_on"]}
    assert revealed == {("alpha-care", ratee) for ratee in [PRIME, *mine]}


def test_every_rater_reveals_once(stages: Stages) -> None:
    status = json.loads(
        stages.revealed.ok("review", "status", PACKAGE, "--period", PERIOD, "--format", "json")
        .stdout
    )  # fmt: skip
    assert status["status"] == "closed"
    assert {(r["rater"], r["ratee"]) for r in status["ratings"] if r["revealed_on"]} == set(RATINGS)
    assert {r["revealed_on"] for r in status["ratings"]} == {REVEALED_ON}
    for rater in (PRIME, "alpha-care"):  # each has revealed more than one rating
        error = failed(stages.revealed, 1, "review", "reveal", PACKAGE, "--period", PERIOD,
                       "--as", rater)  # fmt: skip
        assert error.startswith(f"Error: {rater} has no unrevealed rating")


# -- report reviews ------------------------------------------------------------------------------


def others(ratee: str, slug: str) -> list[int]:
    return [s[slug] for (rater, r), (s, _) in RATINGS.items() if r == ratee and rater != ratee]


def test_the_owner_sees_every_rating_by_group(stages: Stages) -> None:
    ledger = stages.revealed
    report = json.loads(
        ledger.ok("report", "reviews", "--package", PACKAGE, "--as", COUNCIL, "--format", "json")
        .stdout
    )  # fmt: skip
    assert report["view"] == "owner"
    assert report["sharing"].startswith("owner only, not for sharing")  # on its face
    assert report["rounds"] == [{
        "package": PACKAGE, "period": PERIOD, "owner": COUNCIL, "status": "closed",
        "dimensions": DIMS, "revealed": len(RATINGS), "unusable": 0,
    }]  # fmt: skip
    assert report["unusable"] == []
    expected: dict[tuple[str, str, str], list[int]] = {}
    for (rater, ratee), (scores, _) in RATINGS.items():
        for slug, score in scores.items():
            expected.setdefault((ratee, slug, group_of(rater, ratee)), []).append(score)
    cells = {(c["ratee"], c["dimension"], c["group"]): c for c in report["cells"]}
    assert set(cells) == set(expected)
    for key, scores in expected.items():
        cell = cells[key]
        assert cell["n"] == len(scores)
        assert Decimal(cell["median"]) == Decimal(str(statistics.median(scores)))
        assert cell["range"] == f"{min(scores)}-{max(scores)}"
        assert cell["distribution"] == {str(v): scores.count(v) for v in range(1, 6)}
    gaps = {(g["ratee"], g["dimension"]): g for g in report["gaps"]}
    for slug in DIMS:
        median = Decimal(str(statistics.median(others(PRIME, slug))))
        assert Decimal(gaps[(PRIME, slug)]["gap"]) == RATINGS[(PRIME, PRIME)][0][slug] - median
    assert gaps[(PRIME, "commitments")]["ledger_value"] == "0.0"  # nothing paid yet

    table = ledger.ok("report", "reviews", "--package", PACKAGE, "--as", COUNCIL).stdout
    assert table.startswith("OWNER ONLY, NOT FOR SHARING: ")  # on its face (issue 22)
    assert (
        f"\nReview of {PACKAGE} for {PERIOD} (owner {COUNCIL}, closed): {len(RATINGS)} ratings "
        "revealed, 0 that count for nothing\n"
    ) in table
    for title in ("Ratings by ratee, dimension and rater group", "Self-assessment against others",
                  "Mutual ratings", "Trend: others' median by period",
                  "Commitments that count for nothing"):  # fmt: skip
        assert f"\n{title}" in table

    rows = list(csv.DictReader(io.StringIO(
        ledger.ok("report", "reviews", "--package", PACKAGE, "--as", COUNCIL, "--format", "csv")
        .stdout
    )))  # fmt: skip
    assert len(rows) == len(report["cells"])
    for row, cell in zip(rows, report["cells"], strict=True):
        assert row["distribution"] == " ".join(str(n) for n in cell["distribution"].values())
        assert {k: v for k, v in row.items() if k != "distribution"} == {
            k: str(v) for k, v in cell.items() if k != "distribution"
        }


def test_only_the_owner_reads_the_ratings(stages: Stages) -> None:
    for handle in (PRIME, "alpha-care"):
        error = failed(stages.revealed, 1, "report", "reviews", "--package", PACKAGE,
                       "--as", handle)  # fmt: skip
        assert error == (
            f"Error: {handle} owns none of these review rounds (owned by {COUNCIL}); only a "
            "round's owner can read its ratings\n"
        )


def test_the_shared_view_waits_for_the_round_to_be_final(stages: Stages) -> None:
    args = ["report", "reviews", "--package", PACKAGE, "--as", COUNCIL, "--for", PRIME]
    shared = json.loads(stages.revealed.ok(*args, "--format", "json").stdout)
    assert shared["rounds"] == []
    assert shared["not_final"] == [{"package": PACKAGE, "period": PERIOD, "status": "closed"}]
    assert "is closed, not final" in stages.revealed.ok(*args).stdout
    # The minimum group is the round's: a report cannot choose another.
    failed(stages.final, 2, *args, "--min-group", "4")
    for late in ("alpha-care", PRIME):
        error = failed(stages.final, 1, "review", "reveal", PACKAGE, "--period", PERIOD,
                       "--as", late)  # fmt: skip
        assert (
            error == f"Error: the review of {PACKAGE} for {PERIOD} is final: reveals have ended\n"
        )


def test_the_prime_shared_view_names_no_rater(stages: Stages) -> None:
    ledger = stages.final
    args = ["report", "reviews", "--package", PACKAGE, "--as", COUNCIL, "--for", PRIME]
    shared = json.loads(ledger.ok(*args, "--format", "json").stdout)
    table = ledger.ok(*args).stdout
    flat_csv = ledger.ok(*args, "--format", "csv").stdout
    for text in (json.dumps(shared), table, flat_csv):
        for rater in (COUNCIL, *SUBS):
            assert rater not in text
    assert (shared["view"], shared["ratee"], shared["not_final"]) == ("shared", PRIME, [])
    (view,) = shared["rounds"]
    assert view["min_group"] == 3
    subs_of = {slug: [RATINGS[(s, PRIME)][0][slug] for s in SUBS] for slug in DIMS}
    for dim in view["dimensions"]:
        slug = dim["dimension"]
        assert dim["self"] == RATINGS[(PRIME, PRIME)][0][slug]
        # Three subcontractors show unless they agree; the council alone never shows.
        mixed = len(set(subs_of[slug])) > 1
        assert [g["group"] for g in dim["groups"]] == (["subcontractors"] if mixed else [])
        for g in dim["groups"]:
            assert g["n"] == len(SUBS)
            assert g["distribution"] == {str(v): subs_of[slug].count(v) for v in range(1, 6)}
        assert any("commissioner: fewer than 3 raters" in w for w in dim["withheld"])
        assert mixed or any("same score" in w for w in dim["withheld"])
    assert not all(len(set(v)) > 1 for v in subs_of.values())  # the scenario withholds some
    expected = sorted(c for (r, e), (_, c) in RATINGS.items() if e == PRIME and r in SUBS and c)
    assert view["comments"] == expected
    assert table.startswith(f"How {PRIME} was rated: no rating attributed")
    assert f"Review of {PACKAGE} for {PERIOD} (groups of 3 or more)" in table
    assert "Comments (unattributed):" in table
    assert RATINGS[(COUNCIL, PRIME)][1] not in table + json.dumps(shared)  # a group of one
    assert set(next(csv.reader(io.StringIO(flat_csv)))) >= {"dimension", "group", "n", "median"}


def test_the_shared_view_prints_no_python_none(stages: Stages) -> None:
    args = ["report", "reviews", "--package", PACKAGE, "--as", COUNCIL, "--for", PRIME]
    shared = json.loads(stages.final.ok(*args, "--format", "json").stdout)
    payment = next(d for d in shared["rounds"][0]["dimensions"] if d["dimension"] == "payment")
    assert payment["ledger"]["value"] is None  # no invoice yet: nothing to measure
    for fmt in ("table", "csv"):
        out = stages.final.ok(*args, "--format", fmt).stdout
        assert "None" not in out
        assert "invoices paid within 30 days %: nothing yet" in out


def test_review_findings_join_report_findings(stages: Stages) -> None:
    ledger = stages.revealed
    args = ["report", "findings", "--package", PACKAGE, "--format", "json"]
    with_reviews = json.loads(ledger.ok(*args, "--as", COUNCIL).stdout)
    without = json.loads(ledger.ok(*args).stdout)
    assert not REVIEW_RULES & {f["rule"] for f in without}
    review = {f["rule"]: f for f in with_reviews if f["rule"] in REVIEW_RULES}
    assert [f for f in with_reviews if f["rule"] not in REVIEW_RULES] == without

    t = Thresholds()
    own = RATINGS[(PRIME, PRIME)][0]
    medians = {s: Decimal(str(statistics.median(others(PRIME, s)))) for s in DIMS}
    many = {s for s in DIMS if len(others(PRIME, s)) >= t.review_min_raters}
    expected = set()
    if any(own[s] - medians[s] >= t.review_self_gap for s in many):
        expected.add("SELF_OTHER_GAP")
    if any(medians[s] <= t.review_low_median for s in many):
        expected.add("LOW_RATED")
    # Nothing has been paid, so "promised value delivered" is 0%: poor beside a high median.
    if "commitments" in many and medians["commitments"] >= t.review_high_median:
        expected.add("PERCEPTION_GAP")
    assert expected == REVIEW_RULES  # the scenario is built to show all three
    assert set(review) == expected
    for finding in review.values():
        assert finding["organisations"] == [PRIME]
        assert finding["package"] == PACKAGE
        assert finding["evidence"]
    assert "fairness of contracting and funding" in review["LOW_RATED"]["finding"]
    assert "honouring commitments rated well" in review["PERCEPTION_GAP"]["finding"]
    table = ledger.ok("report", "findings", "--package", PACKAGE, "--as", COUNCIL).stdout
    assert all(rule in table for rule in REVIEW_RULES)
    refused = failed(ledger, 1, "report", "findings", "--package", PACKAGE, "--as", PRIME)
    assert "owns none of these review rounds" in refused


# -- encryption keys ----------------------------------------------------------------------------


def test_org_show_lists_each_encryption_key(stages: Stages) -> None:
    assert set(stages.encryption_keys) == {COUNCIL, PRIME, *SUBS, OUTSIDER}
    assert len(set(stages.encryption_keys.values())) == len(stages.encryption_keys)
    for handle, key_id in stages.encryption_keys.items():
        (shown,) = json.loads(stages.awarded.ok("org", "show", handle, "--format", "json").stdout)
        assert shown["encryption_key"] == key_id
        assert key_id not in {k["key"] for k in shown["keys"]}  # not a signing key
        assert f"\nencryption:  {key_id}\n" in stages.awarded.ok("org", "show", handle).stdout


def round_key(ledger: CliLedger, period: str) -> str:
    app = open_ledger(ledger.url, ledger.keys)
    return str(app.load(review_round_id(PACKAGE, period)).owner_key_id)


def sealed_to_owner(ledger: CliLedger, period: str, rater: str, ratee: str) -> str:
    app = open_ledger(ledger.url, ledger.keys)
    return sealed_recipient(app.load(rating_id(PACKAGE, period, rater, ratee)).sealed_for_owner)


def test_a_new_encryption_key_seals_new_rounds_and_old_ones_still_open(
    stages: Stages, ledgers: LedgerStore
) -> None:
    ledger = copy_of(stages.awarded, ledgers)
    first = stages.encryption_keys[COUNCIL]
    shown = ledger.ok("org", "show", COUNCIL).stdout
    assert f"\nencryption:  {first}\n" in shown
    assert (
        json.loads(ledger.ok("org", "show", COUNCIL, "--format", "json").stdout)[0][
            "encryption_key"
        ]
        == first
    )

    ledger.ok("review", "open", PACKAGE, "--period", PERIOD, "--as", COUNCIL, "--on", OPENED_ON)
    rate(ledger, "alpha-care", PRIME)
    made = ledger.ok("org", "encryption-key", COUNCIL)
    (second,) = re.findall(rf"^New encryption key for {COUNCIL}: ([0-9a-f]{{64}})$",
                           made.stdout, re.MULTILINE)  # fmt: skip
    assert second != first
    assert (ledger.keys / f"{second}.key").exists()
    assert (ledger.keys / f"{first}.key").exists()  # the old key is kept
    assert f"\nencryption:  {second}\n" in ledger.ok("org", "show", COUNCIL).stdout

    ledger.ok("review", "open", PACKAGE, "--period", "2026-Q2", "--as", COUNCIL,
              "--on", "2026-06-01")  # fmt: skip
    assert (round_key(ledger, PERIOD), round_key(ledger, "2026-Q2")) == (first, second)
    rate(ledger, "alpha-care", PRIME, "2026-Q2")
    # The rater's own key changes too, between committing and revealing.
    ledger.ok("org", "encryption-key", "alpha-care")
    for period in (PERIOD, "2026-Q2"):
        ledger.ok("review", "close", PACKAGE, "--period", period, "--as", COUNCIL)
        ledger.ok("review", "reveal", PACKAGE, "--period", period, "--as", "alpha-care")
    assert sealed_to_owner(ledger, PERIOD, "alpha-care", PRIME) == first
    assert sealed_to_owner(ledger, "2026-Q2", "alpha-care", PRIME) == second

    def report() -> dict[str, Any]:
        return json.loads(
            ledger.ok("report", "reviews", "--package", PACKAGE, "--as", COUNCIL,
                      "--format", "json").stdout
        )  # fmt: skip

    both = report()
    assert [(r["period"], r["revealed"], r["unusable"]) for r in both["rounds"]] == [
        (PERIOD, 1, 0), ("2026-Q2", 1, 0),
    ]  # fmt: skip
    scores = RATINGS[("alpha-care", PRIME)][0]
    for period in (PERIOD, "2026-Q2"):
        cells = {c["dimension"]: c for c in both["cells"] if c["period"] == period}
        assert {slug: int(c["median"]) for slug, c in cells.items()} == scores

    # Without the old key file only the old round's rating stops opening: it was sealed to it.
    (ledger.keys / f"{first}.key").unlink()
    partial = report()
    assert [(r["period"], r["revealed"], r["unusable"]) for r in partial["rounds"]] == [
        (PERIOD, 0, 1), ("2026-Q2", 1, 0),
    ]  # fmt: skip
    (unusable,) = partial["unusable"]
    assert (unusable["period"], unusable["rater"]) == (PERIOD, "alpha-care")
    assert unusable["status"].startswith("does not open")


def test_a_wrong_passphrase_is_refused_and_never_echoed(stages: Stages) -> None:
    wrong = "not the passphrase at all"
    for args in (
        ["review", "reveal", PACKAGE, "--period", PERIOD, "--as", "alpha-care"],
        ["report", "reviews", "--package", PACKAGE, "--as", COUNCIL],
        ["review", "rate", PACKAGE, "--period", PERIOD, "--as", "beta-trust", "--ratee",
         "gamma-aid", *score_args(flat(3))],
    ):  # fmt: skip
        before = events(stages.closed)
        result = stages.closed.run(*args, env={"CHAINLEDGER_PASSPHRASE": wrong})
        assert result.exit_code == 1, (result.stdout, result.stderr)
        assert result.stderr.startswith("Error: ")
        assert "passphrase" in result.stderr
        assert wrong not in result.stdout + result.stderr
        assert events(stages.closed) == before
