"""Measure the Merkle log: its cost per recorded event, and proofs on a large ledger.

    .venv/bin/python benchmarks/merkle.py --events 20000          # a generated ledger
    .venv/bin/python benchmarks/merkle.py --ledger COPY.db        # an existing one (altered:
                                                                  # its tree is rebuilt)

Reports, on the same ledger:
- building the whole tree from the events (what an older ledger pays once);
- appending one event per call, as a single-event command does, and 1,000 per
  call, as a bulk import does (both inside a transaction rolled back after);
- producing and checking an inclusion proof and a consistency proof (median of 25).
"""

from __future__ import annotations

import random
import statistics
import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import delete, func, select

from chainledger.adapters import merkle_store
from chainledger.adapters.crypto import Ed25519Signer
from chainledger.application.proofs import verify_bundle
from chainledger.bootstrap import open_ledger
from ledgers import ledger_to_measure, timed  # benchmarks/ledgers.py

ROUNDS = 25


def main() -> None:
    path, keys, _ = ledger_to_measure(__doc__.splitlines()[0], "chainledger-merkle-")
    app = open_ledger(str(path), keys)
    datastore = app.recorder.datastore
    table = app.recorder.events_record_cls.__table__

    with datastore.transaction(commit=True) as session:
        for t in merkle_store.TABLES:
            session.execute(delete(t))
        events = session.execute(select(func.count()).select_from(table)).scalar_one()
        built, _ = timed(lambda: merkle_store.append(session, table, []))
    print(f"ledger: {events:,} events")
    print(f"build the whole tree: {built:.1f} s ({events / built:,.0f} events/s)")

    head = app.tree_head()
    state = b"\x00" * 64 + b'{"a synthetic event of a typical size":"' + b"x" * 500 + b'"}'
    for per_call, calls in ((1, 1000), (1000, 20)):
        with datastore.transaction(commit=False) as session:
            nid = head.position
            started = time.perf_counter()
            for _ in range(calls):
                rows = [(nid + k + 1, state) for k in range(per_call)]
                merkle_store.append(session, table, rows)
                nid += per_call
            seconds = time.perf_counter() - started
            session.rollback()
        per_event = seconds / (per_call * calls) * 1e6
        print(f"append {per_call} event(s) per transaction: {per_event:,.0f} µs per event")

    signer = Ed25519Signer(app.ledger_id, "benchmark", Ed25519PrivateKey.generate())
    rng = random.Random(2026)  # noqa: S311 - which events to prove, not a secret
    with datastore.transaction(commit=False) as session:
        ids = [r[0] for r in session.execute(select(table.c.id).order_by(table.c.id))]
    prove_times, check_times = [], []
    for _ in range(ROUNDS):
        seconds, bundle = timed(lambda: app.inclusion_bundle(rng.choice(ids), signer))
        prove_times.append(seconds)
        seconds, _ = timed(lambda b=bundle: verify_bundle(b, signer.key_id))
        check_times.append(seconds)
    print(f"inclusion proof of one event at {head.size:,}: produce "
          f"{statistics.median(prove_times) * 1000:.1f} ms, verify "
          f"{statistics.median(check_times) * 1000:.2f} ms (median of {ROUNDS}; "
          f"{len(bundle['proof']['path'])} hashes)")  # fmt: skip
    prove_times, check_times = [], []
    for _ in range(ROUNDS):
        old = rng.randrange(1, head.size)
        seconds, bundle = timed(lambda o=old: app.consistency_bundle(o, signer))
        prove_times.append(seconds)
        seconds, _ = timed(lambda b=bundle: verify_bundle(b, signer.key_id))
        check_times.append(seconds)
    print(f"consistency proof to {head.size:,}: produce "
          f"{statistics.median(prove_times) * 1000:.1f} ms, verify "
          f"{statistics.median(check_times) * 1000:.2f} ms (median of {ROUNDS})")  # fmt: skip


if __name__ == "__main__":
    main()
