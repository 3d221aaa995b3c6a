"""Canonical bytes for signing: RFC 8785 (JSON Canonicalization Scheme).

A signature must cover a byte string that every verifier reproduces exactly,
whatever JSON library wrote the event. RFC 8785 fixes key order, number and
string forms. chainledger never puts floats in events (money is a decimal
string), so the encoding is total over what the domain produces.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import rfc8785

GENESIS_HASH = "0" * 64
"""The ``prev_hash`` of every aggregate's first event."""


def canonical_json(value: Any) -> bytes:
    """RFC 8785 canonical UTF-8 bytes of a JSON-compatible value.

    For the values events hold — objects with ASCII keys, strings, integers
    within ±2^53, booleans and null, never floats — RFC 8785 and Python's own
    ``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)``
    produce the same bytes: the same key order, the same string escapes (only
    ``"``, ``\\`` and control characters, with lower-case ``\\u00xx``). The
    C encoder is about six times faster, and signing is on every write path, so
    it is used whenever those conditions hold; anything else goes through the
    ``rfc8785`` reference implementation. A property test holds the two equal.
    """
    if _plain_json(value):
        try:
            return json.dumps(
                value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
            ).encode("utf-8")
        except (UnicodeEncodeError, ValueError):
            pass  # a lone surrogate, say: let the reference implementation refuse it
    return rfc8785.dumps(value)


_SAFE_INTEGER = 2**53 - 1


def _plain_json(value: Any) -> bool:
    """Whether ``value`` is in the domain where json.dumps is RFC 8785."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return -_SAFE_INTEGER <= value <= _SAFE_INTEGER
    if kind is dict:
        return all(type(k) is str and k.isascii() and _plain_json(v) for k, v in value.items())
    if kind is list or kind is tuple:
        return all(_plain_json(v) for v in value)
    return False


def digest(data: bytes) -> str:
    """Lower-case hex SHA-256 of ``data``: event hashes and key fingerprints."""
    return hashlib.sha256(data).hexdigest()
