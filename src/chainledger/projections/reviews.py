"""The review read model: rounds and sealed ratings, as the ledger shows them to anyone.

Nothing here is readable content: a commitment is a hash, and a revealed
rating is sealed to the round's owner. Rows are appended one per event and
folded on read, like the supply-chain view.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chainledger.adapters.local_store import Table, Transaction, integer, text
from chainledger.domain.events import LedgerEvent
from chainledger.projections.base import Writer

if TYPE_CHECKING:
    from chainledger.domain.review import Dimension

rounds_table = Table(
    "rv_rounds",
    integer("nid"),
    text("round", nullable=False, index=True),
    text("package", nullable=False, index=True),
    text("period", nullable=False),
    text("on", nullable=False),
    text("kind", nullable=False),  # opened, closed, finalised
    text("org", nullable=False),
    text("dimensions"),  # JSON [[slug, title], ...] when opened
    text("owner_key"),
    integer("min_group"),
    key=("nid",),
)
ratings_table = Table(
    "rv_ratings",
    integer("nid"),
    text("rating", nullable=False, index=True),
    text("package", nullable=False, index=True),
    text("period", nullable=False),
    text("on", nullable=False),
    text("kind", nullable=False),  # committed, revealed
    text("rater", nullable=False),
    text("ratee", nullable=False),
    text("commitment"),
    text("sealed"),
    key=("nid",),
)


@dataclass
class RoundRow:
    package: str
    period: str
    owner: str
    dimensions: tuple[Dimension, ...]
    owner_key: bytes
    min_group: int
    opened_on: str
    opened_nid: int
    closed_on: str | None = None
    closed_nid: int | None = None
    final_on: str | None = None
    final_nid: int | None = None

    @property
    def status(self) -> str:
        if self.final_nid is not None:
            return "final"
        return "closed" if self.closed_nid is not None else "open"


@dataclass
class RatingRow:
    rater: str
    ratee: str
    commitment: str
    committed_on: str
    committed_nid: int
    sealed_for_owner: str | None = None
    revealed_on: str | None = None
    revealed_nid: int | None = None


class ReviewsProjection:
    name = "reviews"
    tables = (rounds_table, ratings_table)
    topics: tuple[str, ...] = ()

    def __init__(self) -> None:
        self._ratings: dict[str, dict[str, Any]] = {}

    def reset(self) -> None:
        self._ratings = {}

    def apply(self, event: LedgerEvent, writer: Writer) -> None:
        e: Any = event
        base = {"nid": e.notification_id, "on": e.on.isoformat()}
        if e.type_name == "ReviewRoundOpened":
            writer.insert(rounds_table, {
                **base, "round": str(e.originator_id), "package": e.package, "period": e.period, "kind": "opened", "org": e.org,
                "dimensions": json.dumps([[d.slug, d.title] for d in e.dimensions]),
                "owner_key": e.owner_key, "min_group": e.min_group,
            })  # fmt: skip
        elif e.type_name in ("ReviewRoundClosed", "ReviewRoundFinalised"):
            opened = writer.first(
                "SELECT package, period FROM rv_rounds WHERE round = ? AND kind = 'opened'",
                (str(e.originator_id),),
            )
            if opened is not None:
                writer.insert(rounds_table, {**base, "round": str(e.originator_id),
                                             "package": opened.package,
                                             "period": opened.period, "org": e.org,
                                             "kind": "closed" if e.type_name == "ReviewRoundClosed" else "finalised",
                                             "dimensions": None, "owner_key": None,
                                             "min_group": None})  # fmt: skip
        elif e.type_name == "RatingCommitted":
            place = {"package": e.package, "period": e.period, "rater": e.org, "ratee": e.ratee}
            self._ratings[str(e.originator_id)] = place
            writer.insert(ratings_table, {**base, **place, "rating": str(e.originator_id),
                                          "kind": "committed", "commitment": e.commitment,
                                          "sealed": None})  # fmt: skip
        elif e.type_name == "RatingRevealed":
            place = self._place(str(e.originator_id), writer)
            if place is not None:
                writer.insert(ratings_table, {**base, **place, "rating": str(e.originator_id),
                                              "kind": "revealed", "commitment": None,
                                              "sealed": e.sealed})  # fmt: skip

    def _place(self, rating: str, writer: Writer) -> dict[str, Any] | None:
        if rating not in self._ratings:
            found = writer.first(
                "SELECT package, period, rater, ratee FROM rv_ratings "
                "WHERE rating = ? AND kind = 'committed'", (rating,),
            )  # fmt: skip
            if found is None:
                return None
            self._ratings[rating] = dict(found._mapping)
        return self._ratings[rating]


def rounds(
    session: Transaction, package: str | None = None, period: str | None = None
) -> list[RoundRow]:
    """Every review round (of one package, one period), oldest first."""
    from chainledger.domain.keys import decode_key
    from chainledger.domain.review import Dimension

    conditions = [(name, value) for name, value in (("package", package), ("period", period))
                  if value is not None]  # fmt: skip
    where = " AND ".join(f"{name} = ?" for name, _ in conditions)
    query = f"{rounds_table.select_sql()} {'WHERE ' + where if where else ''} ORDER BY nid"
    found: dict[tuple[str, str], RoundRow] = {}
    for row in session.execute(query, [value for _, value in conditions]):
        key = (row.package, row.period)
        if row.kind == "opened":
            found[key] = RoundRow(
                package=row.package, period=row.period, owner=row.org,
                dimensions=tuple(Dimension(s, t) for s, t in json.loads(row.dimensions)),
                owner_key=decode_key(row.owner_key), min_group=row.min_group,
                opened_on=row.on, opened_nid=row.nid,
            )  # fmt: skip
        elif key in found and row.kind == "closed":
            found[key].closed_on = row.on
            found[key].closed_nid = row.nid
        elif key in found:
            found[key].final_on = row.on
            found[key].final_nid = row.nid
    return list(found.values())


def ratings(session: Transaction, package: str, period: str) -> list[RatingRow]:
    """Every commitment of a round, with its reveal if there is one."""
    query = f"{ratings_table.select_sql()} WHERE package = ? AND period = ? ORDER BY nid"
    found: dict[str, RatingRow] = {}
    for row in session.execute(query, (package, period)):
        if row.kind == "committed":
            found[row.rating] = RatingRow(row.rater, row.ratee, row.commitment, row.on, row.nid)
        elif row.rating in found:
            found[row.rating].sealed_for_owner = row.sealed
            found[row.rating].revealed_on = row.on
            found[row.rating].revealed_nid = row.nid
    return list(found.values())
