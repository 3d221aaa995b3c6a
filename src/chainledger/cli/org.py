"""``chainledger org``: organisations and their signing keys."""

from __future__ import annotations

import click

from chainledger.cli.main import Runtime
from chainledger.cli.render import format_option, render

ROLES = ("commissioner", "prime", "subcontractor")
SECTORS = ("vcs", "private", "public")
SIZES = ("micro", "small", "medium", "large")


@click.group()
def org() -> None:
    """Register organisations and manage their signing keys."""


@org.command("create")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True, help="Part it plays.")
@click.option("--sector", type=click.Choice(SECTORS), help="Voluntary sector, private or public.")
@click.option("--size", type=click.Choice(SIZES), help="Size band.")
@click.option("--identifier", metavar="SCHEME-ID", help="Org identifier, e.g. GB-CHC-1089464.")
@click.option("--handle", help="Short handle for --as; default: a slug of NAME.")
@click.pass_obj
def create(
    runtime: Runtime,
    name: str,
    role: str,
    sector: str | None,
    size: str | None,
    identifier: str | None,
    handle: str | None,
) -> None:
    """Register organisation NAME with new signing and encryption key pairs.

    The private keys are stored encrypted (mode 0600) in the key directory and
    never enter the ledger; the registration is signed by the new key itself.
    The encryption key (X25519) lets others seal content only NAME can read,
    such as the ratings of a 360 review round it owns.

    \b
    Example:
      chainledger org create "Hope Trust" --role subcontractor --sector vcs --size small
    """
    from chainledger.domain.values import Role, Sector, Size

    app = runtime.app()
    app.ledger_id  # noqa: B018 - refuse a missing ledger before asking for a passphrase
    passphrase = runtime.passphrase(handle or name, confirm=True)
    details = app.create_organisation(
        name,
        Role(role),
        passphrase=passphrase,
        handle=handle,
        sector=Sector(sector) if sector else None,
        size=Size(size) if size else None,
        identifier=identifier,
    )
    click.echo(f"Registered {details.handle} ({details.role}): {details.name}")
    click.echo(f"Key fingerprint: {details.key_id}")
    click.echo(f"Private key: {runtime.keys / (details.key_id + '.key')}")
    click.echo(f"Encryption key: {details.encryption_key_id}")


@org.command("list")
@click.option("--role", type=click.Choice(ROLES), help="Only organisations in this role.")
@format_option()
@click.pass_obj
def list_(runtime: Runtime, role: str | None, fmt: str) -> None:
    """List registered organisations."""
    from chainledger.domain.values import Role

    rows = runtime.app().organisations(Role(role) if role else None)
    click.echo(
        render(
            [
                {
                    "handle": r.handle,
                    "name": r.name,
                    "role": r.role,
                    "sector": r.sector or "",
                    "size": r.size or "",
                    "key": r.key_id[:16] if fmt == "table" else r.key_id,
                }
                for r in rows
            ],
            fmt,
            empty="No organisations yet. Register one with: "
            "chainledger org create NAME --role ROLE",
        )
    )


@org.command("show")
@click.argument("handle")
@format_option()
@click.pass_obj
def show(runtime: Runtime, handle: str, fmt: str) -> None:
    """Show an organisation: role, sector, size and key fingerprints."""
    details = runtime.app().organisation(handle)
    keys = [
        {"key": key_id, "status": status, "from": start, "until": until}
        for key_id, status, start, until in details.keys
    ]
    if fmt != "table":
        record = {
            "handle": details.handle,
            "name": details.name,
            "role": details.role,
            "sector": details.sector,
            "size": details.size,
            "identifier": details.identifier,
            "fingerprint": details.key_id,
            "encryption_key": details.encryption_key_id,
            "keys": keys,
        }
        if fmt == "json":
            click.echo(render([record], "json"))
        else:
            click.echo(render([{k: v for k, v in record.items() if k != "keys"}], "csv"))
        return
    lines = [
        f"handle:      {details.handle}",
        f"name:        {details.name}",
        f"role:        {details.role}",
        f"sector:      {details.sector or '-'}",
        f"size:        {details.size or '-'}",
        f"identifier:  {details.identifier or '-'}",
        f"fingerprint: {details.key_id}",
        f"encryption:  {details.encryption_key_id or '- (none: chainledger org encryption-key)'}",
        "",
        render(keys, "table"),
    ]
    click.echo("\n".join(lines))


@org.command("rotate-key")
@click.argument("handle")
@click.pass_obj
def rotate_key(runtime: Runtime, handle: str) -> None:
    """Replace HANDLE's signing key (routine). Signed by the old key.

    Events signed with the old key before the rotation stay valid; any signed
    with it afterwards are refused. The new key uses the same passphrase.
    """
    app = runtime.app()
    app.organisation(handle)  # refuse an unknown handle before asking for a passphrase
    new_key = app.rotate_key(handle, runtime.passphrase(handle))
    click.echo(f"Rotated {handle}'s key. New fingerprint: {new_key}")


@org.command("revoke-key")
@click.argument("handle")
@click.option("--reason", required=True, help="Why, e.g. 'laptop stolen'. Recorded in the ledger.")
@click.pass_obj
def revoke_key(runtime: Runtime, handle: str, reason: str) -> None:
    """Revoke HANDLE's current key as compromised and install a new one.

    The revocation is signed by the revoked key itself. Events it signed before
    stay valid; anything it signs afterwards is refused.
    """
    app = runtime.app()
    app.organisation(handle)
    new_key = app.revoke_key(handle, runtime.passphrase(handle), reason)
    click.echo(f"Revoked {handle}'s key. New fingerprint: {new_key}")


@org.command("encryption-key")
@click.argument("handle")
@click.pass_obj
def encryption_key(runtime: Runtime, handle: str) -> None:
    """Give HANDLE a new encryption key pair (X25519), signed by its signing key.

    Others seal content to the newest key; older keys stay in the key directory
    so that what was sealed to them can still be opened. Uses the same passphrase.
    """
    app = runtime.app()
    app.organisation(handle)
    key_id = app.new_encryption_key(handle, runtime.passphrase(handle))
    click.echo(f"New encryption key for {handle}: {key_id}")
