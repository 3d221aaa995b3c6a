"""Every aggregate and event type of the domain, in one import.

Decoding a stored event needs its class registered; importing this module
registers them all.
"""

from chainledger.domain import (
    bid,
    concern,
    invoice,
    ledger,
    organisation,
    package,
    review,
    subcontract,
)
from chainledger.domain.events import EVENT_TYPES

__all__ = [
    "EVENT_TYPES",
    "bid",
    "concern",
    "invoice",
    "ledger",
    "organisation",
    "package",
    "review",
    "subcontract",
]
