"""A sealed rating's length is the same whatever it says (issue 22: comment lengths leaked
through the sealed blobs' sizes)."""

from __future__ import annotations

import os

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from chainledger.adapters.crypto import raw_x25519_public_key, seal_to
from chainledger.domain.review import (
    MAX_COMMENT,
    MAX_DIMENSIONS,
    SEALED_RATING_SIZE,
    RatingContent,
)

SLUGS = [f"d{i:02d}" + "x" * 26 for i in range(MAX_DIMENSIONS)]  # 30-character slugs


def content(comment: str, dimensions: int = 5) -> RatingContent:
    return RatingContent(dict.fromkeys(SLUGS[:dimensions], 5), comment, os.urandom(32).hex())


def test_sealed_ratings_are_one_length_from_no_comment_to_the_longest() -> None:
    recipient = raw_x25519_public_key(X25519PrivateKey.generate())
    comments = ["", "x", "A 42-character comment about late payment.", "y" * MAX_COMMENT,
                "\U0001f600" * MAX_COMMENT, '"\\' * (MAX_COMMENT // 2)]  # fmt: skip
    plain = {len(content(c).sealable()) for c in comments}
    assert plain == {SEALED_RATING_SIZE}
    sealed = {len(seal_to(recipient, content(c).sealable(), b"context")) for c in comments}
    assert len(sealed) == 1


def test_the_largest_rating_fits_and_reads_back() -> None:
    largest = content("\U0001f600" * MAX_COMMENT, MAX_DIMENSIONS)
    padded = largest.sealable()
    assert len(padded) == SEALED_RATING_SIZE
    assert RatingContent.from_bytes(padded) == largest  # the padding is JSON whitespace
