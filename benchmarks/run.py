"""Measure chainledger against its limits, each row beside its baseline in the same run.

    .venv/bin/python benchmarks/run.py --quick            # about 20,000 events, under 2 minutes
    .venv/bin/python benchmarks/run.py --events 1000000   # the full run behind BENCHMARKS.md

Rows:
  record    signed events per second written in bulk through the application's use cases
            (the generator: one unit of work, one transaction, per package quarter), beside a
            plain eventsourcing application saving as many unsigned events, in the same batch
            sizes, on the same database engine
  import    `chainledger import` of a JSON Lines file (referral steps), events per second
  audit     `audit verify` events per second, beside a bare loop of cryptography's Ed25519
            verify over as many signatures, on the same number of processes
  catch-up  events per second applied to empty views (a full rebuild)
  reports   latency of workshare, payments and findings for one package after catch-up
  start-up  `chainledger --help` wall time beside `python -c "import click"`
  memory    peak RSS of `audit verify` and of `projections rebuild`, as separate processes
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from multiprocessing import get_context
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CHAINLEDGER = str(Path(sys.executable).with_name("chainledger"))


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    import sqlite3

    return (
        f"{cpu}, {os.cpu_count()} cores, {memory:.0f} GiB; {platform.system()} "
        f"{platform.release()}; Python {platform.python_version()}; SQLite {sqlite3.sqlite_version}"
    )


# -- record -------------------------------------------------------------------------------


def record(path: Path, events: int) -> tuple[float, int, float]:
    from chainledger.bootstrap import open_ledger
    from chainledger.tools.generator import generate, prepare

    app = open_ledger(str(path), path.parent / "keys", create=True)
    app.init_ledger("benchmark")
    signers = prepare(app)  # organisations and their keys: set-up, not timed
    before = app.recorder.max_notification_id() or 0
    started = time.perf_counter()
    generate(app, events=events, seed=2, signers=signers)
    seconds = time.perf_counter() - started
    written = (app.recorder.max_notification_id() or 0) - before
    return written / seconds, written, seconds


def plain_eventsourcing(path: Path, events: int, batch: int = 300) -> float:
    """A plain eventsourcing application: the library's Aggregate and JSON transcoder."""
    from decimal import Decimal

    from eventsourcing.application import Application
    from eventsourcing.domain import Aggregate, event

    class Referrals(Aggregate):
        def __init__(self, package: str, subcontractor: str) -> None:
            self.package = package
            self.subcontractor = subcontractor
            self.counts: dict[str, int] = {}

        @event("ReferralsSent")
        def send(self, period: str, count: int, amount: Decimal, on: str) -> None:
            self.counts[period] = count

    class Plain(Application):
        name = "Plain"

    app = Plain(env={"PERSISTENCE_MODULE": "eventsourcing_sqlalchemy",
                     "SQLALCHEMY_URL": f"sqlite:///{path}"})  # fmt: skip
    aggregates = [Referrals(f"GEN-{i:05d}", f"sub-{i}") for i in range(50)]
    app.save(*aggregates)
    started = time.perf_counter()
    written = 0
    while written < events:
        for i in range(batch):
            aggregates[(written + i) % len(aggregates)].send(
                period=f"2025-{i % 12 + 1:02d}", count=i, amount=Decimal("1234.50"), on="2025-01-31"
            )
        app.save(*aggregates)
        written += batch
    return written / (time.perf_counter() - started)


def import_rate(path: Path, lines: int) -> tuple[float, int]:
    """`chainledger import` of referral steps on the generated ledger's packages."""
    from chainledger.bootstrap import open_ledger
    from chainledger.domain.assessment import periods_between

    app = open_ledger(str(path), path.parent / "keys")
    today = date.today()
    by_prime: dict[str, list[tuple[str, str, str]]] = {}
    for f in app.package_facts(None, today):
        months = [str(p) for p in periods_between(f.start, min(f.end, today), "month")
                  if p.last_day < today]  # fmt: skip
        for sub in f.subcontracts:
            for month in months:
                by_prime.setdefault(f.prime or "", []).append((f.reference, sub, month))
    prime, targets = max(by_prime.items(), key=lambda kv: len(kv[1]))
    file = path.parent / "import.jsonl"
    with file.open("w") as out:
        for n in range(lines):  # referral counts again for periods already reported: corrections
            package, sub, month = targets[n % len(targets)]
            out.write(json.dumps({"step": "referral.send", "package": package,
                                  "subcontractor": sub, "period": month, "count": 7,
                                  "on": today.isoformat()}) + "\n")  # fmt: skip
    env = {**os.environ, "CHAINLEDGER_LEDGER": str(path), "CHAINLEDGER_KEYS": str(path.parent / "keys"),
           "CHAINLEDGER_PASSPHRASE": "generated ledger, not a secret"}  # fmt: skip
    started = time.perf_counter()
    result = subprocess.run([CHAINLEDGER, "import", str(file), "--as", prime], env=env,
                            capture_output=True, text=True, check=False)  # fmt: skip
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        # Periods outside a contract are refused; report the refusal rather than a number.
        raise RuntimeError(result.stderr.strip())
    return lines / seconds, lines


# -- audit --------------------------------------------------------------------------------


def _bare_verify(count: int) -> float:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    public = key.public_key()
    messages = [os.urandom(450) for _ in range(1000)]
    signatures = [key.sign(m) for m in messages]
    started = time.perf_counter()
    for i in range(count):
        public.verify(signatures[i % 1000], messages[i % 1000])
    return time.perf_counter() - started


def bare_loop(count: int, workers: int) -> float:
    """Signatures per second verified by a bare loop split over ``workers`` processes."""
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        pool.submit(_bare_verify, 10).result()
        started = time.perf_counter()
        list(pool.map(_bare_verify, [count // workers] * workers))
        return count / (time.perf_counter() - started)


def audit(path: Path) -> dict[str, Any]:
    from chainledger.bootstrap import open_ledger

    app = open_ledger(str(path), path.parent / "keys")
    report = app.audit(workers=os.cpu_count() or 1)
    assert report.ok, report.failures[:3]
    return {"events": report.events, "signatures": report.signatures,
            "seconds": report.seconds, "rate": report.events_per_second}  # fmt: skip


# -- views and reports ----------------------------------------------------------------------


def catch_up_and_reports(path: Path) -> dict[str, Any]:
    from chainledger.bootstrap import open_ledger

    app = open_ledger(str(path), path.parent / "keys")
    started = time.perf_counter()
    count = app.projections.rebuild()
    catch_up = count / (time.perf_counter() - started)
    package = "GEN-00003"
    latencies = {}
    for name in ("workshare", "payments", "findings"):
        runs = []
        for _ in range(7):
            fresh = open_ledger(str(path), path.parent / "keys")  # a new process's first report
            started = time.perf_counter()
            fresh.report(name, package=package)
            runs.append(time.perf_counter() - started)
        latencies[name] = statistics.median(runs) * 1000
    return {"catch_up": catch_up, "events": count, "latencies_ms": latencies, "package": package}


def startup() -> tuple[float, float]:
    def median_wall(argv: list[str]) -> float:
        runs = []
        for _ in range(7):
            started = time.perf_counter()
            subprocess.run(argv, capture_output=True, check=True)
            runs.append(time.perf_counter() - started)
        return statistics.median(runs)

    return median_wall([CHAINLEDGER, "--help"]), median_wall([sys.executable, "-c", "import click"])


def peak_rss_mb(argv: list[str], env: dict[str, str]) -> float:
    """Peak RSS of a command and the processes it started, in MB."""
    code = (
        "import resource, subprocess, sys; "
        "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    result = subprocess.run([sys.executable, "-c", code, *argv], env=env, capture_output=True,
                            text=True, check=True)  # fmt: skip
    return int(result.stdout.strip()) / 1024


# -- the run --------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description="chainledger benchmarks")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="about 20,000 events, under 2 minutes")
    parser.add_argument(
        "--dir", type=Path, help="keep the ledger here (default: a temporary directory)"
    )
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args()
    events = 20_000 if args.quick else args.events
    workers = os.cpu_count() or 1
    work = args.dir or Path(tempfile.mkdtemp(prefix="chainledger-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    path = work / "ledger.db"
    for old in work.glob("ledger.db*"):
        old.unlink()
    started = time.perf_counter()

    signed_rate, written, record_seconds = record(path, events)
    print(
        f"record: {written} signed events in {record_seconds:.1f}s = {signed_rate:,.0f}/s",
        flush=True,
    )
    plain_rate = plain_eventsourcing(work / "plain.db", min(written, 50_000))
    print(f"plain eventsourcing: {plain_rate:,.0f}/s", flush=True)
    try:
        rate, count = import_rate(path, 5000)
        imported = f"{rate:,.0f} events/s ({count:,} lines, one process start included)"
    except RuntimeError as error:
        imported = f"refused: {error}"
    print(f"import: {imported}", flush=True)
    audited = audit(path)
    bare = bare_loop(audited["signatures"], workers)
    print(f"audit: {audited['rate']:,.0f}/s; bare verify {bare:,.0f}/s", flush=True)
    views = catch_up_and_reports(path)
    print(f"catch-up {views['catch_up']:,.0f}/s; reports {views['latencies_ms']}", flush=True)
    help_s, click_s = startup()
    env = {**os.environ, "CHAINLEDGER_LEDGER": str(path), "CHAINLEDGER_KEYS": str(work / "keys")}
    audit_rss = peak_rss_mb([CHAINLEDGER, "audit", "verify", "--format", "json"], env)
    rebuild_rss = peak_rss_mb([CHAINLEDGER, "projections", "rebuild"], env)
    total = time.perf_counter() - started

    per_core_audit = audited["signatures"] / audited["seconds"] / bare
    rows = [
        ("record (bulk, signed)", f"{signed_rate:,.0f} events/s",
         f"plain eventsourcing {plain_rate:,.0f} events/s", f"{signed_rate / plain_rate:.0%}",
         "≥ 50% and ≥ 5,000/s"),
        ("import (JSON Lines)", imported, "", "", ""),
        ("audit verify", f"{audited['rate']:,.0f} events/s ({audited['signatures']:,} signatures "
         f"in {audited['seconds']:.1f}s)", f"bare Ed25519 verify {bare:,.0f}/s on {workers} processes",
         f"{per_core_audit:.0%}", "≥ 80%; 1M events ≤ 75 s"),
        ("catch-up (rebuild)", f"{views['catch_up']:,.0f} events/s", "", "", "≥ 20,000/s"),
        *((f"report {name} ({views['package']})", f"{ms:.0f} ms", "", "", "≤ 200 ms")
          for name, ms in views["latencies_ms"].items()),
        ("start-up", f"chainledger --help {help_s * 1000:.0f} ms",
         f"python -c 'import click' {click_s * 1000:.0f} ms", f"{help_s / click_s:.1f}×", "≤ 3×"),
        ("memory", f"audit verify {audit_rss:.0f} MB; projections rebuild {rebuild_rss:.0f} MB",
         "", "", "≤ 300 MB"),
    ]  # fmt: skip
    header = ("measure", "chainledger", "baseline (same run)", "ratio", "target")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    table = "\n".join(lines)
    print(table)
    if not args.quick:
        args.output.write_text(
            "# Benchmarks\n\n"
            f"`.venv/bin/python benchmarks/run.py --events {events}` on {time.strftime('%Y-%m-%d')}: "
            f"a generated ledger of {audited['events']:,} events "
            f"({written:,} written in the timed record step), {total / 60:.0f} minutes in all.\n\n"
            f"Machine: {machine()}.\n\n{table}\n"
        )
        print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
