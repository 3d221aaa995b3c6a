"""The service's log key: an Ed25519 key of the service's own (never an organisation's)
that signs its checkpoints as C2SP signed notes, kept encrypted (0600) in its own
directory on the service's machine and made there on the first start."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

from chainledger.adapters.crypto import raw_public_key
from chainledger.adapters.keystore import Keystore
from chainledger.adapters.merkle_store import TreeHead
from chainledger.domain.checkpoint import Checkpoint, sign_checkpoint, verifier_key
from chainledger.domain.keys import key_fingerprint
from chainledger.errors import KeyProblem


def log_name(ledger_id: UUID) -> str:
    """The name the log signs its checkpoints with (no spaces, no '+')."""
    return f"log-{ledger_id}"


class LogKey:
    """Signs the service's tree heads."""

    def __init__(self, ledger_id: UUID, directory: Path, passphrase: str) -> None:
        self.ledger_id = ledger_id
        self.name = log_name(ledger_id)
        keystore = Keystore(directory)
        held = sorted(directory.glob("*.key")) if directory.is_dir() else []
        if len(held) > 1:
            raise KeyProblem(f"{directory} holds {len(held)} keys; a log key directory holds one")
        self.created = not held
        if held:
            self._key = keystore.load(held[0].stem, passphrase, owner="the log")
        else:
            self._key = keystore.create(passphrase)
        self.public_key = raw_public_key(self._key)
        self.key_id = key_fingerprint(self.public_key)
        self.verifier_key = verifier_key(self.name, self.public_key)

    def __repr__(self) -> str:  # never the key
        return f"LogKey({self.verifier_key})"

    def sign(self, head: TreeHead) -> str:
        """The tree head as a checkpoint signed by the log (its text)."""
        checkpoint = Checkpoint(self.ledger_id, head.size, head.root)
        return sign_checkpoint(checkpoint, self.name, self.public_key, self._key.sign).text()
