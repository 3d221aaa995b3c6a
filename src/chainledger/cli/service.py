"""``chainledger serve``."""

from __future__ import annotations

import socket
from pathlib import Path

import click

from chainledger.cli.runtime import Runtime


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (behind a TLS-terminating proxy in production).")  # fmt: skip
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0: any free port, printed at start).")  # fmt: skip
@click.option("--log-keys", type=click.Path(file_okay=False, path_type=Path), default=None,
              metavar="DIR", help="Directory of the service's log key [default: KEYS/log].")  # fmt: skip
@click.pass_obj
def serve(runtime: Runtime, host: str, port: int, log_keys: Path | None) -> None:
    """Serve the ledger (--ledger: an SQLite file or a PostgreSQL URL) over HTTP.

    The service holds the database; organisations reach it with
    --ledger http(s)://HOST:PORT and sign on their own machines. Every answer about
    the log comes with a checkpoint signed by the service's log key, made on the
    first start in KEYS/log (encrypted with the passphrase, as organisations' keys
    are). Clients keep the newest checkpoint they verified and stop with
    "SECURITY: …" if the service ever contradicts it.

    \b
    Example:
      chainledger --ledger postgresql+psycopg://chainledger@db/barnet serve --port 8080
    """
    import uvicorn

    from chainledger.adapters.remote_store import is_remote
    from chainledger.service.app import create_app
    from chainledger.service.log import LogKey

    if is_remote(runtime.ledger):
        raise click.UsageError("serve a database (an SQLite file or a PostgreSQL URL), not "
                               "another service")  # fmt: skip
    app = runtime.app()
    ledger_id = app.ledger_id  # refuses a database that holds no ledger
    directory = log_keys or runtime.keys / "log"
    log = LogKey(ledger_id, directory, runtime.passphrase("the service's log key"))
    if log.created:
        click.echo(f"Made the log key in {directory}")
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
        listener.listen(2048)  # connections wait in the queue until the server takes them
    except OSError as error:
        raise click.ClickException(f"cannot listen on {host}:{port}: {error.strerror}") from None
    bound = listener.getsockname()[1]
    click.echo(f"Serving ledger {ledger_id} at http://{host}:{bound}")
    click.echo(f"Log key: {log.verifier_key}", nl=True)
    config = uvicorn.Config(create_app(app, log), log_level="info", access_log=True,
                            timeout_graceful_shutdown=10)  # fmt: skip
    uvicorn.Server(config).run(sockets=[listener])
