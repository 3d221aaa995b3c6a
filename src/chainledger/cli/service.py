"""``chainledger serve``."""

from __future__ import annotations

from pathlib import Path

import click

from chainledger.cli.options import WholeNumber
from chainledger.cli.runtime import Runtime


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (behind a TLS-terminating proxy in production).")  # fmt: skip
@click.option("--port", default=8080, show_default=True, type=WholeNumber(0, 65535),
              help="Port to listen on (0: any free port, printed at start).")  # fmt: skip
@click.option("--log-keys", type=click.Path(file_okay=False, path_type=Path), default=None,
              metavar="DIR", help="Directory of the service's log key [default: KEYS/log].")  # fmt: skip
@click.option("--workers", default=1, show_default=True, type=WholeNumber(1, 64),
              help="Processes serving at once (PostgreSQL only; they share the port).")  # fmt: skip
@click.pass_obj
def serve(runtime: Runtime, host: str, port: int, log_keys: Path | None, workers: int) -> None:
    """Serve the ledger (--ledger: an SQLite file or a PostgreSQL URL) over HTTP.

    The service holds the database; organisations reach it with
    --ledger http(s)://HOST:PORT and sign on their own machines. Every answer about
    the log comes with a checkpoint signed by the service's log key, made on the
    first start in KEYS/log (encrypted with the passphrase, as organisations' keys
    are). Clients keep the newest checkpoint they verified and stop with
    "SECURITY: …" if the service ever contradicts it.

    \b
    Every connection to PostgreSQL gives up waiting for a lock after 5 s and on
    any statement after 30 s, so a stuck transaction cannot hang every writer.
    Logs go to stderr as JSON lines; GET /openapi.json describes the endpoints.

    \b
    Example:
      chainledger --ledger postgresql+psycopg://chainledger@db/barnet serve --port 8080
    """
    import uvicorn

    from chainledger.adapters.remote_store import is_remote
    from chainledger.service.app import create_app
    from chainledger.service.log import LogKey
    from chainledger.service.logs import LOG_CONFIG

    if is_remote(runtime.ledger):
        raise click.UsageError("serve a database (an SQLite file or a PostgreSQL URL), not "
                               "another service")  # fmt: skip
    app = runtime.app()
    ledger_id = app.ledger_id  # refuses a database that holds no ledger
    directory = log_keys or runtime.keys / "log"
    passphrase = runtime.passphrase("the service's log key")
    log = LogKey(ledger_id, directory, passphrase)
    if log.created:
        click.echo(f"Made the log key in {directory}")
    if workers > 1:
        _serve_workers(runtime, host, port, workers, directory, passphrase, ledger_id, log)
        return
    app.core.store.limit_waits()
    from chainledger.service.listener import tcp_listener

    try:
        listener = tcp_listener(host, port, 2048)
    except OSError as error:
        raise click.ClickException(f"cannot listen on {host}:{port}: {error.strerror}") from None
    bound = listener.getsockname()[1]
    click.echo(f"Serving ledger {ledger_id} at http://{host}:{bound}")
    click.echo(f"Log key: {log.verifier_key}")
    click.echo(f"Log key fingerprint (verify-proof --signer): {log.key_id}")
    config = uvicorn.Config(create_app(app, log), log_config=LOG_CONFIG, access_log=True,
                            timeout_graceful_shutdown=10, limit_concurrency=256)  # fmt: skip
    uvicorn.Server(config).run(sockets=[listener])


def _serve_workers(runtime: Runtime, host: str, port: int, workers: int, directory: Path,
                   passphrase: str, ledger_id: object, log: object) -> None:  # fmt: skip
    """Several processes, each with its own connections (PostgreSQL: SQLite has one writer)."""
    import os

    import uvicorn

    from chainledger.adapters.local_store import default_state_dir
    from chainledger.service.logs import LOG_CONFIG

    if not runtime.ledger.startswith("postgresql"):
        raise click.UsageError("--workers needs a PostgreSQL ledger (SQLite has one writer)")
    if port == 0:
        raise click.UsageError("--workers needs a --port to share")
    os.environ.update(CHAINLEDGER_LEDGER=runtime.ledger, CHAINLEDGER_KEYS=str(runtime.keys),
                      CHAINLEDGER_STATE=str(runtime.state or default_state_dir()),
                      CHAINLEDGER_LOG_KEYS=str(directory), CHAINLEDGER_PASSPHRASE=passphrase)  # fmt: skip
    click.echo(f"Serving ledger {ledger_id} at http://{host}:{port} with {workers} workers")
    click.echo(f"Log key: {log.verifier_key}")  # type: ignore[attr-defined]
    uvicorn.run("chainledger.service.app:from_environment", factory=True, host=host, port=port,
                workers=workers, log_config=LOG_CONFIG, timeout_graceful_shutdown=10)  # fmt: skip
