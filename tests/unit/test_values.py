"""Values checked at the edge."""

from __future__ import annotations

import pytest

from chainledger.domain.values import (
    Role,
    check_handle,
    check_identifier,
    check_text,
    parse_enum,
    slugify,
)
from chainledger.errors import InvalidValue


@pytest.mark.parametrize(
    ("name", "handle"),
    [
        ("Hope Trust", "hope-trust"),
        ("Mind in Barnet (North)", "mind-in-barnet-north"),
        ("Café Société", "cafe-societe"),
        ("  A&B  Ltd. ", "a-b-ltd"),
    ],
)
def test_slugify_makes_a_handle(name: str, handle: str) -> None:
    assert slugify(name) == handle
    assert check_handle(handle) == handle


def test_slugify_refuses_a_name_with_nothing_to_keep() -> None:
    with pytest.raises(InvalidValue, match="--handle"):
        slugify("★★★")


@pytest.mark.parametrize("bad", ["", "Hope", "-hope", "hope-", "hope trust", "a" * 41, "hopé"])
def test_bad_handles_are_refused(bad: str) -> None:
    with pytest.raises(InvalidValue, match="invalid handle"):
        check_handle(bad)


def test_identifiers_follow_org_id_schemes() -> None:
    assert check_identifier("GB-CHC-1089464") == "GB-CHC-1089464"
    for bad in ("1089464", "gb-chc-1", "GB--1", "GB-CHC-"):
        with pytest.raises(InvalidValue, match="invalid identifier"):
            check_identifier(bad)


def test_text_is_stripped_and_bounded() -> None:
    assert check_text("  Hope Trust ", "name") == "Hope Trust"
    with pytest.raises(InvalidValue, match="must not be empty"):
        check_text("   ", "name")
    with pytest.raises(InvalidValue, match="longer than"):
        check_text("x" * 201, "name")
    with pytest.raises(InvalidValue, match="control"):
        check_text("bell\x07", "name")


def test_parse_enum_lists_the_choices() -> None:
    assert parse_enum(Role, "prime", "role") is Role.PRIME
    with pytest.raises(InvalidValue, match="commissioner, prime, subcontractor"):
        parse_enum(Role, "boss", "role")
