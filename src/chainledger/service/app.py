"""The service's HTTP interface (an ASGI app on Starlette).

Reading the log (version 1):

- ``GET /health``: the service is up; the ledger's id and how many events it holds.
- ``GET /v1/log``: the ledger's id, the checkpoints' origin and the log's verifier key.
- ``GET /v1/rows?start=N&limit=M``: the stored rows from notification id ``N`` on (at
  most ``M``, at most ``MAX_ROWS``), each ``{id, aggregate, version, topic, state}``
  (``state`` in base64: the signature and the signed content, exactly as stored), with
  ``checkpoint``: the log-signed tree head whose last event is the last row given (the
  current head when no row is given), and ``current``: whether that is the current head.
- ``GET /v1/records/{aggregate id}``: every row of one record, with the current head.

The Merkle tree (version 1), for checkpoints and proofs the client checks against the
tree it verified itself:

- ``GET /v1/tree/{read}?args=[...]``: one of the tree's reads (``TREE_READS``) with its
  arguments as a JSON list; bytes come back in base64.

Recording (version 1):

- ``POST /v1/steps`` with ``{"steps": [...], "events": [...]}``: use-case steps a client
  ran and signed on its own machine, with the events it made (base64, as stored). The
  service runs the steps again on its own records and records the events only if they
  are exactly what the steps make here (``application.submissions``). It answers with
  each event's position and the new checkpoint; 409 when the ledger changed meanwhile
  (the client reads afresh and signs again), 4xx with the refusal otherwise.

Events imported from other ledgers (version 1):

- ``POST /v1/imports`` with a bundle (``chainledger export``): the service checks it as
  ``chainledger import`` does on a ledger's own machine and keeps its new events apart
  from the ledger's own; it answers with how many were new.
- ``GET /v1/imported``: every ledger events were imported from and every event held,
  which the client checks again before it shows any.

A client trusts none of it: it verifies every row, computes the tree itself and compares
it with the signed checkpoint (``adapters.remote_store``).
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from pathlib import Path
from typing import Any
from uuid import UUID

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from chainledger.adapters import merkle_store
from chainledger.adapters.locations import StoredRow
from chainledger.application.submissions import Step, Submissions
from chainledger.bootstrap import ChainLedger
from chainledger.domain.checkpoint import ORIGIN_PREFIX
from chainledger.errors import (
    ChainledgerError,
    Conflict,
    InvalidValue,
    KeyProblem,
    NotFound,
    ProofFailed,
    Refused,
    TamperError,
)
from chainledger.service.log import LogKey

MAX_ROWS = 5000
# The tree's reads a client may ask for, and how many arguments each takes.
TREE_READS = {"stored_size": 0, "root_at": 1, "leaf_of": 1, "prove_inclusion": 2,
              "prove_inclusions": 2, "leaf_indexes": 1, "prove_consistency": 2, "head_at": 1}  # fmt: skip
MAX_LIST = 10_000
MAX_BODY = 16 * 1024 * 1024  # bytes of one submission
STATUS = {Conflict: 409, InvalidValue: 400, NotFound: 404, Refused: 403, KeyProblem: 403,
          TamperError: 409, ProofFailed: 403}  # fmt: skip
access_log = logging.getLogger("chainledger.service")


def row_json(row: StoredRow) -> dict[str, Any]:
    return {"id": row.id, "aggregate": str(row.originator_id), "version": row.originator_version,
            "topic": row.topic, "state": base64.b64encode(row.state).decode("ascii")}  # fmt: skip


def _wire(value: Any) -> Any:
    """A tree read's result as JSON: bytes in base64, tuples and dataclasses as lists."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, merkle_store.TreeHead):
        return [value.size, _wire(value.root), value.position]
    if isinstance(value, dict):
        return [[k, _wire(v)] for k, v in value.items()]
    if isinstance(value, list | tuple):
        return [_wire(v) for v in value]
    return value


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _refusal(error: ChainledgerError) -> JSONResponse:
    status = next((code for kind, code in STATUS.items() if isinstance(error, kind)), 503)
    return _error(status, str(error))


async def _body(request: Request) -> bytes | JSONResponse:
    """The request's body, or the refusal if it is larger than ``MAX_BODY`` (never more
    than that is held)."""
    too_large = _error(413, f"a submission holds at most {MAX_BODY // 2**20} MiB")
    announced = request.headers.get("content-length", "")
    if announced.isdigit() and int(announced) > MAX_BODY:
        return too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            return too_large
    return bytes(body)


def _integer(request: Request, name: str, default: int, low: int, high: int) -> int:
    text = request.query_params.get(name)
    if text is None:
        return default
    if not text.isascii() or not text.isdigit() or len(text) > 19:
        raise ValueError(f"{name} must be a whole number")
    value = int(text)
    if not low <= value <= high:
        raise ValueError(f"{name} must be from {low} to {high}")
    return value


def _answer(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


# fmt: off
_ROWS = {"type": "object", "required": ["checkpoint", "position", "rows"], "properties": {
    "checkpoint": {"type": "string", "description": "C2SP signed note by the log key"},
    "position": {"type": "integer", "description": "notification id of its last event"},
    "rows": {"type": "array", "items": {"type": "object", "properties": {
        "id": {"type": "integer"}, "aggregate": {"type": "string", "format": "uuid"},
        "version": {"type": "integer"}, "topic": {"type": "string"},
        "state": {"type": "string", "format": "byte"}}}}}}  # fmt: skip
_ERROR = {"type": "object", "properties": {"error": {"type": "string"}}}
OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "chainledger service", "version": "1",
             "description": "A signed supply-chain ledger. Clients verify everything: "
                            "see README, 'The ledger as a service'."},
    "paths": {
        "/health": {"get": {"summary": "The service is up", "responses": {"200": _answer(
            "The ledger's id and size", {"type": "object"})}}},
        "/v1/log": {"get": {"summary": "The ledger and the log's verifier key", "responses": {
            "200": _answer("ledger, origin, log_key", {"type": "object"})}}},
        "/v1/rows": {"get": {
            "summary": "Stored rows from a position, with the log-signed checkpoint ending there",
            "parameters": [
                {"name": "start", "in": "query", "schema": {"type": "integer", "minimum": 1}},
                {"name": "limit", "in": "query",
                 "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ROWS}}],
            "responses": {"200": _answer("rows", _ROWS), "400": _answer("refused", _ERROR)}}},
        "/v1/records/{aggregate}": {"get": {
            "summary": "Every row of one record, with the current checkpoint",
            "parameters": [{"name": "aggregate", "in": "path", "required": True,
                            "schema": {"type": "string", "format": "uuid"}}],
            "responses": {"200": _answer("rows", _ROWS)}}},
        "/v1/tree/{read}": {"get": {
            "summary": "One read of the Merkle tree: " + ", ".join(TREE_READS),
            "parameters": [{"name": "read", "in": "path", "required": True,
                            "schema": {"type": "string"}},
                           {"name": "args", "in": "query", "schema": {"type": "string"}}],
            "responses": {"200": _answer("the result, bytes in base64", {"type": "object"})}}},
        "/v1/steps": {"post": {
            "summary": "Steps signed by a client, run again here and recorded exactly as signed",
            "requestBody": {"content": {"application/json": {"schema": {
                "type": "object", "required": ["steps", "events"], "properties": {
                    "steps": {"type": "array", "items": {"type": "object"}},
                    "events": {"type": "array", "items": {"type": "string", "format": "byte"}},
                }}}}},
            "responses": {
                "200": _answer("positions and the new checkpoint", {"type": "object"}),
                "400": _answer("malformed", _ERROR), "403": _answer("refused by a rule", _ERROR),
                "409": _answer("the ledger changed since the client read it", _ERROR),
                "413": _answer("too large", _ERROR)}}},
        "/v1/imports": {"post": {
            "summary": "A bundle exported from another ledger, checked and kept apart",
            "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}},
            "responses": {
                "200": _answer("ledger, package, events, new", {"type": "object"}),
                "400": _answer("malformed", _ERROR), "403": _answer("refused", _ERROR),
                "413": _answer("too large", _ERROR)}}},
        "/v1/imported": {"get": {
            "summary": "Every event imported from other ledgers (the client checks each)",
            "responses": {"200": _answer("ledgers and events", {"type": "object"})}}},
    },
}
# fmt: on


def from_environment() -> Starlette:
    """The app for one of several worker processes (``serve --workers``), configured by the
    environment ``serve`` sets: the ledger, the keys and state directories, the log key's
    directory and its passphrase."""
    import os

    from chainledger.bootstrap import open_ledger

    ledger = open_ledger(os.environ["CHAINLEDGER_LEDGER"], Path(os.environ["CHAINLEDGER_KEYS"]),
                         state=Path(os.environ["CHAINLEDGER_STATE"]))  # fmt: skip
    ledger.core.store.limit_waits()
    log = LogKey(ledger.ledger_id, Path(os.environ["CHAINLEDGER_LOG_KEYS"]),
                 os.environ["CHAINLEDGER_PASSPHRASE"])  # fmt: skip
    return create_app(ledger, log)


def create_app(ledger: ChainLedger, log: LogKey) -> Starlette:
    """The service over ``ledger`` (on its database), signing checkpoints with ``log``."""
    ledger_id = str(log.ledger_id)
    store = ledger.core.store
    submissions = Submissions(ledger.core, {"Contracting": ledger.contracting,
                                            "Organisations": ledger.orgs,
                                            "Reviews": ledger.reviews})
    writing = threading.Lock()  # one submission at a time: the application is not shared
    # The current head as this process last read and signed it, by (size, last position):
    # the tree only grows, so a head row saying the same size and position is the same tree
    # (reading its right edge and signing it again cost more than the rest of a read).
    newest: list[tuple[tuple[int, int], merkle_store.TreeHead, str]] = []

    def current_head(session: Any) -> tuple[merkle_store.TreeHead, str]:
        stored = merkle_store.stored_size(session)
        known = newest[-1] if newest else None
        if known is not None and known[0] == stored:
            return known[1], known[2]
        head = merkle_store.read_head(session)
        signed = log.sign(head)
        newest[:] = [((head.size, head.position), head, signed)]
        return head, signed

    def health(request: Request) -> JSONResponse:
        with store.transaction() as session:
            head, _ = current_head(session)
        return JSONResponse({"status": "ok", "ledger": ledger_id, "events": head.size,
                             "position": head.position})  # fmt: skip

    def describe_log(request: Request) -> JSONResponse:
        return JSONResponse({"ledger": ledger_id, "origin": f"{ORIGIN_PREFIX}{ledger_id}",
                             "log_key": log.verifier_key})  # fmt: skip

    def rows(request: Request) -> JSONResponse:
        try:
            start = _integer(request, "start", 1, 1, 2**63 - 1)
            limit = _integer(request, "limit", 1000, 1, MAX_ROWS)
        except ValueError as error:
            return _error(400, str(error))
        with store.transaction() as session:
            found = store.rows.notifications(session, start, limit)
            current, signed = current_head(session)
            if found and found[-1].id != current.position:
                head = merkle_store.head_at(session, found[-1].id)
                signed = log.sign(head)
            else:
                head = current
        return JSONResponse({"checkpoint": signed, "position": head.position,
                             "current": head == current,
                             "rows": [row_json(r) for r in found]})  # fmt: skip

    def one_record(request: Request) -> JSONResponse:
        try:
            aggregate = UUID(request.path_params["aggregate"])
        except ValueError:
            return _error(400, "a record id is a UUID")
        with store.transaction() as session:
            head, signed = current_head(session)
            found = store.rows.rows_of(session, [aggregate])
        return JSONResponse({"checkpoint": signed, "position": head.position,
                             "current": True,
                             "rows": [row_json(r) for r in found if r.id <= head.position]})  # fmt: skip

    async def steps(request: Request) -> JSONResponse:
        body = await _body(request)
        if isinstance(body, JSONResponse):
            return body
        try:
            value = json.loads(body)
            parsed = [Step.parse(step) for step in value["steps"]]
            stored = [base64.b64decode(state, validate=True) for state in value["events"]]
        except (ValueError, KeyError, TypeError, RecursionError) as error:
            reason = "too deeply nested" if isinstance(error, RecursionError) else error
            return _error(400, f"a submission is steps and events in JSON ({reason})")
        except InvalidValue as error:
            return _error(400, str(error))
        return await run_in_threadpool(record, parsed, stored)

    def record(parsed: list[Step], stored: list[bytes]) -> JSONResponse:
        try:
            with writing:
                written = submissions.submit(parsed, stored)
        except ChainledgerError as error:
            return _refusal(error)
        with store.transaction() as session:
            head, signed = current_head(session)
        access_log.info("recorded %d event(s) of %s", len(written),
                        ", ".join(sorted({s.org for s in parsed})))  # fmt: skip
        return JSONResponse({"positions": [e.notification_id for e in written],
                             "checkpoint": signed, "position": head.position,
                             "current": True})  # fmt: skip

    async def imports(request: Request) -> JSONResponse:
        body = await _body(request)
        if isinstance(body, JSONResponse):
            return body
        try:
            document = json.loads(body)
        except (ValueError, RecursionError):
            return _error(400, "a bundle is a JSON document (chainledger export)")
        if not isinstance(document, dict):
            return _error(400, "a bundle is a JSON document (chainledger export)")
        return await run_in_threadpool(keep, document)

    def keep(document: dict[str, Any]) -> JSONResponse:
        try:
            with writing:
                done = ledger.import_bundle(document)
        except ChainledgerError as error:
            return _refusal(error)
        access_log.info("imported %d new event(s) of package %s from ledger %s", done.new,
                        done.package, done.ledger_id)  # fmt: skip
        return JSONResponse({"ledger": done.ledger_id, "package": done.package,
                             "events": done.events, "new": done.new})  # fmt: skip

    def imported(request: Request) -> JSONResponse:
        held = ledger.core.store.imported
        ledgers = held.ledgers()
        return JSONResponse({  # (the client counts the events of each ledger itself)
            "ledgers": [{"ledger_id": h.ledger_id, "name": h.name, "size": h.size,
                         "root": _wire(h.root), "checkpoint": h.checkpoint, "signer": h.signer,
                         "updated_at": h.updated_at}
                        for h, _, _ in ledgers],
            "events": [{"ledger_id": e.ledger_id, "position": e.position,
                        "aggregate_id": e.aggregate_id, "version": e.version, "topic": e.topic,
                        "state": _wire(e.state), "package": e.package}
                       for h, _, _ in ledgers for e in held.all_events(h.ledger_id)],
        })  # fmt: skip

    async def failures(request: Request, error: Exception) -> JSONResponse:
        if isinstance(error, ChainledgerError):
            return _error(503, str(error))
        access_log.exception("unexpected failure on %s", request.url.path)
        return _error(500, "the service failed; its log says why")

    def tree(request: Request) -> JSONResponse:
        read = request.path_params["read"]
        try:
            args = json.loads(request.query_params.get("args", "[]"))
            if read not in TREE_READS or not isinstance(args, list) or len(args) != TREE_READS[read]:
                raise ValueError(f"unknown read {read!r} or wrong arguments")
            for arg in args:
                if isinstance(arg, list):
                    if len(arg) > MAX_LIST or not all(type(a) is int for a in arg):
                        raise ValueError("a list of at most 10,000 whole numbers")
                elif type(arg) is not int or not 0 <= arg < 2**63:
                    raise ValueError("arguments are whole numbers")
        except ValueError as error:
            return _error(400, str(error))
        try:
            with store.transaction() as session:
                result = getattr(merkle_store, read)(session, *args)
        except ChainledgerError as error:
            return _error(404, str(error))
        return JSONResponse({"result": _wire(result)})

    def openapi(request: Request) -> JSONResponse:
        return JSONResponse(OPENAPI)

    return Starlette(
        routes=[
            Route("/openapi.json", openapi),
            Route("/health", health),
            Route("/v1/log", describe_log),
            Route("/v1/rows", rows),
            Route("/v1/records/{aggregate}", one_record),
            Route("/v1/steps", steps, methods=["POST"]),
            Route("/v1/tree/{read}", tree),
            Route("/v1/imports", imports, methods=["POST"]),
            Route("/v1/imported", imported),
        ],
        exception_handlers={Exception: failures},
    )
