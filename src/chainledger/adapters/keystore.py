"""Private keys on disk: PKCS#8-encrypted, file mode 0600, never in the ledger.

Two kinds live here: Ed25519 signing keys and X25519 encryption keys (for
sealed content such as 360 review ratings), stored and protected alike.

PKCS#8 as written by ``cryptography`` protects the key with PBKDF2 at a low
iteration count, so the passphrase is first stretched with scrypt (its
parameters and salt sit in plain header lines above the PEM block). Standard
tools can still open the PEM with the derived password.

Files are named by key id (the SHA-256 fingerprint of the public key), so one
key directory serves many ledgers and keeps retired keys beside current ones.
"""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from chainledger.adapters.crypto import raw_public_key, raw_x25519_public_key
from chainledger.domain.keys import key_fingerprint
from chainledger.errors import KeyProblem

HEADER = "chainledger private key v1"
SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1
MIN_PASSPHRASE = 8


def _stretch(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    # (loaded by the commands that use a key, not by every command that opens a ledger)
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    derived = Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))
    return base64.b64encode(derived)


PrivateKey = Ed25519PrivateKey | X25519PrivateKey


def _public_bytes(private_key: PrivateKey) -> bytes:
    if isinstance(private_key, Ed25519PrivateKey):
        return raw_public_key(private_key)
    return raw_x25519_public_key(private_key)


class Keystore:
    """A directory of encrypted private keys (Ed25519 for signing, X25519 for sealing)."""

    def __init__(self, directory: Path, *, scrypt_n: int | None = None) -> None:
        self.directory = Path(directory)
        self.scrypt_n = SCRYPT_N if scrypt_n is None else scrypt_n

    def path_for(self, key_id: str) -> Path:
        return self.directory / f"{key_id}.key"

    def create(self, passphrase: str) -> Ed25519PrivateKey:
        """Generate a signing key, write it encrypted under ``passphrase``, and return it."""
        private_key = Ed25519PrivateKey.generate()
        self._store(private_key, passphrase)
        return private_key

    def create_encryption_key(self, passphrase: str) -> X25519PrivateKey:
        """Generate an encryption key, write it encrypted under ``passphrase``, and return it."""
        private_key = X25519PrivateKey.generate()
        self._store(private_key, passphrase)
        return private_key

    def _store(self, private_key: PrivateKey, passphrase: str) -> None:
        if len(passphrase) < MIN_PASSPHRASE:
            raise KeyProblem(f"the passphrase must have at least {MIN_PASSPHRASE} characters")
        key_id = key_fingerprint(_public_bytes(private_key))
        salt = os.urandom(16)
        password = _stretch(passphrase, salt, self.scrypt_n, SCRYPT_R, SCRYPT_P)
        from cryptography.hazmat.primitives import serialization

        pem = private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(password),
        )
        header = (
            f"{HEADER}\n"
            f"key: {key_id}\n"
            f"kdf: scrypt n={self.scrypt_n} r={SCRYPT_R} p={SCRYPT_P} "
            f"salt={base64.b64encode(salt).decode('ascii')}\n"
        ).encode("ascii")
        self._ensure_directory()
        path = self.path_for(key_id)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise KeyProblem(f"cannot write key file {path}: {exc.strerror}") from None
        with os.fdopen(fd, "wb") as handle:
            handle.write(header + pem)

    def load(self, key_id: str, passphrase: str, *, owner: str = "") -> Ed25519PrivateKey:
        """The signing key with this id, unlocked with ``passphrase``."""
        private_key = self._load(key_id, passphrase, owner)
        if not isinstance(private_key, Ed25519PrivateKey):
            raise KeyProblem(f"key file {self.path_for(key_id)} does not hold an Ed25519 key")
        return private_key

    def load_encryption_key(
        self, key_id: str, passphrase: str, *, owner: str = ""
    ) -> X25519PrivateKey:
        """The encryption key with this id, unlocked with ``passphrase``."""
        private_key = self._load(key_id, passphrase, owner)
        if not isinstance(private_key, X25519PrivateKey):
            raise KeyProblem(f"key file {self.path_for(key_id)} does not hold an X25519 key")
        return private_key

    def _load(self, key_id: str, passphrase: str, owner: str) -> PrivateKey:
        path = self.path_for(key_id)
        whose = f" of {owner}" if owner else ""
        if not path.exists():
            raise KeyProblem(
                f"no private key{whose} in {self.directory} (looked for {path.name}); "
                "use --keys or CHAINLEDGER_KEYS to point at the directory that holds it"
            )
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyProblem(
                f"key file {path} can be read by other users; refusing to use it "
                f"(fix with: chmod 600 {path})"
            )
        data = path.read_bytes()
        try:
            head, pem = data.split(b"-----BEGIN", 1)
            lines = head.decode("ascii").splitlines()
            if lines[0] != HEADER:
                raise ValueError("not a chainledger key file")
            params = dict(
                part.split("=", 1) for part in lines[2].removeprefix("kdf: scrypt ").split()
            )
            salt = base64.b64decode(params["salt"])
            n, r, p = int(params["n"]), int(params["r"]), int(params["p"])
        except (ValueError, IndexError, KeyError, UnicodeDecodeError):
            raise KeyProblem(f"key file {path} is damaged or not a chainledger key") from None
        password = _stretch(passphrase, salt, n, r, p)
        from cryptography.hazmat.primitives import serialization

        try:
            private_key = serialization.load_pem_private_key(b"-----BEGIN" + pem, password)
        except (ValueError, TypeError):
            raise KeyProblem(f"wrong passphrase for the key{whose} ({path.name})") from None
        if not isinstance(private_key, (Ed25519PrivateKey, X25519PrivateKey)):
            raise KeyProblem(f"key file {path} does not hold an Ed25519 or X25519 key")
        if key_fingerprint(_public_bytes(private_key)) != key_id:
            raise KeyProblem(f"key file {path} holds a different key than its name says")
        return private_key

    def _ensure_directory(self) -> None:
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise KeyProblem(
                f"cannot create key directory {self.directory}: {exc.strerror}"
            ) from None
