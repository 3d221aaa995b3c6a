"""What the benchmark scripts share: timing, and the ledger to measure on."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any


def timed(action: Any) -> tuple[float, Any]:
    """(seconds, result) of calling ``action``."""
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def ledger_to_measure(description: str, prefix: str) -> tuple[Path, Path, Path]:
    """(ledger file, its keys, a scratch directory) from ``--events N`` (a generated
    ledger) or ``--ledger FILE`` (an existing one, with its keys beside it)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--ledger", type=Path, help="an existing generated ledger file")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix=prefix))
    if args.ledger:
        return args.ledger, args.ledger.parent / "keys", scratch
    from chainledger.tools.generator import generate_ledger

    path, keys = scratch / "ledger.db", scratch / "keys"
    print(f"generating {args.events:,} events in {path} …", flush=True)
    generate_ledger(path, keys, events=args.events)
    return path, keys, scratch
