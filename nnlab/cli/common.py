"""What every command shares: option types, error handling, consoles and progress bars."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from nnlab.errors import NnlabError

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

# Shared options (DESIGN.md, "Command-line conventions").
DeviceOpt = Annotated[str, typer.Option("--device", help="auto, cpu, cuda or mps.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed: same inputs and seed give the same artifacts.")]
BatchSizeOpt = Annotated[int, typer.Option("--batch-size", min=1, help="Batch size.")]
NumWorkersOpt = Annotated[int, typer.Option("--num-workers", min=0, help="DataLoader worker processes.")]
DataRootOpt = Annotated[Optional[Path], typer.Option("--data-root", help="Dataset folder (default: $NNLAB_DATA, else ./data).")]
DownloadOpt = Annotated[bool, typer.Option("--download", help="Download the dataset if it is not under --data-root.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or tables, only errors.")]
OutputOpt = Annotated[Path, typer.Option("--output", "-o", help="Output file.")]


def command(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a command so user errors print one red line and exit 1, and Ctrl-C exits 130, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from nnlab.artifacts import set_invocation

        set_invocation(fn.__name__.replace("_", "-"), kwargs)
        try:
            return fn(*args, **kwargs)
        except NnlabError as exc:
            err_console.print(f"[bold red]error:[/] {exc}", soft_wrap=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            err_console.print("[bold red]interrupted[/]")
            raise typer.Exit(130) from None

    return wrapper


def progress(quiet: bool = False, transient: bool = True) -> Progress:
    """A rich progress bar (description, bar, n/total, elapsed, remaining); off when quiet or not on a terminal."""
    return Progress(
        TextColumn("[bold blue]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TimeRemainingColumn(), console=err_console, transient=transient,
        disable=quiet or not err_console.is_terminal,  # no bar (and no stray blank line) in logs and pipes
    )


def parse_fraction(text: str | None, name: str) -> float | None:
    """Parse numbers such as '0.5', '8/255'; None stays None; garbage is a clear error."""
    if text is None:
        return None
    try:
        if "/" in text:
            num, den = text.split("/", 1)
            return float(num) / float(den)
        return float(text)
    except (ValueError, ZeroDivisionError):
        raise NnlabError(f"{name} must be a number or a fraction such as 8/255, got {text!r}") from None


def parse_key_values(items: list[str] | None, name: str = "--model-arg") -> dict[str, Any]:
    """Parse repeated KEY=VALUE options, turning numbers, booleans and JSON into Python values."""
    import json

    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise NnlabError(f"{name} expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        try:
            out[key.strip().replace("-", "_")] = json.loads(value)
        except json.JSONDecodeError:
            lowered = value.lower()
            out[key.strip().replace("-", "_")] = {"true": True, "false": False}.get(lowered, value)
    return out


def split_list(text: str | None) -> list[str]:
    """'a,b, c' → ['a', 'b', 'c']; empty or None → []."""
    return [t.strip() for t in (text or "").split(",") if t.strip()]


def sibling(path: Path, suffix: str) -> Path:
    """A file beside ``path`` named after it: artifacts/vgg.safetensors + '.history.parquet'."""
    return path.with_name(path.name.split(".")[0] + suffix)


def env_data_root(root: Path | None) -> Path:
    """--data-root, else $NNLAB_DATA, else ./data."""
    return Path(root) if root else Path(os.environ.get("NNLAB_DATA", "data"))
