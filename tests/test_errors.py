"""Library errors speak the library's language: no command-line flag in a message raised outside nnlab/cli/."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from nnlab.errors import ParameterError

ROOT = Path(__file__).resolve().parents[1] / "nnlab"
FLAG = re.compile(r"(?:^|[\s(`'\"])--[a-z]")


def flag_messages(source: str) -> list[str]:
    """The text of every ``raise SomethingError(...)`` whose string arguments name a ``--flag``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            strings = [c.value for c in ast.walk(node.exc) if isinstance(c, ast.Constant) and isinstance(c.value, str)]
            text = " ".join(strings)
            if FLAG.search(text):
                found.append(text)
    return found


def test_no_library_error_names_a_command_line_flag():
    problems = {
        str(p.relative_to(ROOT.parent)): flag_messages(p.read_text())
        for p in sorted(ROOT.rglob("*.py"))
        if "cli" not in p.relative_to(ROOT).parts
    }
    assert {k: v for k, v in problems.items() if v} == {}


def test_the_check_bites():
    assert flag_messages('raise NnlabError(f"--epochs must be at least 1, got {n}")')
    assert flag_messages('raise NnlabError("x " "rerun with --download")')
    assert not flag_messages('raise NnlabError("epochs must be at least 1; a--b is no flag")')


def test_cli_shows_parameter_errors_as_its_flags(runner, app):
    res = runner.invoke(app, ["train", "--model", "cnn", "--val-fraction", "1.5", "-o", "/tmp/never.safetensors"])
    assert res.exit_code == 1
    assert "--val-fraction must be in (0, 1)" in res.stderr
    error = ParameterError(("val_fraction",), "val_fraction must be in (0, 1)")
    assert error.parameters == ("val_fraction",) and str(error) == "val_fraction must be in (0, 1)"
