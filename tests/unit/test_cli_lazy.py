"""The root command imports a command's module only when that command runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
from click.testing import CliRunner

from chainledger.cli.main import COMMANDS, SUBCOMMANDS, _load, cli


def test_each_command_in_the_table_is_the_command_of_that_name() -> None:
    for name, target in COMMANDS.items():
        assert _load(target).name == name, target
    for group, subcommands in SUBCOMMANDS.items():
        assert isinstance(_load(COMMANDS[group]), click.Group)
        for name, target in subcommands.items():
            assert _load(target).name == name, target


def test_a_command_imports_only_its_own_command_module(tmp_path: Path) -> None:
    probe = (
        "import sys\nfrom chainledger.cli.main import cli\n"
        "try:\n    cli(sys.argv[1:], standalone_mode=False)\nexcept Exception:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('chainledger.cli.')))"
    )
    ledger = str(tmp_path / "missing.db")
    ran = subprocess.run([sys.executable, "-c", probe, "--ledger", ledger, "report", "findings"],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    loaded = eval(ran.stdout.splitlines()[-1])  # noqa: S307 - a list of names
    commands = {target.partition(":")[0] for target in COMMANDS.values()}
    assert commands & set(loaded) == {"chainledger.cli.reports"}


def test_an_unknown_command_still_gets_suggestions() -> None:
    result = CliRunner().invoke(cli, ["reprot"])
    assert result.exit_code == 2
    assert "No such command 'reprot'" in result.output
    if hasattr(click.exceptions, "NoSuchCommand"):  # click 8.4+ suggests names
        assert "'report'" in result.output
