"""``chainledger checkpoint``, ``prove`` and ``verify-proof``: the tamper-evident log."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import click

from chainledger.cli.render import write_output
from chainledger.cli.runtime import Runtime
from chainledger.errors import InvalidValue, NotFound

_EVENT = re.compile(r"^#?([1-9][0-9]{0,18})\Z")
_SIZE = re.compile(r"^[1-9][0-9]{0,18}\Z")
MAX_EVENT_ID = 2**63 - 1  # notification ids are 64-bit signed integers


def _read(path: str, what: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or "not UTF-8 text"
        raise click.ClickException(f"cannot read {what} {path}: {reason}") from None


def read_checkpoint(path: str) -> Any:
    from chainledger.domain.checkpoint import parse_checkpoint

    try:
        return parse_checkpoint(_read(path, "checkpoint"))
    except InvalidValue as error:
        raise InvalidValue(f"{path}: {error}") from None


_OUTPUT = click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file instead of standard output.",
)  # fmt: skip


@click.command()
@click.option(
    "--as", "handle", required=True, metavar="HANDLE", help="The organisation that signs it."
)
@_OUTPUT
@click.pass_obj
def checkpoint(runtime: Runtime, handle: str, output: Path | None) -> None:
    """Sign the ledger's current tree head: its id, its number of events and its Merkle root.

    Only what you have verified is signed: every event since your last checkpoint
    is verified first (signature, key, hash chain), and a row that does not verify
    refuses the checkpoint. Keep the file. Later, `chainledger audit verify --checkpoint FILE` proves the
    ledger still holds exactly those events, in that order, and only added to
    them: nothing removed, reordered or rewritten, even by whoever runs the database.
    The format is a C2SP signed note (c2sp.org/tlog-checkpoint).
    """
    app = runtime.app()
    _, verified = app.keep_checkpoint(
        runtime.signer(handle),
        lambda signed: write_output(
            signed.text(), output, f"a checkpoint of {signed.checkpoint.size} events"
        ),
    )
    click.echo(f"Checked before signing: {verified}.", err=True)


def _size_or_checkpoint(runtime: Runtime, value: str, what: str) -> tuple[int, Any]:
    """A tree size given as a number, or as a checkpoint file this ledger must extend."""
    if _SIZE.match(value):
        if int(value) > MAX_EVENT_ID:
            raise InvalidValue(f"{what} is more events than any ledger holds")
        return int(value), None
    if value.isdigit() or value.startswith("-"):
        raise InvalidValue(f"{what} must be a number of events (1 or more) or a checkpoint file")
    signed = read_checkpoint(value)
    runtime.app().checkpoint_signer(signed)
    return signed.checkpoint.size, signed


@click.command()
@click.argument("event", required=False, metavar="EVENT_ID")
@click.option("--consistency", nargs=2, metavar="OLD NEW",
              help="Instead of an event: prove the ledger at NEW extends the ledger at OLD "
              "(each a number of events or a checkpoint file).")  # fmt: skip
@click.option("--as", "handle", required=True, metavar="HANDLE",
              help="The organisation that signs the checkpoint inside the proof.")  # fmt: skip
@_OUTPUT
@click.pass_obj
def prove(
    runtime: Runtime,
    event: str | None,
    consistency: tuple[str, str] | None,
    handle: str,
    output: Path | None,
) -> None:
    """Write a proof bundle that anyone can check offline with `chainledger verify-proof`.

    \b
    chainledger prove 42 --as hope-trust -o ack.proof
        event #42 (as printed by "Recorded #42 …"), its signature and signer's
        key, its audit path, and a checkpoint signed by hope-trust
    chainledger prove --consistency old.checkpoint 5000 --as barnet-council
        the ledger of 5000 events extends the one in old.checkpoint
    """
    if (event is None) == (consistency is None):
        raise click.UsageError("give an EVENT_ID or --consistency OLD NEW (one of the two)")
    app = runtime.app()
    if event is not None:
        match = _EVENT.match(event.strip())
        if match is None:
            raise InvalidValue(f"an event id is a number like 42 or #42, not {event[:40]!r}")
        notification_id = int(match.group(1))
        if notification_id > MAX_EVENT_ID:
            raise NotFound(f"no event #{notification_id} in this ledger")
        signer = runtime.signer(handle)
        bundle = app.inclusion_bundle(notification_id, signer)
        what = f"a proof of event #{match.group(1)}"
    else:
        assert consistency is not None
        old_size, old = _size_or_checkpoint(runtime, consistency[0], "OLD")
        new_size, new = _size_or_checkpoint(runtime, consistency[1], "NEW")
        expected = [(c.checkpoint.size, c.checkpoint.root) for c in (old, new) if c is not None]
        signer = runtime.signer(handle)
        bundle = app.consistency_bundle(
            old_size, signer, new_size=new_size, expected=expected, old_checkpoint=old
        )
        what = f"a proof that {new_size} events extend {old_size}"
    write_output(json.dumps(bundle, indent=2) + "\n", output, what)


@click.command("verify-proof")
@click.argument("file", metavar="FILE")
@click.option("--signer", required=True, metavar="FINGERPRINT",
              help="The key you trust to have signed the checkpoint (as `org show` prints it).")  # fmt: skip
def verify_proof(file: str, signer: str) -> None:
    """Check a proof bundle offline: no ledger and no network, only the file.

    Exit status 0 and "OK: …" when it proves what it says; 1 and the reason otherwise.
    """
    from chainledger.application.proofs import load_bundle, verify_bundle

    if not re.fullmatch(r"[0-9a-fA-F]{64}", signer.strip()):
        raise InvalidValue("--signer is a key fingerprint: 64 hexadecimal characters")
    verified = verify_bundle(load_bundle(_read(file, "proof bundle")), signer)
    for line in verified.lines:
        click.echo(line)
