"""Measure ``audit verify`` against a bare loop of Ed25519 verifications, in one run.

Builds a ledger of signed events (organisations rotating their keys, written
through the domain and the application's save, with in-memory keys so that the
build is not dominated by scrypt), then times the audit and, on the same
machine and number of cores, a bare loop of ``cryptography`` verifications over
the same number of signatures of the same size.

    .venv/bin/python benchmarks/audit_verify.py --events 100000
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from chainledger.adapters.crypto import Ed25519Signer
from chainledger.bootstrap import open_ledger
from chainledger.domain.keys import possession_statement
from chainledger.domain.organisation import Organisation
from chainledger.domain.values import Role


def build(path: Path, events: int, orgs: int) -> int:
    app = open_ledger(str(path), path.parent / "keys", create=True)
    ledger_id = app.init_ledger("benchmark")
    signers = {}
    organisations = []
    for i in range(orgs):
        signer = Ed25519Signer(ledger_id, f"org-{i}", Ed25519PrivateKey.generate())
        organisation = Organisation.register(
            signer=signer,
            public_key=signer.public_key,
            name=f"Organisation {i}",
            role=Role.SUBCONTRACTOR,
            sector=None,
            size=None,
            identifier=None,
        )
        signers[signer.org] = signer
        organisations.append(organisation)
    app.save(*organisations)
    written = 1 + orgs
    while written < events:
        batch = min(2000, events - written)
        for k in range(batch):
            organisation = organisations[(written + k) % orgs]
            old = signers[organisation.handle]
            new = Ed25519Signer(ledger_id, organisation.handle, Ed25519PrivateKey.generate())
            proof = new.sign(possession_statement(ledger_id, new.org, new.key_id))
            organisation.rotate_key(old, new.public_key, proof)
            signers[organisation.handle] = new
        app.save(*organisations)
        written += batch
    return written


def _bare_verify(count: int) -> float:
    key = Ed25519PrivateKey.generate()
    public = key.public_key()
    messages = [os.urandom(420) for _ in range(min(count, 2000))]
    signatures = [key.sign(m) for m in messages]
    started = time.perf_counter()
    for i in range(count):
        j = i % len(messages)
        public.verify(signatures[j], messages[j])
    return time.perf_counter() - started


def bare_loop(count: int, workers: int) -> float:
    """Wall time to verify ``count`` signatures split over ``workers`` processes."""
    if workers == 1:
        return _bare_verify(count)
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        pool.submit(_bare_verify, 10).result()  # start the workers before timing
        started = time.perf_counter()
        list(pool.map(_bare_verify, [count // workers] * workers))
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--orgs", type=int, default=100)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ledger.db"
        started = time.perf_counter()
        events = build(path, args.events, args.orgs)
        print(f"built {events} events in {time.perf_counter() - started:.1f}s")
        app = open_ledger(str(path), Path(tmp) / "keys")
        for workers in (1, args.workers):
            report = app.audit(workers=workers)
            assert report.ok, report.failures[:3]
            bare = bare_loop(report.signatures, workers)
            print(
                f"workers={workers}: audit verify {report.events} events in "
                f"{report.seconds:.1f}s = {report.events_per_second:,.0f} events/s; "
                f"bare Ed25519 loop {report.signatures} verifications in {bare:.1f}s = "
                f"{report.signatures / bare:,.0f}/s; audit/bare = "
                f"{report.events_per_second / (report.signatures / bare):.0%}"
            )


if __name__ == "__main__":
    main()
