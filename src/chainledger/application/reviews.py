"""Use cases of the 360 review: open and close rounds, commit and reveal sealed ratings,
and read them back as the round's owner (everything) or for a rated organisation
(k-anonymous aggregates only).

Ratings are sealed here, in the application layer, with the ``crypto`` module:

* at commitment, the rating and a fresh 32-byte salt are sealed to the *rater's own*
  encryption key (so it can reveal later without keeping anything), and only
  ``SHA-256(rating, place, salt)`` is there for others to see;
* at reveal, after the round closes, the same rating and salt are sealed to the
  *round owner's* key. The application refuses a reveal whose content does not
  match the commitment, and the owner's report checks every reveal again.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING, Any

from chainledger.adapters.crypto import Opener, seal_to
from chainledger.application.organisations import Organisations
from chainledger.application.steps import signed_step
from chainledger.application.unit_of_work import UnitOfWork, text_field, unit_of_work
from chainledger.domain import review_analysis
from chainledger.domain.assessment import Finding, Thresholds, review_evidence
from chainledger.domain.events import Signer
from chainledger.domain.ids import package_id, rating_id, review_round_id
from chainledger.domain.quantities import Period
from chainledger.domain.review import (
    DEFAULT_DIMENSIONS,
    MAX_COMMENT,
    MIN_GROUP,
    Parties,
    RaterGroup,
    Rating,
    RatingContent,
    RatingKey,
    ReviewRound,
    check_min_group,
    parse_dimension,
    parse_scores,
)
from chainledger.domain.review_analysis import OpenedRating, RoundRatings, Unusable
from chainledger.domain.values import check_handle, check_reference
from chainledger.errors import ChainledgerError, InvalidValue, NotFound, Refused, TamperError
from chainledger.projections import reviews as review_view
from chainledger.projections.supply_chain import subcontractors_of

if TYPE_CHECKING:
    from chainledger.application.ports import LedgerPort
    from chainledger.domain.package import Package

RATER = "rater"
OWNER = "owner"


class Reviews:
    """360 review rounds: opened, rated (sealed to the round's owner), revealed, closed."""

    def __init__(self, ledger: LedgerPort, organisations: Organisations) -> None:
        self.ledger = ledger
        self.organisations = organisations

    # -- who is in a package ----------------------------------------------------------

    def review_parties(self, package: str) -> Parties:
        """The package's commissioner, prime and subcontractors (named in the winning bid
        or holding a subcontract): the package itself, and one query of the views."""
        try:
            pkg: Package = self.ledger.load(package_id(package))
        except NotFound:
            raise NotFound(f"no package {package!r} in this ledger") from None
        subs: set[str] = set()
        if pkg.prime is not None:
            with self.ledger.views(package) as session:
                subs = subcontractors_of(session, package, pkg.prime)
        return Parties(pkg.commissioner, pkg.prime, frozenset(subs))

    def _round(self, uow: UnitOfWork, package: str, period: str) -> ReviewRound:
        found = uow.get(review_round_id(package, period))
        if found is None:
            raise NotFound(
                f"no review round for package {package} in {period}; its commissioner opens "
                f"one with: chainledger review open {package} --period {period} --as HANDLE"
            )
        return found

    @staticmethod
    def _place(package: str, period: str) -> tuple[str, str]:
        return (
            check_reference(package, "package reference"),
            str(Period.parse(period, "review period")),
        )

    # -- the commissioner ---------------------------------------------------------------

    @signed_step
    def open_review(
        self,
        signer: Signer,
        package: str,
        period: str,
        dimensions: tuple[str, ...] = (),
        min_group: object = MIN_GROUP,
        *,
        uow: UnitOfWork | None = None,
    ) -> ReviewRound:
        """The package's commissioner opens a review round for one period.

        ``min_group`` (at least 3) is the smallest group of raters whose aggregate the
        shared view shows; it is fixed with the round, so views cannot differ by it.
        """
        from chainledger.domain.package import PackageStatus

        package, period = self._place(package, period)
        chosen = tuple(parse_dimension(d) for d in dimensions) or DEFAULT_DIMENSIONS
        k = check_min_group(min_group)
        with unit_of_work(self.ledger, uow) as unit:
            pkg: Package | None = unit.get(package_id(package))
            if pkg is None:
                raise NotFound(f"no package {package!r} in this ledger")
            if signer.org != pkg.commissioner:
                raise Refused(
                    f"only {pkg.commissioner}, the commissioner of {package}, can open its review"
                )
            if pkg.status is PackageStatus.OPEN:
                raise Refused(f"package {package} has not been awarded: there is nobody to review")
            span = Period.parse(period)
            if span.last_day < pkg.start or span.first_day > pkg.end:
                raise Refused(
                    f"{period} is outside package {package}'s contract ({pkg.start} to {pkg.end})"
                )
            if unit.get(review_round_id(package, period)) is not None:
                raise Refused(f"package {package} already has a review round for {period}")
            owner = unit.organisation(signer.org)
            if owner.encryption_key is None:
                raise Refused(
                    f"{signer.org} has no encryption key for ratings to be sealed to; make one "
                    f"with: chainledger org encryption-key {signer.org}"
                )
            _, owner_key = owner.encryption_key
            opened = ReviewRound.open(
                signer,
                package=package,
                period=period,
                dimensions=chosen,
                owner_key=owner_key,
                min_group=k,
            )
            unit.add(opened)
            return opened

    @signed_step
    def close_review(
        self,
        signer: Signer,
        package: str,
        period: str,
        *,
        uow: UnitOfWork | None = None,
    ) -> None:
        """The round's owner closes it: no more commitments; raters may now reveal."""
        package, period = self._place(package, period)
        with unit_of_work(self.ledger, uow) as unit:
            self._round(unit, package, period).close(signer)

    @signed_step
    def finalise_review(
        self,
        signer: Signer,
        package: str,
        period: str,
        *,
        uow: UnitOfWork | None = None,
    ) -> None:
        """The round's owner ends the reveals: unrevealed ratings never count, and the
        shared view, now fixed, can be given to the rated organisations."""
        package, period = self._place(package, period)
        with unit_of_work(self.ledger, uow) as unit:
            self._round(unit, package, period).finalise(signer)

    # -- raters -------------------------------------------------------------------------

    def rate(
        self,
        signer: Signer,
        package: str,
        period: str,
        ratee: str,
        scores: Mapping[str, object],
        comment: str | None = None,
        *,
        uow: UnitOfWork | None = None,
    ) -> Rating:
        """Commit to a rating while the round is open. Nobody can read it, or change it.

        The scores and comment are sealed here, on the rater's machine, to its own
        encryption key; what is signed and sent is the commitment and the sealed copy
        (``commit_rating``)."""
        package, period = self._place(package, period)
        ratee = check_handle(ratee)
        with unit_of_work(self.ledger, uow) as unit:
            round_ = self._round(unit, package, period)
            round_.require_open(signer)
            self.review_parties(package).check_may_rate(signer.org, ratee, package)
            content = RatingContent(
                scores=parse_scores(scores, round_.dimensions),
                comment=text_field(comment, "comment", required=False, max_length=MAX_COMMENT),
                salt=os.urandom(32).hex(),
            )
            rater = self._rater(unit, signer.org)
            key = RatingKey(signer.ledger_id, package, period, signer.org, ratee)
            sealed = seal_to(
                rater.encryption_key[1], content.sealable(), key.sealing_context(RATER)
            )
            return self.commit_rating(signer, package, period, ratee, key.commitment(content),
                                      sealed, uow=unit)  # fmt: skip

    @signed_step
    def commit_rating(self, signer: Signer, package: str, period: str, ratee: str,
                      commitment: str, sealed: str, *, uow: UnitOfWork | None = None) -> Rating:  # fmt: skip
        """Record ``signer``'s commitment to a rating of ``ratee`` (made and sealed by
        ``rate``): the round must be open, the rater may rate ``ratee``, once."""
        package, period = self._place(package, period)
        ratee = check_handle(ratee)
        with unit_of_work(self.ledger, uow) as unit:
            round_ = self._round(unit, package, period)
            round_.require_open(signer)
            self.review_parties(package).check_may_rate(signer.org, ratee, package)
            if unit.get(rating_id(package, period, signer.org, ratee)) is not None:
                raise Refused(
                    f"{signer.org} has already committed a rating of {ratee} in this round; "
                    "a sealed rating cannot be changed"
                )
            self._rater(unit, signer.org)
            rating = Rating.commit(signer, round_, ratee=ratee, commitment=commitment,
                                   sealed=sealed)  # fmt: skip
            unit.add(rating)
            return rating

    @staticmethod
    def _rater(unit: UnitOfWork, handle: str) -> Any:
        rater = unit.organisation(handle)
        if rater.encryption_key is None:
            raise Refused(
                f"{handle} has no encryption key to keep its rating until it reveals; "
                f"make one with: chainledger org encryption-key {handle}"
            )
        return rater

    def reveal(
        self,
        signer: Signer,
        opener: Opener,
        package: str,
        period: str,
        ratee: str | None = None,
        scores: Mapping[str, object] | None = None,
        comment: str | None = None,
        *,
        uow: UnitOfWork | None = None,
    ) -> list[str]:
        """After the round closes, reveal ``signer``'s ratings (or one) to the round's owner.

        The rating revealed is the one sealed at commitment. If ``scores`` are given
        (the rater typing them again), they must match the commitment exactly, or the
        reveal is refused and nothing is written. Returns the ratees revealed.
        """
        package, period = self._place(package, period)
        if scores is not None and ratee is None:
            raise InvalidValue("give --ratee with --score: scores belong to one rating")
        with unit_of_work(self.ledger, uow) as unit:
            round_ = self._round(unit, package, period)
            round_.require_revealing(signer)
            candidates = [check_handle(ratee)] if ratee else self.review_parties(package).handles
            revealed = []
            for handle in candidates:
                rating: Rating | None = unit.get(rating_id(package, period, signer.org, handle))
                if rating is None:
                    if ratee:
                        raise NotFound(f"{signer.org} committed no rating of {ratee} in this round")
                    continue
                if rating.sealed_for_owner is not None:
                    if ratee:
                        raise Refused(f"{signer.org} has already revealed its rating of {ratee}")
                    continue
                key = RatingKey(signer.ledger_id, package, period, signer.org, handle)
                content = RatingContent.from_bytes(
                    opener.open(rating.sealed_for_rater, key.sealing_context(RATER))
                )
                if key.commitment(content) != rating.commitment:
                    raise TamperError(
                        f"{signer.org}'s sealed copy of its rating of {handle} does not match "
                        "its commitment"
                    )
                if scores is not None:
                    given = RatingContent(
                        parse_scores(scores, round_.dimensions),
                        content.comment
                        if comment is None
                        else text_field(comment, "comment", required=False, max_length=MAX_COMMENT),
                        content.salt,
                    )
                    if key.commitment(given) != rating.commitment:
                        raise Refused(
                            f"this rating of {handle} does not match what {signer.org} committed "
                            f"to while the round was open; a sealed rating cannot change after "
                            "the fact, so nothing was revealed"
                        )
                sealed = seal_to(round_.owner_key, content.sealable(), key.sealing_context(OWNER))
                self.reveal_rating(signer, package, period, handle, sealed, uow=unit)
                revealed.append(handle)
            if not revealed:
                raise Refused(f"{signer.org} has no unrevealed rating in {round_.label}")
            return revealed

    @signed_step
    def reveal_rating(self, signer: Signer, package: str, period: str, ratee: str, sealed: str,
                      *, uow: UnitOfWork | None = None) -> None:  # fmt: skip
        """Record ``signer``'s rating of ``ratee`` sealed to the round's owner (opened and
        checked against its commitment by ``reveal``, on the rater's machine)."""
        package, period = self._place(package, period)
        with unit_of_work(self.ledger, uow) as unit:
            round_ = self._round(unit, package, period)
            rating: Rating | None = unit.get(rating_id(package, period, signer.org,
                                                       check_handle(ratee)))  # fmt: skip
            if rating is None:
                raise NotFound(f"{signer.org} committed no rating of {ratee} in this round")
            rating.reveal(signer, round_, sealed=sealed)

    # -- reading ----------------------------------------------------------------------

    def review_rounds(
        self, package: str | None = None, period: str | None = None
    ) -> list[review_view.RoundRow]:
        """Review rounds from the review view (public: who opened, when, whether closed)."""
        if package is not None:
            package = check_reference(package, "package reference")
            if not self.ledger.exists(package_id(package)):
                raise NotFound(f"no package {package!r} in this ledger")
        if period is not None:
            period = str(Period.parse(period, "review period"))
        self.ledger.ledger_id  # noqa: B018
        with self.ledger.views(package) as session:
            return review_view.rounds(session, package, period)

    def review_status(self, package: str, period: str) -> dict[str, Any]:
        """Who has committed and who has revealed in a round: what anyone may see."""
        package, period = self._place(package, period)
        found = self.review_rounds(package, period)
        if not found:
            raise NotFound(f"no review round for package {package} in {period}")
        round_ = found[0]
        with self.ledger.projections.session() as session:
            rows = review_view.ratings(session, package, period)
        return {
            "package": package,
            "period": period,
            "owner": round_.owner,
            "status": round_.status,
            "dimensions": [d.slug for d in round_.dimensions],
            "ratings": [
                {
                    "rater": r.rater,
                    "ratee": r.ratee,
                    "committed_on": r.committed_on,
                    "revealed_on": r.revealed_on,
                    "commitment": r.commitment,
                }
                for r in sorted(rows, key=lambda r: (r.rater, r.ratee))
            ],
        }

    def opened_rounds(
        self,
        opener: Opener,
        *,
        package: str | None = None,
        period: str | None = None,
        thresholds: Thresholds | None = None,
    ) -> list[RoundRatings]:
        """The rounds ``opener``'s organisation owns, with every reveal opened and checked."""
        t = thresholds or Thresholds()
        found = self.review_rounds(package, period)
        owned = [r for r in found if r.owner == opener.org]
        if found and not owned:
            owners = ", ".join(sorted({r.owner for r in found}))
            raise Refused(
                f"{opener.org} owns none of these review rounds (owned by {owners}); only a "
                "round's owner can read its ratings"
            )
        result = []
        for row in owned:
            parties = self.review_parties(row.package)
            with self.ledger.projections.session() as session:
                commitments = review_view.ratings(session, row.package, row.period)
            rr = RoundRatings(row.package, row.period, row.owner, row.status, row.dimensions,
                              row.opened_nid, min_group=row.min_group)  # fmt: skip
            # The part each party played in the package, which review findings name.
            rr.roles = {h: "subcontractor" if g is RaterGroup.SUBCONTRACTORS else str(g)
                        for h in parties.handles if (g := parties.role_of(h))}  # fmt: skip
            for c in commitments:
                self._open_rating(opener, row, parties, c, rr)
            as_of = min(Period.parse(row.period).last_day, date.today())
            facts = self.ledger.package_facts(row.package, as_of)
            if facts:
                rr.measures = {
                    ratee: review_evidence(facts[0], ratee, t) for ratee in parties.handles
                }
            result.append(rr)
        return result

    def _open_rating(
        self,
        opener: Opener,
        row: review_view.RoundRow,
        parties: Parties,
        c: review_view.RatingRow,
        into: RoundRatings,
    ) -> None:
        nids = (c.committed_nid, *((c.revealed_nid,) if c.revealed_nid else ()))

        def unusable(reason: str) -> None:
            into.unusable.append(Unusable(c.rater, c.ratee, reason, nids))

        if row.closed_nid is not None and c.committed_nid > row.closed_nid:
            return unusable("committed after the round closed")
        if c.sealed_for_owner is None or c.revealed_nid is None:
            return unusable("never revealed")
        if row.closed_nid is None or c.revealed_nid < row.closed_nid:
            return unusable("revealed before the round closed")
        key = RatingKey(self.ledger.ledger_id, row.package, row.period, c.rater, c.ratee)
        try:
            content = RatingContent.from_bytes(
                opener.open(c.sealed_for_owner, key.sealing_context(OWNER))
            )
            scores = parse_scores(content.scores, row.dimensions)
        except ChainledgerError as error:
            return unusable(f"does not open ({error})")
        if key.commitment(content) != c.commitment:
            return unusable("does not match its commitment")
        if row.final_nid is not None and c.revealed_nid > row.final_nid:
            return unusable("revealed after the round was final")
        if c.ratee not in parties.may_rate(c.rater):
            return unusable("not a rating this rater may give")
        group = parties.group(c.rater, c.ratee)
        into.ratings.append(OpenedRating(c.rater, c.ratee, group, scores, content.comment, nids))
        return None

    def review_report(
        self,
        opener: Opener,
        *,
        package: str | None = None,
        period: str | None = None,
        for_handle: str | None = None,
        thresholds: Thresholds | None = None,
    ) -> dict[str, Any]:
        """The owner's full report, or with ``for_handle`` what that organisation may see
        (final rounds only, with each round's minimum group)."""
        if for_handle is not None:
            check_handle(for_handle)
            self.organisations.organisation(for_handle)
        rounds = self.opened_rounds(opener, package=package, period=period, thresholds=thresholds)
        if for_handle is not None:
            return review_analysis.shared_report(rounds, for_handle)
        return review_analysis.owner_report(rounds)

    def review_findings(
        self, opener: Opener, package: str | None, thresholds: Thresholds
    ) -> list[Finding]:
        """SELF_OTHER_GAP, LOW_RATED and PERCEPTION_GAP in the rounds ``opener`` owns."""
        rounds = self.opened_rounds(opener, package=package, thresholds=thresholds)
        return review_analysis.findings(rounds, thresholds)


__all__ = ["Reviews"]
