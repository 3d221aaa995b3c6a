"""Recording through ``chainledger serve`` against recording straight into the database,
in one run: CLIENTS client processes each record STEPS invoices (each its own
subcontractor's, in one package), at once.

    .venv/bin/python benchmarks/service.py [--clients 8] [--steps 100] [--postgres URL]

Each client is one process that runs the CLI in-process step after step (as a back
office's script would), timing each step. Rows, per engine:
  local    the clients write the database themselves
  remote   the clients sign on their side and send each step to the service, which runs
           it again and records it (one service process)
with events/s over the whole run (wall time) and p50/p99 of one step's latency.
The goal (issue 20): remote throughput at least half the local one with 8 clients.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
PASSPHRASE = "benchmark passphrase"  # noqa: S105 - a throwaway ledger's
PACKAGE = "BEN-1"
CLIENT = """
import json, sys, time
from chainledger.cli.main import cli
who, steps = sys.argv[1], int(sys.argv[2])
times = []
for i in range(steps):
    started = time.perf_counter()
    cli(["invoice", "submit", "BEN-1", "--as", who, "--ref", f"{who}-{i}", "--amount", "10",
         "--date", "2025-03-31", "--period", "2025-Q1", "--on", "2025-03-31"],
        standalone_mode=False)
    times.append(time.perf_counter() - started)
print(json.dumps(times))
"""


def cli(ledger: str, keys: Path, *args: str) -> None:
    from chainledger.cli.main import cli as main

    env = {"CHAINLEDGER_LEDGER": ledger, "CHAINLEDGER_KEYS": str(keys),
           "CHAINLEDGER_PASSPHRASE": PASSPHRASE}  # fmt: skip
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    if result.exit_code != 0:
        raise SystemExit(f"{' '.join(args)}: {result.stderr}")


def prepare(ledger: str, keys: Path, clients: int) -> list[str]:
    """A ledger with a package awarded and one subcontract per client."""
    from chainledger.adapters import keystore

    keystore.SCRYPT_N = 2**10  # key derivation is not what is measured
    cli(ledger, keys, "init", "--name", "service benchmark")
    cli(ledger, keys, "org", "create", "Council", "--handle", "council")
    cli(ledger, keys, "org", "create", "Prime", "--handle", "prime")
    subs = [f"sub-{n}" for n in range(clients)]
    for sub in subs:
        cli(ledger, keys, "org", "create", sub, "--handle", sub)
    cli(ledger, keys, "package", "create", PACKAGE, "--as", "council", "--title", "t", "--area",
        "a", "--value", "9000000", "--start", "2025-01-01", "--end", "2027-12-31",
        "--description", "d", "--payment-model", "fixed", "--on", "2025-01-05")
    cli(ledger, keys, "bid", "submit", PACKAGE, "--as", "prime", "--price", "8000000",
        "--self-share", "50", "--on", "2025-01-05")
    cli(ledger, keys, "package", "award", PACKAGE, "--as", "council", "--bid", "prime",
        "--on", "2025-01-06")
    for sub in subs:
        cli(ledger, keys, "subcontract", "issue", PACKAGE, "--as", "prime", "--sub", sub,
            "--service", "x", "--share", "1", "--value", "100000", "--referrals", "1",
            "--model", "fixed", "--terms", "30", "--on", "2025-02-03")
        cli(ledger, keys, "subcontract", "accept", PACKAGE, "--as", sub, "--on", "2025-02-04")
    return subs


def record(ledger: str, keys: Path, subs: list[str], steps: int, state: Path) -> tuple[float, list[float]]:
    env = {**os.environ, "CHAINLEDGER_LEDGER": ledger, "CHAINLEDGER_KEYS": str(keys),
           "CHAINLEDGER_PASSPHRASE": PASSPHRASE}  # fmt: skip
    started = time.perf_counter()
    clients = [subprocess.Popen([sys.executable, "-c", CLIENT, sub, str(steps)],
                                env={**env, "CHAINLEDGER_STATE": str(state / sub)},
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for sub in subs]  # fmt: skip
    latencies: list[float] = []
    for client in clients:
        out, err = client.communicate()
        if client.returncode != 0:
            raise SystemExit(err)
        latencies += json.loads(out.strip().splitlines()[-1])
    return time.perf_counter() - started, latencies


def serve(ledger: str, keys: Path, state: Path) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "CHAINLEDGER_LEDGER": ledger, "CHAINLEDGER_KEYS": str(keys),
           "CHAINLEDGER_PASSPHRASE": PASSPHRASE, "CHAINLEDGER_STATE": str(state)}  # fmt: skip
    process = subprocess.Popen([sys.executable, "-m", "chainledger", "serve", "--port", "0"],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True)  # fmt: skip
    assert process.stdout is not None
    for line in process.stdout:
        found = re.search(r"at (http://\S+)", line)
        if found:
            return process, found.group(1)
    raise SystemExit("the service did not start")


def row(name: str, seconds: float, latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (f"{name:<8} {len(latencies) / seconds:>8.1f} events/s   p50 "
            f"{statistics.median(ordered) * 1000:>7.1f} ms   p99 {p99 * 1000:>7.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--postgres", help="a PostgreSQL server URL to run on as well")
    arguments = parser.parse_args()
    engines = [("sqlite", None)] + ([("postgresql", arguments.postgres)] if arguments.postgres else [])
    for engine, server in engines:
        with tempfile.TemporaryDirectory(prefix="chainledger-service-bench-") as scratch:
            root = Path(scratch)
            results = {}
            for mode in ("local", "remote"):
                if server:
                    import sqlalchemy

                    name = f"bench_{mode}_{os.getpid()}"
                    admin = sqlalchemy.create_engine(server, isolation_level="AUTOCOMMIT")
                    with admin.connect() as connection:
                        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
                        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
                    admin.dispose()
                    ledger = server.rsplit("/", 1)[0] + f"/{name}"
                else:
                    ledger = str(root / f"{mode}.db")
                keys = root / f"{mode}-keys"
                subs = prepare(ledger, keys, arguments.clients)
                if mode == "local":
                    results[mode] = record(ledger, keys, subs, arguments.steps, root / "local-state")
                else:
                    service, url = serve(ledger, keys, root / "service-state")
                    try:
                        results[mode] = record(url, keys, subs, arguments.steps, root / "remote-state")
                    finally:
                        service.terminate()
                        service.wait()
            print(f"{engine}: {arguments.clients} clients x {arguments.steps} steps")
            for mode, (seconds, latencies) in results.items():
                print("  " + row(mode, seconds, latencies))
            ratio = (len(results["remote"][1]) / results["remote"][0]) / (
                len(results["local"][1]) / results["local"][0])
            print(f"  remote / local throughput: {ratio:.2f}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    main()
