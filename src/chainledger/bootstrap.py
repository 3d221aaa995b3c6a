"""The one place that wires chainledger together from its settings: the ledger core on
its database, each family of use cases as a service over it, and the façade the
command line talks to."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chainledger.adapters.event_store import database_url, sqlite_path
from chainledger.adapters.keystore import Keystore
from chainledger.adapters.local_store import default_state_dir
from chainledger.adapters.remote_store import is_remote
from chainledger.application.auditing import Audit
from chainledger.application.contracting import Contracting
from chainledger.application.exchange import Exchange
from chainledger.application.ledger import LedgerCore
from chainledger.application.open_data import OpenData
from chainledger.application.organisations import Organisations
from chainledger.application.pages import Pages
from chainledger.application.ports import EventStore
from chainledger.application.reports import Reports
from chainledger.application.reviews import Reviews
from chainledger.application.transparency import Transparency
from chainledger.errors import NotFound, Refused

# The services, by the attribute the façade keeps each under.
SERVICES: dict[str, type] = {
    "orgs": Organisations,
    "contracting": Contracting,
    "reviews": Reviews,
    "reports": Reports,
    "transparency": Transparency,
    "exchange": Exchange,
    "open_data": OpenData,
    "auditing": Audit,
    "pages": Pages,
}


def _routes() -> dict[str, str]:
    """Which service answers each use case's name (each name belongs to one service)."""
    routes: dict[str, str] = {}
    for attribute, service in SERVICES.items():
        for name in vars(service):
            if name.startswith("__"):
                continue
            if name in routes:
                raise TypeError(f"{name} is a use case of both {routes[name]} and {attribute}")
            routes[name] = attribute
    return routes


class ChainLedger:
    """One ledger's application: the ledger core and the services over it.

    A thin façade: ``app.submit_bid(…)`` is ``app.contracting.submit_bid(…)``, each name
    answered by the one service that defines it (``ROUTES``), anything else by the core
    (``app.core``: loading, saving, the verified views) or its event store."""

    ROUTES = _routes()

    def __init__(self, store: EventStore, keystore: Keystore, state_dir: Path | None = None) -> None:
        self.core = LedgerCore(store, keystore, state_dir)
        self.orgs = Organisations(self.core, keystore)
        self.contracting = Contracting(self.core)
        self.reviews = Reviews(self.core, self.orgs)
        self.reports = Reports(self.core, self.orgs, self.reviews)
        self.transparency = Transparency(self.core)
        self.exchange = Exchange(self.core, self.transparency)
        self.open_data = OpenData(self.core)
        self.auditing = Audit(self.core, self.exchange)
        self.pages = Pages(self.core, self.reports, self.orgs, self.reviews, self.transparency,
                           self.auditing)  # fmt: skip

    @property
    def keystore(self) -> Keystore:
        """The key directory of this machine (the core unlocks keys from it, and
        ``orgs`` makes new ones in it)."""
        return self.core.keystore

    @keystore.setter
    def keystore(self, keystore: Keystore) -> None:
        self.core.keystore = self.orgs.keystore = keystore

    def __getattr__(self, name: str) -> Any:
        service = self.ROUTES.get(name)
        if service is not None:
            return getattr(self.__dict__[service], name)
        core = self.__dict__["core"]
        try:
            return getattr(core, name)
        except AttributeError:  # the event store's own (``recorder``, for tools and tests)
            return getattr(core.store, name)


def open_ledger(
    ledger: str, keys: Path, *, create: bool = False, state: Path | None = None
) -> ChainLedger:
    """The application for the ledger at ``ledger`` (a path, an SQLAlchemy URL, or the
    http(s) address of a chainledger service), reading through the verified store in
    ``state`` (default: the user's state directory).

    An SQLite file that does not exist is created only when ``create`` is set,
    so a mistyped path is an error instead of a new empty ledger.
    """
    # Each store is imported when it is the one used: a client of a service does not load
    # the database stack of the service (eventsourcing's SQLAlchemy recorder above all).
    if is_remote(ledger):
        from chainledger.adapters.remote_store import RemoteEventStore

        if create:
            raise Refused("a ledger is created on the service's own machine (chainledger init "
                          "there, then chainledger serve); here, point --ledger at it")  # fmt: skip
        state_dir = state or default_state_dir()
        return ChainLedger(RemoteEventStore(ledger, state_dir), Keystore(keys), state_dir)
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
    from chainledger.adapters.sql_store import SqlEventStore

    return ChainLedger(SqlEventStore(url), Keystore(keys), state)
