"""The application on a real SQLite file: verify on read, keys over time, the audit."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from uuid import uuid4

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from chainledger.adapters.crypto import Ed25519Signer
from chainledger.adapters.keystore import Keystore
from chainledger.bootstrap import ChainLedger
from chainledger.domain.values import Role
from chainledger.errors import NotFound, Refused, TamperError
from tests.conftest import FAST_SCRYPT_N, PASSPHRASE
from tests.ledgers import RawEvents
from tests.support import Thing


def register(app: ChainLedger, name: str, role: Role = Role.SUBCONTRACTOR) -> str:
    return app.create_organisation(name, role, passphrase=PASSPHRASE).handle


def test_ledger_id_is_fixed_at_init_and_read_back(make_app: Callable[..., ChainLedger]) -> None:
    app = make_app()
    ledger_id = app.init_ledger("first")
    assert make_app(create=False).ledger_id == ledger_id
    with pytest.raises(Refused, match="already holds ledger"):
        app.init_ledger("second")


def test_an_uninitialised_database_says_how_to_start(make_app: Callable[..., ChainLedger]) -> None:
    with pytest.raises(NotFound, match="chainledger init"):
        make_app().organisations()


def test_a_key_directory_given_to_the_application_is_the_one_every_service_uses(
    make_app: Callable[..., ChainLedger], tmp_path: Path
) -> None:
    """New keys are made, and keys unlocked, in the directory last given to the façade."""
    app = make_app()
    app.init_ledger("keys")
    app.keystore = Keystore(tmp_path / "elsewhere", scrypt_n=FAST_SCRYPT_N)
    handle = register(app, "Hope Trust")
    key_id = app.organisation(handle).key_id
    assert (tmp_path / "elsewhere" / f"{key_id}.key").exists()
    assert app.signer(handle, PASSPHRASE).key_id == key_id


def test_events_signed_after_rotation_with_the_old_key_are_refused(app: ChainLedger) -> None:
    handle = register(app, "Hope Trust")
    old_signer = app.signer(handle, PASSPHRASE)
    early = Thing.start(old_signer, "signed while the key was current")
    app.save(early)
    app.rotate_key(handle, PASSPHRASE)

    assert app.load(early.id).notes == ["signed while the key was current"]
    late = Thing.start(old_signer, "signed after the rotation")
    app.save(late)
    with pytest.raises(TamperError, match="not a valid key of hope-trust") as info:
        app.load(late.id)
    assert info.value.notification_id == app.recorder.max_notification_id()

    report = app.audit()
    assert [f.message for f in report.failures] == [
        "signed with hope-trust's key " + old_signer.key_id[:16] + "… after it was rotated"
    ]
    new_signer = app.signer(handle, PASSPHRASE)
    assert new_signer.key_id != old_signer.key_id
    fresh = Thing.start(new_signer, "signed with the new key")
    app.save(fresh)
    assert app.load(fresh.id).version == 1


def test_revoked_key_is_refused_after_but_not_before(app: ChainLedger) -> None:
    handle = register(app, "Hope Trust")
    signer = app.signer(handle, PASSPHRASE)
    before = Thing.start(signer, "before")
    app.save(before)
    app.revoke_key(handle, PASSPHRASE, "laptop stolen")
    after = Thing.start(signer, "after")
    app.save(after)
    assert app.load(before.id).notes == ["before"]
    with pytest.raises(TamperError):
        app.load(after.id)
    failures = app.audit().failures
    assert len(failures) == 1
    assert failures[0].message.endswith("after it was revoked")
    assert str(after.id) == failures[0].aggregate_id


def test_a_key_that_never_belonged_to_the_signer_is_refused(app: ChainLedger) -> None:
    register(app, "Hope Trust")
    impostor = Ed25519Signer(app.ledger_id, "hope-trust", Ed25519PrivateKey.generate())
    thing = Thing.start(impostor, "forged")
    app.save(thing)
    with pytest.raises(TamperError, match="not a valid key of hope-trust"):
        app.load(thing.id)
    assert "which is not a key of hope-trust" in app.audit().failures[0].message


def test_an_event_from_another_ledger_is_refused(app: ChainLedger) -> None:
    handle = register(app, "Hope Trust")
    real = app.signer(handle, PASSPHRASE)
    elsewhere = Ed25519Signer(uuid4(), handle, real.private_key)
    thing = Thing.start(elsewhere, "replayed")
    app.save(thing)
    with pytest.raises(TamperError, match="signed for another ledger"):
        app.load(thing.id)
    assert app.audit().failures[0].message == "signed for another ledger"


def test_reading_altered_data_raises_and_names_the_notification(app: ChainLedger) -> None:
    handle = register(app, "Hope Trust")
    thing = Thing.start(app.signer(handle, PASSPHRASE), "original note")
    thing.note(app.signer(handle, PASSPHRASE), "second note")
    app.save(thing)
    with RawEvents(app.url) as raw:
        [(row_id, state)] = [(r[0], r[4]) for r in raw.rows() if b"original note" in r[4]]
        assert raw.set_state(row_id, state.replace(b"original", b"altered!")) == 1
    with pytest.raises(TamperError) as info:
        app.load(thing.id)
    assert info.value.notification_id == row_id
    assert info.value.version == 1
    assert f"notification {row_id}" in str(info.value)


def test_audit_streams_the_ledger_with_parallel_workers(app: ChainLedger) -> None:
    handle = register(app, "Hope Trust")
    signer = app.signer(handle, PASSPHRASE)
    for i in range(30):
        thing = Thing.start(signer, f"thing {i}")
        for j in range(40):
            thing.note(signer, f"note {j}")
        app.save(thing)
    sequential = app.audit(workers=1)
    parallel = app.audit(workers=2)
    assert sequential.ok
    assert parallel.ok
    assert sequential.events == parallel.events == 2 + 30 * 41
    assert parallel.workers == 2
