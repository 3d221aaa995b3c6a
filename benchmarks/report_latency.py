"""What a one-package report costs now that it reads only verified events, beside a
revision from before (same ledger, same machine, same run).

    .venv/bin/python benchmarks/report_latency.py --events 100000 [--before adea0f8] [--runs 7]
    .venv/bin/python benchmarks/report_latency.py --ledger COPY.db   # keys beside it

Rows (each a fresh ``chainledger`` process, as a user typing commands):
  first report    a reader with no verified store: verifies the whole ledger once
  report          median of --runs reports once the store is caught up (nothing new)
  + 1,000 new     a report after 1,000 events were recorded since the last one
  before: first   the same report on the --before revision (views in the database)
  before: report  its median over --runs
and, in process, what a caught-up report spends on verification: the catch-up
with nothing new (the tip and Merkle-tree checks), and per new event.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "GEN-00003"
REPORT = ["report", "workshare", "--package", PACKAGE, "--as-of", "2030-01-01", "--format", "json"]


def run(ledger: Path, state: Path, *, pythonpath: str | None = None) -> tuple[float, str]:
    """(seconds, stdout) of one report in a fresh process."""
    env = {**os.environ, "CHAINLEDGER_STATE": str(state)}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    command = [sys.executable, "-m", "chainledger", "--ledger", str(ledger), *REPORT]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"report failed: {done.stderr.strip()}")
    return seconds, done.stdout


def median_of(runs: int, ledger: Path, state: Path, pythonpath: str | None = None) -> float:
    return statistics.median(run(ledger, state, pythonpath=pythonpath)[0] for _ in range(runs))


def drop_newest(path: Path, count: int) -> None:
    """Remove the newest ``count`` events and rebuild the stored tree over the rest."""
    sys.path.insert(0, str(ROOT / "src"))
    from sqlalchemy import MetaData, Table, create_engine, delete, select
    from sqlalchemy.orm import Session

    from chainledger.adapters import merkle_store
    from chainledger.adapters.event_store import EVENTS_TABLE

    engine = create_engine(f"sqlite:///{path}")
    table = Table(EVENTS_TABLE, MetaData(), autoload_with=engine)
    with Session(engine) as session, session.begin():
        newest = list(session.execute(select(table.c.id).order_by(table.c.id.desc()).limit(count))
                      .scalars())  # fmt: skip
        session.execute(delete(table).where(table.c.id.in_(newest)))
        for tree_table in merkle_store.TABLES:
            session.execute(delete(tree_table))
        merkle_store.append(session, table, [])
    engine.dispose()


def in_process(ledger: Path, state: Path) -> tuple[float, int]:
    """(seconds of a catch-up with nothing new, events) on a caught-up store."""
    sys.path.insert(0, str(ROOT / "src"))
    from chainledger.bootstrap import open_ledger

    app = open_ledger(str(ledger), ledger.parent / "keys", state=state)
    app.projections.catch_up()
    times = []
    for _ in range(20):
        started = time.perf_counter()
        app.projections.catch_up()
        times.append(time.perf_counter() - started)
    head = app.projections.head()
    with app.projections.session() as session:
        rejected = app.projections.rejections(session)
    app.close()
    if rejected:
        raise SystemExit(f"{len(rejected)} rows did not verify, e.g. {rejected[0].describe()}")
    return statistics.median(times), head.size if head else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--ledger", type=Path, help="an existing generated ledger (keys beside)")
    parser.add_argument("--before", default="adea0f8", help="the revision to compare with")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="chainledger-latency-"))
    if args.ledger:
        source = args.ledger
        shutil.copytree(source.parent / "keys", scratch / "keys")
    else:
        sys.path.insert(0, str(ROOT / "src"))
        from chainledger.tools.generator import generate_ledger

        source = scratch / "generated.db"
        print(f"generating {args.events:,} events …", flush=True)
        generate_ledger(source, scratch / "keys", events=args.events)
    with sqlite3.connect(source) as db:
        events = db.execute("SELECT count(*) FROM chainledger_events").fetchone()[0]
    print(f"ledger: {events:,} events; report: chainledger {' '.join(REPORT)}")

    # -- now: views in the reader's verified store ------------------------------------------
    ledger = scratch / "ledger.db"
    shutil.copy(source, ledger)
    state = scratch / "state"
    first, expected = run(ledger, state)
    steady = median_of(args.runs, ledger, state)
    idle, size = in_process(ledger, state)
    # A reader who verified all but the newest 1,000 events, then reads again.
    behind = scratch / "behind.db"
    shutil.copy(source, behind)
    drop_newest(behind, 1000)
    behind_state = scratch / "behind-state"
    run(behind, behind_state)
    shutil.copy(source, behind)  # the 1,000 events arrive
    started = time.perf_counter()
    _, later = run(behind, behind_state)
    new_1000 = time.perf_counter() - started
    assert later == expected, "the report differs after catching up"

    # -- before: views in the ledger's database ------------------------------------------------
    worktree = scratch / "before"
    git = shutil.which("git") or "git"
    subprocess.run([git, "-C", str(ROOT), "worktree", "add", "--detach", str(worktree),
                    args.before], check=True, capture_output=True)  # fmt: skip
    try:
        old_ledger = scratch / "old.db"
        shutil.copy(source, old_ledger)
        old_path = str(worktree / "src")
        old_first, old_out = run(old_ledger, state, pythonpath=old_path)
        old_steady = median_of(args.runs, old_ledger, state, pythonpath=old_path)
    finally:
        subprocess.run([git, "-C", str(ROOT), "worktree", "remove", "--force", str(worktree)],
                       check=False, capture_output=True)  # fmt: skip
    same = "the same" if old_out == expected else "DIFFERENT"

    print(f"| measure | now (verified store) | before ({args.before}, views in the database) |")
    print("|---|---|---|")
    print(f"| first report (empty store / views) | {first:.2f} s | {old_first:.2f} s |")
    print(f"| report, caught up (median of {args.runs}) | {steady * 1000:.0f} ms | "
          f"{old_steady * 1000:.0f} ms |")  # fmt: skip
    print(f"| report after 1,000 new events | {new_1000 * 1000:.0f} ms | |")
    print(f"verification per caught-up report (in process, nothing new): {idle * 1000:.1f} ms")
    print(f"first report: {first / size * 1e6:.0f} µs per event verified ({size:,} events)")
    print(f"after 1,000 new: {(new_1000 - steady) / 1000 * 1e6:.0f} µs per new event")
    print(f"outputs: {same} JSON before and after")
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
