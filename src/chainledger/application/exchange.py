"""Use cases of carrying a package between ledgers: export a bundle, import one, and read
what was imported.

An export vouches for its bundle with a checkpoint signed by the exporting
organisation; the import checks every event, signature, chain link and proof
before it keeps anything (``bundles.verify_bundle``), then keeps the events
apart from this ledger's own (``imported_store``), each exactly once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

import sqlalchemy.exc

from chainledger.adapters import imported_store
from chainledger.adapters.crypto import Ed25519Signer
from chainledger.adapters.locations import failure_reason
from chainledger.application.bundles import (
    BundleEvent,
    VerifiedBundle,
    audit_events,
    bundle_document,
    verify_bundle,
)
from chainledger.application.transparency import Transparency
from chainledger.domain.events import decode_event, now, split_state
from chainledger.domain.ids import LEDGER_AGGREGATE_ID, organisation_id
from chainledger.domain.merkle import leaf_hash, verify_inclusion
from chainledger.domain.values import check_reference
from chainledger.errors import (
    Conflict,
    LedgerUnavailable,
    NotFound,
    ProofFailed,
    Refused,
    TamperError,
)
from chainledger.projections.timeline import notification_ids

if TYPE_CHECKING:
    from chainledger.application.ports import LedgerPort


@dataclass(frozen=True)
class Imported:
    """What an import did."""

    ledger_id: str
    ledger_name: str
    package: str
    events: int  # in the bundle
    new: int  # not held before
    signer: str  # who signed the bundle's checkpoint
    size: int  # the origin ledger's size at that checkpoint


class Exchange:
    """Bundles between ledgers: exported with their proofs, imported once they verify."""

    def __init__(self, ledger: LedgerPort, transparency: Transparency) -> None:
        self.ledger = ledger
        self.transparency = transparency

    def export_bundle(self, package: str, signer: Ed25519Signer) -> dict[str, Any]:
        """The bundle of ``package``: its records' events, the keys of everyone who signed
        them, each event's audit path, and a checkpoint signed by ``signer``."""
        check_reference(package, "package reference")
        self.ledger.ledger_id  # noqa: B018 - refuse a database that holds no ledger
        with self.ledger.views(package) as views:
            self.ledger.references(views, package)
            # The tree as far as this reader verified, so that the bundle holds every event
            # of the package its checkpoint covers (an importer relies on that).
            verified = self.transparency.verified_head()
            ids = notification_ids(views, package, up_to=verified.position)
        with self.ledger.transaction(commit=False) as session:
            head = self.ledger.tree.head_at(session, verified.position)
            if (head.size, head.root) != (verified.size, verified.root):
                raise TamperError(
                    "the ledger's stored Merkle tree is not the tree of the events you verified: "
                    "run chainledger audit verify"
                )
            rows = self.ledger.rows_at(session, ids)
            if len(rows) < len(ids):
                raise TamperError(f"events of package {package} that were verified here are "
                                  "gone from the ledger: it was rewritten")  # fmt: skip
            # The genesis and the records of every organisation that signed: their keys,
            # and who vouched for them — the registrars' records too, up to the first
            # registrar, so that an importer sees the whole chain of endorsements.
            orgs = {signer.org} | {_org(row.state) for row in rows} - {None}
            fetched: set[Any] = set()
            records = [LEDGER_AGGREGATE_ID, *(organisation_id(str(org)) for org in orgs)]
            while records:
                fetched.update(records)
                found = [row for row in self.ledger.rows_of(session, records)
                         if row.id <= head.position]  # fmt: skip
                rows += found
                signers = {_org(row.state) for row in found} - {None}
                records = [r for r in (organisation_id(str(o)) for o in signers)
                           if r not in fetched]  # fmt: skip
            rows.sort(key=lambda row: row.id)
            self.ledger.projections.checked(rows)
            positions = self.ledger.tree.leaf_indexes(session, [row.id for row in rows])
            missing = [row.id for row in rows if row.id not in positions]
            if missing:
                raise TamperError(
                    f"event #{missing[0]} is in the log but not in the ledger's Merkle tree: "
                    "run chainledger audit verify"
                )
            paths = self.ledger.tree.prove_inclusions(session, sorted(positions.values()), head.size)
        events = [
            BundleEvent(positions[row.id], row.originator_id, row.originator_version, row.topic,
                        row.state, tuple(paths[positions[row.id]]))
            for row in rows
        ]  # fmt: skip
        for nid, event in zip((row.id for row in rows), events, strict=True):
            # Each proof as the importer will check it, before anything is written.
            if not verify_inclusion(event.position, head.size, leaf_hash(event.state),
                                    list(event.path), head.root):  # fmt: skip
                raise TamperError(f"the ledger's stored Merkle tree does not prove event #{nid} "
                                  "in the tree you verified: run chainledger audit verify")  # fmt: skip
        return bundle_document(package, self.transparency.checkpoint(signer, head), events)

    def import_bundle(self, document: dict[str, Any]) -> Imported:
        """Check a bundle and keep the events this ledger does not hold yet; all or none."""
        verified = verify_bundle(document)
        if verified.ledger_id == self.ledger.ledger_id:
            raise Refused(
                f"this bundle was exported from this ledger ({self.ledger.ledger_id}): "
                "its events are already here"
            )
        origin = str(verified.ledger_id)
        head = verified.checkpoint.checkpoint
        sent = self.ledger.store.imported.submit(document)  # a service imports it there
        if sent is not None:
            return Imported(origin, verified.ledger_name, verified.package,
                            len(verified.events), _new_count(sent), verified.signer,
                            head.size)  # fmt: skip
        stamp = now().isoformat(timespec="seconds")
        try:
            with self.ledger.transaction(commit=True) as session:
                known = imported_store.ledger(session, origin)
                if known is not None and known.size == head.size and known.root != head.root:
                    raise ProofFailed(
                        f"the bundle is refused: ledger {origin} was seen before with "
                        f"{head.size} events under another root: it has shown two different "
                        "histories"
                    )
                new = _new_events(session, origin, verified)
                imported_store.add(session, [
                    {"ledger_id": origin, "position": e.position, "aggregate_id": str(e.aggregate),
                     "version": e.version, "topic": e.topic, "state": e.state,
                     "package": verified.packages.get(e.aggregate), "imported_at": stamp}
                    for e in new
                ])  # fmt: skip
                if known is None or head.size > known.size:
                    imported_store.save_ledger(
                        session,
                        imported_store.HeldLedger(
                            origin, verified.ledger_name, head.size, head.root,
                            verified.checkpoint.text(), verified.signer, stamp,
                        ),
                        new=known is None,
                    )  # fmt: skip
        except sqlalchemy.exc.IntegrityError:
            raise Conflict(
                "someone else imported from the same ledger at the same moment; "
                "nothing was written — run the command again"
            ) from None
        except sqlalchemy.exc.SQLAlchemyError as exc:
            raise LedgerUnavailable(
                f"the ledger's database failed while importing ({failure_reason(exc)}); "
                "nothing was saved"
            ) from None
        return Imported(origin, verified.ledger_name, verified.package, len(verified.events),
                        len(new), verified.signer, head.size)  # fmt: skip

    def imported_ledgers(self) -> list[dict[str, Any]]:
        """The ledgers events were imported from: what is held from each, checked again."""
        self.ledger.ledger_id  # noqa: B018
        self._refuse_altered_imports()
        held = self.ledger.store.imported.ledgers()
        return [
            {
                "ledger": ledger.ledger_id,
                "name": ledger.name,
                "packages": ", ".join(packages),
                "events": events,
                "checkpoint": f"{ledger.size} events, signed by {ledger.signer}",
                "updated": ledger.updated_at,
            }
            for ledger, events, packages in held
        ]

    def imported_history(self, package: str) -> list[dict[str, Any]]:
        """The imported events of ``package``, from every ledger that sent them."""
        check_reference(package, "package reference")
        self.ledger.ledger_id  # noqa: B018
        self._refuse_altered_imports()
        imported = self.ledger.store.imported
        names = {ledger.ledger_id: ledger.name for ledger, *_ in imported.ledgers()}
        held = imported.package_events(package)
        if not held:
            raise NotFound(f"nothing of package {package!r} was imported into this ledger")
        rows = []
        for e in held:
            event = decode_event(e.state, originator_id=UUID(e.aggregate_id),
                                 originator_version=e.version, topic=e.topic)  # fmt: skip
            rows.append({
                "ledger": names.get(e.ledger_id, e.ledger_id),
                "#": e.position + 1,
                "on": event.on.isoformat(),
                "by": event.org or "",
                "event": event.type_name,
                "what": event.summary(),
            })  # fmt: skip
        return rows

    def _refuse_altered_imports(self) -> None:
        """Imported events are read from the database like anything else, so they are checked
        again (signatures, keys, versions, hash chains) before they are shown."""
        _, problems = self.audit_imported()
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise TamperError(f"the imported events do not verify: {problems[0]}{more}")

    def audit_imported(self) -> tuple[int, list[str]]:
        """Check every imported event again, as kept here: how many, and what fails.

        Each ledger's events must still pass the audit they passed on import:
        signatures, keys, versions and hash chains.
        """
        problems: list[str] = []
        count = 0
        imported = self.ledger.store.imported
        for ledger, _, _ in imported.ledgers():
            held = imported.all_events(ledger.ledger_id)
            events = [BundleEvent(e.position, UUID(e.aggregate_id), e.version, e.topic,
                                  e.state) for e in held]  # fmt: skip
            count += len(events)
            if not events:
                continue
            _, failures = audit_events(events, UUID(ledger.ledger_id))
            problems += [
                f"imported from {ledger.name} ({ledger.ledger_id}): {event.describe()}: "
                f"{message}"
                for event, message in failures
            ]
        return count, problems


def _org(state: bytes) -> str | None:
    try:
        org = json.loads(split_state(bytes(state))[1]).get("org")
    except (ValueError, AttributeError):
        return None  # unreadable: the importer refuses it, naming it
    return org if isinstance(org, str) else None


def _new_count(answer: dict[str, Any]) -> int:
    """How many of the bundle's events the service kept as new, as it says."""
    value = answer.get("new")
    if type(value) is not int or value < 0:
        raise LedgerUnavailable("the ledger service did not say how many of the bundle's "
                                "events it kept")  # fmt: skip
    return value



def _new_events(session: Any, origin: str, bundle: VerifiedBundle) -> list[BundleEvent]:
    """Those of the bundle's events not held yet.

    The bundle is refused if an event differs from the one held at its place, or if it
    lacks an event held before, of its package or of a record it carries, that its
    checkpoint covers: an export carries every such event, so the origin ledger (or
    whoever made the bundle) has shown two different histories.
    """
    events = bundle.events
    held = imported_store.held(session, origin, [e.position for e in events],
                               [str(e.aggregate) for e in events], bundle.package)  # fmt: skip
    carried = {e.position for e in events}
    for h in held:
        if h.position < bundle.size and h.position not in carried:
            raise ProofFailed(
                f"the bundle is refused: it lacks event {h.position + 1} ({h.topic}, version "
                f"{h.version} of record {h.aggregate_id}), imported before from ledger "
                f"{origin}, though its checkpoint of {bundle.size} events covers it: that "
                "ledger has shown two different histories, or the bundle left the event out"
            )
    by_position = {h.position: h for h in held}
    by_record = {(h.aggregate_id, h.version): h for h in held}
    new = []
    for event in events:
        same = by_position.get(event.position) or by_record.get(
            (str(event.aggregate), event.version)
        )
        if same is None:
            new.append(event)
        elif (same.position, same.aggregate_id, same.version, same.state) != (
            event.position, str(event.aggregate), event.version, event.state
        ):  # fmt: skip
            raise ProofFailed(
                f"the bundle is refused: {event.describe()} differs from the event held here "
                f"from ledger {origin}, imported before: either that ledger has shown two "
                "different histories, or the copy here was altered (chainledger audit verify "
                "tells which)"
            )
    return new
