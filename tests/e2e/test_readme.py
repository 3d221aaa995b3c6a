"""The README's package walkthrough runs exactly as written."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from tests.conftest import CliLedger

# Locally on each engine, and through `chainledger serve` (the remote engine): the same
# assertions hold for a client of the service.
pytestmark = pytest.mark.also_remote

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_commands(name: str = "package-life") -> list[list[str]]:
    text = README.read_text(encoding="utf-8")
    block = re.search(rf"<!-- {name}:start -->\n```sh\n(.*?)```", text, re.S)
    assert block, f"the README lost its {name} block"
    joined = block.group(1).replace("\\\n", " ")
    commands = []
    for line in joined.splitlines():
        line = line.split("  #", 1)[0].strip()
        if line and not line.startswith("#"):
            words = shlex.split(line)
            assert words[0] == "chainledger"
            commands.append(words[1:])
    return commands


def test_readme_package_life_runs_as_written(cli_ledger: CliLedger) -> None:
    commands = readme_commands()
    assert len(commands) > 25
    for args in commands:
        result = cli_ledger.run(*args)
        assert result.exit_code == 0, (args, result.stdout, result.stderr)
    history = cli_ledger.ok("history", "BAR-ES-2026").stdout
    assert "hope-trust disputed variation 1" in history
    assert "package closed" in history


def test_readme_review_runs_as_written(cli_ledger: CliLedger) -> None:
    for args in readme_commands() + readme_commands("review"):
        result = cli_ledger.run(*args)
        assert result.exit_code == 0, (args, result.stdout, result.stderr)
    status = cli_ledger.ok("review", "status", "BAR-ES-2026", "--period", "2026-Q2").stdout
    assert "final, owned by barnet-council" in status
    report = cli_ledger.ok("report", "reviews", "--as", "barnet-council", "--format", "json")
    unusable = {
        (u["rater"], u["ratee"]): u["status"] for u in json.loads(report.stdout)["unusable"]
    }
    assert unusable == {("womens-centre", "northgate"): "never revealed"}


def test_readme_report_html_runs_as_written(cli_ledger: CliLedger, tmp_path: Path) -> None:
    """The page commands, on the ledger the walkthrough and the review leave, with their
    files under tmp_path and a checkpoint the council made first."""
    for args in readme_commands() + readme_commands("review"):
        cli_ledger.ok(*args)
    cli_ledger.ok("checkpoint", "--as", "barnet-council", "-o",
                  str(tmp_path / "barnet-council.checkpoint"))  # fmt: skip
    commands = readme_commands("report-html")
    assert len(commands) == 4
    for args in commands:
        args = [str(tmp_path / a) if a.endswith((".html", ".checkpoint")) else a for a in args]
        result = cli_ledger.run(*args)
        assert result.exit_code == 0, (args, result.stdout, result.stderr)
        page = Path(args[args.index("-o") + 1]).read_text(encoding="utf-8")
        assert "every event verifies" in page
    board = (tmp_path / "board.html").read_text(encoding="utf-8")
    assert "owner&#x27;s full view" in board
    assert "the ledger extends it" in (tmp_path / "audit.html").read_text(encoding="utf-8")
