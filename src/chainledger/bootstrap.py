"""The one place that wires chainledger together from its settings."""

from __future__ import annotations

from pathlib import Path

from chainledger.adapters.event_store import database_url, sqlite_path
from chainledger.adapters.keystore import Keystore
from chainledger.application.ledger import ChainLedger
from chainledger.errors import NotFound


def open_ledger(
    ledger: str, keys: Path, *, create: bool = False, state: Path | None = None
) -> ChainLedger:
    """The application for the ledger at ``ledger`` (a path or an SQLAlchemy URL), reading
    through the verified store in ``state`` (default: the user's state directory).

    An SQLite file that does not exist is created only when ``create`` is set,
    so a mistyped path is an error instead of a new empty ledger.
    """
    url = database_url(ledger)
    path = sqlite_path(url)
    if path is not None:
        if not path.parent.is_dir():
            raise NotFound(f"directory {path.parent} does not exist")
        if not create and not path.exists():
            raise NotFound(
                f"no ledger at {path}; create one with: chainledger init "
                "(or point --ledger / CHAINLEDGER_LEDGER at an existing one)"
            )
    return ChainLedger(url, Keystore(keys), state)
