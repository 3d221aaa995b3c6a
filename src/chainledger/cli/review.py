"""``chainledger review …`` (rounds and sealed ratings) and ``chainledger report reviews``."""

from __future__ import annotations

import json
from typing import Any

import click

from chainledger.cli.options import as_option
from chainledger.cli.render import FORMATS, format_option, render
from chainledger.cli.runtime import Runtime


def _period_option(command: Any) -> Any:
    return click.option(
        "--period", required=True, metavar="PERIOD",
        help="The period reviewed: a quarter like 2026-Q1 or a month like 2026-03.",
    )(command)  # fmt: skip


def _parse_scores(values: tuple[str, ...]) -> dict[str, str]:
    """``--score openness=4`` (repeatable; or ``openness=4,payment=2`` in one)."""
    scores: dict[str, str] = {}
    for value in values:
        for part in filter(None, (p.strip() for p in value.split(","))):
            slug, eq, score = part.partition("=")
            if not eq or not slug.strip():
                raise click.BadParameter(f"{part!r}: use DIMENSION=SCORE", param_hint="'--score'")
            if slug.strip() in scores:
                raise click.BadParameter(f"{slug.strip()} is scored twice", param_hint="'--score'")
            scores[slug.strip()] = score.strip()
    return scores


def _score_option(command: Any) -> Any:
    return click.option(
        "--score", "scores", multiple=True, metavar="DIMENSION=SCORE",
        help="A score from 1 (poor) to 5 (excellent) for one dimension; repeat for each, "
        "or give several as openness=4,payment=2.",
    )(command)  # fmt: skip


@click.group()
def review() -> None:
    """360 review: sealed ratings between the commissioner, the prime and subcontractors.

    \b
    1. The commissioner opens a round for a package and period:
         chainledger review open P-1 --period 2026-Q1 --as council
    2. While it is open each party commits its ratings; nobody can read them:
         chainledger review rate P-1 --period 2026-Q1 --as hope-trust \\
           --ratee big-prime --score openness=2,fairness=2,payment=1,support=3 …
    3. The commissioner closes the round; then each rater reveals, sealed to the
       commissioner only, and a reveal must match what was committed; then the
       commissioner ends the reveals:
         chainledger review close P-1 --period 2026-Q1 --as council
         chainledger review reveal P-1 --period 2026-Q1 --as hope-trust
         chainledger review finalise P-1 --period 2026-Q1 --as council
    4. The commissioner reads the results, and gives each party its share:
         chainledger report reviews --package P-1 --as council
         chainledger report reviews --package P-1 --as council --for big-prime

    Dimensions (default): openness, fairness, payment, support, commitments,
    clarity, equality, improvement.
    """


@review.command("open")
@click.argument("package")
@_period_option
@as_option
@click.option(
    "--dimension", "dimensions", multiple=True, metavar="SLUG[:TITLE]",
    help="A dimension to score, repeatable [default: the Code of Practice's eight]. "
    "A new one needs a title, e.g. 'co-design:Co-design of services'.",
)  # fmt: skip
@click.option(
    "--min-group", default="3", show_default=True, metavar="N",
    help="The smallest group of raters the shared view shows (never below 3).",
)  # fmt: skip
@click.pass_obj
def review_open(
    runtime: Runtime,
    package: str,
    period: str,
    handle: str,
    dimensions: tuple[str, ...],
    min_group: str,
) -> None:
    """Open a review round for PACKAGE and a period (the package's commissioner).

    Ratings revealed in the round are sealed to the commissioner's encryption key.
    The minimum group is fixed with the round, so that no two shared views of it
    differ by a single rater.
    """
    runtime.record(
        handle,
        lambda app, s, uow: app.open_review(s, package, period, dimensions, min_group, uow=uow),
    )


@review.command("close")
@click.argument("package")
@_period_option
@as_option
@click.pass_obj
def review_close(runtime: Runtime, package: str, period: str, handle: str) -> None:
    """Close PACKAGE's round for a period: no more ratings; raters may now reveal."""
    runtime.record(handle, lambda app, s, uow: app.close_review(s, package, period, uow=uow))


@review.command("finalise")
@click.argument("package")
@_period_option
@as_option
@click.pass_obj
def review_finalise(runtime: Runtime, package: str, period: str, handle: str) -> None:
    """End the reveals of PACKAGE's round for a period (its owner).

    Ratings not revealed by now never count. The shared view (report reviews
    --for) is given only for final rounds: it can no longer change, so no two
    views can be compared to single out one rating.
    """
    runtime.record(handle, lambda app, s, uow: app.finalise_review(s, package, period, uow=uow))


@review.command("rate")
@click.argument("package")
@_period_option
@as_option
@click.option("--ratee", required=True, metavar="HANDLE", help="The organisation rated.")
@_score_option
@click.option("--comment", help="An optional comment (no personal data about service users).")
@click.pass_obj
def review_rate(
    runtime: Runtime,
    package: str,
    period: str,
    handle: str,
    ratee: str,
    scores: tuple[str, ...],
    comment: str | None,
) -> None:
    """Commit to a rating of --ratee while the round is open.

    Only a hash of the rating (with a secret salt) is visible until the round
    closes; the rating itself is sealed to your own encryption key so that you
    can reveal it later. It cannot be changed. Rate yourself with --ratee set
    to your own handle (self-assessment).
    """
    given = _parse_scores(scores)
    runtime.record(
        handle,
        lambda app, s, uow: app.rate(s, package, period, ratee, given, comment, uow=uow),
    )


@review.command("reveal")
@click.argument("package")
@_period_option
@as_option
@click.option("--ratee", metavar="HANDLE", help="Reveal only the rating of this organisation.")
@_score_option
@click.option("--comment", help="With --score: the comment as committed.")
@click.pass_obj
def review_reveal(
    runtime: Runtime,
    package: str,
    period: str,
    handle: str,
    ratee: str | None,
    scores: tuple[str, ...],
    comment: str | None,
) -> None:
    """Reveal your committed ratings to the round's owner, after the round closes.

    Each is sealed so that only the commissioner who owns the round can read it.
    With --ratee and --score, the scores you give are checked against your
    commitment and the reveal is refused if they differ.
    """
    if comment is not None and not scores:
        raise click.UsageError("--comment is checked only with --score (and --ratee)")
    given = _parse_scores(scores) if scores else None
    opener = runtime.opener(handle)
    runtime.record(
        handle,
        lambda app, s, uow: app.reveal(s, opener, package, period, ratee, given, comment, uow=uow),
    )


@review.command("status")
@click.argument("package")
@click.option("--period", metavar="PERIOD", help="One round [default: list the package's rounds].")
@format_option()
@click.pass_obj
def review_status(runtime: Runtime, package: str, period: str | None, fmt: str) -> None:
    """Who has committed and revealed in PACKAGE's rounds (no rating is readable here)."""
    app = runtime.app()
    if period is None:
        rows = [
            {"package": r.package, "period": r.period, "owner": r.owner, "status": r.status,
             "opened": r.opened_on, "closed": r.closed_on or "",
             "dimensions": " ".join(d.slug for d in r.dimensions)}
            for r in app.review_rounds(package)
        ]  # fmt: skip
        click.echo(render(rows, fmt, empty=f"No review rounds for {package} yet."))
        return
    status = app.review_status(package, period)
    if fmt == "json":
        click.echo(json.dumps(status, indent=2))
        return
    rows = [
        {"rater": r["rater"], "ratee": r["ratee"], "committed": r["committed_on"],
         "revealed": r["revealed_on"] or "",
         "commitment": r["commitment"][:16] + "…" if fmt == "table" else r["commitment"]}
        for r in status["ratings"]
    ]  # fmt: skip
    if fmt == "table":
        click.echo(
            f"Review of {status['package']} for {status['period']}: {status['status']}, "
            f"owned by {status['owner']}"
        )
    click.echo(render(rows, fmt, empty="No ratings committed yet."))


# -- report reviews ----------------------------------------------------------------------


@click.command("reviews")
@click.option("--package", "package_ref", metavar="REF", help="One package [default: every one].")
@click.option("--period", metavar="PERIOD", help="One period [default: every round].")
@click.option(
    "--as", "handle", required=True, metavar="HANDLE",
    help="The round's owner (its commissioner): only its key opens the ratings.",
)  # fmt: skip
@click.option(
    "--for", "for_handle", metavar="HANDLE",
    help="Only what HANDLE may see of how it was rated, in final rounds: groups of at least "
    "the round's minimum (3 or more) raters, no attribution.",
)  # fmt: skip
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.pass_obj
def report_reviews(
    runtime: Runtime,
    package_ref: str | None,
    period: str | None,
    handle: str,
    for_handle: str | None,
    fmt: str,
) -> None:
    """360 review results: per ratee, dimension and rater group, with the ledger's evidence.

    The owner's view shows n, median, mean, range and distribution per group
    (self, prime, subcontractors, commissioner), the self-other gap, the mutual
    matrix, the trend across periods and every commitment that counts for
    nothing (never revealed, or not matching). With --for, the shared view: what
    the rated organisation may see of final rounds, safe to hand to it.
    """
    app = runtime.app()
    app.ledger_id  # noqa: B018 - refuse a missing ledger before asking for a passphrase
    opener = runtime.opener(handle)
    result = app.review_report(opener, package=package_ref, period=period, for_handle=for_handle)
    if fmt == "json":
        click.echo(json.dumps(result, indent=2))
    elif for_handle is not None:
        click.echo(_shared_text(result) if fmt == "table" else render(_shared_rows(result), "csv"))
    elif fmt == "csv":
        click.echo(render([_flat(row) for row in result["cells"]], "csv"))
    else:
        click.echo(_owner_text(result))


def _dist(distribution: dict[str, int]) -> str:
    return " ".join(str(count) for count in distribution.values())


def _flat(row: dict[str, Any]) -> dict[str, Any]:
    return {k: _dist(v) if k == "distribution" else v for k, v in row.items()}


# On the face of every output only a round's owner may see (its statistics can single out
# a rater): what to share instead.
OWNER_ONLY = ("OWNER ONLY, NOT FOR SHARING: every revealed rating counts here, however small "
              "the group. To share, use: chainledger report reviews --as OWNER --for HANDLE")  # fmt: skip


def _owner_text(result: dict[str, Any]) -> str:
    if not result["rounds"]:
        return "No review rounds to report."
    out = [OWNER_ONLY]
    for r in result["rounds"]:
        out.append(
            f"Review of {r['package']} for {r['period']} (owner {r['owner']}, {r['status']}): "
            f"{r['revealed']} ratings revealed, {r['unusable']} that count for nothing"
        )
    sections = [
        ("Ratings by ratee, dimension and rater group (distribution: how many gave 1 2 3 4 5)",
         [{k: _dist(v) if k == "distribution" else v for k, v in row.items() if k != "package"}
          for row in result["cells"]]),
        ("Self-assessment against others",
         [{k: v for k, v in row.items() if k != "package"} for row in result["gaps"]]),
        ("Mutual ratings: how A rated B beside how B rated A (mean over dimensions)",
         [{k: v for k, v in row.items() if k != "package"} for row in result["matrix"]]),
        ("Trend: others' median by period",
         [{"package": t["package"], "ratee": t["ratee"], "dimension": t["dimension"],
           **t["medians"]} for t in result["trend"]]),
        ("Commitments that count for nothing",
         [{k: v for k, v in row.items() if k not in ("package", "evidence")}
          for row in result["unusable"]]),
    ]  # fmt: skip
    for title, rows in sections:
        out += ["", title, render(_same_keys(rows), "table", empty="(none)")]
    return "\n".join(out)


def _same_keys(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    keys: list[str] = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    return [{k: row.get(k, "") for k in keys} for row in rows]


def _shared_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for r in result["rounds"]:
        for d in r["dimensions"]:
            ledger = d["ledger"] or {}
            base = {"package": r["package"], "period": r["period"], "dimension": d["dimension"],
                    "self": d["self"], "others_median": d["others_median"],
                    "self_other_gap": d["self_other_gap"],
                    "ledger": f"{ledger['measure']}: {ledger['value'] or 'nothing yet'}"
                              if ledger else ""}  # fmt: skip
            groups = d["groups"] or [None]
            for g in groups:
                rows.append({
                    **base,
                    "group": g["group"] if g else "",
                    "n": g["n"] if g else "",
                    "median": g["median"] if g else "",
                    "mean": g["mean"] if g else "",
                    "range": g["range"] if g else "",
                    "distribution": _dist(g["distribution"]) if g else "",
                })  # fmt: skip
    return rows


def _shared_text(result: dict[str, Any]) -> str:
    ratee = result["ratee"]
    waiting = [
        f"The review of {w['package']} for {w['period']} is {w['status']}, not final: its "
        "shared view is given once its owner runs review finalise."
        for w in result["not_final"]
    ]
    if not result["rounds"]:
        return "\n".join(waiting or [f"No revealed ratings of {ratee} to share."])
    out = [
        f"How {ratee} was rated: no rating attributed; groups smaller than the round's "
        "minimum pooled or withheld, and groups whose raters all agree withheld.",
        *waiting,
    ]
    for r in result["rounds"]:
        out += [
            "",
            f"Review of {r['package']} for {r['period']} (groups of {r['min_group']} or more)",
        ]
        rows = [{k2: v for k2, v in row.items() if k2 not in ("package", "period")}
                for row in _shared_rows({"rounds": [r]})]  # fmt: skip
        out.append(render(rows, "table"))
        notes = [f"{d['dimension']}: {w}" for d in r["dimensions"] for w in d["withheld"]]
        if notes:
            out += ["", "Withheld:", *(f"  {n}" for n in notes)]
        if r["comments"]:
            out += ["", "Comments (unattributed):", *(f"  - {c}" for c in r["comments"])]
    return "\n".join(out)
