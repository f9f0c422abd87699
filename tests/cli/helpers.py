"""Helpers for CLI tests: run a command and check the one-clear-line error contract."""

from __future__ import annotations


def invoke(runner, app, *args: str):
    """Run ``nnlab ARGS`` in-process and return the click Result."""
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def error_text(result) -> str:
    """stderr (or output, for runners that mix them) of a finished command."""
    try:
        return result.stderr
    except (ValueError, AttributeError):
        return result.output


def assert_clear_error(result, *fragments: str, code: int = 1) -> None:
    """The command failed with ``code``, printed no traceback, and its message names every fragment."""
    text = error_text(result)
    assert result.exit_code == code, (result.exit_code, result.output, text)
    assert "Traceback" not in text and "Traceback" not in result.output
    lowered = " ".join(text.split()).lower()
    for frag in fragments:
        assert frag.lower() in lowered, (frag, text)
