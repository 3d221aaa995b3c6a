"""The audit's use case: the whole ledger checked from its events, the events imported
from other ledgers included (``audit`` holds the checks themselves)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from chainledger.application.audit import AuditReport, audit_ledger
from chainledger.application.exchange import Exchange
from chainledger.domain.checkpoint import Checkpoint

if TYPE_CHECKING:
    from chainledger.application.ledger import LedgerCore


class Audit:
    """``audit verify``: every event, signature, key, chain link and tree node."""

    def __init__(self, ledger: LedgerCore, exchange: Exchange) -> None:
        self.ledger = ledger
        self.exchange = exchange

    def audit(
        self,
        *,
        workers: int | None = None,
        progress: Callable[[int], None] | None = None,
        checkpoints: Sequence[tuple[str, Checkpoint]] = (),
    ) -> AuditReport:
        """Verify the whole ledger (never raises on bad data: the report says what failed)."""
        return audit_ledger(self.ledger, imported=self.exchange.audit_imported, workers=workers,
                            progress=progress,
                            checkpoints=checkpoints)  # fmt: skip
