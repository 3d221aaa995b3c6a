"""The 360 review's rules without a database: scores and dimensions as the edge accepts them,
who may rate whom, commitments and sealing, statistics, the shared view's k-anonymity, and
the review findings at their thresholds."""

from __future__ import annotations

import base64
import json
import math
import statistics
from collections import Counter
from dataclasses import replace
from decimal import Decimal
from fractions import Fraction
from itertools import count
from typing import Any
from uuid import UUID

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from chainledger.adapters.crypto import Opener, raw_x25519_public_key, seal_to, sealed_recipient
from chainledger.domain.assessment import Finding, Measure, Thresholds
from chainledger.domain.keys import key_fingerprint
from chainledger.domain.review import (
    DEFAULT_DIMENSIONS,
    MAX_DIMENSIONS,
    Dimension,
    Parties,
    RaterGroup,
    RatingContent,
    RatingKey,
    check_dimensions,
    parse_dimension,
    parse_score,
    parse_scores,
)
from chainledger.domain.review_analysis import (
    MIN_GROUP,
    OTHER_GROUPS,
    POOLED,
    OpenedRating,
    RoundRatings,
    Stats,
    check_min_group,
    findings,
    owner_report,
    shared_cells,
    shared_report,
)
from chainledger.errors import InvalidValue, KeyProblem, Refused, TamperError

SLUGS = [d.slug for d in DEFAULT_DIMENSIONS]


# -- scores ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "score"),
    [(1, 1), (5, 5), ("1", 1), ("5", 5), (" 3 ", 3), ("4\n", 4), (3, 3)],
)
def test_parse_score_accepts_whole_numbers_one_to_five(value: object, score: int) -> None:
    result = parse_score(value, "score")
    assert result == score
    assert type(result) is int


@pytest.mark.parametrize(
    "value",
    [True, False, 3.0, 2.5, Decimal(3), 0, 6, -1, "0", "6", "-1", "", "  ", "three", "3.0",
     "+3", "03", "3 4", "３", b"3", None, [3]],
)  # fmt: skip
def test_parse_score_refuses_anything_else(value: object) -> None:
    with pytest.raises(InvalidValue, match="from 1 to 5") as refused:
        parse_score(value, "score for openness")
    assert "score for openness" in str(refused.value)


def test_parse_scores_wants_every_dimension_and_nothing_else() -> None:
    given_scores = {slug: str(i % 5 + 1) for i, slug in enumerate(reversed(SLUGS))}
    parsed = parse_scores(given_scores, DEFAULT_DIMENSIONS)
    assert list(parsed) == SLUGS  # in the round's order, whatever order they came in
    assert parsed == {slug: int(v) for slug, v in given_scores.items()}

    with pytest.raises(InvalidValue, match="missing: support, improvement"):
        parse_scores(
            {s: 3 for s in SLUGS if s not in ("support", "improvement")}, DEFAULT_DIMENSIONS
        )
    with pytest.raises(InvalidValue, match="this round has no dimension 'bogus'") as unknown:
        parse_scores({**dict.fromkeys(SLUGS, 3), "bogus": 3}, DEFAULT_DIMENSIONS)
    assert "its dimensions are: " + ", ".join(SLUGS) in str(unknown.value)
    with pytest.raises(InvalidValue, match="score for payment '6' is not a whole number"):
        parse_scores({**dict.fromkeys(SLUGS, "3"), "payment": "6"}, DEFAULT_DIMENSIONS)
    with pytest.raises(InvalidValue, match="score for clarity must be a whole number"):
        parse_scores({**dict.fromkeys(SLUGS, 3), "clarity": True}, DEFAULT_DIMENSIONS)


def test_parse_scores_for_a_round_of_its_own_dimensions() -> None:
    own = (Dimension("co-design", "Co-design"), Dimension("payment", "Payment reliability"))
    assert parse_scores({"payment": 2, "co-design": "5"}, own) == {"co-design": 5, "payment": 2}
    with pytest.raises(InvalidValue, match="no dimension 'openness'"):
        parse_scores({"payment": 2, "co-design": 5, "openness": 4}, own)
    with pytest.raises(InvalidValue, match="missing: co-design"):
        parse_scores({"payment": 2}, own)


# -- dimensions -----------------------------------------------------------------------------


@pytest.mark.parametrize("slug", SLUGS)
def test_a_default_dimension_needs_no_title(slug: str) -> None:
    default = next(d for d in DEFAULT_DIMENSIONS if d.slug == slug)
    assert parse_dimension(slug) == default
    assert parse_dimension(f" {slug.upper()} ") == default
    assert parse_dimension(f"{slug}:") == default
    assert parse_dimension(f"{slug}:  My own words ") == Dimension(slug, "My own words")


def test_a_new_dimension_needs_a_title() -> None:
    assert parse_dimension("co-design:Co-design of services") == Dimension(
        "co-design", "Co-design of services"
    )
    assert parse_dimension("x" * 30 + ":T") == Dimension("x" * 30, "T")
    for text in ("co-design", "co-design:", "co-design:   "):
        with pytest.raises(InvalidValue, match="'co-design' is not a default one: give it a title"):
            parse_dimension(text)
    with pytest.raises(InvalidValue, match="longer than 100"):
        parse_dimension("co-design:" + "t" * 101)


@pytest.mark.parametrize(
    "text", ["", ":Title", "   :Title", "has space:T", "under_score:T", "x" * 31 + ":T",
             "caf\u00e9:T", "a.b:T", "a/b:T"],
)  # fmt: skip
def test_bad_slugs_are_refused(text: str) -> None:
    with pytest.raises(InvalidValue, match="use slug or slug:Title"):
        parse_dimension(text)


def test_a_round_names_between_one_and_twenty_dimensions_each_once() -> None:
    assert check_dimensions(DEFAULT_DIMENSIONS) == DEFAULT_DIMENSIONS
    with pytest.raises(InvalidValue, match="at least one"):
        check_dimensions(())
    many = tuple(Dimension(f"d{i}", "T") for i in range(MAX_DIMENSIONS + 1))
    assert check_dimensions(many[:MAX_DIMENSIONS]) == many[:MAX_DIMENSIONS]
    with pytest.raises(InvalidValue, match=f"at most {MAX_DIMENSIONS}"):
        check_dimensions(many)
    with pytest.raises(InvalidValue, match="each dimension once"):
        check_dimensions((DEFAULT_DIMENSIONS[0], Dimension("openness", "Again")))


# -- who may rate whom ---------------------------------------------------------------------

COMMISSIONER, PRIME, SUBS = "council", "big-prime", frozenset({"s-one", "s-two", "s-three"})
PARTIES = Parties(COMMISSIONER, PRIME, SUBS)
EVERYONE = [COMMISSIONER, PRIME, *sorted(SUBS), "outsider"]


def allowed(parties: Parties, rater: str, ratee: str) -> bool:
    """The rules, written out once more: anyone rates itself; the commissioner anyone; the
    prime its subcontractors; a subcontractor the prime and the other subcontractors."""
    members = {parties.commissioner, parties.prime, *parties.subcontractors} - {None}
    if rater not in members or ratee not in members:
        return False
    if rater == ratee or rater == parties.commissioner:
        return True
    if rater == parties.prime:
        return ratee in parties.subcontractors
    return ratee == parties.prime or ratee in parties.subcontractors


@pytest.mark.parametrize("parties", [PARTIES, Parties(COMMISSIONER, None, SUBS)])
def test_may_rate_and_check_may_rate_follow_the_rules(parties: Parties) -> None:
    for rater in EVERYONE:
        may = parties.may_rate(rater)
        assert len(may) == len(set(may))
        for ratee in EVERYONE:
            expected = allowed(parties, rater, ratee)
            assert (ratee in may) is expected, (rater, ratee)
            if expected:
                parties.check_may_rate(rater, ratee, "P-1")
            else:
                with pytest.raises(Refused, match="P-1"):
                    parties.check_may_rate(rater, ratee, "P-1")


def test_who_may_rate_whom_by_role() -> None:
    assert PARTIES.may_rate(COMMISSIONER) == [COMMISSIONER, PRIME, *sorted(SUBS)]
    assert PARTIES.may_rate(PRIME) == [PRIME, *sorted(SUBS)]
    assert PARTIES.may_rate("s-one") == ["s-one", PRIME, "s-three", "s-two"]
    assert PARTIES.may_rate("outsider") == []


def test_refusals_say_why() -> None:
    with pytest.raises(
        Refused, match=r"big-prime \(prime\) does not rate council \(commissioner\)"
    ):
        PARTIES.check_may_rate(PRIME, COMMISSIONER, "P-1")
    with pytest.raises(Refused, match=r"s-one \(subcontractors\) does not rate council"):
        PARTIES.check_may_rate("s-one", COMMISSIONER, "P-1")
    with pytest.raises(
        Refused, match="outsider is not a party to package P-1, so it does not rate"
    ):
        PARTIES.check_may_rate("outsider", PRIME, "P-1")
    with pytest.raises(Refused, match=r"^outsider is not a party to package P-1$"):
        PARTIES.check_may_rate(COMMISSIONER, "outsider", "P-1")


def test_a_rating_counts_in_the_raters_group() -> None:
    assert PARTIES.group(PRIME, PRIME) is RaterGroup.SELF
    assert PARTIES.group(COMMISSIONER, PRIME) is RaterGroup.COMMISSIONER
    assert PARTIES.group(PRIME, "s-one") is RaterGroup.PRIME
    assert PARTIES.group("s-two", PRIME) is RaterGroup.SUBCONTRACTORS
    with pytest.raises(Refused, match="not a party"):
        PARTIES.group("outsider", PRIME)


# -- commitments and sealing ---------------------------------------------------------------

KEY = RatingKey(UUID(int=1), "P-1", "2026-Q1", "s-one", PRIME)
CONTENT = RatingContent(dict.fromkeys(SLUGS, 3), "Fine.", "ab" * 32)


def test_a_commitment_is_deterministic_and_hides_the_rating() -> None:
    commitment = KEY.commitment(CONTENT)
    assert commitment == KEY.commitment(RatingContent(dict(CONTENT.scores), "Fine.", "ab" * 32))
    assert len(commitment) == 64
    assert set(commitment) <= set("0123456789abcdef")
    assert "Fine." not in commitment


@pytest.mark.parametrize(
    ("key", "content"),
    [
        (KEY, replace(CONTENT, scores={**CONTENT.scores, "payment": 4})),
        (KEY, replace(CONTENT, comment="Fine")),
        (KEY, replace(CONTENT, comment="")),
        (KEY, replace(CONTENT, salt="ab" * 31 + "ac")),
        (replace(KEY, rater="s-two"), CONTENT),
        (replace(KEY, ratee="s-two"), CONTENT),
        (replace(KEY, package="P-2"), CONTENT),
        (replace(KEY, period="2026-Q2"), CONTENT),
        (replace(KEY, ledger_id=UUID(int=2)), CONTENT),
    ],
    ids=["scores", "comment", "no-comment", "salt", "rater", "ratee", "package", "period",
         "ledger"],
)  # fmt: skip
def test_a_commitment_changes_with_anything_it_binds(
    key: RatingKey, content: RatingContent
) -> None:
    assert key.commitment(content) != KEY.commitment(CONTENT)


def test_a_sealing_context_is_per_reader_and_per_place() -> None:
    contexts = {
        KEY.sealing_context("rater"),
        KEY.sealing_context("owner"),
        replace(KEY, rater="s-two").sealing_context("owner"),
        replace(KEY, period="2026-Q2").sealing_context("owner"),
    }
    assert len(contexts) == 4
    assert KEY.sealing_context("owner") == KEY.sealing_context("owner")


def test_rating_content_round_trips_and_refuses_malformed_bytes() -> None:
    assert RatingContent.from_bytes(CONTENT.to_bytes()) == CONTENT
    for bad in (b"not json", b"{}", b'{"scores": 3, "comment": "", "salt": ""}'):
        with pytest.raises(InvalidValue, match="not well formed"):
            RatingContent.from_bytes(bad)


def x25519() -> tuple[X25519PrivateKey, bytes]:
    private = X25519PrivateKey.generate()
    return private, raw_x25519_public_key(private)


def test_sealed_content_opens_with_the_right_key_and_context() -> None:
    private, public = x25519()
    context = KEY.sealing_context("owner")
    plaintext = CONTENT.to_bytes()
    sealed = seal_to(public, plaintext, context)
    assert b"Fine." not in sealed.encode()
    assert sealed_recipient(sealed) == key_fingerprint(public)
    assert sealed != seal_to(public, plaintext, context)  # a fresh ephemeral key and nonce
    other_private, _ = x25519()
    opener = Opener("council", (other_private, private))  # old keys are kept beside new ones
    assert opener.open(sealed, context) == plaintext
    assert repr(opener) == "Opener(org='council')"  # never a key


def test_sealed_content_moved_elsewhere_does_not_open() -> None:
    private, public = x25519()
    sealed = seal_to(public, b"secret", KEY.sealing_context("owner"))
    opener = Opener("council", (private,))
    for context in (KEY.sealing_context("rater"), replace(KEY, ratee="s-two").sealing_context("owner"), b""):  # fmt: skip
        with pytest.raises(TamperError, match="altered or moved"):
            opener.open(sealed, context)


@pytest.mark.parametrize("part", ["ct", "nonce", "epk"])
def test_altered_sealed_content_does_not_open(part: str) -> None:
    private, public = x25519()
    context = KEY.sealing_context("owner")
    value = json.loads(seal_to(public, b"secret rating", context))
    raw = bytearray(base64.b64decode(value[part]))
    raw[-1] ^= 0x01
    value[part] = base64.b64encode(bytes(raw)).decode()
    with pytest.raises(TamperError, match="altered or moved"):
        Opener("council", (private,)).open(json.dumps(value), context)


@pytest.mark.parametrize("sealed", ["", "{}", "[1]", '{"alg": "ROT13", "to": "x"}', "not json"])
def test_malformed_sealed_values_are_tampering(sealed: str) -> None:
    private, _ = x25519()
    with pytest.raises(TamperError, match="malformed"):
        Opener("council", (private,)).open(sealed, b"")


def test_content_sealed_to_another_key_is_a_key_problem() -> None:
    _, public = x25519()
    mine, _ = x25519()
    sealed = seal_to(public, b"secret", b"ctx")
    with pytest.raises(KeyProblem, match="not one of council's encryption keys"):
        Opener("council", (mine,)).open(sealed, b"ctx")


# -- statistics -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scores", "median"),
    [([3], "3"), ([1, 5, 2], "2"), ([5, 1, 4, 2, 3], "3"), ([1, 2], "1.5"), ([4, 1, 3, 2], "2.5"),
     ([2, 2, 4, 4], "3"), ([1, 1, 1, 5], "1")],
)  # fmt: skip
def test_median_of_odd_and_even_counts(scores: list[int], median: str) -> None:
    stats = Stats.of(scores)
    assert stats.median == Decimal(median)
    assert stats.median == Decimal(str(statistics.median(scores)))


@pytest.mark.parametrize(
    ("scores", "mean"),
    # 9/4 = 2.25 and 41/20 = 2.05: half-up gives 2.3 and 2.1 where banker's rounding gives
    # 2.2 and 2.0; 4/3 = 1.33… and 5/3 = 1.66… round to the nearest tenth.
    [([1, 2, 3, 3], "2.3"), ([2] * 19 + [3], "2.1"), ([1, 1, 2], "1.3"), ([1, 2, 2], "1.7"),
     ([4, 4], "4.0"), ([1, 2], "1.5")],
)  # fmt: skip
def test_mean_rounds_half_up_to_a_tenth(scores: list[int], mean: str) -> None:
    stats = Stats.of(scores)
    assert stats.mean == Decimal(mean)
    assert str(stats.mean) == mean


def test_stats_distribution_range_and_dict() -> None:
    stats = Stats.of([5, 1, 5, 3])
    assert (stats.n, stats.low, stats.high) == (4, 1, 5)
    assert stats.distribution == (1, 0, 1, 0, 2)
    assert stats.as_dict() == {
        "n": 4, "median": "4", "mean": "3.5", "range": "1-5",
        "distribution": {"1": 1, "2": 0, "3": 1, "4": 0, "5": 2},
    }  # fmt: skip
    assert Stats.from_distribution(stats.distribution) == stats
    with pytest.raises(ValueError, match="no scores"):
        Stats.of([])


@given(st.lists(st.integers(1, 5), min_size=1, max_size=40))
def test_stats_agree_with_exact_arithmetic(scores: list[int]) -> None:
    stats = Stats.of(scores)
    assert stats.n == len(scores)
    assert stats.median == Decimal(str(statistics.median(scores)))
    exact = Fraction(sum(scores), len(scores))
    assert stats.mean == Decimal(math.floor(exact * 10 + Fraction(1, 2))) / 10  # half up
    assert abs(Fraction(stats.mean) - exact) <= Fraction(1, 20)
    assert stats.distribution == tuple(scores.count(v) for v in range(1, 6))
    assert (stats.low, stats.high) == (min(scores), max(scores))


# -- the shared view --------------------------------------------------------------------------

RATEE = "the-ratee"
DIMS = (Dimension("openness", "Openness and communication"), Dimension("co-design", "Co-design"))


def rating(
    rater: str,
    group: RaterGroup,
    scores: dict[str, int],
    comment: str = "",
    ratee: str = RATEE,
    nid: int = 1,
) -> OpenedRating:
    return OpenedRating(rater, ratee, group, scores, comment, (nid,))


def round_of(
    ratings: list[OpenedRating],
    dims: tuple[Dimension, ...] = DIMS,
    *,
    min_group: int = 3,
    status: str = "final",
) -> RoundRatings:
    return RoundRatings("P-1", "2026-Q1", "council", status, dims, 1, ratings,
                        min_group=min_group)  # fmt: skip


@st.composite
def random_rounds(draw: st.DrawFn) -> tuple[RoundRatings, int, dict[str, RaterGroup]]:
    """One ratee rated by 0–7 raters in each other group (and perhaps itself), random scores."""
    min_group = draw(st.integers(3, 5))
    ratings: list[OpenedRating] = []
    raters: dict[str, RaterGroup] = {}
    nids = count(1)
    for group in OTHER_GROUPS:
        for i in range(draw(st.integers(0, 7))):
            handle = f"rater-{group.value}-{i}"
            scores = {d.slug: draw(st.integers(1, 5)) for d in DIMS}
            comment = draw(st.sampled_from(["", f"note {len(ratings)}"]))
            ratings.append(rating(handle, group, scores, comment, nid=next(nids)))
            raters[handle] = group
    if draw(st.booleans()):
        own = {d.slug: draw(st.integers(1, 5)) for d in DIMS}
        ratings.append(rating(RATEE, RaterGroup.SELF, own, "note self", nid=next(nids)))
    return round_of(draw(st.permutations(ratings)), min_group=min_group), min_group, raters


@settings(max_examples=200, deadline=None)
@given(random_rounds())
def test_the_shared_view_shows_only_large_mixed_groups(
    drawn: tuple[RoundRatings, int, dict[str, RaterGroup]],
) -> None:
    r, k, raters = drawn
    for dim in DIMS:
        by_group = {g: r.scores(RATEE, dim.slug, [g]) for g in OTHER_GROUPS}
        small = {g for g, s in by_group.items() if 0 < len(s) < k}
        shown, withheld = shared_cells(r, RATEE, dim.slug, k)
        alone = [c.members[0] for c in shown if c.group != POOLED]
        pooled = [set(c.members) for c in shown if c.group == POOLED]
        assert len(pooled) <= 1
        for cell in shown:
            assert cell.stats.n >= k
            assert sum(1 for c in cell.stats.distribution if c) >= 2
            assert RaterGroup.SELF not in cell.members
            members = [s for g in cell.members for s in by_group[g]]
            assert cell.stats == Stats.of(members)
            if cell.group == POOLED:
                assert set(cell.members) == small  # exactly the groups too small alone
            else:
                assert cell.members == (RaterGroup(cell.group),)
                assert len(by_group[cell.members[0]]) >= k
        assert not set(alone) & {g for p in pooled for g in p}  # never alone and pooled
        assert len(alone) == len(set(alone))
        # And everything that may be shown is: a large group, or the pool, unless unanimous.
        for g, s in by_group.items():
            if len(s) >= k:
                assert (g in alone) is (len(set(s)) > 1)
        pool_scores = [s for g in small for s in by_group[g]]
        assert bool(pooled) is (len(pool_scores) >= k and len(set(pool_scores)) > 1)
        assert len(shown) + len(withheld) == sum(1 for s in by_group.values() if len(s) >= k) + (
            1 if small else 0
        )

    report = shared_report([r], RATEE)
    text = json.dumps(report)
    for handle in raters:
        assert handle not in text
    if not r.ratings:
        assert report["rounds"] == []
        return
    (view,) = report["rounds"]
    for dim, shown_dim in zip(DIMS, view["dimensions"], strict=True):
        assert shown_dim["self"] == r.self_score(RATEE, dim.slug)
        visible = [
            v for g in shown_dim["groups"]
            for v, c in g["distribution"].items() for _ in range(c)
        ]  # fmt: skip
        if visible:
            median = Decimal(str(statistics.median(int(v) for v in visible)))
            assert Decimal(shown_dim["others_median"]) == median
        else:
            assert shown_dim["others_median"] is None
    sizes = {g: sum(1 for x in r.ratings if x.group is g) for g in OTHER_GROUPS}
    pool = [g for g, n in sizes.items() if 0 < n < k]
    from_groups = {g for g, n in sizes.items() if n >= k}
    if sum(sizes[g] for g in pool) >= k:
        from_groups |= set(pool)
    expected = sorted(x.comment for x in r.ratings if x.group in from_groups and x.comment)
    assert view["comments"] == expected
    assert "note self" not in view["comments"]


def visible_scores(report: dict[str, Any], slug: str) -> Counter[int]:
    """Every score a shared report lets its reader count for one dimension."""
    (view,) = report["rounds"]
    (dim,) = [d for d in view["dimensions"] if d["dimension"] == slug]
    return Counter(
        int(v) for g in dim["groups"] for v, n in g["distribution"].items() for _ in range(n)
    )


def test_a_round_has_one_shared_view_which_no_caller_can_vary() -> None:
    """Two views of one round that differ by a single rater would give that rater away
    (subtract one from the other). So the minimum group is the round's, fixed when it
    was opened, and only final rounds (no reveal can be added) are shown."""
    ratings = [
        rating(f"sub-{i}", RaterGroup.SUBCONTRACTORS, {"openness": score, "co-design": 3})
        for i, score in enumerate((2, 3, 4))
    ]
    ratings.append(rating("council", RaterGroup.COMMISSIONER, {"openness": 5, "co-design": 3}))
    with pytest.raises(TypeError):
        shared_report([round_of(ratings)], RATEE, 4)  # type: ignore[call-arg]
    for k in (3, 4):
        r = round_of(ratings, min_group=k)
        assert shared_report([r], RATEE) == shared_report([r], RATEE)
        assert shared_report([r], RATEE)["rounds"][0]["min_group"] == k
    still_revealing = shared_report([round_of(ratings[:3], status="closed")], RATEE)
    assert still_revealing["rounds"] == []
    assert still_revealing["not_final"] == [
        {"package": "P-1", "period": "2026-Q1", "status": "closed"}
    ]


def test_minimum_group_is_never_below_three() -> None:
    assert check_min_group("3") == MIN_GROUP == 3
    assert check_min_group(7) == 7
    for bad, message in (("2", "never below 3"), (0, "never below 3"), ("x", "whole number"),
                         ("3.5", "whole number"), (1001, "at most 1000")):  # fmt: skip
        with pytest.raises(InvalidValue, match=message):
            check_min_group(bad)
    r = round_of([rating(f"r{i}", RaterGroup.SUBCONTRACTORS, {"openness": 1 + i % 2,
                                                              "co-design": 3}) for i in range(4)])  # fmt: skip
    with pytest.raises(InvalidValue, match="never below 3"):
        shared_cells(r, RATEE, "openness", 2)
    with pytest.raises(InvalidValue, match="never below 3"):
        shared_report([round_of(r.ratings, min_group=2)], RATEE)


def test_the_owner_sees_every_group_and_pair() -> None:
    ratings = [
        rating("a", RaterGroup.SUBCONTRACTORS, {"openness": 2, "co-design": 4}, nid=1),
        rating("b", RaterGroup.SUBCONTRACTORS, {"openness": 3, "co-design": 4}, nid=2),
        rating(RATEE, RaterGroup.SELF, {"openness": 5, "co-design": 5}, nid=3),
        rating(RATEE, RaterGroup.PRIME, {"openness": 4, "co-design": 1}, ratee="a", nid=4),
        rating("a", RaterGroup.SUBCONTRACTORS, {"openness": 1, "co-design": 2}, ratee="b", nid=5),
    ]
    report = owner_report([round_of(ratings)])
    cells = {(c["ratee"], c["dimension"], c["group"]): c for c in report["cells"]}
    assert cells[(RATEE, "openness", "subcontractors")]["n"] == 2
    assert cells[(RATEE, "openness", "subcontractors")]["median"] == "2.5"
    assert cells[(RATEE, "openness", "self")]["n"] == 1
    assert sum(c["n"] for c in report["cells"]) == len(ratings) * len(DIMS)
    gaps = {(g["ratee"], g["dimension"]): g for g in report["gaps"]}
    assert gaps[(RATEE, "openness")]["gap"] == str(5 - Decimal("2.5"))
    assert gaps[(RATEE, "co-design")]["gap"] == "1"
    pairs = {(m["a"], m["b"]): m for m in report["matrix"]}
    a_rated_ratee = pairs.get(("a", RATEE)) or pairs[(RATEE, "a")]
    means = {a_rated_ratee["a"]: a_rated_ratee["a_rated_b"],
             a_rated_ratee["b"]: a_rated_ratee["b_rated_a"]}  # fmt: skip
    assert means == {"a": "3.0", RATEE: "2.5"}
    assert pairs[("a", "b")]["b_rated_a"] is None
    assert len(report["matrix"]) == 3  # a-ratee, b-ratee, a-b; self-ratings are no pair


# -- findings -------------------------------------------------------------------------------

COMMITMENTS = next(d for d in DEFAULT_DIMENSIONS if d.slug == "commitments")
FAIRNESS = next(d for d in DEFAULT_DIMENSIONS if d.slug == "fairness")
MEASURE_NIDS = (901, 902)


def rated(
    others: list[int],
    own: int | None = None,
    measure: Decimal | str | None = "none",
    dims: tuple[Dimension, ...] = (COMMITMENTS,),
) -> RoundRatings:
    """A round where subcontractors gave ``others`` on every dimension (and the ratee ``own``),
    with the ledger's measure beside commitments (``"none"`` for no measure at all)."""
    ratings = [
        rating(f"sub-{i}", RaterGroup.SUBCONTRACTORS, {d.slug: score for d in dims}, nid=10 + i)
        for i, score in enumerate(others)
    ]
    if own is not None:
        ratings.append(rating(RATEE, RaterGroup.SELF, {d.slug: own for d in dims}, nid=99))
    r = round_of(ratings, dims)
    if measure != "none":
        value = None if measure is None else Decimal(measure)
        r.measures = {RATEE: {"commitments": Measure("value delivered %", value, MEASURE_NIDS)}}
    return r


def rules(r: RoundRatings, t: Thresholds | None = None) -> dict[str, Finding]:
    found = findings([r], t or Thresholds())
    assert all(f.organisations == (RATEE,) and f.package == "P-1" for f in found)
    assert len({f.rule for f in found}) == len(found)  # one per rule, ratee and round
    return {f.rule: f for f in found}


@pytest.mark.parametrize(
    ("others", "own", "gap", "min_raters", "fires"),
    [([3, 3, 3], 4, "1", 3, True), ([3, 3, 3], 3, "1", 3, False), ([3], 4, "1", 3, False),
     ([3], 4, "1", 1, True), ([3, 4], 4, "1", 2, False), ([3, 4], 5, "1.5", 2, True),
     ([4, 4], 5, "1.5", 2, False), ([3, 4], 4, "0.5", 2, True), ([3, 4], 4, "0.5", 3, False),
     ([4, 4, 5], 4, "0", 3, True), ([4, 4, 5], 3, "0", 3, False),
     ([5, 5, 5], None, "0", 3, False)],
)  # fmt: skip
def test_self_other_gap_fires_at_the_threshold(
    others: list[int], own: int | None, gap: str, min_raters: int, fires: bool
) -> None:
    """A self-rating at least review_self_gap above the median of at least review_min_raters
    others' ratings (fewer others say nothing, and could single one out)."""
    t = Thresholds(review_self_gap=Decimal(gap), review_min_raters=min_raters)
    found = rules(rated(others, own), t)
    assert ("SELF_OTHER_GAP" in found) is fires
    if fires:
        finding = found["SELF_OTHER_GAP"]
        assert finding.severity == "low"
        median = Decimal(str(statistics.median(others)))
        assert f"others' median {median}, n={len(others)}, self {own}" in finding.sentence
        assert f"at least {gap} above" in finding.sentence


@pytest.mark.parametrize(
    ("others", "low", "min_raters", "fires"),
    [([2, 2, 2], "2", 3, True), ([1, 2, 3], "2", 3, True), ([2, 3, 3], "2", 3, False),
     ([2, 2, 3, 3], "2", 3, False), ([2, 2, 3, 3], "2.5", 3, True), ([1, 1], "2", 3, False),
     ([1, 1], "2", 2, True), ([1, 1, 1], "0.9", 3, False), ([1, 1, 1], "1", 3, True)],
)  # fmt: skip
def test_low_rated_fires_at_the_threshold(
    others: list[int], low: str, min_raters: int, fires: bool
) -> None:
    t = Thresholds(review_low_median=Decimal(low), review_min_raters=min_raters)
    found = rules(rated(others), t)
    assert ("LOW_RATED" in found) is fires
    if fires:
        assert found["LOW_RATED"].severity == "medium"
        assert "honouring commitments (others' median" in found["LOW_RATED"].sentence


def test_a_self_rating_is_not_counted_among_the_others() -> None:
    found = rules(rated([2, 2, 2], own=5))
    assert "others' median 2, n=3" in found["LOW_RATED"].sentence
    assert "self 5" in found["SELF_OTHER_GAP"].sentence
    assert 99 in found["LOW_RATED"].evidence  # every rating of the ratee is evidence


def test_one_finding_per_rule_names_every_dimension() -> None:
    found = rules(rated([1, 2, 2], dims=(FAIRNESS, COMMITMENTS)))
    sentence = found["LOW_RATED"].sentence
    assert "fairness of contracting and funding" in sentence
    assert "honouring commitments" in sentence


@pytest.mark.parametrize(
    ("others", "measure", "way"),
    [([4, 4, 4], "59.9", "well"), ([4, 4, 4], "60", None), ([3, 4, 5], "0", "well"),
     ([3, 4, 4], "59.9", "well"), ([3, 3, 4], "0", None), ([4, 4], "0", None),
     ([2, 2, 2], "90", "poorly"), ([2, 2, 2], "89.9", None), ([1, 2, 3, 5], "100", None),
     ([1, 2, 2, 5], "100", "poorly"), ([4, 4, 4], None, None), ([4, 4, 4], "none", None)],
)  # fmt: skip
def test_perception_gap_fires_at_the_thresholds(
    others: list[int], measure: str | None, way: str | None
) -> None:
    found = rules(rated(others, measure=measure))
    assert ("PERCEPTION_GAP" in found) is (way is not None)
    if way is not None:
        finding = found["PERCEPTION_GAP"]
        assert finding.severity == "medium"
        assert f"honouring commitments rated {way}" in finding.sentence
        assert f"while the ledger shows value delivered % {Decimal(measure)}" in finding.sentence
        assert set(MEASURE_NIDS) <= set(finding.evidence)
        assert {10 + i for i in range(len(others))} <= set(finding.evidence)


def test_perception_gap_follows_changed_thresholds() -> None:
    r = rated([3, 3, 3], measure="70")
    assert "PERCEPTION_GAP" not in rules(r)
    high = Thresholds(review_high_median=Decimal(3), evidence_poor_pct=Decimal("70.1"))
    assert "PERCEPTION_GAP" in rules(r, high)
    assert "PERCEPTION_GAP" not in rules(r, replace(high, evidence_poor_pct=Decimal(70)))
    low = Thresholds(review_low_median=Decimal(3), evidence_good_pct=Decimal(70))
    assert "rated poorly" in rules(r, low)["PERCEPTION_GAP"].sentence
    assert "PERCEPTION_GAP" not in rules(r, replace(low, evidence_good_pct=Decimal("70.1")))


def test_findings_are_ordered_by_severity() -> None:
    found = findings([rated([2, 2, 2], own=5, measure="95")], Thresholds())
    assert [f.rule for f in found] == ["LOW_RATED", "PERCEPTION_GAP", "SELF_OTHER_GAP"]
    assert findings([round_of([])], Thresholds()) == []
