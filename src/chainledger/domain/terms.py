"""Workshare terms: what a prime promises a subcontractor at bid, and contracts after award."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from chainledger.domain.canonical import canonical_json, digest
from chainledger.domain.events import json_value
from chainledger.domain.quantities import (
    Cadence,
    parse_count,
    parse_days,
    parse_money,
    parse_percent,
)
from chainledger.domain.values import check_text, parse_enum
from chainledger.errors import InvalidValue


class PaymentModel(StrEnum):
    """How a party is paid: fixed, service fee plus outcome payments, or by results."""

    FIXED = "fixed"
    FEE_PLUS_OUTCOME = "fee-plus-outcome"
    PAYMENT_BY_RESULTS = "payment-by-results"


TERM_FIELDS = (
    "service",
    "share_pct",
    "value_per_year",
    "referrals_per_period",
    "referral_cadence",
    "payment_model",
    "at_risk_pct",
    "payment_terms_days",
    "management_fee_pct",
)


@dataclass(frozen=True)
class Terms:
    """Workshare: the service, its share of the contract, referrals and payment terms."""

    service: str
    share_pct: Decimal
    value_per_year: Decimal
    referrals_per_period: int
    referral_cadence: str  # "month" or "quarter"
    payment_model: PaymentModel
    at_risk_pct: Decimal
    payment_terms_days: int
    management_fee_pct: Decimal

    @classmethod
    def parse(cls, raw: dict[str, Any], what: str = "terms") -> Terms:
        """Terms from primitive values (CLI options or a JSON object), all checked."""
        unknown = set(raw) - set(TERM_FIELDS)
        if unknown:
            raise InvalidValue(f"{what}: unknown field(s) {', '.join(sorted(unknown))}")
        missing = [name for name in TERM_FIELDS if raw.get(name) in (None, "")]
        defaults = {"referral_cadence": "quarter", "at_risk_pct": "0", "management_fee_pct": "0"}
        missing = [name for name in missing if name not in defaults]
        if missing:
            raise InvalidValue(f"{what}: missing {', '.join(missing)}")
        value = {**defaults, **{k: v for k, v in raw.items() if v not in (None, "")}}
        return cls(
            service=check_text(str(value["service"]), f"{what}: service"),
            share_pct=parse_percent(value["share_pct"], f"{what}: share %"),
            value_per_year=parse_money(value["value_per_year"], f"{what}: value per year"),
            referrals_per_period=parse_count(value["referrals_per_period"], f"{what}: referrals"),
            referral_cadence=parse_enum(Cadence, str(value["referral_cadence"]), "cadence").value,
            payment_model=parse_enum(PaymentModel, str(value["payment_model"]), "payment model"),
            at_risk_pct=parse_percent(value["at_risk_pct"], f"{what}: at-risk %"),
            payment_terms_days=parse_days(value["payment_terms_days"], f"{what}: payment terms"),
            management_fee_pct=parse_percent(
                value["management_fee_pct"], f"{what}: management fee %"
            ),
        )

    def as_json(self) -> dict[str, Any]:
        return json_value(self)

    def replace(self, **changes: Any) -> Terms:
        """These terms with some fields changed (checked as a whole)."""
        return Terms.parse({**self.as_json(), **changes})


@dataclass(frozen=True)
class Promise:
    """A workshare promise to one named subcontractor in a bid."""

    subcontractor: str
    terms: Terms


def promise_hash(package: str, prime: str, promise: Promise) -> str:
    """The hash a subcontractor signs to acknowledge exactly these terms."""
    return digest(
        canonical_json(
            {
                "package": package,
                "prime": prime,
                "subcontractor": promise.subcontractor,
                "terms": promise.terms.as_json(),
            }
        )
    )
