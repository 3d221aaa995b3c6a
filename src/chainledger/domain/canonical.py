"""Canonical bytes for signing: RFC 8785 (JSON Canonicalization Scheme).

A signature must cover a byte string that every verifier reproduces exactly,
whatever JSON library wrote the event. RFC 8785 fixes key order, number and
string forms. chainledger never puts floats in events (money is a decimal
string), so the encoding is total over what the domain produces.
"""

from __future__ import annotations

import hashlib
from typing import Any

import rfc8785

GENESIS_HASH = "0" * 64
"""The ``prev_hash`` of every aggregate's first event."""


def canonical_json(value: Any) -> bytes:
    """RFC 8785 canonical UTF-8 bytes of a JSON-compatible value."""
    return rfc8785.dumps(value)


def digest(data: bytes) -> str:
    """Lower-case hex SHA-256 of ``data``: event hashes and key fingerprints."""
    return hashlib.sha256(data).hexdigest()
