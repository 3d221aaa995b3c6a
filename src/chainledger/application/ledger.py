"""The application layer: chainledger's use cases on an eventsourcing Application.

Each public method is one use case: it loads (and verifies) aggregates, asks
them to act, and saves every resulting event in one atomic call. Reading an
aggregate checks every event's signature and hash chain first; altered data
raises ``TamperError`` instead of being returned.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID, uuid4

import sqlalchemy.exc
from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError, PersistenceError
from eventsourcing.utils import Environment

from chainledger.adapters.crypto import (
    Ed25519Signer,
    Opener,
    VerifiedSignatures,
    raw_public_key,
    raw_x25519_public_key,
)
from chainledger.adapters.event_store import (
    APPLICATION_NAME,
    EDITED_INTO_TEXT,
    EVENTS_TABLE,
    BulkApplicationRecorder,
    EventTable,
    SignedEventMapper,
    describe,
    edited_into_text,
    failure_reason,
    read_notifications,
)
from chainledger.adapters.keystore import Keystore
from chainledger.adapters.local_store import (
    LocalStore,
    default_state_dir,
    prepare_state_dir,
    store_path,
)
from chainledger.application.contracting import Contracting
from chainledger.application.exchange import Exchange
from chainledger.application.open_data import OpenData
from chainledger.application.organisations import Identity
from chainledger.application.pages import Pages
from chainledger.application.reviews import Reviews
from chainledger.application.transparency import Transparency
from chainledger.domain import (
    assessment,
    model,  # noqa: F401 - registers every event type
    review_analysis,
)
from chainledger.domain.aggregate import LedgerAggregate
from chainledger.domain.assessment import Thresholds
from chainledger.domain.events import UNSIGNED, LedgerEvent, decode_event, located
from chainledger.domain.facts import PackageFacts
from chainledger.domain.identity import (
    IdentifierClaimed,
    KeyRecoveryRequested,
    RegistrarEvent,
    compromised_at,
)
from chainledger.domain.ids import LEDGER_AGGREGATE_ID, bid_id, organisation_id
from chainledger.domain.keys import decode_key, key_fingerprint, possession_statement
from chainledger.domain.ledger import Ledger, LedgerCreated
from chainledger.domain.organisation import Organisation, OrganisationRegistered, SigningKeyRotated
from chainledger.domain.review_analysis import RoundRatings
from chainledger.domain.values import (
    Role,
    Sector,
    Size,
    check_handle,
    check_identifier,
    check_reference,
    check_text,
    slugify,
)
from chainledger.errors import (
    ChainledgerError,
    Conflict,
    InvalidValue,
    KeyProblem,
    LedgerUnavailable,
    NotFound,
    Refused,
    TamperError,
)
from chainledger.projections.engine import ProjectionEngine
from chainledger.projections.facts import load_facts, package_references
from chainledger.projections.organisations import OrganisationRow, OrganisationsProjection
from chainledger.projections.reviews import ReviewsProjection
from chainledger.projections.supply_chain import SupplyChainProjection, has_package
from chainledger.projections.timeline import TimelineProjection, TimelineRow

T = TypeVar("T")


@dataclass(frozen=True)
class OrganisationDetails:
    """What ``org show`` tells about an organisation."""

    handle: str
    name: str
    role: str | None  # the part it says it usually plays; its roles are per package
    sector: str | None
    size: str | None
    identifier: str | None
    key_id: str
    keys: tuple[tuple[str, str, str, str], ...]  # key id, status, from, until
    version: int
    encryption_key_id: str | None = None
    endorsed_by: str | None = None  # the registrar that vouched for its key (None: nobody yet)
    rejected: str | None = None  # a registrar's refusal of its request, with the reason
    registrar: bool = False
    ledger_has_registrar: bool = False


class ChainLedger(
    Pages, OpenData, Exchange, Transparency, Reviews, Identity, Contracting, Application
):
    """A signed supply-chain ledger."""

    name = APPLICATION_NAME

    def __init__(self, url: str, keystore: Keystore, state_dir: Path | None = None) -> None:
        self.url = url
        self.keystore = keystore
        self.state_dir = state_dir or default_state_dir()
        self._projections: ProjectionEngine | None = None
        self.notes: list[str] = []  # warnings for the person at the terminal
        self._ledger_id: UUID | None = None
        self._signing_orgs: dict[str, Organisation] = {}
        self._verified = VerifiedSignatures()
        self._orgs_loaded_at: dict[str, int] = {}
        try:
            super().__init__(
                {
                    "PERSISTENCE_MODULE": "eventsourcing_sqlalchemy",
                    "SQLALCHEMY_URL": url,
                    "CREATE_TABLE": "y",
                }
            )
            self.table = EventTable(self)
        except (sqlalchemy.exc.SQLAlchemyError, PersistenceError) as exc:
            raise LedgerUnavailable(f"cannot open the ledger at {describe(url)}: {exc}") from None

    def construct_env(self, name: str, env: Any = None) -> Environment:
        # Only what chainledger passes: the user's unrelated environment variables
        # must not reconfigure persistence behind the --ledger option's back.
        return Environment(name, dict(env or {}))

    def construct_mapper(self) -> SignedEventMapper:
        return SignedEventMapper()

    def construct_recorder(self) -> BulkApplicationRecorder:
        recorder = BulkApplicationRecorder(
            datastore=self.factory.datastore,  # type: ignore[attr-defined]
            events_table_name=EVENTS_TABLE,
        )
        recorder.create_table()
        return recorder

    def close(self) -> None:
        """Close the database connections this application holds."""
        if self._projections is not None:
            self._projections.store.close()
            self._projections = None
        super().close()
        engine = getattr(getattr(self.recorder, "datastore", None), "engine", None)
        if engine is not None:
            engine.dispose()

    # -- the reader's verified views ----------------------------------------

    @property
    def projections(self) -> ProjectionEngine:
        """The read models, in this reader's verified store (opened on first use)."""
        if self._projections is None:
            ledger_id = str(self.ledger_id)
            prepare_state_dir(self.state_dir)
            path = store_path(self.state_dir, describe(self.url), ledger_id)
            projections = [OrganisationsProjection(), TimelineProjection(),
                           SupplyChainProjection(), ReviewsProjection()]  # fmt: skip
            tables = [table for p in projections for table in p.tables]
            store = LocalStore(path, tables)
            self.notes += store.notes
            self._projections = ProjectionEngine(self, projections, store)
        return self._projections

    @contextmanager
    def views(self, package: str | None = None, *, whole: bool = False) -> Iterator[Any]:
        """A read transaction on the views, caught up and verified first.

        Refuses with ``TamperError`` when a row that did not verify concerns ``package``
        (or, with ``whole``, when any row did not verify); a row that names no package
        only adds a note for a single package's output.
        """
        self.projections.catch_up()
        self.notes += [n for n in self.projections.notes if n not in self.notes]
        with self.projections.session() as session:
            self._refuse_tampered(session, package, whole=whole)
            yield session

    def _refuse_tampered(self, session: Any, package: str | None, *, whole: bool) -> None:
        rejected = ProjectionEngine.rejections(session, None if whole else package)
        if package is None and not whole:
            concerning: list[Any] = []
            others = rejected
        else:
            concerning = [r for r in rejected if whole or r.package == package]
            others = [r for r in rejected if not (whole or r.package == package)]
        # The genesis decides who may vouch for keys: if it does not verify, nothing does.
        genesis = [r for r in others if r.aggregate_id == str(LEDGER_AGGREGATE_ID)]
        if genesis:
            concerning, others = genesis + concerning, [r for r in others if r not in genesis]
        if concerning:
            what = f"package {package}" if package and not whole else "the ledger"
            more = f" (and {len(concerning) - 1} more)" if len(concerning) > 1 else ""
            hint = ("; reports of packages it does not concern still work (--package REF)"
                    if what == "the ledger" else "")  # fmt: skip
            raise TamperError(
                f"{what} holds data that does not verify: {concerning[0].describe()}{more}; "
                f"see every failure with: chainledger audit verify{hint}"
            )
        if others:
            more = f" (and {len(others) - 1} more)" if len(others) > 1 else ""
            note = (f"the ledger holds rows that do not verify, left out of every view: "
                    f"{others[0].describe()}{more}")  # fmt: skip
            if note not in self.notes:
                self.notes.append(note)

    # -- the ledger itself -------------------------------------------------

    @property
    def ledger_id(self) -> UUID:
        """This ledger's id, from its genesis event."""
        if self._ledger_id is None:
            try:
                ledger = self.load(LEDGER_AGGREGATE_ID)
            except NotFound:
                raise NotFound(
                    f"{describe(self.url)} holds no ledger yet; create one with: chainledger init"
                ) from None
            self._ledger_id = ledger.ledger_id
        return self._ledger_id

    def ledger_name(self) -> str:
        """This ledger's name, from its genesis event."""
        return str(self.load(LEDGER_AGGREGATE_ID).name)

    def is_initialised(self) -> bool:
        return self.exists(LEDGER_AGGREGATE_ID)

    def exists(self, aggregate_id: UUID) -> bool:
        """Whether anything is recorded under ``aggregate_id`` (nothing is verified)."""
        return self.table.exists(aggregate_id)

    def init_ledger(self, name: str) -> UUID:
        """Create the ledger's genesis event with a fresh ledger id."""
        name = check_text(name, "ledger name")
        if self.is_initialised():
            raise Refused(f"{describe(self.url)} already holds ledger {self.ledger_id}")
        ledger = Ledger.create(uuid4(), name)
        self.save_aggregates(ledger)
        self._ledger_id = ledger.ledger_id
        return ledger.ledger_id

    # -- organisations and keys --------------------------------------------

    def create_organisation(
        self,
        name: str,
        role: Role | None = None,
        *,
        passphrase: str,
        handle: str | None = None,
        sector: Sector | None = None,
        size: Size | None = None,
        identifier: str | None = None,
    ) -> OrganisationDetails:
        """Generate key pairs and register the organisation, signed by the new signing key.

        The organisation also gets an encryption key pair (for content sealed to
        it, such as the ratings of a review round it owns). ``role`` is only the part
        it says it usually plays: in each package it plays the part it takes there.
        """
        name = check_text(name, "organisation name")
        handle = check_handle(handle) if handle else slugify(name)
        if identifier is not None:
            identifier = check_identifier(identifier)
        ledger_id = self.ledger_id
        if self.exists(organisation_id(handle)):
            raise Refused(
                f"an organisation with handle {handle!r} already exists; "
                "choose another with --handle"
            )
        private_key = self.keystore.create(passphrase)
        encryption_key = self.keystore.create_encryption_key(passphrase)
        signer = Ed25519Signer(ledger_id, handle, private_key)
        organisation = Organisation.register(
            signer=signer,
            public_key=raw_public_key(private_key),
            name=name,
            role=role,
            sector=sector,
            size=size,
            identifier=identifier,
            encryption_key=raw_x25519_public_key(encryption_key),
        )
        self.save_aggregates(organisation)
        return self.organisation(handle)

    def new_encryption_key(self, handle: str, passphrase: str) -> str:
        """Give ``handle`` a new encryption key (the old ones still open what they sealed)."""
        signer = self.signer(handle, passphrase)
        organisation = self._organisation(handle)
        private_key = self.keystore.create_encryption_key(passphrase)
        organisation.register_encryption_key(signer, raw_x25519_public_key(private_key))
        self.save_aggregates(organisation)
        return organisation.current_encryption_key_id

    def opener(self, handle: str, passphrase: str) -> Opener:
        """Opens content sealed to any of ``handle``'s encryption keys held in the key directory."""
        organisation = self._organisation(handle)
        if not organisation.encryption_keys:
            raise NotFound(
                f"{handle} has no encryption key yet; make one with: "
                f"chainledger org encryption-key {handle}"
            )
        keys = [
            self.keystore.load_encryption_key(key_id, passphrase, owner=handle)
            for key_id in organisation.encryption_keys
            if self.keystore.path_for(key_id).exists()
        ]
        if not keys:
            raise KeyProblem(
                f"none of {handle}'s encryption keys is in {self.keystore.directory}; "
                "use --keys or CHAINLEDGER_KEYS to point at the directory that holds them"
            )
        return Opener(handle, tuple(keys))

    def signer(self, handle: str, passphrase: str) -> Ed25519Signer:
        """A signer for ``handle``'s current key, unlocked from the key directory."""
        organisation = self._organisation(handle)
        private_key = self.keystore.load(organisation.current_key_id, passphrase, owner=handle)
        return Ed25519Signer(self.ledger_id, handle, private_key)

    def rotate_key(self, handle: str, passphrase: str, new_passphrase: str | None = None) -> str:
        """Replace ``handle``'s key; the change is signed by the outgoing key."""
        return self._replace_key(handle, passphrase, new_passphrase, reason=None)

    def revoke_key(
        self, handle: str, passphrase: str, reason: str, new_passphrase: str | None = None
    ) -> str:
        """Revoke ``handle``'s current key as compromised and install a replacement."""
        return self._replace_key(
            handle, passphrase, new_passphrase, reason=check_text(reason, "reason", max_length=500)
        )

    def _replace_key(
        self, handle: str, passphrase: str, new_passphrase: str | None, reason: str | None
    ) -> str:
        signer = self.signer(handle, passphrase)
        organisation = self._organisation(handle)
        new_key = self.keystore.create(new_passphrase or passphrase)
        new_signer = Ed25519Signer(self.ledger_id, handle, new_key)
        proof = new_signer.sign(possession_statement(self.ledger_id, handle, new_signer.key_id))
        if reason is None:
            organisation.rotate_key(signer, new_signer.public_key, proof)
        else:
            organisation.revoke_key(signer, new_signer.public_key, proof, reason)
        self.save_aggregates(organisation)
        return new_signer.key_id

    def organisation(self, handle: str) -> OrganisationDetails:
        """One organisation, read from its verified events."""
        org = self._organisation(handle)
        keys = tuple(
            (
                key.key_id,
                key.status.value,
                key.valid_from.isoformat(timespec="seconds"),
                key.valid_until.isoformat(timespec="seconds") if key.valid_until else "",
            )
            for key in org.keys.values()
        )
        return OrganisationDetails(
            handle=org.handle,
            name=org.name,
            role=org.role.value if org.role else None,
            sector=org.sector.value if org.sector else None,
            size=org.size.value if org.size else None,
            identifier=org.identifier,
            key_id=org.current_key_id,
            keys=keys,
            version=org.version,
            encryption_key_id=org.current_encryption_key_id,
            endorsed_by=org.endorsement.registrar if org.endorsement else None,
            rejected=f"by {org.rejection[0]}: {org.rejection[1]}" if org.rejection else None,
            registrar=self.is_registrar(org.handle, None),
            ledger_has_registrar=self.has_registrar(),
        )

    def organisations(self, role: Role | None = None) -> list[OrganisationRow]:
        """Every registered organisation (or those stating ``role``), from the organisations view."""
        self.ledger_id  # noqa: B018 - refuses a database that holds no ledger
        with self.views() as session:
            return OrganisationsProjection.rows(session, role.value if role else None)

    def _organisation(self, handle: str) -> Organisation:
        check_handle(handle)
        self.ledger_id  # noqa: B018
        loaded_at = self.recorder.max_notification_id() or 0
        try:
            organisation = self.load(organisation_id(handle))
        except NotFound:
            raise NotFound(f"no organisation with handle {handle!r} in this ledger") from None
        self._signing_orgs[handle] = organisation
        self._orgs_loaded_at[handle] = loaded_at
        return organisation

    # -- package views -----------------------------------------------------------

    def history(self, package: str) -> list[TimelineRow]:
        """A package's timeline: every event, when, who signed it, what it says."""
        check_reference(package, "package reference")
        self.ledger_id  # noqa: B018
        with self.views(package) as session:
            self.references(session, package)
            rows = TimelineProjection.rows(session, package)
        return self.marked_timeline(rows)

    def marked_timeline(self, rows: Sequence[TimelineRow]) -> list[TimelineRow]:
        """The rows, each signed by a key a registrar later declared compromised saying so."""
        compromised = self._compromised(rows)
        return [replace(row, summary=f"{row.summary} [SIGNED BY A COMPROMISED KEY: {row.org} "
                                     "was recovered by a registrar]")
                if row.notification_id in compromised else row for row in rows]  # fmt: skip

    def _compromised(self, rows: Sequence[TimelineRow]) -> set[int]:
        """Of these timeline rows, the positions of those whose signer's key was compromised
        when it signed: the organisation was recovered by a registrar naming since when, and
        the event was signed at or after that moment, or placed after an event that was."""
        if not rows or not self.has_registrar():
            return set()
        windows: dict[str, list[tuple[datetime, int | None, int | None]]] = {}
        for org in {row.org for row in rows}:
            try:
                compromised = self._organisation(org).compromised
            except NotFound:
                continue
            if compromised:  # with where this reader's order first reached each window
                windows[org] = [(since, until, self.projections.reached(since))
                                for since, until in compromised]  # fmt: skip
        suspects = [row.notification_id for row in rows if row.org in windows]
        if not suspects:
            return set()
        signed = self.projections.signed_times(suspects)
        found = set()
        for row in rows:
            position = row.notification_id
            if row.org in windows and any(
                compromised_at([(since, until)], signed.get(position), position,
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
            bid = self.load(bid_id(package, prime))
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

    def all_events(self) -> Iterator[LedgerEvent]:
        """Every event in ledger order, each as this reader verified it (read in batches)."""
        self.projections.catch_up()
        last = 0
        while True:
            with self.recorder.datastore.transaction(commit=False) as session:
                rows = read_notifications(self, session, last + 1, 1000)
            checked = self.projections.checked(rows, whole=True)
            for row in checked:
                yield row.event()
            if len(checked) < len(rows) or not rows:
                return
            last = rows[-1].id

    # -- reports ---------------------------------------------------------------------

    def package_facts(self, package: str | None, as_of: date) -> list[PackageFacts]:
        """The facts of one package (or all), as the ledger stood on ``as_of``.

        Catches the views up first, then reads only the package's rows: no replay.
        """
        self.ledger_id  # noqa: B018
        with self.views(package, whole=package is None) as session:
            references = self.references(session, package)
            loaded = [load_facts(session, ref, as_of) for ref in references]
        return [facts for facts in loaded if facts is not None]

    def references(self, session: Any, package: str | None) -> list[str]:
        """``[package]``, checked to exist, or every package reference in the views."""
        if package is None:
            return package_references(session)
        check_reference(package, "package reference")
        if not has_package(session, package):
            raise NotFound(f"no package {package!r} in this ledger")
        return [package]

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
            stated = self.organisation(prime).role
            facts = self.package_facts(package, day)
            if stated != Role.PRIME.value and not any(prime in f.bids for f in facts):
                where = f"package {package}" if package else "any package"
                raise InvalidValue(f"{prime} is not a prime in {where}")
            return self.marked_rows(assessment.scorecard(prime, facts, t))
        if name == "findings":
            rounds = (self.opened_rounds(review_opener, package=package, thresholds=t)
                      if review_opener is not None else [])  # fmt: skip
            return self.marked_rows(self.findings(self.package_facts(package, day), t,
                                                      rounds))  # fmt: skip
        if name not in assessment.PACKAGE_REPORTS:
            raise InvalidValue(f"unknown report {name!r}")
        return self.marked_rows([
            row
            for f in self.package_facts(package, day)
            for row in assessment.PACKAGE_REPORTS[name](f, t)
        ])  # fmt: skip

    def compromised_events(self, nids: Iterable[int]) -> set[int]:
        """Of these events, those signed by a key a registrar later declared compromised
        (when recovering the organisation)."""
        wanted = set(nids)
        if not wanted or not self.has_registrar():
            return set()
        with self.projections.session() as session:
            rows = TimelineProjection.rows_at(session, wanted)
        return self._compromised(list(rows.values()))

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
        found += review_analysis.findings(list(rounds), t)
        order = {"high": 0, "medium": 1, "low": 2}
        found.sort(key=lambda x: (order[x.severity], x.package, x.rule, x.organisations))
        return [x.as_dict() for x in found]

    # -- reading and writing aggregates --------------------------------------

    def load(self, aggregate_id: UUID, *, before: int | None = None) -> Any:
        """The aggregate, rebuilt from events whose signatures and chain all verify, and
        that still hold the newest of its events this reader verified before (``before``:
        as it stood before that position in the ledger's order, from its events there)."""
        pin = (None if aggregate_id == LEDGER_AGGREGATE_ID or before is not None
               else self.projections.pin(aggregate_id))  # fmt: skip
        try:
            aggregate = None
            for event in self._stored_events(aggregate_id):
                if before is not None and (event.notification_id or 0) >= before:
                    break
                self._check_signature(event, aggregate)
                aggregate = event.mutate(aggregate)
                if pin is not None and event.originator_version == pin[0] and event.hash != pin[1]:
                    raise event.tamper("it is not the event verified here before: the record "
                                       "was rewritten")  # fmt: skip
            if pin is not None and (aggregate is None or aggregate.version < pin[0]):
                raise TamperError(
                    f"the record ends before version {pin[0]}, which was verified here before: "
                    "the ledger was rolled back or events were removed",
                    aggregate_id=aggregate_id,
                )
        except TamperError as error:
            raise error.located(self._notification_id(error.aggregate_id, error.version)) from None
        except (PersistenceError, sqlalchemy.exc.SQLAlchemyError) as exc:
            if edited_into_text(exc):
                raise TamperError(EDITED_INTO_TEXT, aggregate_id=aggregate_id) from None
            raise LedgerUnavailable(f"cannot read the ledger: {failure_reason(exc)}") from None
        if aggregate is None:
            raise NotFound(f"nothing recorded under {aggregate_id}")
        return aggregate

    def _stored_events(self, aggregate_id: UUID) -> Iterator[LedgerEvent]:
        """An aggregate's events with their notification ids, in version order.

        eventsourcing's ``select_events`` leaves out the notification id, and
        keys are judged by position in the global order, so this reads the
        same table with it.
        """
        for notification_id, version, topic, state in self.table.rows(aggregate_id):
            event = decode_event(
                state, originator_id=aggregate_id, originator_version=version, topic=topic
            )
            yield located(event, notification_id)

    def _check_signature(self, event: LedgerEvent, aggregate: LedgerAggregate | None) -> None:
        if isinstance(event, LedgerCreated):
            if (
                event.originator_id != LEDGER_AGGREGATE_ID
                or event.signature != UNSIGNED
                or event.org is not None
            ):
                raise event.tamper("a genesis event may only start the ledger aggregate")
            return
        if event.signature == UNSIGNED or event.org is None:
            raise event.tamper("event is not signed")
        if self._ledger_id is not None and event.ledger_id != self._ledger_id:
            raise event.tamper("signed for another ledger")
        if isinstance(event, OrganisationRegistered):
            public_key = event.registered_key
            if (
                event.org != event.handle
                or event.originator_id != organisation_id(event.handle)
                or event.key_id != event.hash_of_key()
            ):
                raise event.tamper("registration is not signed by the key it registers")
        elif isinstance(event, KeyRecoveryRequested):
            public_key = decode_key(event.public_key)
            if event.key_id != key_fingerprint(public_key):
                raise event.tamper("a recovery request not signed by the key it offers")
        else:
            public_key = self._signing_key(event, aggregate)
        if not self._verified.verify(public_key, event.signature, event.content):
            raise event.tamper(f"signature by {event.org} does not verify")
        if not isinstance(event, OrganisationRegistered | KeyRecoveryRequested):
            self.check_authority(event, aggregate, self._signer_record(event, aggregate))
        if isinstance(event, SigningKeyRotated) and not self._verified.verify(
            event.new_key,
            event.proof_bytes,
            possession_statement(event.ledger_id, event.org, event.new_key_id),
        ):
            raise event.tamper("the new key's proof of possession does not verify")

    def _signer_record(self, event: LedgerEvent, aggregate: LedgerAggregate | None) -> Any:
        """The organisation that signed ``event`` (its record as loaded for the check)."""
        assert event.org is not None
        if isinstance(aggregate, Organisation) and event.org == aggregate.handle:
            return aggregate
        if isinstance(event, RegistrarEvent):
            return self.organisation_at(event.org, event.notification_id)
        return self._signing_orgs.get(event.org) or self._organisation(event.org)

    def organisation_at(self, handle: str, position: int | None) -> Organisation:
        """``handle``'s record as it stood before ``position`` (None: now). Who may sign a
        registrar's event is judged from the records before it, so checking it never
        loads a record that leads back to it."""
        if position is None:
            return self._organisation(handle)
        try:
            return self.load(organisation_id(check_handle(handle)), before=position)
        except NotFound:
            raise NotFound(f"no organisation with handle {handle!r} in this ledger") from None

    def _signing_key(self, event: LedgerEvent, aggregate: LedgerAggregate | None) -> bytes:
        assert event.org is not None
        if isinstance(aggregate, Organisation) and isinstance(event, RegistrarEvent):
            # A registrar's event on an organisation's record: the registrar's own key (the
            # first registrar endorses itself at the ledger's creation, with its own key).
            organisation = (aggregate if event.org == aggregate.handle
                            else self.organisation_at(event.org, event.notification_id))  # fmt: skip
        elif isinstance(event, IdentifierClaimed):
            organisation = self.organisation_at(event.org, event.notification_id)
        elif isinstance(aggregate, Organisation):
            # An organisation's own events are signed by itself, with its keys so far.
            if event.org != aggregate.handle:
                raise event.tamper(f"{event.org} signed an event of {aggregate.handle}")
            organisation = aggregate
        else:
            organisation = self._signing_orgs.get(event.org)
            # A cached organisation knows its key changes up to the position it was
            # loaded at; an event recorded after that needs a fresh look.
            if (
                organisation is None
                or event.notification_id is None
                or event.notification_id > self._orgs_loaded_at.get(event.org, 0)
            ):
                organisation = self._organisation(event.org)
        key = organisation.key_for(event.key_id, event.notification_id)
        if key is None:
            raise event.tamper(
                f"signed with key {str(event.key_id)[:16]}…, which is not a valid key of "
                f"{event.org} at that point in the ledger"
            )
        if (
            key.valid_until is not None
            and event.timestamp >= key.valid_until
            and event.notification_id != key.until_position
        ):  # by its signed time too: its row was put before the key's end, or back-dated
            raise event.tamper(
                f"signed with {event.org}'s key {key.key_id[:16]}… at "
                f"{event.timestamp.isoformat()}, after it was {key.status.value} at "
                f"{key.valid_until.isoformat()}"
            )
        return key.public_key

    def _notification_id(self, aggregate_id: object, version: int | None) -> int | None:
        if not isinstance(aggregate_id, UUID) or version is None:
            return None
        return self.table.notification_id(aggregate_id, version)

    def with_retries(self, attempt: Callable[[], T], *, attempts: int = 8) -> T:
        """Run ``attempt`` — one whole use case: read, check the rules, write — again when it
        lost a race with another writer (``Conflict``), up to ``attempts`` times.

        Retrying is safe because a conflict writes nothing, and each attempt reads the
        records afresh and checks every rule again: a step that has meanwhile become
        invalid (a duplicate, an overpayment) is refused, not recorded twice.
        """
        for tries in range(1, attempts + 1):
            try:
                return attempt()
            except Conflict:
                if tries == attempts:
                    raise
                time.sleep(random.uniform(0, 0.005 * 2**tries))  # noqa: S311 - jitter, not secrets
        raise AssertionError("unreachable")

    def _authorise(self, aggregates: Sequence[LedgerAggregate]) -> None:
        """Refuse, before anything is written, an event its signer may not sign: on a
        ledger with a registrar, anything on another record by an organisation no
        registrar endorsed, and a registrar's event by one that is not a registrar."""
        pending = [e for a in aggregates for e in a.pending_events]
        if not pending or any(isinstance(e, LedgerCreated) for e in pending):
            return  # creating the ledger: nothing to check against yet
        if not self.has_registrar():
            return
        registrars: set[str] = set()
        signers: set[str] = set()
        for aggregate in aggregates:
            for event in aggregate.pending_events:
                assert event.org is not None
                if isinstance(event, RegistrarEvent | IdentifierClaimed):
                    registrars.add(event.org)
                elif not isinstance(aggregate, Organisation):
                    signers.add(event.org)
        for org in sorted(registrars):
            if not self.is_registrar(org, None):
                raise Refused(f"{org} is not a registrar of this ledger")
        for org in sorted(signers):
            self.require_endorsed(org)

    def save_aggregates(self, *aggregates: LedgerAggregate) -> list[LedgerEvent]:
        """Save every pending event of ``aggregates`` in one transaction, in the order made.

        Events go into the global order as they were made (a stable sort on
        their timestamps, which never run backwards within an aggregate), so a
        bulk import reads back in the order of its lines. Returns the events.
        """
        self._authorise(aggregates)
        events = sorted((e for a in aggregates for e in a.collect_events()), key=_made_at)
        try:
            for recording in self.save(*events):
                located(recording.domain_event, recording.notification.id)
        except IntegrityError:
            raise Conflict(
                "someone else recorded into the same record at the same moment; "
                "nothing was written — run the command again"
            ) from None
        except PersistenceError as exc:
            raise LedgerUnavailable(
                f"the ledger's database failed while recording ({failure_reason(exc)}); "
                "nothing was saved"
            ) from None
        return events


def _made_at(event: LedgerEvent) -> Any:
    return event.timestamp


__all__ = ["ChainLedger", "ChainledgerError", "OrganisationDetails"]
