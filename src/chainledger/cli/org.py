"""``chainledger org``: organisations and their signing keys."""

from __future__ import annotations

from typing import Any

import click

from chainledger.cli.render import format_option, render
from chainledger.cli.runtime import Runtime

ROLES = ("commissioner", "prime", "subcontractor")
SECTORS = ("vcs", "private", "public")
SIZES = ("micro", "small", "medium", "large")


@click.group()
def org() -> None:
    """Register organisations and manage their signing keys."""


@org.command("create")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES),
              help="The part it usually plays (optional: its role in each package is what it "
              "does there).")  # fmt: skip
@click.option("--sector", type=click.Choice(SECTORS),
              help="What it is: voluntary and community sector, private or public.")  # fmt: skip
@click.option("--size", type=click.Choice(SIZES), help="Size band.")
@click.option("--identifier", metavar="SCHEME-ID", help="Org identifier, e.g. GB-CHC-1089464.")
@click.option("--handle", help="Short handle for --as; default: a slug of NAME.")
@click.pass_obj
def create(
    runtime: Runtime,
    name: str,
    role: str | None,
    sector: str | None,
    size: str | None,
    identifier: str | None,
    handle: str | None,
) -> None:
    """Register organisation NAME with new signing and encryption key pairs.

    Its role is per package: it is the commissioner of the packages it creates, a
    prime where it bids, a subcontractor where it is named or subcontracted. --role
    only states the part it usually plays (org list --role filters by it).

    The private keys are stored encrypted (mode 0600) in the key directory and
    never enter the ledger; the registration is signed by the new key itself.
    The encryption key (X25519) lets others seal content only NAME can read,
    such as the ratings of a 360 review round it owns.

    \b
    Example:
      chainledger org create "Hope Trust" --sector vcs --size small
    """
    from chainledger.domain.values import Role, Sector, Size

    app = runtime.app()
    app.ledger_id  # noqa: B018 - refuse a missing ledger before asking for a passphrase
    passphrase = runtime.passphrase(handle or name, confirm=True)
    details = app.create_organisation(
        name,
        Role(role) if role else None,
        passphrase=passphrase,
        handle=handle,
        sector=Sector(sector) if sector else None,
        size=Size(size) if size else None,
        identifier=identifier,
    )
    stated = f" ({details.role})" if details.role else ""
    click.echo(f"Registered {details.handle}{stated}: {details.name}")
    click.echo(f"Key fingerprint: {details.key_id}")
    click.echo(f"Private key: {runtime.keys / (details.key_id + '.key')}")
    click.echo(f"Encryption key: {details.encryption_key_id}")


@org.command("list")
@click.option("--role", type=click.Choice(ROLES),
              help="Only organisations that stated this role when they registered.")  # fmt: skip
@format_option()
@click.pass_obj
def list_(runtime: Runtime, role: str | None, fmt: str) -> None:
    """List registered organisations, with the role each stated (if any) when it registered."""
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
                    "endorsed_by": (r.endorsed_by or "-") if fmt == "table" else r.endorsed_by,
                    "registrar": ("yes" if r.registrar else "") if fmt == "table"
                    else bool(r.registrar),
                }
                for r in rows
            ],
            fmt,
            empty="No organisations yet. Register one with: chainledger org create NAME",
        )
    )


@org.command("show")
@click.argument("handle")
@format_option()
@click.pass_obj
def show(runtime: Runtime, handle: str, fmt: str) -> None:
    """Show an organisation: stated role, sector, size, key fingerprints and who vouched.

    The "read aloud" line is the fingerprint in groups of four: read it to your
    registrar by phone (or send it in a letter) so that it can endorse your key.
    """
    from chainledger.domain.identity import readable_fingerprint

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
            "endorsed_by": details.endorsed_by,
            "registrar": details.registrar,
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
        f"role:        {details.role or '-'} (stated; its role in each package is what it does there)",
        f"sector:      {details.sector or '-'}",
        f"size:        {details.size or '-'}",
        f"identifier:  {details.identifier or '-'}",
        f"fingerprint: {details.key_id}",
        f"read aloud:  {readable_fingerprint(details.key_id)}",
        f"endorsed:    {_endorsement(details)}",
        f"encryption:  {details.encryption_key_id or '- (none: chainledger org encryption-key)'}",
        "",
        render(keys, "table"),
    ]
    click.echo("\n".join(lines))


def _endorsement(details: Any) -> str:
    if not details.ledger_has_registrar:
        return "- (this ledger has no registrar: nobody vouches for keys)"
    if details.endorsed_by:
        role = ", and is a registrar" if details.registrar else ""
        return f"by {details.endorsed_by}{role}"
    if details.rejected:
        return f"no: rejected {details.rejected}"
    return "not endorsed: it can sign nothing on a package until a registrar endorses it"


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


# -- identity: registrars vouch for organisations' keys -----------------------------------------


@org.command("endorse")
@click.argument("handle")
@click.option("--as", "registrar", required=True, metavar="REGISTRAR",
              help="The registrar that vouches (signs the endorsement).")  # fmt: skip
@click.option("--fingerprint", required=True, metavar="FP",
              help="HANDLE's key fingerprint in full (64 hex digits, grouped or not), as the "
                   "organisation itself read it to you.")  # fmt: skip
@click.option("--identifier", metavar="SCHEME-ID",
              help="Its org identifier, if other than the one it registered with.")  # fmt: skip
@click.pass_obj
def endorse(
    runtime: Runtime, handle: str, registrar: str, fingerprint: str, identifier: str | None
) -> None:
    """Vouch that a key belongs to organisation HANDLE, as its registrar.

    Until a registrar endorses it, an organisation can sign nothing on any
    package. Before you endorse, confirm the fingerprint with the organisation
    itself, by a channel you already trust (a phone number from its website or
    the charity register, a letter): ask someone there to run `chainledger org
    show HANDLE` on their own machine and read the "read aloud" groups to you, and
    type what they read. If it differs from the key registered here, someone else
    registered in their name: refuse it with `chainledger org reject`.

    \b
    Example:
      chainledger org endorse hope-trust --as barnet-council \\
          --fingerprint "3F2A 9B1C 0D4E …"   (all 16 groups)
    """
    app = runtime.app()
    app.organisation(handle)  # refuse an unknown handle before asking for a passphrase
    app.endorse_organisation(registrar, runtime.passphrase(registrar), handle, fingerprint,
                             identifier=identifier)  # fmt: skip
    details = app.organisation(handle)
    named = f" ({details.identifier})" if details.identifier else ""
    click.echo(f"{registrar} endorsed {handle}{named}: key {details.key_id}")


@org.command("reject")
@click.argument("handle")
@click.option("--as", "registrar", required=True, metavar="REGISTRAR", help="The registrar.")
@click.option("--reason", required=True, help="Why, e.g. 'not registered by Hope Trust'.")
@click.pass_obj
def reject(runtime: Runtime, handle: str, registrar: str, reason: str) -> None:
    """Refuse HANDLE's registration request, as registrar (it stays unable to sign)."""
    app = runtime.app()
    app.organisation(handle)
    app.reject_registration(registrar, runtime.passphrase(registrar), handle, reason)
    click.echo(f"{registrar} rejected {handle}'s registration: {reason}")


@org.command("appoint-registrar")
@click.argument("handle")
@click.option("--as", "registrar", required=True, metavar="REGISTRAR", help="A registrar.")
@click.pass_obj
def appoint_registrar(runtime: Runtime, handle: str, registrar: str) -> None:
    """Make HANDLE (already endorsed) a registrar: it can endorse others too."""
    app = runtime.app()
    app.organisation(handle)
    app.appoint_registrar(registrar, runtime.passphrase(registrar), handle)
    click.echo(f"{registrar} appointed {handle} registrar")


@org.command("withdraw-registrar")
@click.argument("handle")
@click.option("--as", "registrar", required=True, metavar="REGISTRAR", help="A registrar.")
@click.option("--reason", required=True, help="Why. Recorded in the ledger.")
@click.pass_obj
def withdraw_registrar(runtime: Runtime, handle: str, registrar: str, reason: str) -> None:
    """End HANDLE's power to endorse (its endorsements so far stand)."""
    app = runtime.app()
    app.organisation(handle)
    app.withdraw_registrar(registrar, runtime.passphrase(registrar), handle, reason)
    click.echo(f"{registrar} withdrew {handle} as registrar: {reason}")


@org.command("request-recovery")
@click.argument("handle")
@click.pass_obj
def request_recovery(runtime: Runtime, handle: str) -> None:
    """Make HANDLE a new key, on this machine, when its key is lost or stolen.

    The new key is offered in the ledger, signed by itself; it signs nothing until
    a registrar installs it with `chainledger org recover`. Read the printed
    fingerprint to your registrar by phone, as when you were endorsed. Uses the
    passphrase you give now.
    """
    from chainledger.domain.identity import readable_fingerprint

    app = runtime.app()
    app.organisation(handle)
    key_id = app.request_recovery(handle, runtime.passphrase(handle, confirm=True))
    click.echo(f"New key for {handle}: {key_id}")
    click.echo(f"Read aloud to your registrar: {readable_fingerprint(key_id)}")
    click.echo(f"Private key: {runtime.keys / (key_id + '.key')}")


@org.command("recover")
@click.argument("handle")
@click.option("--as", "registrar", required=True, metavar="REGISTRAR", help="A registrar.")
@click.option("--fingerprint", required=True, metavar="FP",
              help="The new key's fingerprint in full, as HANDLE read it to you.")  # fmt: skip
@click.option("--compromised-since", "since", metavar="DATE",
              help="The key was stolen: from when (ISO date or time, UTC) what HANDLE's keys "
                   "signed is marked as signed by a compromised key.")  # fmt: skip
@click.option("--lost", is_flag=True, help="The key was lost, not stolen: nothing is marked.")
@click.pass_obj
def recover(
    runtime: Runtime, handle: str, registrar: str, fingerprint: str, since: str | None, lost: bool
) -> None:
    """Install HANDLE's new key in place of a lost or stolen one, as registrar.

    It works whatever HANDLE's current key is, even one a thief installed by
    revoking the stolen key: from here on only the new key signs for HANDLE.
    With --compromised-since, every event HANDLE's keys signed from that time up
    to this recovery is marked, in `audit verify` and `history`, as signed by a
    compromised key.
    """
    from datetime import UTC, datetime

    from chainledger.errors import InvalidValue

    if lost == (since is not None):
        raise click.UsageError("give exactly one of --compromised-since DATE and --lost")
    when = None
    if since is not None:
        try:
            when = datetime.fromisoformat(since)
        except ValueError:
            raise InvalidValue(f"--compromised-since {since!r} is not an ISO date or time") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
    app = runtime.app()
    app.organisation(handle)
    app.recover_organisation(registrar, runtime.passphrase(registrar), handle, fingerprint,
                             compromised_since=when)  # fmt: skip
    click.echo(f"{registrar} recovered {handle}: its key is now {app.organisation(handle).key_id}")
