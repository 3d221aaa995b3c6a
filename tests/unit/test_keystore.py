"""Private keys on disk."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from chainledger.adapters.crypto import raw_public_key
from chainledger.adapters.keystore import Keystore
from chainledger.domain.keys import key_fingerprint
from chainledger.errors import KeyProblem

N = 2**10


def test_key_file_is_encrypted_and_private(tmp_path: Path) -> None:
    store = Keystore(tmp_path / "keys", scrypt_n=N)
    key = store.create("a long passphrase")
    key_id = key_fingerprint(raw_public_key(key))
    path = store.path_for(key_id)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    text = path.read_text()
    assert "BEGIN ENCRYPTED PRIVATE KEY" in text
    assert "a long passphrase" not in text
    loaded = store.load(key_id, "a long passphrase")
    assert raw_public_key(loaded) == raw_public_key(key)


def test_wrong_passphrase_is_a_clear_error(tmp_path: Path) -> None:
    store = Keystore(tmp_path, scrypt_n=N)
    key_id = key_fingerprint(raw_public_key(store.create("a long passphrase")))
    with pytest.raises(KeyProblem, match="wrong passphrase for the key of hope-trust") as info:
        store.load(key_id, "not the passphrase", owner="hope-trust")
    assert "not the passphrase" not in str(info.value)


def test_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    store = Keystore(tmp_path, scrypt_n=N)
    key_id = key_fingerprint(raw_public_key(store.create("a long passphrase")))
    os.chmod(store.path_for(key_id), 0o644)
    with pytest.raises(KeyProblem, match="chmod 600"):
        store.load(key_id, "a long passphrase")


def test_missing_and_damaged_keys(tmp_path: Path) -> None:
    store = Keystore(tmp_path, scrypt_n=N)
    with pytest.raises(KeyProblem, match="no private key"):
        store.load("ab" * 32, "a long passphrase")
    path = store.path_for("cd" * 32)
    path.write_text("rubbish")
    path.chmod(0o600)
    with pytest.raises(KeyProblem, match="damaged"):
        store.load("cd" * 32, "a long passphrase")


def test_short_passphrase_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyProblem, match="at least 8"):
        Keystore(tmp_path, scrypt_n=N).create("short")
    assert not list(tmp_path.iterdir())
