"""The one place that wires chainledger together from its settings: the ledger core on
its database, each family of use cases as a service over it, and the façade the
command line talks to."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, ClassVar

from chainledger.adapters.keystore import Keystore
from chainledger.adapters.local_store import default_state_dir
from chainledger.adapters.locations import database_url, sqlite_path
from chainledger.adapters.remote_store import is_remote
from chainledger.application.ledger import LedgerCore
from chainledger.application.ports import EventStore
from chainledger.errors import NotFound, Refused

# The services, by the attribute the façade keeps each under: the module and class of each,
# and what it is made with besides the core (the key directory, or other services). A
# service is imported and made when a command first uses it (``ChainLedger``), so a command
# loads the use cases it calls and not all of them; the order is the order in which a name
# the façade does not know yet is looked for.
SERVICES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "orgs": ("chainledger.application.organisations", "Organisations", ("keystore",)),
    "contracting": ("chainledger.application.contracting", "Contracting", ()),
    "reports": ("chainledger.application.reports", "Reports", ("orgs", "reviews")),
    "reviews": ("chainledger.application.reviews", "Reviews", ("orgs",)),
    "transparency": ("chainledger.application.transparency", "Transparency", ()),
    "exchange": ("chainledger.application.exchange", "Exchange", ("transparency",)),
    "open_data": ("chainledger.application.open_data", "OpenData", ()),
    "auditing": ("chainledger.application.auditing", "Audit", ("exchange",)),
    "pages": ("chainledger.application.pages", "Pages",
              ("reports", "orgs", "reviews", "transparency", "auditing")),
}

# Each service's public use cases, so that the façade imports only the module of the one it
# calls (tests check this table against the services' classes).
USE_CASES: dict[str, list[str]] = {
    "orgs": [
        "add_encryption_key", "appoint", "appoint_registrar", "create_organisation", "endorse",
        "endorse_organisation", "init_with_registrar", "new_encryption_key", "offer_key",
        "organisation", "organisations", "recover", "recover_organisation", "register",
        "reject", "reject_registration", "replace_key", "request_recovery", "revoke_key",
        "rotate_key", "withdraw", "withdraw_registrar",
    ],
    "contracting": [
        "accept_subcontract", "acknowledge_promise", "answer_variation", "attest_performance",
        "award_package", "close_package", "confirm_payment", "confirm_referrals",
        "create_package", "define_kpi", "dispute_promise", "explain_shortfall",
        "express_interest", "issue_subcontract", "propose_variation", "raise_concern",
        "record_payment", "report_performance", "respond_to_concern", "send_referrals",
        "start_failing_provider_process", "submit_bid", "submit_invoice",
        "vary_contract_value", "withdraw_bid",
    ],
    "reports": [
        "bid_view", "compromised_events", "findings", "history", "marked_rows",
        "marked_timeline", "report",
    ],
    "reviews": [
        "close_review", "commit_rating", "finalise_review", "open_review", "opened_rounds",
        "rate", "reveal", "reveal_rating", "review_findings", "review_parties",
        "review_report", "review_rounds", "review_status",
    ],
    "transparency": [
        "checkpoint", "checkpoint_signer", "consistency_bundle", "inclusion_bundle",
        "keep_checkpoint", "tree_head", "verified_head",
    ],
    "exchange": [
        "audit_imported", "export_bundle", "import_bundle", "imported_history",
        "imported_ledgers",
    ],
    "open_data": [
        "ocds",
    ],
    "auditing": [
        "audit",
    ],
    "pages": [
        "report_page",
    ],
}
_SERVICE_OF = {name: service for service, names in USE_CASES.items() for name in names}


def service_class(attribute: str) -> type:
    module, name, _ = SERVICES[attribute]
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


def routes() -> dict[str, str]:
    """Which service answers each use case's name (each name belongs to one service, and
    none is also the core's: tests check both)."""
    found: dict[str, str] = {}
    for attribute in SERVICES:
        for name in vars(service_class(attribute)):
            if name.startswith("__"):
                continue
            if name in found:
                raise TypeError(f"{name} is a use case of both {found[name]} and {attribute}")
            found[name] = attribute
    return found


class ChainLedger:
    """One ledger's application: the ledger core and the services over it.

    A thin façade: ``app.submit_bid(…)`` is ``app.contracting.submit_bid(…)``, each name
    answered by the core (``app.core``: loading, saving, the verified views) if it has it,
    else by the one service that defines it (``routes()``), else by the core's event store.
    Each service (``app.orgs``, ``app.reports``…) is made when first used."""

    _routes: ClassVar[dict[str, str]] = {}  # the names looked for so far, and their services

    def __init__(self, store: EventStore, keystore: Keystore, state_dir: Path | None = None) -> None:
        self.core = LedgerCore(store, keystore, state_dir)

    @property
    def keystore(self) -> Keystore:
        """The key directory of this machine (the core unlocks keys from it, and
        ``orgs`` makes new ones in it)."""
        return self.core.keystore

    @keystore.setter
    def keystore(self, keystore: Keystore) -> None:
        self.core.keystore = keystore
        if "orgs" in self.__dict__:
            self.orgs.keystore = keystore

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or "core" not in self.__dict__:
            raise AttributeError(name)
        if name in SERVICES:  # a service, made when first used
            needs = [_Later(self, need) if need in SERVICES else getattr(self, need)
                     for need in SERVICES[name][2]]  # fmt: skip
            made = service_class(name)(self.core, *needs)
            self.__dict__[name] = made
            return made
        core = self.__dict__["core"]
        service = self._routes.get(name) or _SERVICE_OF.get(name)
        if service is None:
            if hasattr(type(core), name) or name in vars(core):
                return getattr(core, name)
            for attribute in SERVICES:
                if name in vars(service_class(attribute)):
                    service = self._routes[name] = attribute
                    break
            else:  # the event store's own (``recorder``, for tools and tests)
                return getattr(core.store, name)
        return getattr(getattr(self, service), name)


class _Later:
    """A service another is made with, made itself only when that one first uses it (a
    report that opens no review round never loads the reviews' module)."""

    def __init__(self, facade: ChainLedger, name: str) -> None:
        self._facade = facade
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        return getattr(getattr(self._facade, self._name), attribute)


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
