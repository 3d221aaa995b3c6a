"""Value types checked at the edge: handles, roles, sectors, sizes, identifiers."""

from __future__ import annotations

import re
import unicodedata
from enum import Enum, StrEnum
from typing import TypeVar

from chainledger.errors import InvalidValue

HANDLE_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?\Z")
REFERENCE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}\Z")
IDENTIFIER_PATTERN = re.compile(r"^[A-Z]{2}-[A-Z0-9]{2,10}-[A-Za-z0-9][A-Za-z0-9./-]{0,63}\Z")
MAX_NAME_LENGTH = 200

E = TypeVar("E", bound=Enum)


class Role(StrEnum):
    """The part an organisation plays in one package's supply chain.

    An organisation plays a role per package (commissioner of one, prime in another,
    subcontractor in a third); the one it may state when it registers is only the part it
    usually plays, kept for listing and for ledgers recorded when that was its only role.
    """

    COMMISSIONER = "commissioner"
    PRIME = "prime"
    SUBCONTRACTOR = "subcontractor"


class Sector(StrEnum):
    """Voluntary and community sector, private or public."""

    VCS = "vcs"
    PRIVATE = "private"
    PUBLIC = "public"


class Size(StrEnum):
    """Organisation size band (micro < 10 staff, small < 50, medium < 250)."""

    MICRO = "micro"
    SMALL = "small"
    MEDIUM = "medium"
    LARGE = "large"


# Characters that reorder how text displays (a right-to-left override can make "£1,000"
# show as something else): refused in any text the ledger keeps.
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
                          "\u2066\u2067\u2068\u2069")  # fmt: skip


def check_text(value: str, what: str, *, max_length: int = MAX_NAME_LENGTH) -> str:
    """Strip ``value`` and refuse empty, overlong or control-character text."""
    if not isinstance(value, str):
        raise InvalidValue(f"{what} must be text")
    text = value.strip()
    if not text:
        raise InvalidValue(f"{what} must not be empty")
    if len(text) > max_length:
        raise InvalidValue(f"{what} is longer than {max_length} characters")
    for ch in text:
        category = unicodedata.category(ch)
        if category in ("Cc", "Cs", "Co", "Cn"):
            raise InvalidValue(f"{what} contains a control or invalid character ({ord(ch):#x})")
        if ch in BIDI_CONTROLS:
            raise InvalidValue(f"{what} contains a bidirectional control character "
                               f"({ord(ch):#x}): it can make text read other than it is stored")  # fmt: skip
    return text


def check_handle(value: str) -> str:
    """A handle: 1–40 lower-case letters, digits and inner hyphens, e.g. ``hope-trust``."""
    if not isinstance(value, str) or not HANDLE_PATTERN.match(value):
        raise InvalidValue(
            f"invalid handle {value!r}: use 1-40 lower-case letters, digits and hyphens, "
            "starting and ending with a letter or digit"
        )
    return value


def check_reference(value: str, what: str = "reference") -> str:
    """A package, invoice or concern reference: 1-64 letters, digits and ``. _ / -``."""
    if not isinstance(value, str) or not REFERENCE_PATTERN.match(value.strip()):
        raise InvalidValue(
            f"invalid {what} {value!r}: use 1-64 letters, digits, '.', '_', '/' or '-', "
            "starting with a letter or digit"
        )
    return value.strip()


def slugify(name: str) -> str:
    """The handle a name suggests: ``"Hope Trust (Barnet)"`` -> ``"hope-trust-barnet"``."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    slug = slug[:40].rstrip("-")
    if not slug:
        raise InvalidValue(f"cannot make a handle from the name {name!r}; give one with --handle")
    return slug


def check_identifier(value: str) -> str:
    """An org-id.guide style identifier ``SCHEME-ID``, e.g. ``GB-CHC-1089464``."""
    if not isinstance(value, str) or not IDENTIFIER_PATTERN.match(value):
        raise InvalidValue(
            f"invalid identifier {value!r}: use an org-id scheme and id, "
            "e.g. GB-CHC-1089464 or GB-COH-01234567"
        )
    return value


def parse_enum(enum: type[E], value: str, what: str) -> E:
    """The member of ``enum`` whose value is ``value``, or a clear error."""
    try:
        return enum(value)
    except ValueError:
        choices = ", ".join(m.value for m in enum)
        raise InvalidValue(f"invalid {what} {value!r}: choose one of {choices}") from None
