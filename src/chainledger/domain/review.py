"""360 review: rounds, sealed ratings, and who may rate whom.

A commissioner opens a review round for a package and a period. While it is
open, each rater records a *commitment* to each rating: the SHA-256 of the
rating with a secret salt, signed by the rater. Nobody can read a commitment,
and nobody can change it. When the round closes, each rater *reveals*: the
rating and its salt, sealed so that only the round's owner can read them. The
owner checks every reveal against its commitment, so a rating given after
seeing what the other side gave cannot pass as the one committed to.

This module holds the rules and the events; sealing (X25519, AES-GCM) is done
by the application, so the domain sees only opaque sealed text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any
from uuid import UUID

from chainledger.domain.aggregate import LedgerAggregate
from chainledger.domain.canonical import canonical_json, digest
from chainledger.domain.events import LedgerEvent, Signer, effective_date, ledger_event
from chainledger.domain.ids import rating_id, review_round_id
from chainledger.domain.keys import decode_key, encode_key, key_fingerprint
from chainledger.domain.values import check_text
from chainledger.errors import InvalidValue, Refused

MIN_SCORE = 1
MAX_SCORE = 5
MAX_DIMENSIONS = 20
# Every sealed rating is this many bytes before encryption, whatever it says: the largest
# content fits (a MAX_COMMENT-character comment of 4-byte characters, 4,000 bytes, and
# MAX_DIMENSIONS scores under 30-character slugs, 700, with the salt and the JSON around).
SEALED_RATING_SIZE = 5120
MAX_COMMENT = 1000
SCORE_TEXTS = frozenset(str(n) for n in range(MIN_SCORE, MAX_SCORE + 1))
SLUG_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,29}\Z")

MIN_GROUP = 3
"""The smallest group of raters whose aggregate a rated organisation may see; never lower."""


def check_min_group(value: object) -> int:
    """A round's minimum group size: a whole number from 3 to 1000."""
    if isinstance(value, bool):
        raise InvalidValue("minimum group size must be a whole number")
    try:
        number = int(str(value).strip())
    except ValueError:
        raise InvalidValue(f"minimum group size must be a whole number, not {value!r}") from None
    if number < MIN_GROUP:
        raise InvalidValue(f"minimum group size is never below {MIN_GROUP}")
    if number > 1000:
        raise InvalidValue("minimum group size must be at most 1000")
    return number


@dataclass(frozen=True)
class Dimension:
    """Something a round asks raters to score, 1 (poor) to 5 (excellent)."""

    slug: str
    title: str


DEFAULT_DIMENSIONS = (
    Dimension("openness", "Openness and communication"),
    Dimension("fairness", "Fairness of contracting and funding"),
    Dimension("payment", "Payment reliability"),
    Dimension("support", "Support and capacity building"),
    Dimension("commitments", "Honouring commitments"),
    Dimension("clarity", "Clarity of performance expectations"),
    Dimension("equality", "Equality, diversity and specialist referral"),
    Dimension("improvement", "Review and improvement"),
)
"""The Code of Practice's themes, as a round's dimensions unless it names its own."""


def parse_dimension(text: str) -> Dimension:
    """``slug`` or ``slug:Title`` (a default dimension's slug needs no title)."""
    slug, _, title = str(text).partition(":")
    slug = slug.strip().lower()
    if not SLUG_PATTERN.match(slug):
        raise InvalidValue(
            f"dimension {text!r}: use slug or slug:Title, the slug a lower-case letter then "
            "letters, digits and hyphens (at most 30)"
        )
    known = {d.slug: d for d in DEFAULT_DIMENSIONS}
    if not title.strip():
        if slug not in known:
            raise InvalidValue(f"dimension {slug!r} is not a default one: give it a title")
        return known[slug]
    return Dimension(slug, check_text(title, f"title of dimension {slug}", max_length=100))


def check_dimensions(dimensions: tuple[Dimension, ...]) -> tuple[Dimension, ...]:
    if not dimensions:
        raise InvalidValue("a round needs at least one dimension")
    if len(dimensions) > MAX_DIMENSIONS:
        raise InvalidValue(f"a round has at most {MAX_DIMENSIONS} dimensions")
    slugs = [d.slug for d in dimensions]
    if len(set(slugs)) != len(slugs):
        raise InvalidValue("a round names each dimension once")
    return dimensions


def parse_score(value: object, what: str) -> int:
    """A whole score from 1 to 5."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise InvalidValue(f"{what} must be a whole number from {MIN_SCORE} to {MAX_SCORE}")
    text = str(value).strip()
    if text not in SCORE_TEXTS:
        raise InvalidValue(
            f"{what} {value!r} is not a whole number from {MIN_SCORE} to {MAX_SCORE}"
        )
    return int(text)


def parse_scores(values: Mapping[str, object], dimensions: tuple[Dimension, ...]) -> dict[str, int]:
    """A score for every dimension of the round, and for nothing else."""
    slugs = [d.slug for d in dimensions]
    unknown = sorted(set(values) - set(slugs))
    if unknown:
        raise InvalidValue(
            f"this round has no dimension {', '.join(map(repr, unknown))}; "
            f"its dimensions are: {', '.join(slugs)}"
        )
    missing = [s for s in slugs if s not in values]
    if missing:
        raise InvalidValue(f"score every dimension of the round; missing: {', '.join(missing)}")
    return {slug: parse_score(values[slug], f"score for {slug}") for slug in slugs}


class RaterGroup(StrEnum):
    """Who gave a rating, relative to whom it rates."""

    SELF = "self"
    PRIME = "prime"
    SUBCONTRACTORS = "subcontractors"
    COMMISSIONER = "commissioner"


@dataclass(frozen=True)
class Parties:
    """The organisations of one package, by the part they play in it."""

    commissioner: str
    prime: str | None
    subcontractors: frozenset[str]

    @property
    def handles(self) -> list[str]:
        head = [self.commissioner] + ([self.prime] if self.prime else [])
        return head + sorted(self.subcontractors)

    def role_of(self, handle: str) -> RaterGroup | None:
        if handle == self.commissioner:
            return RaterGroup.COMMISSIONER
        if handle == self.prime:
            return RaterGroup.PRIME
        if handle in self.subcontractors:
            return RaterGroup.SUBCONTRACTORS
        return None

    def group(self, rater: str, ratee: str) -> RaterGroup:
        """The group a rater's rating of ``ratee`` counts in."""
        if rater == ratee:
            return RaterGroup.SELF
        role = self.role_of(rater)
        if role is None:
            raise Refused(f"{rater} is not a party to this package")
        return role

    def may_rate(self, rater: str) -> list[str]:
        """Whom ``rater`` may rate: itself, and by role (the commissioner anyone; the prime
        its subcontractors; a subcontractor the prime and the other subcontractors)."""
        role = self.role_of(rater)
        if role is RaterGroup.COMMISSIONER:
            return self.handles
        if role is RaterGroup.PRIME:
            return [rater, *sorted(self.subcontractors)]
        if role is RaterGroup.SUBCONTRACTORS:
            return [
                rater,
                *([self.prime] if self.prime else []),
                *sorted(self.subcontractors - {rater}),
            ]
        return []

    def check_may_rate(self, rater: str, ratee: str, package: str) -> None:
        allowed = self.may_rate(rater)
        if not allowed:
            raise Refused(f"{rater} is not a party to package {package}, so it does not rate in it")
        if ratee not in allowed:
            if self.role_of(ratee) is None:
                raise Refused(f"{ratee} is not a party to package {package}")
            raise Refused(
                f"{rater} ({self.role_of(rater)}) does not rate {ratee} ({self.role_of(ratee)}) in "
                f"package {package}; it may rate: {', '.join(allowed)}"
            )


@dataclass(frozen=True)
class RatingContent:
    """What a rater says, with the salt that hides it inside its commitment."""

    scores: dict[str, int]
    comment: str
    salt: str  # 64 hex digits, secret until revealed to the round owner

    def to_bytes(self) -> bytes:
        return canonical_json({"scores": self.scores, "comment": self.comment, "salt": self.salt})

    def sealable(self) -> bytes:
        """What is sealed: the content padded with spaces (which JSON ignores) to
        ``SEALED_RATING_SIZE`` bytes, so that a sealed rating's length says nothing about
        its comment (a 42-character comment was attributable by its 550-byte blob)."""
        data = self.to_bytes()
        if len(data) > SEALED_RATING_SIZE:  # cannot happen within the limits below
            raise InvalidValue("a rating is too large to seal")
        return data.ljust(SEALED_RATING_SIZE, b" ")

    @classmethod
    def from_bytes(cls, data: bytes) -> RatingContent:
        try:
            value = json.loads(data)
            scores = {str(k): int(v) for k, v in dict(value["scores"]).items()}
            return cls(scores, str(value["comment"]), str(value["salt"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidValue(f"a sealed rating is not well formed ({exc})") from None


@dataclass(frozen=True)
class RatingKey:
    """Where a rating belongs: ledger, package, period, rater and ratee."""

    ledger_id: UUID
    package: str
    period: str
    rater: str
    ratee: str

    def commitment(self, content: RatingContent) -> str:
        """SHA-256 over the rating, its place and its salt: binding, and hiding while the
        salt is secret."""
        return digest(
            canonical_json(
                {
                    "purpose": "chainledger rating commitment",
                    **self._place(),
                    "scores": content.scores,
                    "comment": content.comment,
                    "salt": content.salt,
                }
            )
        )

    def sealing_context(self, reader: str) -> bytes:
        """Bound into a sealed rating, so it opens only here and only for ``reader``."""
        return canonical_json(
            {"purpose": "chainledger sealed rating", **self._place(), "reader": reader}
        )

    def _place(self) -> dict[str, str]:
        return {
            "ledger": str(self.ledger_id),
            "package": self.package,
            "period": self.period,
            "rater": self.rater,
            "ratee": self.ratee,
        }


class RoundStatus(StrEnum):
    OPEN = "open"  # raters commit
    CLOSED = "closed"  # raters reveal
    FINAL = "final"  # reveals ended; what was revealed is what counts


class ReviewRound(LedgerAggregate):
    """One package's review for one period, owned by the commissioner who opened it."""

    package: str
    period: str
    owner: str
    dimensions: tuple[Dimension, ...]
    owner_key: bytes  # the X25519 key ratings are sealed to when revealed
    min_group: int  # the smallest group a rated organisation's shared view shows
    status: RoundStatus
    opened_on: date
    closed_on: date | None

    @classmethod
    def open(
        cls,
        signer: Signer,
        *,
        package: str,
        period: str,
        dimensions: tuple[Dimension, ...],
        owner_key: bytes,
        min_group: int = MIN_GROUP,
    ) -> ReviewRound:
        return cls._create(
            ReviewRoundOpened,
            id=review_round_id(package, period),
            ledger_id=signer.ledger_id,
            signer=signer,
            package=package,
            period=period,
            dimensions=check_dimensions(dimensions),
            owner_key=encode_key(owner_key),
            min_group=check_min_group(min_group),
        )

    @property
    def owner_key_id(self) -> str:
        return key_fingerprint(self.owner_key)

    @property
    def label(self) -> str:
        return f"the review of {self.package} for {self.period}"

    def close(self, signer: Signer) -> None:
        """End the commitments; raters may now reveal."""
        if signer.org != self.owner:
            raise Refused(f"only {self.owner}, who opened {self.label}, can close it")
        if self.status is not RoundStatus.OPEN:
            raise Refused(f"{self.label} is already closed")
        not_before(signer, self.opened_on, "the round opened")
        self._trigger(ReviewRoundClosed, signer)

    def finalise(self, signer: Signer) -> None:
        """End the reveals: what was revealed is what counts, and views of it cannot change."""
        if signer.org != self.owner:
            raise Refused(f"only {self.owner}, who opened {self.label}, can make it final")
        if self.status is RoundStatus.OPEN:
            raise Refused(f"{self.label} is still open: close it, and let raters reveal, first")
        if self.status is RoundStatus.FINAL:
            raise Refused(f"{self.label} is already final")
        assert self.closed_on is not None
        not_before(signer, self.closed_on, "the round closed")
        self._trigger(ReviewRoundFinalised, signer)

    def require_open(self, signer: Signer) -> None:
        if self.status is not RoundStatus.OPEN:
            raise Refused(f"{self.label} is closed: ratings can no longer be committed")
        not_before(signer, self.opened_on, "the round opened")

    def require_revealing(self, signer: Signer) -> None:
        if self.status is RoundStatus.OPEN:
            raise Refused(
                f"{self.label} is still open: ratings are revealed only after {self.owner} "
                "closes it"
            )
        if self.status is RoundStatus.FINAL:
            raise Refused(f"{self.label} is final: reveals have ended")
        assert self.closed_on is not None
        not_before(signer, self.closed_on, "the round closed")


def not_before(signer: Signer, day: date, what: str) -> None:
    """Refuse a step dated (``--on``) before ``day``."""
    on = effective_date(signer)
    if on < day:
        raise Refused(f"the date {on} is before {what} ({day})")


@ledger_event("ReviewRoundOpened")
class ReviewRoundOpened(LedgerEvent):
    creates = ReviewRound
    package: str
    period: str
    dimensions: tuple[Dimension, ...]
    owner_key: str
    min_group: int

    def apply(self, aggregate: Any) -> None:
        aggregate.package = self.package
        aggregate.period = self.period
        aggregate.owner = self.org
        aggregate.dimensions = self.dimensions
        aggregate.owner_key = decode_key(self.owner_key)
        aggregate.min_group = self.min_group
        aggregate.status = RoundStatus.OPEN
        aggregate.opened_on = self.on
        aggregate.closed_on = None

    def summary(self) -> str:
        names = ", ".join(d.slug for d in self.dimensions)
        return f"{self.org} opened the review of {self.package} for {self.period} ({names})"


@ledger_event("ReviewRoundClosed")
class ReviewRoundClosed(LedgerEvent):
    def apply(self, aggregate: Any) -> None:
        if self.org != aggregate.owner or aggregate.status is not RoundStatus.OPEN:
            raise self.tamper("a review round closed by someone other than its owner, or twice")
        aggregate.status = RoundStatus.CLOSED
        aggregate.closed_on = self.on

    def summary(self) -> str:
        return f"{self.org} closed the review round; raters may now reveal"


@ledger_event("ReviewRoundFinalised")
class ReviewRoundFinalised(LedgerEvent):
    def apply(self, aggregate: Any) -> None:
        if self.org != aggregate.owner or aggregate.status is not RoundStatus.CLOSED:
            raise self.tamper("a review round made final by someone other than its owner, or early")
        aggregate.status = RoundStatus.FINAL

    def summary(self) -> str:
        return f"{self.org} made the review round final: reveals have ended"


class Rating(LedgerAggregate):
    """One rater's sealed rating of one ratee in one round."""

    package: str
    period: str
    rater: str
    ratee: str
    commitment: str
    sealed_for_rater: str  # the rating sealed to the rater's own key, for it to reveal later
    sealed_for_owner: str | None

    @classmethod
    def commit(
        cls, signer: Signer, review: ReviewRound, *, ratee: str, commitment: str, sealed: str
    ) -> Rating:
        review.require_open(signer)
        return cls._create(
            RatingCommitted,
            id=rating_id(review.package, review.period, signer.org, ratee),
            ledger_id=signer.ledger_id,
            signer=signer,
            package=review.package,
            period=review.period,
            ratee=ratee,
            commitment=commitment,
            sealed=sealed,
        )

    def reveal(self, signer: Signer, review: ReviewRound, *, sealed: str) -> None:
        if signer.org != self.rater:
            raise Refused(f"only {self.rater} can reveal its own rating")
        review.require_revealing(signer)
        if self.sealed_for_owner is not None:
            raise Refused(f"{self.rater} has already revealed its rating of {self.ratee}")
        self._trigger(RatingRevealed, signer, sealed=sealed)


@ledger_event("RatingCommitted")
class RatingCommitted(LedgerEvent):
    creates = Rating
    package: str
    period: str
    ratee: str
    commitment: str
    sealed: str

    def apply(self, aggregate: Any) -> None:
        aggregate.package = self.package
        aggregate.period = self.period
        aggregate.rater = self.org
        aggregate.ratee = self.ratee
        aggregate.commitment = self.commitment
        aggregate.sealed_for_rater = self.sealed
        aggregate.sealed_for_owner = None

    def summary(self) -> str:
        return (
            f"{self.org} committed a sealed rating of {self.ratee} "
            f"(commitment {self.commitment[:12]}…)"
        )


@ledger_event("RatingRevealed")
class RatingRevealed(LedgerEvent):
    sealed: str

    def apply(self, aggregate: Any) -> None:
        if self.org != aggregate.rater or aggregate.sealed_for_owner is not None:
            raise self.tamper("a rating revealed by someone other than its rater, or twice")
        aggregate.sealed_for_owner = self.sealed

    def summary(self) -> str:
        return f"{self.org} revealed its rating to the round's owner (sealed)"
