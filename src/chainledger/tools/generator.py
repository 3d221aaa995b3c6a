"""A deterministic generator of realistic ledgers, for benchmarks and tests.

Commissioners tender two-year packages; primes bid naming voluntary-sector and
private subcontractors; the winner subcontracts, refers, is invoiced and pays
month by month, and its subcontractors report KPIs each quarter. A share of
primes misbehave the way the sector describes: bid candy, cuts passed down,
late payment, referrals that dry up. Everything is written through the real
application (signed events, checked by the same rules as the CLI), in bulk: one
unit of work, so one transaction, per package and quarter.

Packages are added until the ``events`` target is reached (about 950 events
each); the pools of organisations stay the same size.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from chainledger.adapters.keystore import Keystore
from chainledger.application.contracting import UnitOfWork
from chainledger.bootstrap import ChainLedger
from chainledger.domain.dates import add_months
from chainledger.domain.ids import package_id
from chainledger.domain.values import Role, Sector, Size

PASSPHRASE = "generated ledger, not a secret"  # noqa: S105 - test data
AREAS = ("Barnet", "Camden", "Leeds", "Bristol", "Newcastle", "Norfolk", "Kent", "Cardiff",
         "Glasgow", "Belfast", "Sheffield", "Devon")  # fmt: skip
SERVICES = ("mental health support", "employment coaching", "housing advice", "ESOL",
            "debt advice", "peer mentoring", "specialist support for women", "youth work",
            "drug and alcohol recovery", "disability advice")  # fmt: skip


@dataclass
class Generated:
    packages: int
    organisations: int
    events: int
    seconds: float

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


@dataclass
class _Prime:
    handle: str
    pays_late: bool
    cuts_deep: bool
    candy: bool


def generate(
    app: ChainLedger,
    *,
    events: int,
    seed: int = 2026,
    primes: int = 10,
    subcontractors: int = 400,
    commissioners: int = 8,
    progress: Callable[[int], None] | None = None,
    signers: dict[str, Any] | None = None,
) -> Generated:
    """Fill ``app`` (an initialised ledger) with about ``events`` signed events.

    ``signers`` (from an earlier ``prepare``) skips unlocking every key again.
    """
    started = time.perf_counter()
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    before = app.store.max_position()
    if signers is None:
        signers = prepare(app, seed=seed, primes=primes, subcontractors=subcontractors,
                          commissioners=commissioners)  # fmt: skip
    councils = [h for h in signers if h.startswith("council-")]
    prime_pool = [
        _Prime(
            h, pays_late=rng.random() < 0.3, cuts_deep=rng.random() < 0.3, candy=rng.random() < 0.3
        )
        for h in signers
        if h.startswith("prime-")
    ]
    subs = [h for h in signers if h.startswith("sub-")]
    number = 0
    while app.exists(package_id(f"GEN-{number:05d}")):  # growing an earlier generated ledger
        number += 1
    packages = 0
    written = 0
    # Whole packages until the target is reached (the last one may overshoot it a little).
    while written < events or packages == 0:
        _package(app, rng, signers, number, rng.choice(councils), prime_pool, subs)
        number += 1
        packages += 1
        written = (app.store.max_position()) - before
        if progress is not None:
            progress(written)
    return Generated(packages, len(signers), written, time.perf_counter() - started)


def prepare(
    app: ChainLedger,
    *,
    seed: int = 2026,
    primes: int = 10,
    subcontractors: int = 400,
    commissioners: int = 8,
) -> dict[str, Any]:
    """Register the organisations (if missing) and unlock their keys: handle -> signer."""
    keystore = app.keystore
    app.keystore = Keystore(keystore.directory, scrypt_n=2**10)  # fast keys for test data
    try:
        rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
        return _organisations(app, rng, primes, subcontractors, commissioners)
    finally:
        app.keystore = keystore


def _organisations(
    app: ChainLedger, rng: random.Random, primes: int, subcontractors: int, commissioners: int
) -> dict[str, Any]:
    existing = {row.handle for row in app.organisations()}
    wanted: list[tuple[str, Role, Sector, Size]] = [
        (f"council-{i}", Role.COMMISSIONER, Sector.PUBLIC, Size.LARGE) for i in range(commissioners)
    ]
    wanted += [(f"prime-{i}", Role.PRIME, Sector.PRIVATE, Size.LARGE) for i in range(primes)]
    for i in range(subcontractors):
        vcs = rng.random() < 0.75
        size = rng.choice((Size.MICRO, Size.SMALL, Size.SMALL, Size.MEDIUM, Size.LARGE))
        wanted.append((f"sub-{i}", Role.SUBCONTRACTOR, Sector.VCS if vcs else Sector.PRIVATE, size))
    for handle, role, sector, size in wanted:
        if handle not in existing:
            app.create_organisation(handle.replace("-", " ").title(), role, passphrase=PASSPHRASE,
                                    handle=handle, sector=sector, size=size)  # fmt: skip
    return {handle: app.signer(handle, PASSPHRASE) for handle, *_ in wanted}


def _package(
    app: ChainLedger,
    rng: random.Random,
    signers: dict[str, Any],
    number: int,
    council: str,
    prime_pool: list[_Prime],
    subs: list[str],
) -> None:
    reference = f"GEN-{number:05d}"
    start = date(2023 + rng.randrange(2), rng.choice((1, 4, 7)), 1)
    end = add_months(start, 24) - timedelta(days=1)
    value = rng.randrange(1_000_000, 12_000_000, 50_000)
    at_risk = rng.choice((0, 10, 20, 30))
    model = "fixed" if at_risk == 0 else rng.choice(("fee-plus-outcome", "payment-by-results"))

    dated: dict[tuple[str, date], Any] = {}

    def at(handle: str, day: date) -> Any:
        if (handle, day) not in dated:
            dated[(handle, day)] = signers[handle].dated(min(day, date.today()))
        return dated[(handle, day)]

    unit = UnitOfWork(app.core)
    tender = start - timedelta(days=120)
    app.create_package(at(council, tender), reference, f"Programme {number}", rng.choice(AREAS),
                       str(value), start.isoformat(), end.isoformat(), "Support into work",
                       model, str(at_risk), uow=unit)  # fmt: skip
    for k in range(rng.choice((2, 3, 4))):
        acceptable = None if rng.random() < 0.1 else "15"
        app.define_kpi(at(council, tender), reference, f"kpi {k}", "people", "20", acceptable,
                       "higher", "quarter", uow=unit)  # fmt: skip
    bidders = rng.sample(prime_pool, 2)
    winner = bidders[0]
    named_by: dict[str, list[dict[str, Any]]] = {}
    for prime in bidders:
        named = rng.sample(subs, rng.randrange(5, 11))
        per_year = value / 2
        promises = []
        for sub in named:
            share = rng.choice((3, 4, 5, 6, 8))
            promises.append({
                "subcontractor": sub, "service": rng.choice(SERVICES), "share_pct": str(share),
                "value_per_year": str(int(per_year * share / 100)),
                "referrals_per_period": str(rng.randrange(5, 40)), "referral_cadence": "month",
                "payment_model": "fixed", "at_risk_pct": "0", "payment_terms_days": "30",
                "management_fee_pct": str(rng.choice((0, 5, 10))),
            })  # fmt: skip
        self_share = rng.choice((0, 0, 10, 20))
        app.submit_bid(at(prime.handle, tender + timedelta(30)), reference, str(int(value * 0.97)),
                       str(self_share), promises, uow=unit)  # fmt: skip
        named_by[prime.handle] = promises
    for promise in named_by[winner.handle]:
        roll = rng.random()
        sub = promise["subcontractor"]
        if roll < 0.85:
            app.acknowledge_promise(
                at(sub, tender + timedelta(40)), reference, winner.handle, uow=unit
            )
        elif roll < 0.92:
            app.dispute_promise(at(sub, tender + timedelta(40)), reference, winner.handle,
                                "terms-differ", "not what we agreed", uow=unit)  # fmt: skip
    app.award_package(at(council, tender + timedelta(60)), reference, winner.handle, uow=unit)
    contracted = []
    for promise in named_by[winner.handle]:
        if winner.candy and rng.random() < 0.3:
            continue  # named in the bid, never contracted: bid candy
        terms = {k: v for k, v in promise.items() if k != "subcontractor"}
        if winner.candy and rng.random() < 0.3:
            terms["value_per_year"] = str(int(int(terms["value_per_year"]) * 0.6))
        app.issue_subcontract(at(winner.handle, tender + timedelta(75)), reference,
                              promise["subcontractor"], uow=unit, **terms)  # fmt: skip
        app.accept_subcontract(
            at(promise["subcontractor"], tender + timedelta(80)), reference, uow=unit
        )
        contracted.append((promise["subcontractor"], terms))
    unit.commit()

    today = date.today()
    for quarter in range(8):
        # The same unit of work goes on: its aggregates stay loaded between commits.
        quarter_start = add_months(start, 3 * quarter)
        if quarter == 4 and winner.cuts_deep:
            app.vary_contract_value(at(council, quarter_start), reference, str(int(value * 0.9)),
                                    "budget cut", uow=unit)  # fmt: skip
            sub, terms = contracted[0] if contracted else (None, None)
            if sub and terms:
                app.propose_variation(at(winner.handle, quarter_start + timedelta(5)), reference,
                                      sub, "pass on the cut", uow=unit,
                                      value_per_year=str(int(int(terms["value_per_year"]) * 0.7)))  # fmt: skip
                app.answer_variation(at(sub, quarter_start + timedelta(9)), reference, 1, False,
                                     "cut deeper than the council's", uow=unit)  # fmt: skip
        for month in range(3):
            first = add_months(quarter_start, month)
            last = add_months(first, 1) - timedelta(days=1)
            if last >= today:
                break
            period = f"{first.year}-{first.month:02d}"
            for sub, terms in contracted:
                promised = int(terms["referrals_per_period"])
                dries_up = winner.candy and quarter >= 3
                sent = max(0, int(promised * (0.3 if dries_up else rng.uniform(0.8, 1.1))))
                app.send_referrals(at(winner.handle, last), reference, sub, period, sent, uow=unit)
                app.confirm_referrals(at(sub, min(last + timedelta(3), today)), reference, period,
                                      sent if rng.random() < 0.9 else max(0, sent - 2), uow=unit)  # fmt: skip
                amount = int(terms["value_per_year"]) // 12
                invoice = f"{sub}-{period}"
                app.submit_invoice(at(sub, last), reference, invoice, str(amount), last.isoformat(),
                                   period, uow=unit)  # fmt: skip
                delay = rng.randrange(35, 80) if winner.pays_late else rng.randrange(10, 30)
                paid_on = last + timedelta(days=delay)
                if paid_on < today:
                    app.record_payment(at(winner.handle, paid_on), reference, sub, invoice,
                                       str(amount), paid_on.isoformat(), uow=unit)  # fmt: skip
                    app.confirm_payment(at(sub, paid_on), reference, invoice, paid_on.isoformat(),
                                        uow=unit)  # fmt: skip
        quarter_end = add_months(quarter_start, 3) - timedelta(days=1)
        if quarter_end < today - timedelta(days=10):
            period = f"{quarter_start.year}-Q{(quarter_start.month - 1) // 3 + 1}"
            for sub, _terms in contracted:
                actual = str(rng.randrange(8, 26))
                app.report_performance(at(sub, quarter_end + timedelta(5)), reference, "kpi 0",
                                       period, actual, uow=unit)  # fmt: skip
                app.attest_performance(at(winner.handle, quarter_end + timedelta(8)), reference,
                                       sub, "kpi 0", period, uow=unit)  # fmt: skip
        unit.commit()


def generate_ledger(path: Path, keys: Path, *, events: int, seed: int = 2026) -> Generated:
    """A new ledger at ``path`` filled by ``generate``."""
    from chainledger.bootstrap import open_ledger

    app = open_ledger(str(path), keys, create=True)
    app.init_ledger(f"generated ({events} events, seed {seed})")
    return generate(app, events=events, seed=seed)


def main(argv: list[str] | None = None) -> int:
    """``python -m chainledger.tools.generator``: make a generated ledger to try things on."""
    import argparse

    from chainledger.errors import ChainledgerError

    parser = argparse.ArgumentParser(
        prog="python -m chainledger.tools.generator",
        description="Make a new SQLite ledger filled with about EVENTS signed, realistic "
                    "events (the benchmarks' ledgers). Its organisations' keys go to KEYS, "
                    f"encrypted with the passphrase {PASSPHRASE!r}: test data, not secrets.",
    )  # fmt: skip
    parser.add_argument("ledger", type=Path, help="the new ledger's file (must not exist)")
    parser.add_argument("--keys", type=Path, required=True, help="a directory for the keys")
    parser.add_argument("--events", type=int, default=10_000,
                        help="about how many events to make (default: 10000)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=2026,
                        help="the same seed makes the same ledger (default: 2026)")  # fmt: skip
    options = parser.parse_args(argv)
    if options.ledger.exists():
        parser.error(f"{options.ledger} exists: give a new file")
    if not 1 <= options.events <= 10_000_000:
        parser.error("--events must be between 1 and 10000000")
    try:
        made = generate_ledger(options.ledger, options.keys, events=options.events,
                               seed=options.seed)  # fmt: skip
    except ChainledgerError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    print(f"Made {options.ledger}: {made.events:,} events, {made.packages} packages, "
          f"{made.organisations} organisations in {made.seconds:.1f} s "
          f"({made.events_per_second:,.0f} events/s).")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
