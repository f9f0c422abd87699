"""What a Makefile pipeline would run: the `nnlab` commands of `make -n`, for the pipeline tests."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def make_commands(target: str, **variables: str) -> list[list[str]]:
    """The `nnlab` argument lists `make -n TARGET` would run, in order (environment prefixes dropped)."""
    args = ["make", "-n", "--no-print-directory", target, "NNLAB=nnlab", *(f"{k}={v}" for k, v in variables.items())]
    text = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    commands = []
    for line in text.replace("\\\n", " ").splitlines():
        words = shlex.split(line)
        while words and "=" in words[0] and not words[0].startswith("-"):
            words.pop(0)
        if words[:1] == ["nnlab"]:
            commands.append(words[1:])
    return commands
