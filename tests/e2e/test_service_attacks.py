"""``chainledger serve`` under attack by a hostile participant, on either side of the wire.

- A hostile *client* crafts ``POST /v1/steps`` by hand: events signed by another
  organisation's key or for another ledger, steps nobody may call, registrations that
  take a handle or carry a key that did not sign them, replays, old timestamps, odd and
  huge JSON. The service must answer 4xx with one reason and write nothing (the rows
  before and after are compared).
- A hostile *server* (the ``Liar`` proxy of ``test_service``, run by someone holding the
  service's log key) answers another ledger's rows or checkpoints, another record's
  rows, never a current head, positions that are not where the events went, a fork in
  a write's answer, odd and huge answers. The client must stop with one line
  ``Error: …`` (``Error: SECURITY: …`` for a contradicted history), exit 1, and write
  nothing.

An attack that breaks a guarantee is kept as a strict xfail whose reason says what was
observed and where in the code it comes from; its assertions are what a fix must make true.
"""

from __future__ import annotations

import base64
import http.server
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from click.testing import CliRunner

from chainledger.adapters import remote_store
from chainledger.adapters.keystore import Keystore
from chainledger.adapters.merkle_store import TreeHead
from chainledger.domain.canonical import canonical_json
from chainledger.domain.checkpoint import (
    ORIGIN_PREFIX,
    Checkpoint,
    parse_checkpoint,
    sign_checkpoint,
)
from chainledger.domain.events import split_state
from chainledger.domain.ids import package_id
from chainledger.errors import LedgerUnavailable, Refused
from chainledger.service.app import MAX_BODY
from chainledger.service.log import LogKey
from tests.conftest import PASSPHRASE, CliLedger
from tests.e2e import test_service as service_tests
from tests.e2e.test_service import (
    CHARITY,
    COUNCIL,
    PRIME,
    Liar,
    Service,
    client,
    get,
    package,
    post,
    running,
    security_error,
    with_keys,
)
from tests.ledgers import LedgerStore, event_rows

# The fixtures of test_service, registered here too: a ledger with a package, served; a
# proxy in front of it that rewrites its answers.
served = service_tests.served
liar = service_tests.liar

# What is attacked is the HTTP service and its clients, the same over either engine; the
# engines' own behaviour under a service runs in test_service.
pytestmark = pytest.mark.sqlite_only("the attacks are on the HTTP service, not the engine")

AWARD = ("package", "award", "BAR-1", "--as", COUNCIL, "--bid", PRIME)


# -- helpers ------------------------------------------------------------------------------


def signed_body(
    remote: CliLedger, monkeypatch: pytest.MonkeyPatch, *command: str
) -> dict[str, Any]:
    """The body ``command`` would POST to /v1/steps, signed by ``remote``'s keys, not sent."""
    sent: list[dict[str, Any]] = []

    def keep(self: Any, path: str, body: dict[str, Any]) -> dict[str, Any]:
        sent.append(body)
        raise Refused("kept, not sent")

    with monkeypatch.context() as patched:
        patched.setattr(remote_store.RemoteEventStore, "post", keep)
        result = remote.run(*command)
    assert len(sent) == 1, (result.stdout, result.stderr)
    return sent[0]


def envelope(state: str) -> dict[str, Any]:
    return dict(json.loads(split_state(base64.b64decode(state))[1]))


def resign(state: str, keys: Path, key_id: str | None = None, **changes: Any) -> str:
    """The event ``state`` with its content changed and signed again, by its own key or
    by ``key_id`` (from the key directory ``keys``)."""
    content = envelope(state)
    content.update(changes)
    key = Keystore(keys).load(key_id or content["key"], PASSPHRASE)
    data = canonical_json(content)
    return base64.b64encode(key.sign(data) + data).decode("ascii")


def fingerprint(ledger: CliLedger, handle: str) -> str:
    (shown,) = json.loads(ledger.ok("org", "show", handle, "--format", "json").stdout)
    return str(shown["fingerprint"])


def refused(service: Service, body: Any, *statuses: int) -> dict[str, Any]:
    """POST ``body`` (JSON, or bytes as they are): refused with one of ``statuses`` and a
    reason; nothing written."""
    before = event_rows(service.ledger.url)
    if isinstance(body, bytes):
        status, answer = post_raw(f"{service.url}/v1/steps", body)
    else:
        status, answer = post(f"{service.url}/v1/steps", body)
    assert status in statuses, (status, answer)
    assert isinstance(answer.get("error"), str), answer
    assert answer["error"], answer
    assert "\n" not in answer["error"]
    assert event_rows(service.ledger.url) == before
    return answer


def post_raw(url: str, data: bytes) -> tuple[int, dict[str, Any]]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=data, method="POST",  # noqa: S310 - own service
                                     headers={"Content-Type": "application/json"})  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - own service
            return answer.status, dict(json.loads(answer.read()))
    except urllib.error.HTTPError as error:
        return error.code, dict(json.loads(error.read()))


def one_line_error(result: Any) -> str:
    """The run stopped with one plain ``Error: …`` line (not a bug report), exit 1."""
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert result.stderr.startswith("Error: "), result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "this is a bug" not in result.stderr, result.stderr
    return str(result.stderr)


@pytest.fixture
def awarded_body(
    served: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """The council's award of BAR-1, signed on a client and not sent."""
    return signed_body(with_keys(served, tmp_path), monkeypatch, *AWARD)


# -- a hostile client against the service ---------------------------------------------------


def test_an_organisations_event_signed_by_another_organisations_key_is_refused(
    served: Service, awarded_body: dict[str, Any], tmp_path: Path
) -> None:
    """The prime signs the council's award with its own key, content unchanged, and with
    the content saying it is the prime's (key and org): each refused, nothing written."""
    keys = served.ledger.keys
    prime_key = fingerprint(served.ledger, PRIME)
    (event,) = awarded_body["events"]
    as_is = resign(event, keys, prime_key)  # the council's content, the prime's signature
    answer = refused(served, {**awarded_body, "events": [as_is]}, 403)
    assert "does not verify" in answer["error"]
    claimed = resign(event, keys, prime_key, org=PRIME, key=prime_key)
    answer = refused(served, {**awarded_body, "events": [claimed]}, 400)
    assert f"no event signed by {COUNCIL}" in answer["error"]
    # ... and the step said to be the prime's: the rules refuse the prime an award.
    step = {**awarded_body["steps"][0], "org": PRIME}
    answer = refused(served, {"steps": [step], "events": [claimed]}, 403)
    assert "can award it" in answer["error"]


def test_a_step_whose_org_is_not_its_events_org_is_refused(
    served: Service, awarded_body: dict[str, Any]
) -> None:
    step = {**awarded_body["steps"][0], "org": CHARITY}
    answer = refused(served, {**awarded_body, "steps": [step]}, 400)
    assert f"no event signed by {CHARITY} came with its step" in answer["error"]
    # Both the council's step and the charity's, with the council's event only.
    answer = refused(served, {**awarded_body, "steps": [awarded_body["steps"][0], step]},
                     400, 409)  # fmt: skip
    assert "nothing was written" in answer["error"] or CHARITY in answer["error"]


def test_events_signed_for_another_ledger_are_refused(
    served: Service, awarded_body: dict[str, Any]
) -> None:
    """The council's own key, its own award, signed for another ledger's id."""
    (event,) = awarded_body["events"]
    other = resign(event, served.ledger.keys, ledger=str(uuid4()))
    refused(served, {**awarded_body, "events": [other]}, 403, 409)


NOT_STEPS = [
    ("Organisations", "_replace_key"), ("Organisations", "create_organisation"),
    ("Organisations", "rotate_key"), ("Organisations", "revoke_key"),
    ("Organisations", "__init__"), ("Organisations", "new_encryption_key"),
    ("Contracting", "with_retries"), ("Contracting", "_commissioner_only"),
    ("Contracting", "__class__"), ("Reviews", "__getattribute__"),
    ("ChainLedger", "init_with_registrar"), ("LedgerCore", "init_ledger"),
    ("Keystore", "create"), ("Submissions", "submit"), (None, None), ("", "register"),
]  # fmt: skip


def test_only_signed_steps_can_be_asked_for(served: Service, awarded_body: dict[str, Any]) -> None:
    """Private methods, use cases that hold a key or make one, other classes: unknown."""
    for service, method in NOT_STEPS:
        step = {**awarded_body["steps"][0], "service": service, "method": method, "args": [],
                "kwargs": {}}  # fmt: skip
        answer = refused(served, {**awarded_body, "steps": [step]}, 400)
        assert answer["error"].startswith("unknown step"), (service, method, answer)


def test_a_registration_cannot_take_a_handle_or_carry_a_key_that_did_not_sign_it(
    served: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two organisations made on a client (refused there before sending, kept): one's
    registration said to be the council's; one's signed by the other's key; one carrying
    the other's key."""
    newcomer = client(served.url, tmp_path, "newcomer")
    first = signed_body(newcomer, monkeypatch, "org", "create", "Newcomer", "--handle", "newcomer")
    second = signed_body(newcomer, monkeypatch, "org", "create", "Other", "--handle", "other")
    keys = newcomer.keys
    (event,) = first["events"]
    (step,) = first["steps"]
    assert (step["service"], step["method"]) == ("Organisations", "register")
    # The council's handle, taken over with the newcomer's key.
    taken = resign(event, keys, org=COUNCIL)
    answer = refused(served, {"steps": [{**step, "org": COUNCIL}], "events": [taken]}, 403)
    assert "already exists" in answer["error"]
    # The newcomer's registration signed with the other's key.
    other_key = envelope(second["events"][0])["key"]
    answer = refused(served, {**first, "events": [resign(event, keys, other_key)]}, 403)
    assert "does not verify" in answer["error"]
    # ... naming the other's key in the step, but its events signed by its own.
    carried = {
        **step,
        "kwargs": {**step["kwargs"], "public_key": second["steps"][0]["kwargs"]["public_key"]},
    }
    answer = refused(served, {"steps": [carried], "events": first["events"]}, 403)
    assert "not signed with its current key" in answer["error"]
    # A registration sent with another step is refused whole.
    answer = refused(served, {"steps": [step, second["steps"][0]],
                              "events": first["events"] + second["events"]}, 400)  # fmt: skip
    assert "on its own" in answer["error"]
    # As signed: recorded (the keys the client made are its own).
    status, _ = post(f"{served.url}/v1/steps", first)
    assert status == 200


def test_a_step_dated_in_the_future_or_with_old_timestamps_is_refused(
    served: Service, awarded_body: dict[str, Any]
) -> None:
    (step,), (event,) = awarded_body["steps"], awarded_body["events"]
    answer = refused(served, {**awarded_body, "steps": [{**step, "on": "2099-01-01"}]}, 403)
    assert "in the future" in answer["error"]
    old = resign(event, served.ledger.keys, timestamp="2020-01-01T00:00:00+00:00")
    answer = refused(served, {**awarded_body, "events": [old]}, 403)
    assert "behind the service's" in answer["error"]
    later = resign(event, served.ledger.keys, timestamp="2099-01-01T00:00:00+00:00",
                   on="2099-01-01")  # fmt: skip
    answer = refused(served, {"steps": [{**step, "on": "2099-01-01"}], "events": [later]}, 403)
    assert "ahead of the service's" in answer["error"]


def test_an_accepted_submission_sent_again_is_not_recorded_twice(
    served: Service, awarded_body: dict[str, Any]
) -> None:
    before = len(event_rows(served.ledger.url))
    status, answer = post(f"{served.url}/v1/steps", awarded_body)
    assert status == 200, answer
    assert len(event_rows(served.ledger.url)) == before + 1
    refused(served, awarded_body, 403, 409)
    refused(served, awarded_body, 403, 409)


def test_inputs_that_smuggle_the_unit_of_work_are_refused(
    served: Service, awarded_body: dict[str, Any]
) -> None:
    (step,) = awarded_body["steps"]
    for kwargs in ({"uow": None}, {"uow": {"commit": True}}):
        answer = refused(served, {**awarded_body, "steps": [{**step, "kwargs": kwargs}]}, 400)
        assert "inputs" in answer["error"]


def test_inputs_the_step_does_not_take_are_a_plain_refusal(
    served: Service, awarded_body: dict[str, Any]
) -> None:
    (step,) = awarded_body["steps"]
    for odd in ({**step, "kwargs": {"bogus": "1"}}, {**step, "kwargs": {"signer": "x"}},
                {**step, "args": [*step["args"], "1", "2", "3", "4", "5", "6"]}):  # fmt: skip
        refused(served, {**awarded_body, "steps": [odd]}, 400)


def test_inputs_of_the_wrong_json_type_are_refused(
    served: Service, awarded_body: dict[str, Any]
) -> None:
    """An object, a list, a float or a boolean where the award takes text."""
    (step,) = awarded_body["steps"]
    for value in ({"a": 1}, ["BAR-1"], 1.5e308, True, None):
        for place in range(len(step["args"])):
            args = [value if i == place else arg for i, arg in enumerate(step["args"])]
            refused(served, {**awarded_body, "steps": [{**step, "args": args}]}, 400)


MALFORMED = [
    pytest.param(b"not json", id="not JSON"),
    pytest.param(b"\xff\xfe\x00", id="not UTF-8"),
    pytest.param(b"", id="empty"),
    pytest.param(b"null", id="null"),
    pytest.param(b"[]", id="a list"),
    pytest.param(b'{"steps": []}', id="no events"),
    pytest.param(b'{"events": []}', id="no steps"),
    pytest.param(b'{"steps": [], "events": []}', id="no step"),
    pytest.param(b'{"steps": "award", "events": []}', id="steps as text"),
    pytest.param(b'{"steps": [1], "events": []}', id="a step as a number"),
    pytest.param(b'{"steps": [{"service": ["Contracting"], "method": "award_package"}], '
                 b'"events": []}', id="a service as a list"),
    pytest.param(b'{"steps": [{"service": "Contracting", "method": "award_package", '
                 b'"org": "../../x", "args": []}], "events": []}', id="a handle with a path"),
    pytest.param(b'{"steps": [{"service": "Contracting", "method": "award_package", '
                 b'"org": "barnet-council", "on": 20250101}], "events": []}', id="a numeric date"),
    pytest.param(b'{"steps": [{"service": "Contracting", "method": "award_package", '
                 b'"org": "barnet-council", "args": {}}], "events": []}', id="args as object"),
    pytest.param(b'{"steps": [{"service": "Contracting", "method": "award_package", '
                 b'"org": "barnet-council"}], "events": ["not base64!"]}', id="not base64"),
    pytest.param(b'{"steps": [{"service": "Contracting", "method": "award_package", '
                 b'"org": "barnet-council"}], "events": [12]}', id="an event as a number"),
    pytest.param(b'{"steps": [{"service": "Contracting", "method": "award_package", '
                 b'"org": "barnet-council"}], "events": ["AAAA"]}', id="a truncated event"),
    pytest.param(b'{"steps": [{"service": "Contracting", "method": "award_package", '
                 b'"org": "barnet-council"}], "events": ["' + base64.b64encode(b"\0" * 64 +
                 b'{"aggregate": "x"}') + b'"]}', id="an event that is no event"),
    pytest.param(b'{"steps": [{"service": "Contracting", "method": "award_package", '
                 b'"org": "barnet-council", "args": [1' + b"0" * 5000 + b']}], "events": []}',
                 id="a 5000-digit number"),
]  # fmt: skip


def test_a_malformed_submission_is_a_plain_refusal(served: Service) -> None:
    for case in MALFORMED:
        (body,) = case.values
        print("malformed:", case.id)  # shown when it fails
        refused(served, body, 400, 403, 409)


def test_an_event_whose_aggregate_is_a_number_is_a_plain_refusal(served: Service) -> None:
    event = base64.b64encode(b"\0" * 64 + b'{"aggregate": 1}').decode()
    step = {"service": "Contracting", "method": "award_package", "org": COUNCIL}
    refused(served, {"steps": [step], "events": [event]}, 400, 403, 409)


def test_too_many_steps_are_refused(served: Service, awarded_body: dict[str, Any]) -> None:
    (step,) = awarded_body["steps"]
    answer = refused(served, {**awarded_body, "steps": [step] * 10_001}, 400)
    assert "from 1 to 10,000 steps" in answer["error"]


def test_deeply_nested_json_is_a_plain_refusal(served: Service) -> None:
    depth = 200_000
    nested = b'{"steps": [{"service": "Contracting", "method": "award_package", ' \
        b'"org": "barnet-council", "args": [' + b"[" * depth + b"]" * depth + b"]}], " \
        b'"events": []}'  # fmt: skip
    refused(served, nested, 400)


def _post_raw(served: Service, length: int, sent: int) -> bytes:
    """POST /v1/steps announcing ``length`` bytes and sending ``sent`` MiB of them; what the
    service answered (it may refuse, and close, before reading it all)."""
    host, port = served.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(b"POST /v1/steps HTTP/1.1\r\nHost: attacker\r\n"
                           b"Content-Type: application/json\r\n"
                           b"Content-Length: %d\r\n\r\n" % length)  # fmt: skip
        try:
            for _ in range(sent):
                connection.sendall(b" " * 2**20)
        except OSError:
            pass  # refused and closed while sending: read what it said
        connection.settimeout(5)
        try:
            return connection.recv(4096)
        except TimeoutError:
            return b"(no answer in 5 s)"
        except OSError as error:
            return repr(error).encode()


def test_a_body_over_the_limit_is_refused(served: Service) -> None:
    answer = _post_raw(served, MAX_BODY + 4, MAX_BODY // 2**20 + 1)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"at most 16 MiB" in answer


def test_a_body_announced_as_huge_is_refused_before_it_is_all_read(served: Service) -> None:
    answer = _post_raw(served, 16 * 2**30, MAX_BODY // 2**20 + 8)  # 24 MiB of 16 GiB
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


# -- a hostile server against the client ----------------------------------------------------


def test_a_checkpoint_for_another_ledger_signed_by_the_log_key_is_caught(
    served: Service, liar: Liar, tmp_path: Path
) -> None:
    """The log key's own name and signature, over another ledger's origin."""
    reader = client(liar.url, tmp_path)
    reader.ok("history", "BAR-1")
    head = parse_checkpoint(get(f"{served.url}/v1/rows?start=999999")["checkpoint"]).checkpoint
    log = served.log_key(head.ledger_id)
    elsewhere = sign_checkpoint(Checkpoint(uuid4(), head.size, head.root), log.name,
                                log.public_key, log._key.sign).text()  # fmt: skip
    liar.rewrite = lambda path, answer: (
        {**answer, "checkpoint": elsewhere} if "checkpoint" in answer else answer
    )
    evidence = security_error(reader.run("history", "BAR-1"))
    assert "not signed by the pinned log key" in evidence.read_text()


def test_a_log_that_later_names_another_ledger_is_caught(
    served: Service, liar: Liar, tmp_path: Path
) -> None:
    """After pinning, the service says it is another ledger, with the log key named for
    it, and signs every checkpoint for that ledger."""
    reader = client(liar.url, tmp_path)
    reader.ok("history", "BAR-1")
    other = uuid4()
    fake = LogKey(other, served.log_keys, PASSPHRASE)  # the same key, named for another ledger
    liar.rewrite = _claiming(other, fake)
    served.ledger.ok(*package("BAR-2"))
    evidence = security_error(reader.run("history", "BAR-2"))
    assert "not signed by the pinned log key" in evidence.read_text()


def _claiming(other: Any, fake: LogKey) -> Any:
    def rewrite(path: str, answer: dict[str, Any]) -> dict[str, Any]:
        if path.startswith("/v1/log"):
            return {**answer, "ledger": str(other), "origin": f"{ORIGIN_PREFIX}{other}",
                    "log_key": fake.verifier_key}  # fmt: skip
        if "checkpoint" in answer:
            head = parse_checkpoint(answer["checkpoint"]).checkpoint
            return {**answer, "checkpoint": fake.sign(TreeHead(head.size, head.root, 0))}
        return answer

    return rewrite


def test_rows_of_another_ledger_under_this_ledgers_id_are_caught(
    served: Service, liar: Liar, tmp_path: Path
) -> None:
    other = uuid4()
    liar.rewrite = _claiming(other, LogKey(other, served.log_keys, PASSPHRASE))
    result = client(liar.url, tmp_path).run("history", "BAR-1")
    assert result.exit_code == 1, result.stdout
    assert result.stderr.startswith("Error: SECURITY: "), result.stderr
    assert result.stderr.count("\n") == 1


@contextmanager
def another_ledger(ledgers: LedgerStore, tmp_path: Path) -> Iterator[Service]:
    """A second ledger like ``served``'s (same handles, its own keys), one package larger."""
    ledger = CliLedger(ledgers.url("other"), tmp_path / "other-keys", CliRunner())
    ledger.ok("init", "--name", "Other")
    for name, handle in (("Barnet Council", COUNCIL), ("Northgate", PRIME),
                         ("Hope Trust", CHARITY)):  # fmt: skip
        ledger.ok("org", "create", name, "--handle", handle)
    for reference in ("BAR-1", "BAR-2", "BAR-3"):
        ledger.ok(*package(reference))
    with running(ledger, tmp_path / "other-log-keys") as service:
        yield service


def test_rows_of_another_ledger_after_pinning_are_caught(
    served: Service, liar: Liar, tmp_path: Path, ledgers: LedgerStore
) -> None:
    """The reader verified this ledger; the service then serves another ledger's rows,
    with checkpoints over them signed by this ledger's log key for this ledger."""
    reader = client(liar.url, tmp_path)
    reader.ok("history", "BAR-1")
    head = parse_checkpoint(get(f"{served.url}/v1/rows?start=999999")["checkpoint"]).checkpoint
    log = served.log_key(head.ledger_id)
    with another_ledger(ledgers, tmp_path) as other:

        def rewrite(path: str, answer: dict[str, Any]) -> dict[str, Any]:
            if not path.startswith(("/v1/rows", "/v1/records")):
                return answer
            theirs = get(f"{other.url}{path}")
            head = parse_checkpoint(theirs["checkpoint"]).checkpoint
            return {**theirs, "checkpoint": log.sign(TreeHead(head.size, head.root, 0))}

        liar.rewrite = rewrite
        security_error(reader.run("history", "BAR-1"))


def test_a_record_served_with_another_records_rows_is_caught(
    served: Service, liar: Liar, tmp_path: Path
) -> None:
    """Asked for BAR-1's record on the way to awarding it, the service answers BAR-2's
    rows labelled as BAR-1's: the award is refused on the client, nothing is sent."""
    served.ledger.ok(*package("BAR-2"))
    remote = with_keys(served, tmp_path)
    remote.url = liar.url
    remote.ok("history", "BAR-1")
    wanted, swapped = package_id("BAR-1"), package_id("BAR-2")

    def rewrite(path: str, answer: dict[str, Any]) -> dict[str, Any]:
        if path == f"/v1/records/{wanted}":
            theirs = get(f"{served.url}/v1/records/{swapped}")
            return {**answer, "rows": [{**row, "aggregate": str(wanted)}
                                       for row in theirs["rows"]]}  # fmt: skip
        return answer

    liar.rewrite = rewrite
    before = event_rows(served.ledger.url)
    one_line_error(remote.run(*AWARD))
    assert event_rows(served.ledger.url) == before
    assert not any(b"/v1/steps" in request for request in liar.received)


def test_a_record_served_without_its_newest_event_is_caught(
    served: Service, liar: Liar, tmp_path: Path
) -> None:
    """The prime's bid, acknowledged by the charity, served without the acknowledgement
    while the council awards: the reader verified it before, so the record is rolled back."""
    remote = with_keys(served, tmp_path)
    remote.url = liar.url
    remote.ok("history", "BAR-1")
    wanted = package_id("BAR-1")
    liar.rewrite = lambda path, answer: (
        {**answer, "rows": answer["rows"][:-1]} if path == f"/v1/records/{wanted}" else answer
    )
    before = event_rows(served.ledger.url)
    error = one_line_error(remote.run(*AWARD))
    assert "rolled back" in error, error
    assert event_rows(served.ledger.url) == before


def test_a_service_that_never_signs_a_current_head_is_caught(
    served: Service, liar: Liar, tmp_path: Path
) -> None:
    liar.rewrite = lambda path, answer: {**answer, "current": False}
    result = client(liar.url, tmp_path).run("history", "BAR-1")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: SECURITY: "), result.stderr
    assert "did not sign the log's current head" in result.stderr
    assert result.stderr.count("\n") == 1


def test_positions_a_write_was_not_given_are_caught(
    served: Service, liar: Liar, tmp_path: Path
) -> None:
    remote = with_keys(served, tmp_path)
    remote.url = liar.url
    remote.ok("history", "BAR-1")
    liar.rewrite = lambda path, answer: (
        {**answer, "positions": [p + 1000 for p in answer["positions"]]}
        if path == "/v1/steps" else answer)  # fmt: skip
    one_line_error(remote.run(*AWARD))


def test_a_fork_signed_in_a_writes_answer_is_caught(
    served: Service, liar: Liar, tmp_path: Path
) -> None:
    remote = with_keys(served, tmp_path)
    remote.url = liar.url
    remote.ok("history", "BAR-1")

    def fork(path: str, answer: dict[str, Any]) -> dict[str, Any]:
        if path != "/v1/steps":
            return answer
        head = parse_checkpoint(answer["checkpoint"]).checkpoint
        log = served.log_key(head.ledger_id)
        return {**answer, "checkpoint": log.sign(TreeHead(head.size, bytes(32), 0))}

    liar.rewrite = fork
    # Recorded, but answered with a forged tree of the new size: the client asks for proof
    # that it extends the tree it verified, and stops at once.
    evidence = security_error(remote.run(*AWARD))
    assert "forked: a larger tree that does not extend the one verified" in evidence.read_text()
    checkpoints = json.loads(evidence.read_text())["checkpoints"]
    assert [parse_checkpoint(c).checkpoint.root == bytes(32) for c in checkpoints] == [False, True]


def test_an_answer_whose_position_is_no_number_is_a_plain_error(
    served: Service, liar: Liar, tmp_path: Path
) -> None:
    """Where the log ends, as a record's answer says it (a step's client takes it from there
    while it uses the records it read) and as /health says it (before it read any)."""
    remote = with_keys(served, tmp_path)
    remote.url = liar.url
    liar.rewrite = lambda path, answer: (
        {**answer, "position": "many"} if path.startswith(("/health", "/v1/records/"))
        else answer
    )  # fmt: skip
    before = event_rows(served.ledger.url)
    assert "where its log ends" in one_line_error(remote.run(*AWARD))
    assert event_rows(served.ledger.url) == before
    store = remote_store.RemoteEventStore(liar.url, tmp_path / "store-state")
    with pytest.raises(LedgerUnavailable, match="gave no position"):
        store.max_position()


def test_an_answer_too_large_is_a_plain_error(served: Service, liar: Liar, tmp_path: Path) -> None:
    padding = "x" * (remote_store.MAX_ANSWER + 1)
    liar.rewrite = lambda path, answer: {**answer, "padding": padding}
    error = one_line_error(client(liar.url, tmp_path).run("history", "BAR-1"))
    assert "answered too much" in error


class Fixed:
    """A server that answers every request with the same bytes (200, JSON)."""

    def __init__(self, answer: bytes) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@contextmanager
def answering(answer: bytes) -> Iterator[str]:
    fixed = Fixed(answer)
    try:
        yield fixed.url
    finally:
        fixed.server.shutdown()
        fixed.server.server_close()


@pytest.mark.parametrize("answer", [
    pytest.param(b"[1, 2]", id="a list"),
    pytest.param(b"<html>hello</html>", id="HTML"),
    pytest.param(b'{"ledger": "not-a-uuid", "log_key": "x"}', id="no ledger id"),
    pytest.param(b'{"ledger": ["a"], "log_key": {"b": 1}}', id="odd types"),
])  # fmt: skip
def test_a_first_contact_that_is_no_chainledger_service_is_a_plain_error(
    tmp_path: Path, answer: bytes
) -> None:
    with answering(answer) as url:
        error = one_line_error(client(url, tmp_path).run("history", "BAR-1"))
    assert url in error, error
    assert not (tmp_path / "client-state" / "services").exists() or not list(
        (tmp_path / "client-state" / "services").glob("*.json")
    )  # nothing pinned


def test_a_deeply_nested_answer_is_a_plain_error(tmp_path: Path) -> None:
    depth = 200_000
    with answering(b"[" * depth + b"]" * depth) as url:
        error = one_line_error(client(url, tmp_path).run("history", "BAR-1"))
    assert url in error, error
