"""``chainledger serve`` as a test's subprocess: started on a free loopback port for a
ledger database, and stopped when the test (or module) is done.

``Services`` keeps one running service per database for the ``remote`` engine (see
``conftest.py``): a CLI ledger on that engine records and reads through the service of
its database, with a verified state of its own per service.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chainledger.service.log import LogKey

PASSPHRASE = "correct horse battery staple"  # the tests' (tests.conftest.PASSPHRASE)


@dataclass
class ServiceProcess:
    """A running ``chainledger serve``: where it answers, and what it printed."""

    url: str
    log_keys: Path
    process: subprocess.Popen[str]
    output: list[str] = field(default_factory=list)

    def log_key(self, ledger_id: Any) -> LogKey:
        return LogKey(ledger_id, self.log_keys, PASSPHRASE)

    def stop(self, *, graceful: bool = True) -> None:
        """Stop it: as an operator would (SIGTERM, then the service's graceful shutdown), or
        at once (a test's copy of a ledger that nobody reads again)."""
        if graceful:
            self.process.terminate()
        else:
            self.process.kill()
        self.process.wait(timeout=30)


def start(env: dict[str, str], log_keys: Path, *options: str) -> ServiceProcess:
    """Start ``chainledger serve`` with ``env`` (CHAINLEDGER_LEDGER: the database) and the
    log key in ``log_keys``; returns once it answers."""
    options = options or ("--port", "0")
    process = subprocess.Popen(
        [sys.executable, "-m", "chainledger", "serve", *options, "--log-keys", str(log_keys)],
        env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    lines: list[str] = []
    for line in process.stdout:
        lines.append(line)
        found = re.search(r"at (http://127\.0\.0\.1:\d+)", line)
        if found:
            service = ServiceProcess(found.group(1), log_keys, process, lines)
            threading.Thread(target=lambda: lines.extend(process.stdout or []), daemon=True).start()
            return service
    process.wait(timeout=30)
    raise AssertionError("the service did not start: " + "".join(lines))


@contextmanager
def running(env: dict[str, str], log_keys: Path, *options: str) -> Iterator[ServiceProcess]:
    service = start(env, log_keys, *options)
    try:
        yield service
    finally:
        service.stop()


class Services:
    """One service per ledger database, started when a client first needs it.

    The service runs with no organisation's key and no passphrase but its log key's
    (its key directory is its own); each service's clients share one verified state
    directory, so copies of one ledger that later differ never look like one service
    forking."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._running: dict[str, tuple[ServiceProcess, Path]] = {}

    def address(self, database: str) -> tuple[str, Path]:
        """The URL of the service of ``database``, and its clients' state directory."""
        if database not in self._running:
            number = len(self._running) + 1
            home = self.directory / f"service-{number}"
            env = {"CHAINLEDGER_LEDGER": database, "CHAINLEDGER_KEYS": str(home / "keys"),
                   "CHAINLEDGER_PASSPHRASE": PASSPHRASE,
                   "CHAINLEDGER_STATE": str(home / "state")}  # fmt: skip
            service = start(env, home / "log-keys")
            self._running[database] = (service, home / "client-state")
        service, state = self._running[database]
        return service.url, state

    def stop(self, database: str | None = None) -> None:
        """Stop the service of ``database`` (a copy about to be replaced), or every one."""
        for name in [database] if database else list(self._running):
            if name in self._running:
                self._running.pop(name)[0].stop(graceful=False)
