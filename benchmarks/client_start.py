"""How long one command takes in a fresh process, against ``python -c "import click"``, in
one run: reports and a recording step through ``chainledger serve`` (the demo's ledger,
served on loopback) and a report on the database directly.

    .venv/bin/python benchmarks/client_start.py [--runs 7]

The goal (issues 20 and 23): any report or single recording step at most 3x the time of
``python -c "import click"``, process start included. Each row is the median of --runs.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


# What any client command imports before chainledger's own code runs: click, tabulate (and
# the importlib.metadata it loads), http.client (email, ssl), sqlite3 and cryptography's
# Ed25519; the lower bound of a command's start in the same run.
FLOOR = ("import click, tabulate, http.client, sqlite3, json, decimal, uuid, dataclasses, "
         "datetime; from cryptography.hazmat.primitives.asymmetric.ed25519 import "
         "Ed25519PublicKey")  # fmt: skip
# What a recording step adds before it signs: unlocking the organisation's key file
# (scrypt at the key store's parameters, a cost chosen to slow down passphrase guessing).
UNLOCK = ("from chainledger.adapters.keystore import SCRYPT_N, SCRYPT_R, SCRYPT_P, _stretch; "
          "_stretch('a passphrase', bytes(16), SCRYPT_N, SCRYPT_R, SCRYPT_P)")  # fmt: skip


def median_seconds(command: list[str], env: dict[str, str], runs: int) -> float:
    times = []
    for run in range(runs):
        args = [part.replace("{run}", f"{os.getpid()}-{run}") for part in command]
        started = time.perf_counter()
        done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
        times.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(args)}: {done.stderr}")
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    sys.path.insert(0, str(ROOT / "src"))
    from chainledger.tools.demo import DEMO_PASSPHRASE

    chainledger = str(BIN / "chainledger")
    with tempfile.TemporaryDirectory(prefix="chainledger-start-bench-") as scratch:
        demo = Path(scratch) / "demo"
        env = {**os.environ, "CHAINLEDGER_KEYS": str(demo / "keys"),
               "CHAINLEDGER_PASSPHRASE": DEMO_PASSPHRASE,
               "CHAINLEDGER_STATE": str(Path(scratch) / "state")}  # fmt: skip
        subprocess.run([chainledger, "demo", "--dir", str(demo)], env=env, check=True,
                       capture_output=True)  # fmt: skip
        database = str(demo / "chainledger.db")
        service = subprocess.Popen(
            [chainledger, "--ledger", database, "serve", "--port", "0", "--log-keys",
             str(Path(scratch) / "log-keys")],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        try:
            assert service.stdout is not None
            url = next(m.group(1) for line in service.stdout
                       if (m := re.search(r"at (http://\S+)", line)))  # fmt: skip
            base = median_seconds([sys.executable, "-c", "import click"], env, runs)
            rows = [
                ("python -c 'import click'", base),
                ("the libraries alone", median_seconds([sys.executable, "-c", FLOOR], env, runs)),
                ("the libraries + a key unlock", median_seconds(
                    [sys.executable, "-c", f"{FLOOR}; {UNLOCK}"], env, runs)),
                ("remote report findings", median_seconds(
                    [chainledger, "--ledger", url, "report", "findings", "--as-of", "2026-10-31"],
                    env, runs)),
                ("remote history", median_seconds(
                    [chainledger, "--ledger", url, "history", "BAR-ES-2026"], env, runs)),
                ("remote invoice submit", median_seconds(
                    [chainledger, "--ledger", url, "invoice", "submit", "BAR-ES-2026", "--as",
                     "hope-trust", "--ref", "S-{run}", "--amount", "1", "--date", "2026-11-30",
                     "--period", "2026-Q4"], env, runs)),
                ("local report findings", median_seconds(
                    [chainledger, "--ledger", database, "report", "findings", "--as-of",
                     "2026-10-31"], env, runs)),
            ]  # fmt: skip
        finally:
            service.terminate()
            service.wait()
    for name, seconds in rows:
        print(f"{name:<26} {seconds * 1000:7.0f} ms  {seconds / base:5.2f}x")


if __name__ == "__main__":
    main()
