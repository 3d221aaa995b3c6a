"""The use case behind ``report html``: everything the commissioner's page shows, gathered
in one pass over the read models (no replay), with the ledger audited unless asked not to.

The page itself is drawn by ``chainledger.report_html``; this module decides what
may be on it. The 360 review section follows the review's rules: without the
round owner's key nothing about ratings is shown beyond who opened which round;
with it, the shared k-anonymous view (what each rated organisation may see, final
rounds only) unless the owner asks for its full view.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from chainledger.adapters import merkle_store
from chainledger.adapters.crypto import Opener
from chainledger.application.audit import AuditReport
from chainledger.application.auditing import Audit
from chainledger.application.organisations import Organisations
from chainledger.application.reports import Reports
from chainledger.application.reviews import Reviews
from chainledger.application.transparency import Transparency
from chainledger.domain import review_analysis
from chainledger.domain.assessment import PACKAGE_REPORTS, Thresholds
from chainledger.domain.checkpoint import Checkpoint
from chainledger.domain.facts import PackageFacts
from chainledger.domain.ids import LEDGER_AGGREGATE_ID
from chainledger.domain.review_analysis import RoundRatings
from chainledger.errors import Refused
from chainledger.projections.organisations import OrganisationRow
from chainledger.projections.reviews import RoundRow
from chainledger.projections.timeline import TimelineProjection, TimelineRow

if TYPE_CHECKING:
    from chainledger.application.ports import LedgerPort


@dataclass(frozen=True)
class ReviewSection:
    """What the page may show of the 360 review."""

    view: str  # "shared", "full", or "sealed" (no owner's key given)
    rounds: list[RoundRow]
    owner: str | None = None
    shared: dict[str, dict[str, Any]] = field(default_factory=dict)  # ratee -> its view
    full: dict[str, Any] | None = None  # the owner's report


@dataclass(frozen=True)
class PageData:
    """Everything on the page, as of one date."""

    ledger_id: str
    ledger_name: str
    as_of: date
    package: str | None
    packages: list[PackageFacts]
    organisations: list[OrganisationRow]
    tree: merkle_store.TreeHead
    audit: AuditReport | None
    findings: list[dict[str, Any]]
    evidence: dict[int, TimelineRow]
    workshare: list[dict[str, Any]]
    invoices: list[dict[str, Any]]
    referrals: list[dict[str, Any]]
    performance: list[dict[str, Any]]
    review: ReviewSection
    thresholds: Thresholds
    checkpoints: list[tuple[str, Checkpoint]] = field(default_factory=list)  # (label, head)


class Pages:
    """``report html``: what the page may show, read once from the verified views."""

    def __init__(self, ledger: LedgerPort, reports: Reports, organisations: Organisations, reviews: Reviews, transparency: Transparency, audit: Audit) -> None:
        self.ledger = ledger
        self.reports = reports
        self.organisations = organisations
        self.reviews = reviews
        self.transparency = transparency
        self.audit = audit

    def report_page(
        self,
        *,
        package: str | None = None,
        as_of: date | None = None,
        thresholds: Thresholds | None = None,
        review_opener: Opener | None = None,
        full_review: bool = False,
        audit: bool = True,
        checkpoints: Sequence[tuple[str, Checkpoint]] = (),
    ) -> PageData:
        """The page's data for one package or all. ``audit=False`` skips verifying every
        event (the page then says it was not checked); ``full_review`` needs the round
        owner's ``review_opener``."""
        if full_review and review_opener is None:
            raise Refused("only a review round's owner may ask for the full view: add --as")
        t = thresholds or Thresholds()
        day = as_of or date.today()
        facts = self.ledger.package_facts(package, day)
        rows = {name: self.reports.marked_rows([row for f in facts for row in PACKAGE_REPORTS[name](f, t)])
                for name in ("workshare", "invoices", "referrals", "performance")}  # fmt: skip
        # The owner's rounds, opened once for the review findings and the heatmap.
        rounds = (self.reviews.opened_rounds(review_opener, package=package, thresholds=t)
                  if review_opener is not None else [])  # fmt: skip
        # Review findings are statistics of the owner's full view (medians over any group,
        # however small): on a page only with ``full_review``, which says it is not for
        # sharing. Beside the shared view they could pin a withheld rater's scores.
        found = self.reports.marked_rows(
            self.reports.findings(facts, t, rounds if full_review else [])
        )
        review = self._review_section(package, rounds, review_opener, full_review)
        with self.ledger.projections.session() as session:
            evidence = TimelineProjection.rows_at(
                session, (n for f in found for n in f["evidence"])
            )
        # each evidence event marked if a compromised key signed it
        evidence = dict(zip(evidence, self.reports.marked_timeline(list(evidence.values())), strict=True))
        checked = self.audit.audit(checkpoints=checkpoints) if audit else None
        organisations = self.organisations.organisations()
        if package is not None:  # those party to it: its commissioner, bidders, subcontractors
            parties = {handle for f in facts for handle in f.orgs}
            organisations = [o for o in organisations if o.handle in parties]
        return PageData(
            ledger_id=str(self.ledger.ledger_id),
            ledger_name=self.ledger.load(LEDGER_AGGREGATE_ID).name,
            as_of=day,
            package=package,
            packages=facts,
            organisations=organisations,
            tree=self.transparency.tree_head(),
            audit=checked,
            findings=found,
            evidence=evidence,
            workshare=rows["workshare"],
            invoices=rows["invoices"],
            referrals=rows["referrals"],
            performance=rows["performance"],
            review=review,
            thresholds=t,
            checkpoints=list(checkpoints),
        )

    def _review_section(
        self,
        package: str | None,
        rounds: list[RoundRatings],
        opener: Opener | None,
        full: bool,
    ) -> ReviewSection:
        public = self.reviews.review_rounds(package)
        if opener is None:
            return ReviewSection("sealed", public)
        if full:
            return ReviewSection(
                "full", public, opener.org, full=review_analysis.owner_report(rounds)
            )
        ratees = sorted({x.ratee for r in rounds for x in r.ratings})
        shared = {ratee: review_analysis.shared_report(rounds, ratee) for ratee in ratees}
        return ReviewSection("shared", public, opener.org, shared=shared)
