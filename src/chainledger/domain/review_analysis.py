"""What a 360 review round says: statistics, gaps, the mutual matrix, trends and findings.

Two views. The *owner's* view (the commissioner who opened the round) sees
every revealed rating's statistics per ratee, dimension and rater group. The
*shared* view is what a rated organisation may see: only groups of at least
``min_group`` raters (never fewer than three), smaller groups pooled or
suppressed, and never a cell whose raters all gave the same score — an
aggregate of identical scores would tell each rater's score. Comments come
without attribution, only from groups large enough to show.

Everything here is pure: ratings arrive already opened and checked.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from chainledger.domain.assessment import Finding, Measure, Thresholds, shown
from chainledger.domain.review import (
    MAX_SCORE,
    MIN_GROUP,
    MIN_SCORE,
    Dimension,
    RaterGroup,
    check_min_group,
)

OTHER_GROUPS = (RaterGroup.PRIME, RaterGroup.SUBCONTRACTORS, RaterGroup.COMMISSIONER)
POOLED = "pooled"
TENTH = Decimal("0.1")


@dataclass(frozen=True)
class OpenedRating:
    """A revealed rating that opened and matched its commitment."""

    rater: str
    ratee: str
    group: RaterGroup
    scores: dict[str, int]
    comment: str
    evidence: tuple[int, ...]  # the commitment's and the reveal's notification ids


@dataclass(frozen=True)
class Unusable:
    """A commitment that counts for nothing, and why (never revealed, mismatched, …)."""

    rater: str
    ratee: str
    reason: str
    evidence: tuple[int, ...]


@dataclass
class RoundRatings:
    """One round with its opened ratings and the ledger measures beside them."""

    package: str
    period: str
    owner: str
    status: str
    dimensions: tuple[Dimension, ...]
    nid: int
    ratings: list[OpenedRating] = field(default_factory=list)
    unusable: list[Unusable] = field(default_factory=list)
    measures: dict[str, dict[str, Measure]] = field(default_factory=dict)  # ratee -> slug ->
    roles: dict[str, str] = field(default_factory=dict)  # party -> its part in the package
    min_group: int = MIN_GROUP  # the round's: the smallest group its shared view shows

    _index: tuple[int, dict[str, list[OpenedRating]]] = field(
        default_factory=lambda: (-1, {}), repr=False, compare=False
    )

    @property
    def ratees(self) -> list[str]:
        return sorted(self._by_ratee())

    def of(self, ratee: str) -> list[OpenedRating]:
        """The ratings of ``ratee``, from an index rebuilt only when ratings were added."""
        return self._by_ratee().get(ratee, [])

    def _by_ratee(self) -> dict[str, list[OpenedRating]]:
        if self._index[0] != len(self.ratings):
            index: dict[str, list[OpenedRating]] = {}
            for rating in self.ratings:
                index.setdefault(rating.ratee, []).append(rating)
            self._index = (len(self.ratings), index)
        return self._index[1]

    def scores(self, ratee: str, slug: str, groups: Iterable[RaterGroup]) -> list[int]:
        wanted = set(groups)
        return [r.scores[slug] for r in self.of(ratee) if r.group in wanted]

    def self_score(self, ratee: str, slug: str) -> int | None:
        mine = self.scores(ratee, slug, [RaterGroup.SELF])
        return mine[0] if mine else None


@dataclass(frozen=True)
class Stats:
    """n, median, mean, range and distribution of some 1–5 scores."""

    n: int
    median: Decimal
    mean: Decimal
    low: int
    high: int
    distribution: tuple[int, ...]  # how many gave 1, 2, 3, 4, 5

    @classmethod
    def of(cls, scores: list[int]) -> Stats:
        if not scores:
            raise ValueError("no scores")
        counts = tuple(scores.count(n) for n in range(MIN_SCORE, MAX_SCORE + 1))
        ordered = sorted(scores)
        middle = len(ordered) // 2
        median = (
            Decimal(ordered[middle])
            if len(ordered) % 2
            else (Decimal(ordered[middle - 1]) + Decimal(ordered[middle])) / 2
        )
        return cls(
            n=len(scores),
            median=median,
            mean=(Decimal(sum(scores)) / len(scores)).quantize(TENTH, ROUND_HALF_UP),
            low=min(scores),
            high=max(scores),
            distribution=counts,
        )

    @classmethod
    def from_distribution(cls, counts: tuple[int, ...]) -> Stats:
        return cls.of([MIN_SCORE + i for i, c in enumerate(counts) for _ in range(c)])

    def as_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "median": str(self.median),
            "mean": str(self.mean),
            "range": f"{self.low}-{self.high}",
            "distribution": {str(MIN_SCORE + i): c for i, c in enumerate(self.distribution)},
        }


def _others(r: RoundRatings, ratee: str, slug: str) -> list[int]:
    return r.scores(ratee, slug, OTHER_GROUPS)


# -- the owner's view ------------------------------------------------------------------------


def cells(r: RoundRatings) -> list[dict[str, Any]]:
    """Per ratee, dimension and rater group: the statistics of the revealed scores."""
    rows = []
    for ratee in r.ratees:
        for dim in r.dimensions:
            for group in RaterGroup:
                scores = r.scores(ratee, dim.slug, [group])
                if scores:
                    rows.append(_cell_row(r, ratee, dim, group.value, Stats.of(scores)))
    return rows


def _cell_row(
    r: RoundRatings, ratee: str, dim: Dimension, group: str, stats: Stats
) -> dict[str, Any]:
    return {
        "package": r.package,
        "period": r.period,
        "ratee": ratee,
        "dimension": dim.slug,
        "group": group,
        **stats.as_dict(),
    }


def gaps(r: RoundRatings) -> list[dict[str, Any]]:
    """Per ratee and dimension: its self-rating against the median of everyone else's."""
    rows = []
    for ratee in r.ratees:
        for dim in r.dimensions:
            own = r.self_score(ratee, dim.slug)
            others = _others(r, ratee, dim.slug)
            if own is None or not others:
                continue
            median = Stats.of(others).median
            rows.append({
                "package": r.package, "period": r.period, "ratee": ratee,
                "dimension": dim.slug, "self": own, "others_n": len(others),
                "others_median": str(median), "gap": str(own - median),
                **_measure_fields(r, ratee, dim.slug),
            })  # fmt: skip
    return rows


def _measure_fields(r: RoundRatings, ratee: str, slug: str) -> dict[str, Any]:
    measure = r.measures.get(ratee, {}).get(slug)
    if measure is None:
        return {"ledger_measure": None, "ledger_value": None}
    return {"ledger_measure": measure.label, "ledger_value": _s(shown(measure.value))}


def _s(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _mean_of(rating: OpenedRating) -> Decimal:
    values = list(rating.scores.values())
    return (Decimal(sum(values)) / len(values)).quantize(TENTH, ROUND_HALF_UP)


def matrix(r: RoundRatings) -> list[dict[str, Any]]:
    """How A rated B beside how B rated A (mean over the dimensions), for each pair."""
    given = {(x.rater, x.ratee): x for x in r.ratings if x.rater != x.ratee}
    rows = []
    for (a, b), rating in sorted(given.items()):
        back = given.get((b, a))
        if back is not None and b < a:
            continue  # the pair was listed from the other side
        rows.append({
            "package": r.package, "period": r.period, "a": a, "b": b,
            "a_rated_b": str(_mean_of(rating)),
            "b_rated_a": str(_mean_of(back)) if back else None,
            "difference": str(_mean_of(rating) - _mean_of(back)) if back else None,
        })  # fmt: skip
    return rows


def trend(rounds: list[RoundRatings]) -> list[dict[str, Any]]:
    """Per package, ratee and dimension: others' median in each period, oldest first."""
    series: dict[tuple[str, str, str], dict[str, str]] = {}
    for r in sorted(rounds, key=lambda x: (x.package, _period_key(x.period))):
        for ratee in r.ratees:
            for dim in r.dimensions:
                others = _others(r, ratee, dim.slug)
                if others:
                    key = (r.package, ratee, dim.slug)
                    series.setdefault(key, {})[r.period] = str(Stats.of(others).median)
    return [
        {"package": p, "ratee": ratee, "dimension": slug, "medians": medians}
        for (p, ratee, slug), medians in sorted(series.items())
    ]


def _period_key(period: str) -> tuple[int, int]:
    year, _, rest = period.partition("-")
    month = (int(rest[1:]) - 1) * 3 + 1 if rest.startswith("Q") else int(rest)
    return int(year), month


def unusable(r: RoundRatings) -> list[dict[str, Any]]:
    return [
        {"package": r.package, "period": r.period, "rater": u.rater, "ratee": u.ratee,
         "status": u.reason, "evidence": list(u.evidence)}
        for u in sorted(r.unusable, key=lambda u: (u.rater, u.ratee))
    ]  # fmt: skip


def owner_report(rounds: list[RoundRatings]) -> dict[str, Any]:
    """Everything the round owner sees, in sections."""
    return {
        "view": "owner",
        # on the face of the output: its statistics can single out a rater
        "sharing": "owner only, not for sharing; share the view of --for HANDLE instead",
        "rounds": [
            {"package": r.package, "period": r.period, "owner": r.owner, "status": r.status,
             "dimensions": [d.slug for d in r.dimensions], "revealed": len(r.ratings),
             "unusable": len(r.unusable)}
            for r in rounds
        ],
        "cells": [row for r in rounds for row in cells(r)],
        "gaps": [row for r in rounds for row in gaps(r)],
        "matrix": [row for r in rounds for row in matrix(r)],
        "trend": trend(rounds),
        "unusable": [row for r in rounds for row in unusable(r)],
    }  # fmt: skip


# -- the shared view: what a rated organisation may see --------------------------------------


@dataclass(frozen=True)
class SharedCell:
    group: str  # a rater group, or "pooled" for small groups taken together
    members: tuple[RaterGroup, ...]
    stats: Stats


def shared_cells(
    r: RoundRatings, ratee: str, slug: str, min_group: int
) -> tuple[list[SharedCell], list[str]]:
    """The groups of others' scores ``ratee`` may see for one dimension, and what was held back.

    A group of ``min_group`` raters or more shows on its own; smaller groups are
    pooled and the pool shows if it is large enough. Any cell whose scores are
    all equal is withheld: its mean would be every rater's score.
    """
    min_group = check_min_group(min_group)
    shown: list[SharedCell] = []
    withheld: list[str] = []
    small: list[RaterGroup] = []
    for group in OTHER_GROUPS:
        scores = r.scores(ratee, slug, [group])
        if len(scores) >= min_group:
            _show_or_withhold(SharedCell(group.value, (group,), Stats.of(scores)), shown, withheld)
        elif scores:
            small.append(group)
    if small:
        pooled = r.scores(ratee, slug, small)
        names = ", ".join(g.value for g in small)
        if len(pooled) >= min_group:
            _show_or_withhold(SharedCell(POOLED, tuple(small), Stats.of(pooled)), shown, withheld)
        else:
            withheld.append(f"{names}: fewer than {min_group} raters, not shown")
    return shown, withheld


def _show_or_withhold(cell: SharedCell, shown: list[SharedCell], withheld: list[str]) -> None:
    if cell.stats.low == cell.stats.high:
        label = ", ".join(g.value for g in cell.members)
        withheld.append(f"{label}: every rater gave the same score, not shown")
    else:
        shown.append(cell)


def shared_report(rounds: list[RoundRatings], ratee: str) -> dict[str, Any]:
    """What ``ratee`` may see of how it was rated, round by round.

    A view must not change, or two views could be subtracted to single out a
    rating: so only *final* rounds are shown (no reveal can be added), each with
    the minimum group fixed when it was opened, and rounds are never pooled.
    """
    views = []
    waiting = []
    for r in rounds:
        if not r.of(ratee):
            continue
        if r.status != "final":
            waiting.append({"package": r.package, "period": r.period, "status": r.status})
            continue
        min_group = check_min_group(r.min_group)
        dimensions = []
        for dim in r.dimensions:
            shown, withheld = shared_cells(r, ratee, dim.slug, min_group)
            visible = [
                MIN_SCORE + i
                for cell in shown
                for i, count in enumerate(cell.stats.distribution)
                for _ in range(count)
            ]
            own = r.self_score(ratee, dim.slug)
            others_median = Stats.of(visible).median if visible else None
            measure = r.measures.get(ratee, {}).get(dim.slug)
            dimensions.append({
                "dimension": dim.slug,
                "title": dim.title,
                "self": own,
                "groups": [{"group": c.group, "members": [g.value for g in c.members],
                            **c.stats.as_dict()} for c in shown],
                "withheld": withheld,
                "others_median": _s(others_median),
                "self_other_gap": _s(own - others_median) if own is not None and others_median is not None else None,
                "ledger": measure.as_dict() if measure else None,
            })  # fmt: skip
        views.append({
            "package": r.package, "period": r.period, "status": r.status,
            "min_group": min_group, "dimensions": dimensions,
            "comments": shared_comments(r, ratee, min_group),
        })  # fmt: skip
    return {"view": "shared", "ratee": ratee, "rounds": views, "not_final": waiting}


def shared_comments(r: RoundRatings, ratee: str, min_group: int) -> list[str]:
    """Comments from groups (or the pool of small groups) of at least ``min_group`` raters,
    unattributed and in a fixed order that says nothing about who wrote them."""
    by_group = {g: [x for x in r.of(ratee) if x.group is g] for g in OTHER_GROUPS}
    allowed: list[OpenedRating] = []
    small: list[OpenedRating] = []
    for ratings in by_group.values():
        (allowed if len(ratings) >= min_group else small).extend(ratings)
    if len(small) >= min_group:
        allowed.extend(small)
    return sorted(x.comment for x in allowed if x.comment)


# -- findings --------------------------------------------------------------------------------


def findings(rounds: list[RoundRatings], t: Thresholds) -> list[Finding]:
    """SELF_OTHER_GAP, LOW_RATED and PERCEPTION_GAP, one finding per ratee, round and rule.

    Each looks only at dimensions rated by at least ``review_min_raters`` others: a
    median of one or two ratings is not a finding, and would point at its raters.
    """
    found: list[Finding] = []
    for r in rounds:
        for ratee in r.ratees:
            found.extend(_ratee_findings(r, ratee, t))
    order = {"high": 0, "medium": 1, "low": 2}
    return sorted(found, key=lambda f: (order[f.severity], f.rule, f.package, f.organisations))


def _ratee_findings(r: RoundRatings, ratee: str, t: Thresholds) -> list[Finding]:
    gap_notes, low_notes, perception_notes = [], [], []
    evidence: set[int] = set()
    for dim in r.dimensions:
        others = _others(r, ratee, dim.slug)
        if not others:
            continue
        stats = Stats.of(others)
        own = r.self_score(ratee, dim.slug)
        note = f"{dim.title.lower()} (others' median {stats.median}, n={stats.n}"
        if stats.n < t.review_min_raters:
            continue  # too few others to say anything about (or to say it safely)
        if own is not None and own - stats.median >= t.review_self_gap:
            gap_notes.append(f"{note}, self {own})")
        if stats.median <= t.review_low_median:
            low_notes.append(f"{note})")
        measure = r.measures.get(ratee, {}).get(dim.slug)
        if measure is not None and measure.value is not None:
            rated_high = (
                stats.median >= t.review_high_median and measure.value < t.evidence_poor_pct
            )
            rated_low = stats.median <= t.review_low_median and measure.value >= t.evidence_good_pct
            if rated_high or rated_low:
                way = "well" if rated_high else "poorly"
                perception_notes.append(
                    f"{dim.title.lower()} rated {way} (median {stats.median}, n={stats.n}) "
                    f"while the ledger shows {measure.label} {shown(measure.value)}"
                )
                evidence.update(measure.evidence)
    evidence.update(n for x in r.of(ratee) for n in x.evidence)
    where = f"in the {r.period} review of {r.package}"
    result = []
    if gap_notes:
        result.append(_finding(r, "SELF_OTHER_GAP", "low", ratee, evidence,
                               f"{ratee} rated itself at least {t.review_self_gap} above others' median "
                               f"{where}: " + "; ".join(gap_notes) + "."))  # fmt: skip
    if low_notes:
        result.append(_finding(r, "LOW_RATED", "medium", ratee, evidence,
                               f"{ratee} was rated low {where}: " + "; ".join(low_notes) + "."))  # fmt: skip
    if perception_notes:
        result.append(_finding(r, "PERCEPTION_GAP", "medium", ratee, evidence,
                               f"How {ratee} was rated {where} disagrees with the ledger: "
                               + "; ".join(perception_notes) + "."))  # fmt: skip
    return result


def _finding(
    r: RoundRatings, rule: str, severity: str, ratee: str, evidence: set[int], sentence: str
) -> Finding:
    return Finding(rule, severity, r.package, (ratee,), sentence, tuple(sorted(evidence)),
                   (r.roles.get(ratee, ""),))  # fmt: skip


REVIEW_RULE_IDS = ("SELF_OTHER_GAP", "LOW_RATED", "PERCEPTION_GAP")
