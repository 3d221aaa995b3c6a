"""Use cases of reporting: a package's history, the reports of what was promised and
delivered, and the Code of Practice's findings, each row saying when its evidence was
signed by a key a registrar later declared compromised."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from chainledger.adapters.crypto import (
    Opener,
)
from chainledger.domain import assessment
from chainledger.domain.assessment import Thresholds
from chainledger.domain.facts import PackageFacts
from chainledger.domain.identity import (
    in_compromised_window,
)
from chainledger.domain.ids import bid_id
from chainledger.domain.values import (
    Role,
    check_handle,
    check_reference,
)
from chainledger.errors import (
    InvalidValue,
    NotFound,
)
from chainledger.projections.timeline import TimelineProjection, TimelineRow

if TYPE_CHECKING:
    from chainledger.application.organisations import Organisations
    from chainledger.application.ports import LedgerPort
    from chainledger.application.reviews import Reviews
    from chainledger.domain.identity import Authority
    from chainledger.domain.review_analysis import RoundRatings


class Reports:
    """Reports and findings, read from the reader's verified views."""

    def __init__(self, ledger: LedgerPort, organisations: Organisations, reviews: Reviews) -> None:
        self.ledger = ledger
        self.organisations = organisations
        self.reviews = reviews

    def history(self, package: str) -> list[TimelineRow]:
        """A package's timeline: every event, when, who signed it, what it says."""
        check_reference(package, "package reference")
        self.ledger.ledger_id  # noqa: B018
        with self.ledger.views(package) as session:
            self.ledger.references(session, package)
            rows = TimelineProjection.rows(session, package)
        return self.marked_timeline(rows)

    def marked_timeline(self, rows: Sequence[TimelineRow]) -> list[TimelineRow]:
        """The rows, each signed by a key a registrar later declared compromised saying so."""
        compromised = self._compromised(rows)
        return [replace(row, summary=f"{row.summary} [SIGNED BY A COMPROMISED KEY: {row.org} "
                                     "was recovered by a registrar]")
                if row.notification_id in compromised else row for row in rows]  # fmt: skip

    def _compromised(self, rows: Sequence[TimelineRow],
                     authority: Authority | None = None) -> set[int]:  # fmt: skip
        """Of these timeline rows, the positions of those whose signer's key was compromised
        when it signed: the organisation was recovered by a registrar naming since when, and
        the event was signed at or after that moment, or placed after an event that was."""
        # The recoveries that named a compromise, as this reader verified them (its own
        # verified state: no record is loaded, which through a service is a request each).
        authority = authority or self.ledger.projections.authority()
        if not rows or authority.root is None:
            return set()
        windows: dict[str, list[tuple[datetime, int | None, int | None]]] = {}
        for org in {row.org for row in rows} & set(authority.compromised):
            windows[org] = []
            for since_text, until in authority.compromised[org]:
                since = datetime.fromisoformat(since_text)
                # with where this reader's order first reached the window
                windows[org].append((since, until, self.ledger.projections.reached(since)))
        suspects = [row.notification_id for row in rows if row.org in windows]
        if not suspects:
            return set()
        signed = self.ledger.projections.signed_times(suspects)
        found = set()
        for row in rows:
            position = row.notification_id
            if row.org in windows and any(
                in_compromised_window(since, until, signed.get(position), position,
                                      since if first is not None and position > first else None)
                for since, until, first in windows[row.org]
            ):  # fmt: skip
                found.add(position)
        return found

    def bid_view(self, package: str, prime: str) -> dict[str, Any]:
        """A bid with its promises, each with the hash its subcontractor acknowledges."""
        check_reference(package, "package reference")
        check_handle(prime)
        try:
            bid = self.ledger.load(bid_id(package, prime))
        except NotFound:
            raise NotFound(f"{prime} has no bid for package {package!r}") from None
        promises = []
        for sub, terms in bid.promises.items():
            response = bid.responses.get(sub)
            status = "awaiting answer"
            if response is not None:
                status = (
                    "acknowledged" if response.acknowledged else f"disputed ({response.reason})"
                )
            promises.append(
                {
                    "subcontractor": sub,
                    "service": terms.service,
                    "share_pct": str(terms.share_pct),
                    "value_per_year": str(terms.value_per_year),
                    "referrals": f"{terms.referrals_per_period}/{terms.referral_cadence}",
                    "payment_model": terms.payment_model.value,
                    "at_risk_pct": str(terms.at_risk_pct),
                    "terms_days": terms.payment_terms_days,
                    "fee_pct": str(terms.management_fee_pct),
                    "answer": status,
                    "hash": bid.promise_hash(sub),
                }
            )
        return {
            "package": bid.package,
            "prime": bid.prime,
            "price": str(bid.price),
            "self_delivery_pct": str(bid.self_delivery_pct),
            "status": bid.status.value,
            "promises": promises,
        }

    def report(
        self,
        name: str,
        *,
        package: str | None = None,
        as_of: date | None = None,
        thresholds: Thresholds | None = None,
        prime: str | None = None,
        review_opener: Opener | None = None,
    ) -> list[dict[str, Any]]:
        """Rows of report ``name`` (workshare, payments, invoices, referrals, performance,
        findings, scorecard) for one package or all, as of a date (default today).

        With ``review_opener`` (a round owner's keys), findings include those of the
        360 review rounds it owns.
        """
        t = thresholds or Thresholds()
        day = as_of or date.today()
        if name == "scorecard":
            if not prime:
                raise InvalidValue("the scorecard needs --prime HANDLE")
            stated = self.organisations.organisation(prime).role
            facts = self.ledger.package_facts(package, day)
            if stated != Role.PRIME.value and not any(prime in f.bids for f in facts):
                where = f"package {package}" if package else "any package"
                raise InvalidValue(f"{prime} is not a prime in {where}")
            return self.marked_rows(assessment.scorecard(prime, facts, t))
        if name == "findings":
            rounds = (self.reviews.opened_rounds(review_opener, package=package, thresholds=t)
                      if review_opener is not None else [])  # fmt: skip
            return self.marked_rows(self.findings(self.ledger.package_facts(package, day), t,
                                                      rounds))  # fmt: skip
        if name not in assessment.PACKAGE_REPORTS:
            raise InvalidValue(f"unknown report {name!r}")
        return self.marked_rows([
            row
            for f in self.ledger.package_facts(package, day)
            for row in assessment.PACKAGE_REPORTS[name](f, t)
        ])  # fmt: skip

    def compromised_events(self, nids: Iterable[int]) -> set[int]:
        """Of these events, those signed by a key a registrar later declared compromised
        (when recovering the organisation)."""
        wanted = set(nids)
        authority = self.ledger.projections.authority()
        if not wanted or authority.root is None:
            return set()
        with self.ledger.projections.session() as session:
            rows = TimelineProjection.rows_at(session, wanted)
        return self._compromised(list(rows.values()), authority)

    def marked_rows(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Report rows, each resting on evidence signed by a compromised key saying which
        (``compromised_evidence``); a finding also says so in its sentence."""
        compromised = self.compromised_events(n for row in rows for n in row.get("evidence", ()))
        if not compromised:
            return rows
        marked = []
        for row in rows:
            tainted = [n for n in row.get("evidence", ()) if n in compromised]
            if tainted:
                row = {**row, "compromised_evidence": tainted}
                if "finding" in row:
                    listed = ", ".join(f"#{n}" for n in tainted)
                    row["finding"] = (f"{row['finding']} (evidence {listed} was signed by a "
                                      "compromised key)")  # fmt: skip
            marked.append(row)
        return marked

    @staticmethod
    def findings(
        facts: list[PackageFacts], t: Thresholds, rounds: Sequence[RoundRatings] = ()
    ) -> list[dict[str, Any]]:
        """The findings of these packages' facts and of these opened 360 review rounds,
        most severe first."""
        found = [x for f in facts for x in assessment.findings(f, t)]
        if rounds:
            from chainledger.domain import review_analysis

            found += review_analysis.findings(list(rounds), t)
        order = {"high": 0, "medium": 1, "low": 2}
        found.sort(key=lambda x: (order[x.severity], x.package, x.rule, x.organisations))
        return [x.as_dict() for x in found]
