"""The generator has a real command line (issue 24): help that says what it makes, and one-line
refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from chainledger.tools.generator import main


def test_help_says_what_it_makes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "python -m chainledger.tools.generator" in out
    for word in ("--events", "--keys", "not secrets"):
        assert word in out


@pytest.mark.parametrize(("args", "message"), [
    (["{tmp}/exists.db", "--keys", "{tmp}/k"], "exists: give a new file"),
    (["{tmp}/new.db", "--keys", "{tmp}/k", "--events", "0"], "--events must be between"),
    (["{tmp}/new.db"], "the following arguments are required: --keys"),
])  # fmt: skip
def test_refusals_are_one_line_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    (tmp_path / "exists.db").write_bytes(b"")
    with pytest.raises(SystemExit) as done:
        main([a.replace("{tmp}", str(tmp_path)) for a in args])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert not (tmp_path / "new.db").exists()
