"""``alignsim --version``: the installed version on stdout, exit 0 (no sub-command needed)."""

from __future__ import annotations

import re
from importlib.metadata import version

import pytest

from alignsim.apps.cli import main


def test_version_prints_the_installed_version_and_exits_0(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    out, err = capsys.readouterr()
    assert out == f"alignsim {version('alignsim')}\n"
    assert re.fullmatch(r"alignsim \d+\.\d+\.\d+\S*\n", out)
    assert err == ""


def test_a_missing_command_is_still_exit_2(capsys):
    with pytest.raises(SystemExit) as stop:
        main([])
    assert stop.value.code == 2
    assert "alignsim" not in capsys.readouterr().out
