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
