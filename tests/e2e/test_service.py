"""``chainledger serve`` under uvicorn on a free loopback port (over SQLite and PostgreSQL),
and clients reading through it with ``--ledger http://…``: the same answers as reading the
database, and a service that lies is caught.

The liars are a proxy in front of the real service, run by someone who holds the service's
log key (as its operator would): it rolls the log back, forks it, alters, drops or adds a
row, serves a checkpoint older than its rows, or signs with another key. Each is stopped
with one line ``Error: SECURITY: …``, exit 1, and an evidence file holding the signed
checkpoints.
"""

from __future__ import annotations

import base64
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from chainledger.adapters.merkle_store import TreeHead
from chainledger.domain.checkpoint import parse_checkpoint
from chainledger.service.log import LogKey
from tests import served as served_process
from tests.conftest import PASSPHRASE, CliLedger
from tests.ledgers import LedgerStore, event_rows
from tests.served import ServiceProcess

COUNCIL, PRIME, CHARITY = "barnet-council", "northgate", "hope-trust"
# What the service and its clients check is the same whatever database is behind the
# service; both engines run the reading, recording, concurrency and lock tests.
ENGINE_NEUTRAL = pytest.mark.sqlite_only("the checks under test do not depend on the engine")


def package(reference: str) -> tuple[str, ...]:
    return ("package", "create", reference, "--as", COUNCIL, "--title", "Employment support",
            "--area", "Barnet", "--value", "100000", "--start", "2025-01-01", "--end",
            "2025-12-31", "--description", "Support into work", "--payment-model", "fixed")  # fmt: skip


@dataclass
class Service(ServiceProcess):
    """A running ``chainledger serve`` and the ledger it serves."""

    ledger: CliLedger | None = None


def start_service(ledger: CliLedger, log_keys: Path, *options: str) -> Service:
    started = served_process.start(ledger.env, log_keys, *options)
    return Service(started.url, started.log_keys, started.process, started.output, ledger)


@contextmanager
def running(ledger: CliLedger, log_keys: Path, *options: str) -> Iterator[Service]:
    service = start_service(ledger, log_keys, *options)
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture
def served(ledgers: LedgerStore, tmp_path: Path) -> Iterator[Service]:
    """A ledger with a package, served."""
    ledger = CliLedger(ledgers.url("served"), tmp_path / "keys", CliRunner())
    ledger.ok("init", "--name", "Served")
    for name, handle in (("Barnet Council", COUNCIL), ("Northgate", PRIME),
                         ("Hope Trust", CHARITY)):  # fmt: skip
        ledger.ok("org", "create", name, "--handle", handle)
    ledger.ok(*package("BAR-1"))
    ledger.ok("bid", "submit", "BAR-1", "--as", PRIME, "--price", "90000", "--self-share", "60",
              "--promise", f"{CHARITY}:service=mentoring,share=30,value=30000,referrals=20,"
              "model=fixed,terms=30,fee=5")  # fmt: skip
    ledger.ok("bid", "acknowledge", "BAR-1", "--as", CHARITY, "--prime", PRIME)
    with running(ledger, tmp_path / "log-keys") as service:
        yield service


def client(url: str, tmp_path: Path, name: str = "client") -> CliLedger:
    """A client of the service at ``url``, with its own keys and verified state."""
    made = CliLedger(url, tmp_path / f"{name}-keys", CliRunner())
    state = tmp_path / f"{name}-state"
    original = made.run

    def run(*args: str, env: dict[str, str | None] | None = None) -> Any:
        return original("--state", str(state), *args, env=env)

    made.run = run  # type: ignore[method-assign]
    return made


def get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 - the test's own service
        return dict(json.loads(answer.read()))


# -- reading through the service -------------------------------------------------------------


@ENGINE_NEUTRAL
def test_the_service_says_what_it_serves(served: Service) -> None:
    health = get(f"{served.url}/health")
    assert health["status"] == "ok"
    assert health["events"] == len(event_rows(served.ledger.url))
    described = get(f"{served.url}/v1/log")
    assert described["ledger"] == health["ledger"]
    assert described["log_key"].startswith(f"log-{health['ledger']}+")
    assert "Made the log key in" in "".join(served.output)
    log_file = next((served.log_keys).glob("*.key"))
    assert oct(log_file.stat().st_mode & 0o777) == "0o600"
    assert b"PRIVATE KEY" in log_file.read_bytes()  # an encrypted PEM, not a raw key
    assert b"ENCRYPTED" in log_file.read_bytes()


@ENGINE_NEUTRAL
def test_answers_on_a_kept_alive_connection_do_not_wait_for_acknowledgements(
    served: Service,
) -> None:
    """A client sends a command's requests over one connection. With Nagle's algorithm on
    the service's side (as it was: asyncio turns it off only for sockets made with their
    protocol named), each answer after the first waited ~40 ms for the client's delayed
    acknowledgement: ten requests took over 360 ms; they take a few ms each."""
    import http.client
    from urllib.parse import urlsplit

    where = urlsplit(served.url)
    connection = http.client.HTTPConnection(where.hostname, where.port, timeout=10)
    try:
        connection.request("GET", "/health")
        connection.getresponse().read()
        started = time.perf_counter()
        for _ in range(10):
            connection.request("GET", "/health")
            answer = connection.getresponse()
            answer.read()
            assert answer.status == 200
        took = time.perf_counter() - started
    finally:
        connection.close()
    assert took < 0.25, f"ten answers on one connection took {took * 1000:.0f} ms"


def test_reading_through_the_service_answers_as_the_database_does(
    served: Service, tmp_path: Path
) -> None:
    remote = client(served.url, tmp_path)
    local = client(served.ledger.url, tmp_path, "local")
    for command in (("history", "BAR-1", "--format", "json"),
                    ("report", "workshare", "--format", "json"),
                    ("report", "findings", "--format", "json"),
                    ("org", "list", "--format", "json"),
                    ("org", "show", PRIME)):  # fmt: skip
        assert remote.ok(*command).stdout == local.ok(*command).stdout, command
    # What is recorded later is read on the next command, and checked against a newer
    # checkpoint that extends the one kept.
    served.ledger.ok(*package("BAR-2"))
    history = remote.ok("history", "BAR-2", "--format", "json").stdout
    assert history == local.ok("history", "BAR-2", "--format", "json").stdout


def with_keys(service: Service, tmp_path: Path, name: str = "client") -> CliLedger:
    """A client holding the organisations' keys (each organisation's own machine, in one)."""
    remote = client(service.url, tmp_path, name)
    shutil.copytree(service.ledger.keys, remote.keys)
    return remote


def test_the_supply_chain_is_recorded_through_the_service(served: Service, tmp_path: Path) -> None:
    """Each step signed on the client, run again by the service, recorded; the reports read
    through the service equal those read from the database."""
    remote = with_keys(served, tmp_path)
    remote.ok("package", "award", "BAR-1", "--as", COUNCIL, "--bid", PRIME, "--on", "2025-01-20")
    remote.ok("subcontract", "issue", "BAR-1", "--as", PRIME, "--sub", CHARITY, "--service",
              "mentoring", "--share", "30", "--value", "30000", "--referrals", "20", "--model",
              "fixed", "--terms", "30", "--on", "2025-02-03")  # fmt: skip
    remote.ok("subcontract", "accept", "BAR-1", "--as", CHARITY, "--on", "2025-02-04")
    recorded = remote.ok("invoice", "submit", "BAR-1", "--as", CHARITY, "--ref", "HT-1",
                         "--amount", "2500", "--date", "2025-03-31", "--period", "2025-Q1",
                         "--on", "2025-03-31")  # fmt: skip
    assert recorded.stdout.startswith("Recorded #")
    remote.ok("payment", "record", "BAR-1", "--as", PRIME, "--sub", CHARITY, "--invoice", "HT-1",
              "--amount", "2500", "--date", "2025-05-20", "--on", "2025-05-20")  # fmt: skip
    local = client(served.ledger.url, tmp_path, "local")
    for command in (("history", "BAR-1", "--format", "json"),
                    ("report", "payments", "--format", "json"),
                    ("report", "findings", "--format", "json")):  # fmt: skip
        assert remote.ok(*command).stdout == local.ok(*command).stdout, command
    assert "OK: every signature and chain link verifies." in local.ok("audit", "verify").stdout
    # A bulk import is steps too: one submission, one transaction.
    lines = tmp_path / "steps.jsonl"
    lines.write_text("".join(json.dumps({"step": "referral.send", "package": "BAR-1",
                                         "subcontractor": CHARITY, "period": period,
                                         "count": 5, "on": "2025-07-01"}) + "\n"
                             for period in ("2025-Q1", "2025-Q2")))  # fmt: skip
    before = len(event_rows(served.ledger.url))
    assert "Imported 2 events" in remote.ok("import", str(lines), "--as", PRIME).stdout
    assert len(event_rows(served.ledger.url)) == before + 2


def test_a_client_cannot_get_a_rule_breaking_event_recorded_by_signing_it(
    served: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A modified client with the rules taken out signs an award by the prime: the service
    runs the step with the rules and refuses it, writing nothing."""
    from chainledger.application.contracting import Contracting

    remote = with_keys(served, tmp_path)
    monkeypatch.setattr(Contracting, "_commissioner_only", staticmethod(lambda *_: None))
    before = event_rows(served.ledger.url)
    result = remote.run("package", "award", "BAR-1", "--as", PRIME, "--bid", PRIME)
    assert result.exit_code == 1, result.stdout
    assert result.stderr == f"Error: only {COUNCIL}, the commissioner of BAR-1, can award it\n"
    assert event_rows(served.ledger.url) == before
    # It was the service that refused: the client sent the step, signed.
    time.sleep(0.2)
    logged = [json.loads(line) for line in served.output if line.startswith("{")]
    assert {"method": "POST", "path": "/v1/steps", "status": 403}.items() <= next(
        entry for entry in logged if entry.get("path") == "/v1/steps").items()


def post(url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(  # noqa: S310 - the test's own service
        url, data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - the test's own
            return answer.status, dict(json.loads(answer.read()))
    except urllib.error.HTTPError as error:
        return error.code, dict(json.loads(error.read()))


@ENGINE_NEUTRAL
def test_events_that_are_not_what_their_step_makes_are_refused(
    served: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The client signs a payment of 2,500 but sends the step for 25,000 (and the reverse,
    and a step with no events): nothing is written."""
    from chainledger.adapters import remote_store

    remote = with_keys(served, tmp_path)
    remote.ok("package", "award", "BAR-1", "--as", COUNCIL, "--bid", PRIME)
    sent: list[dict[str, Any]] = []
    real_post = remote_store.RemoteEventStore.post

    def keep(self: Any, path: str, body: dict[str, Any]) -> dict[str, Any]:
        sent.append(body)
        raise Refused("kept, not sent")

    from chainledger.errors import Refused

    monkeypatch.setattr(remote_store.RemoteEventStore, "post", keep)
    remote.run("package", "vary", "BAR-1", "--as", COUNCIL, "--value", "95000", "--reason", "r")
    monkeypatch.setattr(remote_store.RemoteEventStore, "post", real_post)
    (body,) = sent
    before = event_rows(served.ledger.url)
    step = body["steps"][0]
    other = {**step, "kwargs": {**step["kwargs"], "new_value": "96000"}} if step["kwargs"] else \
        {**step, "args": [a if a != "95000" else "96000" for a in step["args"]]}  # fmt: skip
    assert other != step
    for tampered in ({**body, "steps": [other]}, {**body, "events": []},
                     {**body, "events": body["events"] * 2}):  # fmt: skip
        status, answer = post(f"{served.url}/v1/steps", tampered)
        assert status in (400, 403, 409), answer
        assert event_rows(served.ledger.url) == before
    status, _ = post(f"{served.url}/v1/steps", body)  # as signed: recorded
    assert status == 200
    assert len(event_rows(served.ledger.url)) == len(before) + 1


@ENGINE_NEUTRAL
def test_a_360_review_round_runs_through_the_service(served: Service, tmp_path: Path) -> None:
    """Ratings are sealed on each rater's machine and revealed from there: the service
    records commitments and sealed copies it cannot read, and refuses a second rating."""
    remote = with_keys(served, tmp_path)
    remote.ok("package", "award", "BAR-1", "--as", COUNCIL, "--bid", PRIME)
    period = ("--period", "2025-Q1")
    scores = "openness=4,fairness=3,payment=4,support=4,commitments=2,clarity=4,equality=3,improvement=4"
    remote.ok("review", "open", "BAR-1", *period, "--as", COUNCIL, "--min-group", "3")
    for rater, ratee in ((CHARITY, PRIME), (PRIME, PRIME), (COUNCIL, PRIME), (PRIME, CHARITY)):
        remote.ok("review", "rate", "BAR-1", *period, "--as", rater, "--ratee", ratee,
                  "--score", scores, "--comment", "Through the service.")  # fmt: skip
    again = remote.run("review", "rate", "BAR-1", *period, "--as", CHARITY, "--ratee", PRIME,
                       "--score", scores)  # fmt: skip
    assert again.exit_code == 1
    assert "has already committed a rating" in again.stderr
    stored = b"".join(state for *_, state in event_rows(served.ledger.url))
    assert b"Through the service." not in stored  # sealed on the client: nobody can read it
    remote.ok("review", "close", "BAR-1", *period, "--as", COUNCIL)
    for rater in (CHARITY, PRIME, COUNCIL):
        remote.ok("review", "reveal", "BAR-1", *period, "--as", rater)
    remote.ok("review", "finalise", "BAR-1", *period, "--as", COUNCIL)
    local = client(served.ledger.url, tmp_path, "local")
    local.keys = remote.keys
    owner_view = ("report", "reviews", "--package", "BAR-1", "--as", COUNCIL)
    assert remote.ok(*owner_view).stdout == local.ok(*owner_view).stdout
    assert "4 ratings revealed" in remote.ok(*owner_view).stdout  # opened by the owner only


@pytest.fixture
def programme(ledgers: LedgerStore, tmp_path: Path) -> Iterator[Service]:
    """A ledger made with its registrar on the council's server, served."""
    ledger = CliLedger(ledgers.url("programme"), tmp_path / "council-server-keys", CliRunner())
    ledger.ok("init", "--name", "Barnet programme", "--registrar", "Barnet Council",
              "--identifier", "GB-GOR-E09000003")  # fmt: skip
    with running(ledger, tmp_path / "log-keys") as service:
        yield service


def test_a_charity_joins_a_programme_through_the_service(programme: Service, tmp_path: Path) -> None:
    """The README's story: the charity, on its own machine, creates its organisation
    through the service and reads its fingerprint to the council, which endorses it from
    its own machine; the charity then signs on a package. Its key never leaves it."""
    council = with_keys(programme, tmp_path, "council")
    charity = client(programme.url, tmp_path, "charity")
    created = charity.ok("org", "create", "Hope Trust", "--sector", "vcs", "--size", "small",
                         "--identifier", "GB-CHC-1089464")  # fmt: skip
    assert "hope-trust" in created.stdout
    (shown,) = json.loads(charity.ok("org", "show", CHARITY, "--format", "json").stdout)
    assert (charity.keys / f"{shown['fingerprint']}.key").exists()
    assert not list(council.keys.glob(f"{shown['fingerprint']}*"))
    refused = charity.run("interest", "express", "BAR-1", "--as", CHARITY, "--prime", PRIME,
                          "--offer", "mentoring")  # fmt: skip
    assert refused.exit_code == 1
    council.ok("org", "endorse", CHARITY, "--as", COUNCIL, "--fingerprint", shown["fingerprint"])
    council.ok(*package("BAR-1"))
    charity.ok("org", "rotate-key", CHARITY)
    listed = {o["handle"]: o for o in json.loads(charity.ok("org", "list", "--format",
                                                            "json").stdout)}  # fmt: skip
    assert listed[CHARITY]["endorsed_by"] == COUNCIL
    local = client(programme.ledger.url, tmp_path, "local")
    assert "OK: every signature and chain link verifies." in local.ok("audit", "verify").stdout
    assert local.ok("org", "show", CHARITY).stdout == charity.ok("org", "show", CHARITY).stdout


@ENGINE_NEUTRAL
def test_a_client_whose_clock_is_off_is_refused(
    served: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime, timedelta

    remote = with_keys(served, tmp_path)
    ahead = datetime.now(UTC) + timedelta(hours=1)
    monkeypatch.setattr("chainledger.domain.events.now", lambda: ahead)
    before = event_rows(served.ledger.url)
    result = remote.run("package", "award", "BAR-1", "--as", COUNCIL, "--bid", PRIME)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: your clock is 60"), result.stderr
    assert "ahead of the service's" in result.stderr
    assert event_rows(served.ledger.url) == before


@ENGINE_NEUTRAL
def test_the_page_and_open_data_made_through_the_service_are_the_databases(
    served: Service, tmp_path: Path
) -> None:
    """Made on the client from rows it verified (reading older rows again by id, checked
    against what it verified): the same bytes as made from the database."""
    remote, local = client(served.url, tmp_path), client(served.ledger.url, tmp_path, "local")
    remote.ok("history", "BAR-1")  # verified the whole log first: older rows are read again
    for name, made in (("remote", remote), ("local", local)):
        made.ok("report", "html", "--no-audit", "--as-of", "2025-12-31", "--output",
                str(tmp_path / f"{name}.html"))  # fmt: skip
        made.ok("export", "ocds", "--output", str(tmp_path / f"{name}.json"))
    assert (tmp_path / "remote.html").read_text() == (tmp_path / "local.html").read_text()
    published = [json.loads((tmp_path / f"{n}.json").read_text()) for n in ("remote", "local")]
    for document in published:
        document.pop("publishedDate")
    assert published[0] == published[1]
    assert published[0]["releases"]


@ENGINE_NEUTRAL
def test_the_audit_through_the_service_checks_every_row_and_the_signed_tree(
    served: Service, liar: Liar, tmp_path: Path
) -> None:
    remote = client(served.url, tmp_path)
    local = client(served.ledger.url, tmp_path, "local")
    audited = json.loads(remote.ok("audit", "verify", "--format", "json").stdout)
    there = json.loads(local.ok("audit", "verify", "--format", "json").stdout)
    assert audited["ok"] is True
    for name in ("ledger", "events", "organisations", "signatures", "tree"):
        assert audited.get(name) == there.get(name), name
    page = tmp_path / "page.html"
    remote.ok("report", "html", "--output", str(page))  # with its audit
    assert "every event verifies" in page.read_text()
    # Through a service that alters one row: the audit names it and the tree it signed.
    liar.rewrite = _edit_rows(_altered)
    caught = client(liar.url, tmp_path, "auditor").run("audit", "verify")
    assert caught.exit_code == 1, caught.stdout
    assert "signature" in caught.stdout
    assert "SECURITY: the service signed a tree of" in caught.stdout


@ENGINE_NEUTRAL
def test_a_client_does_not_load_the_services_database_stack(
    served: Service, tmp_path: Path
) -> None:
    """A report and a recording step through the service, each in a fresh process, never
    import eventsourcing's SQLAlchemy recorder (the service's database stack)."""
    env = {**os.environ, "CHAINLEDGER_LEDGER": served.url,
           "CHAINLEDGER_KEYS": str(served.ledger.keys),
           "CHAINLEDGER_PASSPHRASE": PASSPHRASE, "CHAINLEDGER_STATE": str(tmp_path / "state")}  # fmt: skip
    probe = ("import sys\nfrom chainledger.cli.main import cli\n"
             "try:\n    cli(sys.argv[1:], standalone_mode=False)\n"
             "finally:\n    print(sorted(m for m in sys.modules if m.startswith("
             "('eventsourcing_sqlalchemy', 'psycopg'))))")  # fmt: skip
    for args in (("report", "workshare"), package("BAR-3")):
        ran = subprocess.run([sys.executable, "-c", probe, *args], env=env, capture_output=True,
                             text=True, timeout=60)  # fmt: skip
        assert ran.returncode == 0, ran.stderr
        assert ran.stdout.splitlines()[-1] == "[]", ran.stdout


@ENGINE_NEUTRAL
def test_a_record_read_before_newer_events_were_verified_is_read_again(
    served: Service, tmp_path: Path
) -> None:
    """A client reads each record once per command, but not past its own catch-up: once it
    has verified a newer event of a record (another writer's), loading the record again
    fetches it afresh, instead of calling the copy read earlier a rollback."""
    from chainledger.bootstrap import open_ledger
    from chainledger.domain.ids import package_id

    reader = open_ledger(served.url, tmp_path / "reader-keys", state=tmp_path / "reader-state")
    try:
        reader.catch_up()
        before = reader.load(package_id("BAR-1"))
        served.ledger.ok("package", "award", "BAR-1", "--as", COUNCIL, "--bid", PRIME)
        reader.catch_up()
        assert reader.load(package_id("BAR-1")).version == before.version + 1
    finally:
        reader.close()


def test_an_unreachable_service_is_one_line(tmp_path: Path) -> None:
    result = client("http://127.0.0.1:9", tmp_path).run("history", "BAR-1")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: cannot reach the ledger service at http://127.0.0.1:9")
    assert result.stderr.count("\n") == 1


# -- a service that lies ----------------------------------------------------------------------


Rewrite = Callable[[str, dict[str, Any]], dict[str, Any]]


class Liar:
    """A proxy in front of the real service that rewrites its JSON answers."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.rewrite: Rewrite = lambda path, answer: answer
        self.received: list[bytes] = []  # every request's path and body, as sent
        liar = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._forward(None)

            def do_POST(self) -> None:
                self._forward(self.rfile.read(int(self.headers["Content-Length"])))

            def _forward(self, data: bytes | None) -> None:
                liar.received.append(self.path.encode() + b"\n" + (data or b""))
                request = urllib.request.Request(  # noqa: S310 - the test's own service
                    liar.upstream + self.path, data=data,
                    headers={"Content-Type": "application/json"},
                )  # fmt: skip
                try:
                    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
                        status, body = answer.status, json.loads(answer.read())
                except urllib.error.HTTPError as error:
                    status, body = error.code, json.loads(error.read())
                if status == 200:
                    body = liar.rewrite(self.path, body)
                out = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def lying(upstream: str) -> Iterator[Liar]:
    proxy = Liar(upstream)
    try:
        yield proxy
    finally:
        proxy.close()


@pytest.fixture
def liar(served: Service) -> Iterator[Liar]:
    with lying(served.url) as proxy:
        yield proxy


@ENGINE_NEUTRAL
def test_the_service_never_receives_a_private_key_or_passphrase(
    programme: Service, tmp_path: Path
) -> None:
    """Everything the charity and the council send while joining, endorsing, rotating a key
    and recording, read byte for byte: no passphrase, no key file, no private key."""
    from cryptography.hazmat.primitives import serialization

    from chainledger.adapters.keystore import Keystore

    with lying(programme.url) as watcher:
        council = with_keys(programme, tmp_path, "council")
        council.url = watcher.url
        charity = client(watcher.url, tmp_path, "charity")
        charity.ok("org", "create", "Hope Trust", "--identifier", "GB-CHC-1089464")
        (shown,) = json.loads(charity.ok("org", "show", CHARITY, "--format", "json").stdout)
        council.ok("org", "endorse", CHARITY, "--as", COUNCIL, "--fingerprint",
                   shown["fingerprint"])  # fmt: skip
        council.ok(*package("BAR-1"))
        charity.ok("bid", "submit", "BAR-1", "--as", CHARITY, "--price", "90000",
                   "--self-share", "100")  # fmt: skip
        charity.ok("org", "rotate-key", CHARITY)
        sent = b"\n".join(watcher.received)
    assert b"/v1/steps" in sent  # it did carry the steps
    secrets = [PASSPHRASE.encode(), b"PRIVATE KEY", b"chainledger private key"]
    for keys in (charity.keys, council.keys):
        for path in keys.glob("*.key"):
            secrets.append(path.read_bytes()[-64:])
            key_id = path.stem
            try:
                private = Keystore(keys).load(key_id, PASSPHRASE)
            except Exception:
                private = Keystore(keys).load_encryption_key(key_id, PASSPHRASE)  # type: ignore[assignment]
            raw = private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                        serialization.NoEncryption())  # fmt: skip
            secrets += [raw, base64.b64encode(raw), raw.hex().encode()]
    assert [s for s in secrets if s in sent] == []


def security_error(result: Any) -> Path:
    """The run stopped with one SECURITY line; returns the evidence file it names."""
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert result.stderr.startswith("Error: SECURITY: "), result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr
    found = re.search(r"the evidence \(both signed checkpoints\) is in (\S+)\n", result.stderr)
    assert found, result.stderr
    evidence = Path(found.group(1))
    assert oct(evidence.stat().st_mode & 0o777) == "0o600"
    return evidence


def checkpoints_in(evidence: Path) -> list[Any]:
    return [parse_checkpoint(text) for text in json.loads(evidence.read_text())["checkpoints"]]


@ENGINE_NEUTRAL
def test_a_rolled_back_service_is_caught(served: Service, liar: Liar, tmp_path: Path) -> None:
    reader = client(liar.url, tmp_path)
    # An honest checkpoint of the first three events, kept by the liar for later.
    early = get(f"{served.url}/v1/rows?start=1&limit=3")["checkpoint"]
    reader.ok("history", "BAR-1")  # verified the whole log, kept its checkpoint
    served.ledger.ok(*package("BAR-2"))
    liar.rewrite = lambda path, answer: {**answer, "checkpoint": early}
    evidence = security_error(reader.run("history", "BAR-2"))
    assert json.loads(evidence.read_text())["claim"] == (
        "rolled back: a smaller tree signed after a larger one")
    sizes = [c.checkpoint.size for c in checkpoints_in(evidence)]
    assert sizes[1] == 3
    assert sizes[0] > 3
    log = served.log_key(parse_checkpoint(early).checkpoint.ledger_id)
    checked = reader.ok("verify-proof", str(evidence), "--signer", log.key_id)
    assert checked.stdout.startswith("OK: the service at "), checked.stdout
    assert "signed 2 checkpoint(s)" in checked.stdout
    assert "rolled back" in checked.stdout


@ENGINE_NEUTRAL
def test_a_service_that_drops_a_step_it_acknowledged_is_caught(
    served: Service, liar: Liar, tmp_path: Path
) -> None:
    """The council records a package; the service signs the log holding it as its receipt.
    Later the service answers as if the step had never been recorded, with the honest
    checkpoint from before it, which the council had verified itself: nothing the council
    verified is contradicted, but its receipt is, and that stops the command."""
    council = client(liar.url, tmp_path)
    shutil.copytree(served.ledger.keys, council.keys)
    council.ok("history", "BAR-1")  # verified the whole log, kept its checkpoint
    before = get(f"{served.url}/v1/rows?start=1&limit=1000")
    recorded = council.ok(*package("BAR-2"))
    assert "Recorded #" in recorded.stdout

    def without_the_step(path: str, answer: dict[str, Any]) -> dict[str, Any]:
        if "rows" not in answer:
            return answer
        rows = [r for r in answer["rows"] if r["id"] <= before["position"]]
        return {**answer, "rows": rows, "checkpoint": before["checkpoint"],
                "position": before["position"], "current": True}  # fmt: skip

    liar.rewrite = without_the_step
    evidence = security_error(council.run("history", "BAR-1"))
    document = json.loads(evidence.read_text())
    assert document["claim"] == f"rolled back: a smaller tree signed after {COUNCIL}'s receipt"
    receipt, served_later = checkpoints_in(evidence)
    assert receipt.checkpoint.size == served_later.checkpoint.size + 1
    log = served.log_key(receipt.checkpoint.ledger_id)
    checked = council.ok("verify-proof", str(evidence), "--signer", log.key_id)
    assert "rolled back" in checked.stdout


@ENGINE_NEUTRAL
def test_a_forked_service_is_caught(served: Service, liar: Liar, tmp_path: Path) -> None:
    reader = client(liar.url, tmp_path)
    reader.ok("history", "BAR-1")
    kept = get(f"{served.url}/v1/rows?start=999999")["checkpoint"]
    head = parse_checkpoint(kept).checkpoint
    log = served.log_key(head.ledger_id)
    other = log.sign(TreeHead(head.size, bytes(32), 0))  # same size, another history
    liar.rewrite = lambda path, answer: {**answer, "checkpoint": other}
    evidence = security_error(reader.run("history", "BAR-1"))
    roots = {c.checkpoint.root for c in checkpoints_in(evidence)}
    assert roots == {head.root, bytes(32)}
    # Anyone can check it, offline, with the service's log key alone.
    checked = reader.ok("verify-proof", str(evidence), "--signer", log.key_id)
    assert checked.stdout.startswith("PROVEN: the service at "), checked.stdout
    assert f"signed two different trees of {head.size} events" in checked.stdout
    wrong = reader.run("verify-proof", str(evidence), "--signer", "ab" * 32)
    assert wrong.exit_code == 1


@ENGINE_NEUTRAL
def test_a_larger_tree_that_does_not_extend_the_one_verified_is_caught(
    served: Service, liar: Liar, tmp_path: Path
) -> None:
    """The service signs a larger log whose tree is not an extension of the one the client
    verified: the client asks for a consistency proof from its kept checkpoint and stops,
    even in a recording step that reads no rows of the log."""
    council = client(liar.url, tmp_path)
    shutil.copytree(served.ledger.keys, council.keys)
    council.ok("history", "BAR-1")  # verified the whole log, kept its checkpoint
    kept = parse_checkpoint(get(f"{served.url}/v1/rows?start=999999")["checkpoint"]).checkpoint
    served.ledger.ok(*package("BAR-2"))  # the log grows honestly...
    grown = get(f"{served.url}/v1/rows?start=999999")
    log = served.log_key(kept.ledger_id)
    # ...but the service signs another tree of that size as current.
    forked = log.sign(TreeHead(kept.size + 1, bytes(32), grown["position"]))
    liar.rewrite = lambda path, answer: (
        {**answer, "checkpoint": forked} if "checkpoint" in answer else answer
    )
    before = event_rows(served.ledger.url)
    evidence = security_error(council.run(*package("BAR-3")))
    document = json.loads(evidence.read_text())
    assert document["claim"] == "forked: a larger tree that does not extend the one verified"
    sizes = [c.checkpoint.size for c in checkpoints_in(evidence)]
    assert sizes == [kept.size, kept.size + 1]
    assert event_rows(served.ledger.url) == before  # nothing was sent


def _edit_rows(edit: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> Rewrite:
    def rewrite(path: str, answer: dict[str, Any]) -> dict[str, Any]:
        if path.startswith("/v1/rows") and answer.get("rows"):
            return {**answer, "rows": edit(list(answer["rows"]))}
        return answer

    return rewrite


def _altered(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    state = bytearray(base64.b64decode(rows[1]["state"]))
    state[-3] ^= 1
    return [rows[0], {**rows[1], "state": base64.b64encode(bytes(state)).decode()}, *rows[2:]]


@ENGINE_NEUTRAL
@pytest.mark.parametrize("edit", [
    pytest.param(_altered, id="an altered row"),
    pytest.param(lambda rows: [rows[0], *rows[2:]], id="a dropped row"),
    pytest.param(lambda rows: [rows[0], {**rows[1], "id": rows[1]["id"]}, *rows[1:]],
                 id="a row served twice"),
])  # fmt: skip
def test_rows_the_signed_tree_does_not_hold_are_caught(
    served: Service, liar: Liar, tmp_path: Path, edit: Callable[..., Any]
) -> None:
    liar.rewrite = _edit_rows(edit)
    evidence = security_error(client(liar.url, tmp_path).run("history", "BAR-1"))
    assert "served events whose tree is" in evidence.read_text()


@ENGINE_NEUTRAL
def test_a_checkpoint_older_than_the_rows_is_caught(
    served: Service, liar: Liar, tmp_path: Path
) -> None:
    early = get(f"{served.url}/v1/rows?start=1&limit=3")
    liar.rewrite = lambda path, answer: ({**answer, "checkpoint": early["checkpoint"]}
                                         if path.startswith("/v1/rows") else answer)  # fmt: skip
    result = client(liar.url, tmp_path).run("history", "BAR-1")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: SECURITY: "), result.stderr


@ENGINE_NEUTRAL
def test_a_checkpoint_signed_by_another_key_is_caught(
    served: Service, liar: Liar, tmp_path: Path
) -> None:
    reader = client(liar.url, tmp_path)
    reader.ok("history", "BAR-1")  # the real log key is pinned
    head = parse_checkpoint(get(f"{served.url}/v1/rows?start=999999")["checkpoint"]).checkpoint
    impostor = LogKey(head.ledger_id, tmp_path / "impostor-log", PASSPHRASE)
    forged = impostor.sign(TreeHead(head.size, head.root, 0))
    liar.rewrite = lambda path, answer: {**answer, "checkpoint": forged}
    evidence = security_error(reader.run("history", "BAR-1"))
    assert "not signed by the pinned log key" in evidence.read_text()


@ENGINE_NEUTRAL
def test_checkpoints_proofs_and_bundles_are_made_through_the_service(
    served: Service, tmp_path: Path
) -> None:
    """Signed on the client over the tree it verified; the service's tree only supplies the
    proof paths, each checked against that tree: the same files as made at the database."""
    remote, local = with_keys(served, tmp_path), with_keys(served, tmp_path, "local")
    local.url = served.ledger.url
    made = {}
    for name, side in (("remote", remote), ("local", local)):
        side.ok("checkpoint", "--as", COUNCIL, "--output", str(tmp_path / f"{name}.checkpoint"))
        side.ok("prove", "3", "--as", CHARITY, "--output", str(tmp_path / f"{name}.proof"))
        side.ok("export", "--package", "BAR-1", "--as", PRIME, "--output",
                str(tmp_path / f"{name}.bundle"))  # fmt: skip
        made[name] = [json.loads((tmp_path / f"{name}.proof").read_text())["proof"],
                      (tmp_path / f"{name}.checkpoint").read_text().split("\n")[:3],
                      len(json.loads((tmp_path / f"{name}.bundle").read_text())["events"])]  # fmt: skip
    assert made["remote"] == made["local"]
    (shown,) = json.loads(remote.ok("org", "show", CHARITY, "--format", "json").stdout)
    checked = remote.ok("verify-proof", str(tmp_path / "remote.proof"), "--signer",
                        shown["fingerprint"])  # fmt: skip
    assert checked.exit_code == 0
    audit = remote.ok("audit", "verify", "--checkpoint", str(tmp_path / "remote.checkpoint"))
    assert "the ledger extends it" in audit.stdout


@ENGINE_NEUTRAL
def test_the_service_checks_a_bundle_itself_before_it_keeps_it(
    served: Service, tmp_path: Path
) -> None:
    """A bundle posted straight to the service (no client checked it) is checked there: one
    with an altered event is refused whole, nothing kept; the bundle as exported is kept."""
    other = CliLedger(str(tmp_path / "other.db"), tmp_path / "other-keys", CliRunner())
    other.ok("init", "--name", "another programme")
    other.ok("org", "create", "Barnet Council", "--handle", COUNCIL)
    other.ok(*package("OTHER-1"))
    exported = json.loads(other.ok("export", "--package", "OTHER-1", "--as", COUNCIL).stdout)
    altered = json.loads(json.dumps(exported))
    altered["events"][-1]["state"] = base64.b64encode(
        base64.b64decode(altered["events"][-1]["state"]).replace(b"100000", b"900000")
    ).decode()
    status, answer = post(f"{served.url}/v1/imports", altered)
    assert status == 403, answer
    assert answer["error"].startswith("the bundle is refused: event ")
    reader = client(served.url, tmp_path)
    assert reader.ok("imported").stdout == "Nothing was imported into this ledger.\n"
    status, answer = post(f"{served.url}/v1/imports", exported)
    assert (status, answer["new"], answer["package"]) == (200, len(exported["events"]), "OTHER-1")
    history = json.loads(reader.ok("imported", "OTHER-1", "--format", "json").stdout)
    assert [h["event"] for h in history] == ["PackageCreated"]


@ENGINE_NEUTRAL
def test_what_was_imported_is_counted_by_the_client_not_the_service(
    served: Service, liar: Liar, tmp_path: Path
) -> None:
    """A service that claims more imported events, or other packages, than the events it
    gives changes nothing the client shows: it counts the events it checks."""
    other = CliLedger(str(tmp_path / "other.db"), tmp_path / "other-keys", CliRunner())
    other.ok("init", "--name", "another programme")
    other.ok("org", "create", "Barnet Council", "--handle", COUNCIL)
    other.ok(*package("OTHER-1"))
    bundle = tmp_path / "other.bundle"
    other.ok("export", "--package", "OTHER-1", "--as", COUNCIL, "--output", str(bundle))
    reader = client(liar.url, tmp_path)
    reader.ok("import", str(bundle))
    honest = json.loads(reader.ok("imported", "--format", "json").stdout)
    liar.rewrite = lambda path, answer: (
        {**answer, "ledgers": [{**entry, "events": 999, "packages": ["FAKE-1"]}
                               for entry in answer["ledgers"]]}
        if path == "/v1/imported" else answer
    )  # fmt: skip
    shown = json.loads(reader.ok("imported", "--format", "json").stdout)
    assert shown == honest
    assert [(s["packages"], s["events"]) for s in shown] == [("OTHER-1", 3)]


@ENGINE_NEUTRAL
def test_junk_sent_as_a_bundle_is_refused_plainly(served: Service) -> None:
    """(Its size is limited as a submission's is: test_service_attacks.)"""
    for body, status, starts in (
        (b"not json", 400, "a bundle is a JSON document"),
        (b"[1, 2]", 400, "a bundle is a JSON document"),
        (b"[" * 100_000, 400, "a bundle is a JSON document"),
        (b"{}", 400, "the bundle's ledger id is missing or malformed"),
    ):
        request = urllib.request.Request(f"{served.url}/v1/imports", data=body, method="POST")  # noqa: S310
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)  # noqa: S310 - the test's own service
        answer = json.loads(refused.value.read())
        assert (refused.value.code, answer["error"][: len(starts)]) == (status, starts), answer
    assert get(f"{served.url}/v1/imported") == {"ledgers": [], "events": []}


WRITERS, EACH = 8, 100
DRIVER = """
import sys
from chainledger.cli.main import cli
for i in range(int(sys.argv[2])):
    cli(["invoice", "submit", "BAR-1", "--as", "hope-trust", "--ref", f"W{sys.argv[1]}-{i}",
         "--amount", "10", "--date", "2025-03-31", "--period", "2025-Q1", "--on", "2025-03-31"],
        standalone_mode=False)
"""


def test_concurrent_clients_record_every_step_exactly_once(served: Service, tmp_path: Path) -> None:
    """Several client processes record invoices into one subcontract at once: the losers of
    each race read afresh and sign again; every invoice is recorded once, the audit is clean."""
    remote = with_keys(served, tmp_path)
    remote.ok("package", "award", "BAR-1", "--as", COUNCIL, "--bid", PRIME)
    remote.ok("subcontract", "issue", "BAR-1", "--as", PRIME, "--sub", CHARITY, "--service",
              "mentoring", "--share", "30", "--value", "30000", "--referrals", "20", "--model",
              "fixed", "--terms", "30", "--on", "2025-02-03")  # fmt: skip
    remote.ok("subcontract", "accept", "BAR-1", "--as", CHARITY, "--on", "2025-02-04")
    before = len(event_rows(served.ledger.url))
    env = {**os.environ, "CHAINLEDGER_LEDGER": served.url, "CHAINLEDGER_KEYS": str(remote.keys),
           "CHAINLEDGER_PASSPHRASE": PASSPHRASE}  # fmt: skip
    writers = [
        subprocess.Popen([sys.executable, "-c", DRIVER, str(w), str(EACH)],
                         env={**env, "CHAINLEDGER_STATE": str(tmp_path / f"writer-{w}")},
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for w in range(WRITERS)
    ]  # fmt: skip
    for writer in writers:
        _, stderr = writer.communicate(timeout=600)
        assert writer.returncode == 0, stderr
    rows = event_rows(served.ledger.url)
    assert len(rows) == before + WRITERS * EACH
    local = client(served.ledger.url, tmp_path, "local")
    assert "OK: every signature and chain link verifies." in local.ok("audit", "verify").stdout
    invoices = json.loads(local.ok("report", "payments", "--format", "json").stdout)
    assert invoices[0]["invoices"] == WRITERS * EACH


@ENGINE_NEUTRAL
def test_the_service_describes_itself_and_logs_json(served: Service) -> None:
    described = get(f"{served.url}/openapi.json")
    assert described["openapi"].startswith("3.")
    assert {"/health", "/v1/log", "/v1/rows", "/v1/records/{aggregate}", "/v1/steps"} <= set(
        described["paths"])
    get(f"{served.url}/health")
    time.sleep(0.2)
    entries = [json.loads(line) for line in served.output if line.startswith("{")]
    assert any(e.get("path") == "/health" and e.get("status") == 200 for e in entries), entries


def test_a_table_locked_by_someone_else_fails_a_write_instead_of_hanging_it(
    served: Service, tmp_path: Path
) -> None:
    """Whoever else can reach the database locks the events table and goes to lunch: a
    write through the service gives up after the lock timeout with one line, and the next
    write, once the lock is gone, is recorded."""
    if not served.ledger.url.startswith("postgresql"):
        pytest.skip("SQLite has no lock to wait on across a server; its writers take turns")
    import psycopg

    remote = with_keys(served, tmp_path)
    url = served.ledger.url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as holder:
        holder.execute("LOCK TABLE chainledger_events IN EXCLUSIVE MODE")
        started = time.monotonic()
        result = remote.run("package", "award", "BAR-1", "--as", COUNCIL, "--bid", PRIME)
        waited = time.monotonic() - started
        holder.rollback()
    assert result.exit_code == 1, result.stdout
    assert result.stderr.startswith("Error: the ledger service at"), result.stderr
    assert "lock timeout" in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1
    assert waited < 20
    remote.ok("package", "award", "BAR-1", "--as", COUNCIL, "--bid", PRIME)


def test_several_workers_serve_one_postgresql_ledger(served: Service, tmp_path: Path) -> None:
    if not served.ledger.url.startswith("postgresql"):
        pytest.skip("--workers is for PostgreSQL (SQLite has one writer)")
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with running(served.ledger, served.log_keys, "--port", str(port), "--workers", "2") as many:
        for _ in range(50):  # the workers start after the line is printed
            try:
                get(f"{many.url}/health")
                break
            except OSError:
                time.sleep(0.2)
        remote = with_keys(many, tmp_path)
        remote.ok("package", "award", "BAR-1", "--as", COUNCIL, "--bid", PRIME)
        history = json.loads(remote.ok("history", "BAR-1", "--format", "json").stdout)
        assert [row["event_type"] for row in history].count("PackageAwarded") == 1


def test_workers_need_postgresql(served: Service, tmp_path: Path) -> None:
    if served.ledger.url.startswith("postgresql"):
        pytest.skip("the refusal is for SQLite")
    result = served.ledger.run("serve", "--port", "8089", "--workers", "2", "--log-keys",
                               str(served.log_keys))  # fmt: skip
    assert result.exit_code == 2
    assert "--workers needs a PostgreSQL ledger" in result.stderr
