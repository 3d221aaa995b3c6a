"""360 review costs: commit, reveal, and both reports, for one round of a large package.

A package with one prime and N subcontractors; every party rates itself, the
prime rates every subcontractor, every subcontractor rates the prime and every
other subcontractor, and the commissioner rates the prime. Prints one line per
measure.

    .venv/bin/python benchmarks/reviews.py --subs 30
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date
from pathlib import Path

from chainledger.adapters.keystore import Keystore
from chainledger.bootstrap import open_ledger
from chainledger.domain.review import DEFAULT_DIMENSIONS
from chainledger.domain.values import Role

PASSPHRASE = "benchmark passphrase"  # noqa: S105 - a throwaway ledger
PACKAGE = "BENCH-360"
PERIOD = "2026-Q1"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subs", type=int, default=30, help="subcontractors in the package")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run(Path(tmp), args.subs)


def run(tmp: Path, n: int) -> None:
    app = open_ledger(str(tmp / "ledger.db"), tmp / "keys", create=True)
    app.keystore = Keystore(tmp / "keys", scrypt_n=2**10)  # key derivation is not measured
    app.init_ledger("review benchmark")
    subs = [f"sub-{i:03d}" for i in range(n)]
    for handle, role in [("council", Role.COMMISSIONER), ("prime", Role.PRIME)] + [
        (s, Role.SUBCONTRACTOR) for s in subs
    ]:
        app.create_organisation(handle, role, passphrase=PASSPHRASE, handle=handle)
    signer = {h: app.signer(h, PASSPHRASE) for h in ["council", "prime", *subs]}
    opener = {h: app.opener(h, PASSPHRASE) for h in signer}
    app.create_package(signer["council"].dated(date(2025, 1, 1)), PACKAGE, "t", "a", "9000000",
                       "2025-04-01", "2027-03-31", "d", "fixed")  # fmt: skip
    share = f"{50 / n:.2f}"
    promises = [{"subcontractor": s, "service": "x", "share_pct": share, "value_per_year": "1000",
                 "referrals_per_period": "1", "referral_cadence": "quarter",
                 "payment_model": "fixed", "payment_terms_days": "30"} for s in subs]  # fmt: skip
    app.submit_bid(signer["prime"].dated(date(2025, 2, 1)), PACKAGE, "8000000", "40", promises)
    app.award_package(signer["council"].dated(date(2025, 3, 1)), PACKAGE, "prime")
    app.open_review(signer["council"], PACKAGE, PERIOD)

    pairs = [("council", "council"), ("council", "prime"), ("prime", "prime")]
    pairs += [("prime", s) for s in subs] + [(s, "prime") for s in subs]
    pairs += [(a, b) for a in subs for b in subs]
    slugs = [d.slug for d in DEFAULT_DIMENSIONS]
    started = time.perf_counter()
    for i, (rater, ratee) in enumerate(pairs):
        scores = {slug: 1 + (i + j) % 5 for j, slug in enumerate(slugs)}
        app.rate(signer[rater], PACKAGE, PERIOD, ratee, scores, f"comment {i}")
    commit = time.perf_counter() - started
    app.close_review(signer["council"], PACKAGE, PERIOD)
    started = time.perf_counter()
    for handle in signer:
        app.reveal(signer[handle], opener[handle], PACKAGE, PERIOD)
    reveal = time.perf_counter() - started
    app.finalise_review(signer["council"], PACKAGE, PERIOD)

    owner = opener["council"]
    started = time.perf_counter()
    report = app.review_report(owner, package=PACKAGE)
    owner_s = time.perf_counter() - started
    started = time.perf_counter()
    shared = app.review_report(owner, package=PACKAGE, for_handle="prime")
    shared_s = time.perf_counter() - started
    assert report["rounds"][0]["revealed"] == len(pairs)
    assert shared["rounds"]
    print(f"parties {n + 2}, ratings {len(pairs)} x {len(slugs)} dimensions")
    print(f"commit (one command each):  {commit / len(pairs) * 1000:7.1f} ms per rating")
    print(f"reveal (one command per rater): {reveal / len(signer) * 1000:7.1f} ms per rater, "
          f"{reveal / len(pairs) * 1000:.1f} ms per rating")  # fmt: skip
    print(f"owner's report:             {owner_s * 1000:7.0f} ms ({len(report['cells'])} cells)")
    print(f"shared report:              {shared_s * 1000:7.0f} ms")


if __name__ == "__main__":
    main()
