"""The ledger core: the ledger port over an event store.

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
from datetime import date
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID, uuid4

from chainledger.adapters.crypto import (
    Ed25519Signer,
    Opener,
    VerifiedSignatures,
)
from chainledger.adapters.keystore import Keystore
from chainledger.adapters.local_store import (
    LocalStore,
    default_state_dir,
    prepare_state_dir,
    store_path,
)
from chainledger.adapters.locations import StoredRow
from chainledger.application.authorisation import Registry
from chainledger.application.catch_up import ProjectionEngine
from chainledger.application.ports import EventStore
from chainledger.domain.aggregate import LedgerAggregate
from chainledger.domain.events import UNSIGNED, LedgerEvent, decode_event, located
from chainledger.domain.facts import PackageFacts
from chainledger.domain.identity import (
    IdentifierClaimed,
    KeyRecoveryRequested,
    RegistrarEvent,
)
from chainledger.domain.ids import LEDGER_AGGREGATE_ID, organisation_id
from chainledger.domain.keys import decode_key, key_fingerprint, possession_statement
from chainledger.domain.ledger import Ledger, LedgerCreated
from chainledger.domain.organisation import Organisation, OrganisationRegistered, SigningKeyRotated
from chainledger.domain.values import (
    check_handle,
    check_reference,
    check_text,
)
from chainledger.errors import (
    ChainledgerError,
    Conflict,
    KeyProblem,
    NotFound,
    Refused,
    TamperError,
)
from chainledger.projections.facts import load_facts, package_references
from chainledger.projections.organisations import OrganisationsProjection
from chainledger.projections.reviews import ReviewsProjection
from chainledger.projections.supply_chain import SupplyChainProjection, has_package
from chainledger.projections.timeline import TimelineProjection

T = TypeVar("T")


class LedgerCore:
    """The ledger port over an event store (``store``): records loaded only from events
    whose signatures, keys, standing and hash chains all verify; changes saved in one
    step once their signers may make them; the reader's verified views, kept in its
    own store outside the ledger's database."""

    def __init__(self, store: EventStore, keystore: Keystore, state_dir: Path | None = None) -> None:
        self.store = store
        self.keystore = keystore
        self.state_dir = state_dir or default_state_dir()
        self._projections: ProjectionEngine | None = None
        self.notes: list[str] = []  # warnings for the person at the terminal
        self._ledger_id: UUID | None = None
        self._signing_orgs: dict[str, Organisation] = {}
        self._verified = VerifiedSignatures()
        self._orgs_loaded_at: dict[str, int] = {}
        self.registry = Registry(self)

    def close(self) -> None:
        """Close the verified store and the event store's connections."""
        if self._projections is not None:
            self._projections.store.close()
            self._projections = None
        self.store.close()

    # -- stored rows ---------------------------------------------------------

    @property
    def tree(self) -> Any:
        """The store's Merkle tree (see ``EventStore.tree``)."""
        return self.store.tree

    def note_step(self, step: dict[str, Any]) -> None:
        """A signed step is running (see ``EventStore.note_step``)."""
        self.store.note_step(step)

    def drop_step(self, step: dict[str, Any]) -> None:
        self.store.drop_step(step)

    def transaction(self, *, commit: bool = False) -> Any:
        """A transaction on the ledger's own database (the events and the tree beside them)."""
        return self.store.transaction(commit=commit)

    def notifications(self, session: Any, start: int, limit: int) -> list[StoredRow]:
        """Stored rows from notification id ``start`` on, in order (to be verified)."""
        return self.store.rows.notifications(session, start, limit)

    def rows_at(self, session: Any, ids: Iterable[int]) -> list[StoredRow]:
        """The stored rows at these notification ids that exist, in order (to be verified)."""
        return self.store.rows.rows_at(session, ids)

    def rows_of(self, session: Any, aggregate_ids: Iterable[UUID]) -> list[StoredRow]:
        """Every stored row of these records, in order (to be verified)."""
        return self.store.rows.rows_of(session, aggregate_ids)

    # -- the reader's verified views ----------------------------------------

    @property
    def projections(self) -> ProjectionEngine:
        """The read models, in this reader's verified store (opened on first use)."""
        if self._projections is None:
            ledger_id = str(self.ledger_id)
            prepare_state_dir(self.state_dir)
            path = store_path(self.state_dir, self.store.location, ledger_id)
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
        self.catch_up()
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
            known = self.store.known_ledger_id()
            if known is not None:
                self._ledger_id = UUID(known)
                return self._ledger_id
            try:
                ledger = self.load(LEDGER_AGGREGATE_ID)
            except NotFound:
                raise NotFound(
                    f"{self.store.location} holds no ledger yet; create one with: chainledger init"
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
        return self.store.rows.exists(aggregate_id)

    def init_ledger(self, name: str) -> UUID:
        """Create the ledger's genesis event with a fresh ledger id."""
        name = check_text(name, "ledger name")
        if self.is_initialised():
            raise Refused(f"{self.store.location} already holds ledger {self.ledger_id}")
        ledger = Ledger.create(uuid4(), name)
        self.save_aggregates(ledger)
        self._ledger_id = ledger.ledger_id
        return ledger.ledger_id

    # -- organisations and keys --------------------------------------------

    def opener(self, handle: str, passphrase: str) -> Opener:
        """Opens content sealed to any of ``handle``'s encryption keys held in the key directory."""
        organisation = self.organisation_record(handle)
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
        organisation = self.organisation_record(handle)
        private_key = self.keystore.load(organisation.current_key_id, passphrase, owner=handle)
        return Ed25519Signer(self.ledger_id, handle, private_key)

    def organisation_record(self, handle: str) -> Organisation:
        check_handle(handle)
        self.ledger_id  # noqa: B018
        loaded_at = self.store.max_position()
        try:
            organisation = self.load(organisation_id(handle))
        except NotFound:
            raise NotFound(f"no organisation with handle {handle!r} in this ledger") from None
        self._signing_orgs[handle] = organisation
        self._orgs_loaded_at[handle] = loaded_at
        return organisation

    # -- package views -----------------------------------------------------------

    def catch_up(self, *, noting: bool = True) -> None:
        """Verify and apply what was recorded since this reader's last look; through a
        service, check the tree verified against the one it signed. With ``noting``, what
        the catch-up noticed is kept for the person at the terminal (checkpoints and
        proofs, which refuse a stored tree that differs, do not repeat it as a note)."""
        self.projections.catch_up()
        self.store.confirm(self.projections.head())
        if noting:
            self.notes += [n for n in self.projections.notes if n not in self.notes]

    def all_events(self) -> Iterator[LedgerEvent]:
        """Every event in ledger order, each as this reader verified it (read in batches)."""
        self.catch_up()
        last = 0
        while True:
            with self.store.transaction(commit=False) as session:
                rows = self.store.rows.notifications(session, last + 1, 1000)
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
        if aggregate is None:
            raise NotFound(f"nothing recorded under {aggregate_id}")
        return aggregate

    def _stored_events(self, aggregate_id: UUID) -> Iterator[LedgerEvent]:
        """An aggregate's events with their notification ids, in version order.

        eventsourcing's ``select_events`` leaves out the notification id, and
        keys are judged by position in the global order, so this reads the
        same table with it.
        """
        for notification_id, version, topic, state in self.store.rows.aggregate(aggregate_id):
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
            self.registry.check_authority(event, aggregate, self._signer_record(event, aggregate))
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
        return self._signing_orgs.get(event.org) or self.organisation_record(event.org)

    def organisation_at(self, handle: str, position: int | None) -> Organisation:
        """``handle``'s record as it stood before ``position`` (None: now). Who may sign a
        registrar's event is judged from the records before it, so checking it never
        loads a record that leads back to it."""
        if position is None:
            return self.organisation_record(handle)
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
                organisation = self.organisation_record(event.org)
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
        return self.store.rows.notification_id(aggregate_id, version)

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
        if not self.registry.has_registrar():
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
            if not self.registry.is_registrar(org, None):
                raise Refused(f"{org} is not a registrar of this ledger")
        for org in sorted(signers):
            self.registry.require_endorsed(org)

    def save_aggregates(self, *aggregates: LedgerAggregate) -> list[LedgerEvent]:
        """Save every pending event of ``aggregates`` in one transaction, in the order made.

        Events go into the global order as they were made (a stable sort on
        their timestamps, which never run backwards within an aggregate), so a
        bulk import reads back in the order of its lines. Returns the events.
        """
        self._authorise(aggregates)
        events = sorted((e for a in aggregates for e in a.collect_events()), key=_made_at)
        self.store.append(events)
        return events


def _made_at(event: LedgerEvent) -> Any:
    return event.timestamp


__all__ = ["ChainledgerError", "LedgerCore"]
