"""What a rated organisation can learn from everything a non-owner may see of a 360 review
round, taken together (issue 22): no rater's score on any dimension may be pinned.

A non-owner may see the shared views of every organisation rated (``report reviews --for``,
and the page made with ``--as``, whose review section is those views) and the findings
without ``--as`` (no rating enters them; the page test checks the page holds no review
findings). For random rounds, every assignment of scores to the raters is tried; those
that produce exactly the same outputs are the ones the observer cannot tell apart, and
each rater must keep at least two possible scores among them.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from chainledger.domain.review import DEFAULT_DIMENSIONS, MAX_SCORE, MIN_SCORE, RaterGroup
from chainledger.domain.review_analysis import (
    OpenedRating,
    RoundRatings,
    owner_report,
    shared_report,
)

PRIME = "prime"
DIMENSION = DEFAULT_DIMENSIONS[0]
SCORES = range(MIN_SCORE, MAX_SCORE + 1)

# (rater, group) of those who rate the prime besides itself: subcontractors and the lone
# commissioner, the group the issue found pinned.
Raters = list[tuple[str, RaterGroup]]


def round_of(raters: Raters, scores: tuple[int, ...], own: int, min_group: int) -> RoundRatings:
    ratings = [OpenedRating(PRIME, PRIME, RaterGroup.SELF, {DIMENSION.slug: own}, "", (1, 2))]
    ratings += [OpenedRating(rater, PRIME, group, {DIMENSION.slug: score}, "", (3, 4))
                for (rater, group), score in zip(raters, scores, strict=True)]  # fmt: skip
    return RoundRatings("P-1", "2026-Q2", "council", "final", (DIMENSION,), 1, ratings,
                        min_group=min_group)  # fmt: skip


def shared_outputs(r: RoundRatings) -> str:
    """Everything a non-owner may see that rests on the ratings: the shared views."""
    return json.dumps(shared_report([r], PRIME), sort_keys=True, default=str)


def with_owner_statistics(r: RoundRatings) -> str:
    """The shared views and the owner's report: what the page showed before issue 22."""
    return shared_outputs(r) + json.dumps(owner_report([r]), sort_keys=True, default=str)


def possible_scores(raters: Raters, true: tuple[int, ...], own: int, min_group: int,
                    observe: Callable[[RoundRatings], str]) -> list[set[int]]:  # fmt: skip
    """For each rater, the scores it may have given, given what ``observe`` shows."""
    seen = observe(round_of(raters, true, own, min_group))
    possible: list[set[int]] = [set() for _ in raters]
    for scores in itertools.product(SCORES, repeat=len(raters)):
        if observe(round_of(raters, scores, own, min_group)) == seen:
            for rater_possible, score in zip(possible, scores, strict=True):
                rater_possible.add(score)
    return possible


@st.composite
def rounds(draw: Any) -> tuple[Raters, tuple[int, ...], int, int]:
    subcontractors = draw(st.integers(min_value=0, max_value=4))
    raters: Raters = [(f"s{i}", RaterGroup.SUBCONTRACTORS) for i in range(subcontractors)]
    raters.append(("council", RaterGroup.COMMISSIONER))
    scores = tuple(draw(st.integers(MIN_SCORE, MAX_SCORE)) for _ in raters)
    own = draw(st.integers(MIN_SCORE, MAX_SCORE))
    min_group = draw(st.sampled_from([3, 4]))
    return raters, scores, own, min_group


@settings(max_examples=40, deadline=None)
@given(rounds())
def test_no_rater_is_pinned_by_what_a_non_owner_sees(
    case: tuple[Raters, tuple[int, ...], int, int],
) -> None:
    raters, scores, own, min_group = case
    possible = possible_scores(raters, scores, own, min_group, shared_outputs)
    for (rater, _), values in zip(raters, possible, strict=True):
        assert len(values) >= 2, f"{rater}'s score is pinned to {values}"


def test_the_check_catches_owner_statistics_beside_the_shared_view() -> None:
    """The property can fail: with the owner's statistics beside the shared views (as the
    page made with --as once showed them, in its review findings), the lone commissioner's
    score is pinned."""
    raters: Raters = [("s0", RaterGroup.SUBCONTRACTORS), ("s1", RaterGroup.SUBCONTRACTORS),
                      ("s2", RaterGroup.SUBCONTRACTORS), ("council", RaterGroup.COMMISSIONER)]  # fmt: skip
    scores = (2, 3, 4, 5)
    assert min(len(v) for v in possible_scores(raters, scores, 4, 3, shared_outputs)) >= 2
    leaked = possible_scores(raters, scores, 4, 3, with_owner_statistics)
    assert leaked[-1] == {5}  # the commissioner's score, exactly
