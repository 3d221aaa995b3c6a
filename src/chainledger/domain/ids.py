"""Deterministic aggregate ids from natural keys (uuid5), as in eventsourcing's examples.

A handle or a reference is enough to find its aggregate: no lookup table.
"""

from __future__ import annotations

from uuid import UUID, uuid5

NAMESPACE = UUID("18478348-ba15-44f7-94ec-f0c00a002a93")

LEDGER_AGGREGATE_ID = uuid5(NAMESPACE, "ledger")
"""The aggregate holding the ledger's genesis event, at the same id in every ledger."""


def organisation_id(handle: str) -> UUID:
    """The aggregate id of the organisation with this handle."""
    return uuid5(NAMESPACE, f"organisation:{handle}")


def package_id(reference: str) -> UUID:
    """The aggregate id of the contract package with this reference."""
    return uuid5(NAMESPACE, f"package:{reference}")


def bid_id(package: str, prime: str) -> UUID:
    """A prime's (one) bid for a package."""
    return uuid5(NAMESPACE, f"bid:{package}:{prime}")


def subcontract_id(package: str, subcontractor: str) -> UUID:
    """The subcontract of one subcontractor in a package."""
    return uuid5(NAMESPACE, f"subcontract:{package}:{subcontractor}")


def invoice_id(package: str, subcontractor: str, reference: str) -> UUID:
    """A subcontractor's invoice in a package, by its own invoice reference."""
    return uuid5(NAMESPACE, f"invoice:{package}:{subcontractor}:{reference}")


def interest_id(package: str, prime: str, subcontractor: str) -> UUID:
    """A subcontractor's expression of interest to a prime for a package."""
    return uuid5(NAMESPACE, f"interest:{package}:{prime}:{subcontractor}")


def concern_id(package: str, subcontractor: str, reference: str) -> UUID:
    """A concern a subcontractor raised with the commissioner of a package."""
    return uuid5(NAMESPACE, f"concern:{package}:{subcontractor}:{reference}")


def review_round_id(package: str, period: str) -> UUID:
    """The review round of a package for one period."""
    return uuid5(NAMESPACE, f"review:{package}:{period}")


def rating_id(package: str, period: str, rater: str, ratee: str) -> UUID:
    """One rater's rating of one ratee in a review round."""
    return uuid5(NAMESPACE, f"rating:{package}:{period}:{rater}:{ratee}")
