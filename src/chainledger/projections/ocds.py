"""The ledger as Open Contracting Data Standard (OCDS 1.1) releases.

One release per event that changes the public picture of a package, in the
ledger's order; each carries what that event changed (OCDS merges releases
into the compiled release, arrays of objects by ``id``), and each party that
gains a role, with all its roles so far (a party's ``roles`` array is replaced,
not merged).

    PackageCreated        tender             tender: title, value, contract period; buyer
    KpiDefined            tenderUpdate       tender.targets (metrics extension)
    BidSubmitted          tenderUpdate       tender.tenderers; the bid's named subcontractors,
                                             with the workshare and referrals it promises
                                             each (planning.forecasts, metrics extension)
    BidWithdrawn          tenderUpdate       tender.tenderers
    PackageAwarded        award, contract    the award, with the winning bid's promised
                                             workshare (subcontracting extension) and
                                             promised referrals and KPIs (agreedMetrics);
                                             the contract
    ContractValueVaried   contractAmendment  contract value, with the amendment's rationale
    SubcontractIssued     contractUpdate     the subcontract's referrals in agreedMetrics
    ReferralsSent         implementation     referrals sent in the period (metrics)
    PaymentRecorded       implementation     a transaction from the prime to a subcontractor
    PerformanceReported   implementation     a KPI's actual value in the period (metrics)
    PackageClosed         contractTermination

Nothing about a service user is on the ledger, so nothing is here: counts only.
Money is a decimal amount in pounds (a JSON number written from the decimal
string, never through binary floating point).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from chainledger.domain import bid, invoice, package, subcontract
from chainledger.domain.events import LedgerEvent
from chainledger.domain.quantities import Period
from chainledger.domain.terms import Promise, Terms

OCDS_VERSION = "1.1"
CURRENCY = "GBP"
EXTENSIONS = (
    "https://raw.githubusercontent.com/open-contracting-extensions/"
    "ocds_subcontracting_extension/master/extension.json",
    "https://raw.githubusercontent.com/open-contracting-extensions/"
    "ocds_metrics_extension/master/extension.json",
)
DEFAULT_OCID_PREFIX = "ocds-chainledger"
_OCID_PREFIX = re.compile(r"^ocds-[a-z0-9]{1,20}\Z")
_IDENTIFIER = re.compile(r"^([A-Z]{2}-[A-Z0-9]+)-(.+)\Z")


class Amount(Decimal):
    """A decimal that ``json.dumps`` writes as a number (see ``write_json``)."""


def money(amount: Decimal) -> dict[str, Any]:
    return {"amount": Amount(amount), "currency": CURRENCY}


def check_ocid_prefix(prefix: str) -> str:
    """An OCID prefix as OCDS registers them: ``ocds-`` and letters or digits."""
    from chainledger.errors import InvalidValue

    if not _OCID_PREFIX.match(prefix):
        raise InvalidValue(
            f"an OCID prefix is 'ocds-' followed by 1 to 20 lowercase letters or digits, "
            f"e.g. ocds-213czf; not {prefix[:40]!r}"
        )
    return prefix


@dataclass
class Organisation:
    """What a release says about an organisation: its handle, name and identifier."""

    handle: str
    name: str
    identifier: str | None = None

    def reference(self) -> dict[str, Any]:
        return {"id": self.handle, "name": self.name}

    def party(self, roles: Iterable[str]) -> dict[str, Any]:
        party: dict[str, Any] = {**self.reference(), "roles": sorted(roles)}
        if self.identifier:
            match = _IDENTIFIER.match(self.identifier)
            party["identifier"] = (
                {"scheme": match.group(1), "id": match.group(2)}
                if match
                else {"id": self.identifier}
            )
        return party


@dataclass
class _State:
    """What the releases so far have said about one package."""

    ocid: str
    reference: str
    roles: dict[str, set[str]] = field(default_factory=dict)
    changed: set[str] = field(default_factory=set)  # parties whose roles the next release adds
    tenderers: list[str] = field(default_factory=list)
    kpis: dict[str, package.Kpi] = field(default_factory=dict)
    prime: str | None = None
    bids: dict[str, bid.BidSubmitted] = field(default_factory=dict)
    subcontractors: dict[str, str] = field(default_factory=dict)  # record id -> handle
    cadence: dict[str, str] = field(default_factory=dict)  # handle -> referral cadence


class ReleaseBuilder:
    """Turns one package's events, in the ledger's order, into OCDS releases."""

    def __init__(self, prefix: str, organisations: dict[str, Organisation]) -> None:
        self.prefix = prefix
        self.organisations = organisations

    def ocid(self, reference: str) -> str:
        return f"{self.prefix}-{reference}"

    def releases(self, reference: str, events: Iterable[LedgerEvent]) -> list[dict[str, Any]]:
        state = _State(self.ocid(reference), reference)
        releases = []
        for event in events:
            made = self._release(state, event)
            if made is not None:
                releases.append(made)
        return releases

    # -- one release per event ---------------------------------------------------

    def _release(self, s: _State, e: LedgerEvent) -> dict[str, Any] | None:
        handler = getattr(self, f"_on_{e.type_name}", None)
        if handler is None:
            return None
        made = handler(s, e)
        if made is None:
            return None
        tags, body = made
        release = {
            "ocid": s.ocid,
            "id": f"{s.ocid}-{e.notification_id}",
            "date": e.timestamp.isoformat(timespec="seconds").replace("+00:00", "Z"),
            "tag": tags,
            "initiationType": "tender",
            **body,
        }
        if s.changed:  # only parties whose roles changed, each with all its roles so far
            release["parties"] = [
                self._organisation(handle).party(s.roles[handle]) for handle in sorted(s.changed)
            ]
            s.changed.clear()
        commissioner = next((h for h, r in s.roles.items() if "buyer" in r), None)
        if commissioner is not None:
            release["buyer"] = self._organisation(commissioner).reference()
        return release

    def _organisation(self, handle: str) -> Organisation:
        return self.organisations.get(handle) or Organisation(handle, handle)

    def _role(self, s: _State, handle: str, *roles: str) -> None:
        held = s.roles.setdefault(handle, set())
        if not held.issuperset(roles):
            held.update(roles)
            s.changed.add(handle)

    def _on_PackageCreated(self, s: _State, e: package.PackageCreated) -> Any:
        self._role(s, str(e.org), "buyer", "procuringEntity")
        tender = {
            "id": e.reference,
            "title": e.title,
            "status": "active",
            "value": money(e.value),
            "contractPeriod": {"startDate": _day(e.start), "endDate": _day(e.end)},
            "mainProcurementCategory": "services",
            "procuringEntity": self._organisation(str(e.org)).reference(),
        }
        description = ": ".join(x for x in (e.area, e.description) if x)
        if description:
            tender["description"] = description
        return ["tender"], {"tender": tender}

    def _on_KpiDefined(self, s: _State, e: package.KpiDefined) -> Any:
        s.kpis[e.kpi.name] = e.kpi
        return ["tenderUpdate"], {
            "tender": {"id": s.reference, "targets": [_kpi_metric(k) for k in s.kpis.values()]}
        }

    def _on_BidSubmitted(self, s: _State, e: bid.BidSubmitted) -> Any:
        prime = str(e.org)
        s.bids[prime] = e
        self._role(s, prime, "tenderer")
        for promise in e.promises:
            self._role(s, promise.subcontractor, "subcontractor")
        if prime not in s.tenderers:
            s.tenderers.append(prime)
        body: dict[str, Any] = {"tender": self._tenderers(s)}
        if e.promises:  # what the bid promises each subcontractor, as forecasts
            body["planning"] = {"forecasts": [
                metric for p in e.promises for metric in _promise_forecasts(prime, p)
            ]}  # fmt: skip
        return ["tenderUpdate"], body

    def _on_BidWithdrawn(self, s: _State, e: bid.BidWithdrawn) -> Any:
        prime = str(e.org)
        if prime in s.tenderers:
            s.tenderers.remove(prime)
        return ["tenderUpdate"], {"tender": self._tenderers(s)}

    def _tenderers(self, s: _State) -> dict[str, Any]:
        return {
            "id": s.reference,
            "numberOfTenderers": len(s.tenderers),
            **({"tenderers": [self._organisation(h).reference() for h in s.tenderers]}
               if s.tenderers else {}),
        }  # fmt: skip

    def _on_PackageAwarded(self, s: _State, e: package.PackageAwarded) -> Any:
        s.prime = e.prime
        self._role(s, e.prime, "supplier", "payee")
        self._role(s, str(e.org), "payer")
        winning = s.bids.get(e.prime)
        promises = list(winning.promises) if winning else []
        award: dict[str, Any] = {
            "id": _award_id(s),
            "status": "active",
            "date": _effective(e),  # when the award took effect, as its signer says
            "value": money(e.price),
            "suppliers": [self._organisation(e.prime).reference()],
            "hasSubcontracting": bool(promises),
        }
        if promises:
            award["subcontracting"] = self._promised(s, e.prime, promises)
        metrics = [_kpi_metric(k) for k in s.kpis.values()] + [
            _referral_metric(p.subcontractor, p.terms, "promised") for p in promises
        ]
        if metrics:
            award["agreedMetrics"] = metrics
        contract: dict[str, Any] = {
            "id": _contract_id(s),
            "awardID": award["id"],
            "status": "active",
            "value": money(e.price),
            "dateSigned": _effective(e),
        }
        if s.kpis:
            contract["agreedMetrics"] = [_kpi_metric(k) for k in s.kpis.values()]
        return ["award", "contract"], {
            "tender": {"id": s.reference, "status": "complete"},
            "awards": [award],
            "contracts": [contract],
        }

    def _promised(self, s: _State, prime: str, promises: list[Promise]) -> dict[str, Any]:
        """The winning bid's workshare, as the subcontracting extension describes it."""
        share = sum((p.terms.share_pct for p in promises), Decimal(0)) / 100
        lines = "; ".join(
            f"{p.subcontractor}: {p.terms.service}, {p.terms.share_pct}% of the contract, "
            f"£{p.terms.value_per_year:,.2f} a year, {p.terms.referrals_per_period} referrals "
            f"a {p.terms.referral_cadence}"
            for p in promises
        )
        subcontracting: dict[str, Any] = {
            "description": f"Workshare promised in the bid: {lines}.",
            "subcontracts": [
                {
                    "id": f"promise-{p.subcontractor}",
                    "subcontractor": self._organisation(p.subcontractor).reference(),
                    "mainContractors": [self._organisation(prime).reference()],
                }
                for p in promises
            ],
        }
        if share > 0:
            subcontracting["minimumPercentage"] = Amount(share)
            subcontracting["maximumPercentage"] = Amount(share)
        return subcontracting

    def _on_ContractValueVaried(self, s: _State, e: package.ContractValueVaried) -> Any:
        if s.prime is None:
            return ["tenderAmendment"], {
                "tender": {
                    "id": s.reference,
                    "value": money(e.value),
                    "amendments": [_amendment(e, f"from £{e.previous:,.2f} to £{e.value:,.2f}")],
                }
            }
        return ["contractAmendment"], {
            "contracts": [
                {
                    "id": _contract_id(s),
                    "awardID": _award_id(s),
                    "value": money(e.value),
                    "amendments": [_amendment(e, f"from £{e.previous:,.2f} to £{e.value:,.2f}")],
                }
            ]
        }

    def _on_SubcontractIssued(self, s: _State, e: subcontract.SubcontractIssued) -> Any:
        s.subcontractors[str(e.originator_id)] = e.subcontractor
        s.cadence[e.subcontractor] = e.terms.referral_cadence
        self._role(s, e.subcontractor, "subcontractor", "payee")
        self._role(s, str(e.org), "payer")
        return ["contractUpdate"], {
            "contracts": [
                {
                    "id": _contract_id(s),
                    "awardID": _award_id(s),
                    "agreedMetrics": [_referral_metric(e.subcontractor, e.terms, "contracted")],
                }
            ]
        }

    def _on_ReferralsSent(self, s: _State, e: subcontract.ReferralsSent) -> Any:
        sub = s.subcontractors.get(str(e.originator_id))
        if sub is None:
            return None
        observation = {
            "id": f"{e.period}-sent",
            "period": _period(e.period),
            "measure": e.count,
            "unit": {"name": "referrals"},
            "notes": f"referrals {e.org} sent to {sub}",
        }
        metric = {"id": f"referrals-{sub}", "title": f"Referrals to {sub}",
                  "observations": [observation]}  # fmt: skip
        return ["implementation"], _implementation(s, metrics=[metric])

    def _on_PerformanceReported(self, s: _State, e: subcontract.PerformanceReported) -> Any:
        sub = s.subcontractors.get(str(e.originator_id))
        kpi = s.kpis.get(e.kpi)
        observation: dict[str, Any] = {
            "id": f"{sub}-{e.period}-actual",
            "period": _period(e.period),
            "measure": Amount(e.actual),
            "dimensions": {"subcontractor": sub, "reportedBy": e.org},
        }
        if kpi is not None:
            observation["unit"] = {"name": kpi.unit}
        metric = {"id": _kpi_id(e.kpi), "title": e.kpi, "observations": [observation]}
        return ["implementation"], _implementation(s, metrics=[metric])

    def _on_PaymentRecorded(self, s: _State, e: invoice.PaymentRecorded) -> Any:
        sub = s.subcontractors.get(str(e.originator_id)) or _invoice_subcontractor(s, e)
        transaction = {
            "id": f"payment-{e.notification_id}",
            "date": f"{e.paid_on.isoformat()}T00:00:00Z",
            "value": money(e.amount),
            "payer": self._organisation(str(e.org)).reference(),
        }
        if sub:
            transaction["payee"] = self._organisation(sub).reference()
        return ["implementation"], _implementation(s, transactions=[transaction])

    def _on_InvoiceSubmitted(self, s: _State, e: invoice.InvoiceSubmitted) -> None:
        s.subcontractors[str(e.originator_id)] = str(e.org)  # whom its payments go to

    def _on_PackageClosed(self, s: _State, e: package.PackageClosed) -> Any:
        if s.prime is None:
            return ["tenderCancellation"], {"tender": {"id": s.reference, "status": "cancelled"}}
        return ["contractTermination"], {
            "contracts": [{"id": _contract_id(s), "awardID": _award_id(s), "status": "terminated"}]
        }


def _invoice_subcontractor(s: _State, e: LedgerEvent) -> str | None:
    return s.subcontractors.get(str(e.originator_id))


def _implementation(s: _State, **parts: Any) -> dict[str, Any]:
    return {"contracts": [{"id": _contract_id(s), "awardID": _award_id(s),
                           "implementation": parts}]}  # fmt: skip


def _award_id(s: _State) -> str:
    return f"{s.reference}-award"


def _contract_id(s: _State) -> str:
    return f"{s.reference}-contract"


def _day(day: Any) -> str:
    return f"{day.isoformat()}T00:00:00Z"


def _timestamp(e: LedgerEvent) -> str:
    return e.timestamp.isoformat(timespec="seconds").replace("+00:00", "Z")


def _effective(e: LedgerEvent) -> str:
    """When the fact took effect (the event's signed ``on`` date): an award's, a contract's
    or an amendment's date in OCDS, where the recording time would date every fact to the
    moment someone typed it in."""
    return f"{e.on.isoformat()}T00:00:00Z"


def _period(text: str) -> dict[str, str]:
    period = Period.parse(text)
    return {"startDate": _day(period.first_day), "endDate": _day(period.last_day)}


def _kpi_id(name: str) -> str:
    return "kpi-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _kpi_metric(kpi: package.Kpi) -> dict[str, Any]:
    observations = [
        {"id": level, "measure": Amount(value), "unit": {"name": kpi.unit},
         "notes": f"{level} level; {kpi.direction.value} is better; per {kpi.cadence}"}
        for level, value in (("target", kpi.target), ("acceptable", kpi.acceptable))
        if value is not None
    ]  # fmt: skip
    metric: dict[str, Any] = {"id": _kpi_id(kpi.name), "title": kpi.name}
    if observations:
        metric["observations"] = observations
    return metric


def _referral_metric(sub: str, terms: Terms, kind: str) -> dict[str, Any]:
    return {
        "id": f"referrals-{sub}",
        "title": f"Referrals to {sub}",
        "observations": [
            {
                "id": kind,
                "measure": terms.referrals_per_period,
                "unit": {"name": f"referrals a {terms.referral_cadence}"},
            }
        ],
    }


def _promise_forecasts(prime: str, promise: Promise) -> list[dict[str, Any]]:
    """A bid's promise to one subcontractor: its workshare and its referrals, each an
    observation named after the prime whose bid made it."""
    sub, terms = promise.subcontractor, promise.terms
    return [
        {
            "id": f"workshare-{sub}",
            "title": f"Workshare promised to {sub}",
            "observations": [
                {
                    "id": f"bid-{prime}",
                    "measure": Amount(terms.share_pct),
                    "unit": {"name": "% of the contract value"},
                    "value": money(terms.value_per_year),
                    "notes": f"{prime}'s bid: {terms.service}; the value is per year",
                }
            ],
        },
        {
            "id": f"referrals-{sub}",
            "title": f"Referrals to {sub}",
            "observations": [
                {
                    "id": f"bid-{prime}",
                    "measure": terms.referrals_per_period,
                    "unit": {"name": f"referrals a {terms.referral_cadence}"},
                }
            ],
        },
    ]


def _amendment(e: LedgerEvent, change: str) -> dict[str, Any]:
    return {
        "id": f"amendment-{e.notification_id}",
        "date": _effective(e),
        "rationale": getattr(e, "reason", "") or "not given",
        "description": f"Value changed {change}.",
    }


# -- compiling ------------------------------------------------------------------------


def compile_releases(releases: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The compiled release: the releases merged in order, as OCDS merging does (objects
    field by field, arrays of objects by ``id``, other arrays and values replaced)."""
    compiled: dict[str, Any] = {}
    for release in releases:
        _merge(compiled, {k: v for k, v in release.items() if k not in ("id", "tag")})
    if compiled:
        compiled["id"] = f"{compiled['ocid']}-compiled"
        compiled["tag"] = ["compiled"]
    return compiled


def _merge(target: dict[str, Any], source: dict[str, Any]) -> None:
    for key, value in source.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        elif _identified(value) and _identified(target.get(key)):
            by_id = {item["id"]: item for item in target[key]}
            for item in value:
                if item["id"] in by_id:
                    _merge(by_id[item["id"]], item)
                else:
                    target[key].append(copy.deepcopy(item))
                    by_id[item["id"]] = target[key][-1]
        else:
            target[key] = copy.deepcopy(value)


def _identified(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(item, dict) and "id" in item for item in value)
    )


# -- flat tables ----------------------------------------------------------------------

TABLES: dict[str, tuple[str, ...]] = {
    "releases": ("ocid", "release_id", "date", "tags"),
    "parties": ("ocid", "party_id", "name", "roles", "identifier_scheme", "identifier_id"),
    "awards": ("ocid", "award_id", "status", "date", "supplier", "amount", "currency",
               "promised_share", "promised_workshare"),
    "subcontracts": ("ocid", "award_id", "subcontract_id", "subcontractor", "main_contractors"),
    "contracts": ("ocid", "contract_id", "status", "amount", "currency"),
    "transactions": ("ocid", "contract_id", "transaction_id", "date", "amount", "currency",
                     "payer", "payee"),
    "metrics": ("ocid", "stage", "metric_id", "title", "observation_id", "period_start",
                "period_end", "measure", "unit", "subcontractor"),
}  # fmt: skip


def tables(record_package: dict[str, Any]) -> dict[str, list[tuple[Any, ...]]]:
    """Rows of each flat table, from a record package's releases and compiled releases."""
    out: dict[str, list[tuple[Any, ...]]] = {name: [] for name in TABLES}
    for record in record_package["records"]:
        ocid, compiled = record["ocid"], record["compiledRelease"]
        for release in record["releases"]:
            out["releases"].append((ocid, release["id"], release["date"], " ".join(release["tag"])))
        for party in compiled.get("parties", []):
            identifier = party.get("identifier", {})
            out["parties"].append((ocid, party["id"], party.get("name"), " ".join(party["roles"]),
                                   identifier.get("scheme"), identifier.get("id")))  # fmt: skip
        for metric in compiled.get("tender", {}).get("targets", []):
            out["metrics"] += _observations(ocid, "tender targets", metric)
        for award in compiled.get("awards", []):
            sub = award.get("subcontracting", {})
            out["awards"].append((ocid, award["id"], award.get("status"), award.get("date"),
                                  ", ".join(s["id"] for s in award.get("suppliers", [])),
                                  *_value(award), sub.get("minimumPercentage"),
                                  sub.get("description")))  # fmt: skip
            for item in sub.get("subcontracts", []):
                out["subcontracts"].append((ocid, award["id"], item["id"],
                                            item["subcontractor"]["id"],
                                            ", ".join(m["id"] for m in item["mainContractors"])))  # fmt: skip
            for metric in award.get("agreedMetrics", []):
                out["metrics"] += _observations(ocid, "award agreed", metric)
        for contract in compiled.get("contracts", []):
            out["contracts"].append((ocid, contract["id"], contract.get("status"),
                                     *_value(contract)))  # fmt: skip
            for metric in contract.get("agreedMetrics", []):
                out["metrics"] += _observations(ocid, "contract agreed", metric)
            implementation = contract.get("implementation", {})
            for t in implementation.get("transactions", []):
                out["transactions"].append((ocid, contract["id"], t["id"], t.get("date"),
                                            *_value(t), t.get("payer", {}).get("id"),
                                            t.get("payee", {}).get("id")))  # fmt: skip
            for metric in implementation.get("metrics", []):
                out["metrics"] += _observations(ocid, "implementation", metric)
    return out


def _value(item: dict[str, Any]) -> tuple[Any, Any]:
    value = item.get("value", {})
    return value.get("amount"), value.get("currency")


def _observations(ocid: str, stage: str, metric: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (ocid, stage, metric["id"], metric.get("title"), o["id"],
         o.get("period", {}).get("startDate"), o.get("period", {}).get("endDate"),
         o.get("measure"), o.get("unit", {}).get("name"),
         o.get("dimensions", {}).get("subcontractor"))
        for o in metric.get("observations", [])
    ]  # fmt: skip


def write_tables(record_package: dict[str, Any], directory: Any) -> list[Any]:
    """Write each flat table as ``<name>.csv`` in ``directory`` (made if missing)."""
    import csv
    from pathlib import Path

    from chainledger.errors import InvalidValue

    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        written = []
        for name, rows in tables(record_package).items():
            path = directory / f"{name}.csv"
            with path.open("w", newline="", encoding="utf-8") as file:
                writer = csv.writer(file)
                writer.writerow(TABLES[name])
                writer.writerows(rows)
            written.append(path)
    except OSError as error:
        raise InvalidValue(f"cannot write the tables to {directory}: {error.strerror}") from None
    return written
