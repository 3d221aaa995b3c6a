"""The README's package walkthrough runs exactly as written."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

from tests.conftest import CliLedger

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
