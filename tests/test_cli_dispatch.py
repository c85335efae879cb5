"""`limen COMMAND` builds that command's parser alone, so a quick command
does not pay for importing every other one (Trio, psycopg, pglast ...);
`limen --help` and a mistyped command still see every command."""

from __future__ import annotations

import subprocess
import sys

import pytest

from limen.cli import COMMANDS, main

PROBE = """
import sys
from limen.cli import main
rc = main(["mask", "--list"])
heavy = sorted(m for m in ("trio", "psycopg", "pglast", "limen.cli.serve", "limen.cli.demo")
               if m in sys.modules)
print("HEAVY", ",".join(heavy), rc)
"""


def test_one_command_imports_only_its_module() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True
    ).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("HEAVY"))
    assert line == "HEAVY  0", line


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out


def test_a_typo_is_refused_with_the_choices(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["sessoins", "list"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'sessoins'" in err
    assert "'sessions'" in err


def test_an_option_before_the_command_still_parses(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version", "mask"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.startswith("limen ")
