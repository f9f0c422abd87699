"""What every command shares: error handling, the running command's options and provenance, consoles and progress
bars (the option types are in :mod:`nnlab.cli.options`)."""

from __future__ import annotations

import contextvars
import dataclasses
import functools
import importlib
import inspect
import json
import re
import sys
import typing
from pathlib import Path
from typing import Any, Callable, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from nnlab.errors import NnlabError, ParameterError, UsageError
from nnlab.launch import env_rank

T = TypeVar("T")

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def print_whole(renderable) -> None:
    """Print on a terminal at its width; into a log or pipe (where rich assumes 80 columns) at up to 1,000, so a
    wide study table reaches the log whole instead of with every column cut to an ellipsis."""
    if console.is_terminal:
        console.print(renderable)
    else:
        Console(highlight=False, width=1000, file=console.file).print(renderable)


# The packages that register into lower layers' registries: the proposals: dataset opener and the align roi
# mode (nnlab.detection), the knn surgery operation and the attacks (nnlab.robustness). Importing one runs its
# small `plugin` module only, which declares those names (nnlab.registry.declare); a registry imports the
# registering module when a command looks one of the names up.
PLUGIN_PACKAGES = ("nnlab.detection", "nnlab.robustness")


def register_plugins() -> None:
    """Declare the names the plugin packages register, so that every name works (and is listed) in every command.

    Cheap (no torch): the modules behind the names load on their first lookup."""
    for name in PLUGIN_PACKAGES:
        importlib.import_module(name)


# The running command's Typer context and parsed options, set by @command for the command's duration
# (Typer keeps its own click, so click.get_current_context does not see it).
_RUNNING: contextvars.ContextVar[tuple[typer.Context, dict[str, Any]] | None] = contextvars.ContextVar(
    "nnlab_cli_running", default=None
)


def current_context() -> typer.Context | None:
    """The Typer context of the command being run (None outside a command)."""
    running = _RUNNING.get()
    return running[0] if running else None


def command(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a command so user errors print one red line and exit 1, and Ctrl-C exits 130, never a traceback.

    The wrapper also asks Typer for the command's context (an extra ``nnlab_context`` parameter), which
    :func:`cli_provenance` and the error messages read.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, nnlab_context: typer.Context, **kwargs: Any) -> Any:
        token = _RUNNING.set((nnlab_context, kwargs))
        quiet_rank = env_rank() > 0  # under torchrun only rank 0 shows progress, tables and summaries
        console.quiet = err_console.quiet = quiet_rank
        try:
            register_plugins()
            return fn(*args, **kwargs)
        except NnlabError as exc:
            err_console.quiet = False
            err_console.print(f"[bold red]error:[/] {in_flags(exc)}", soft_wrap=True)
            raise typer.Exit(2 if isinstance(exc, UsageError) else 1) from None
        except KeyboardInterrupt:
            err_console.print("[bold red]interrupted[/]")
            raise typer.Exit(130) from None
        finally:
            _RUNNING.reset(token)

    hints = typing.get_type_hints(fn, include_extras=True)
    signature = inspect.signature(fn, eval_str=True)
    context = inspect.Parameter("nnlab_context", inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context)
    wrapper.__signature__ = signature.replace(parameters=[*signature.parameters.values(), context])
    wrapper.__annotations__ = {**hints, "nnlab_context": typer.Context}
    return wrapper


def in_flags(exc: NnlabError) -> str:
    """The error's message, with the parameters a :class:`ParameterError` names spelled as this command's flags
    (``val_fraction`` → ``--val-fraction``); other messages unchanged."""
    message = str(exc)
    ctx = current_context()
    if not isinstance(exc, ParameterError) or ctx is None:
        return message
    flags = {param.name: max(param.opts, key=len) for param in ctx.command.params if param.param_type_name == "option"}
    for name in exc.parameters:
        flag = flags.get(name) or flags.get(name.removesuffix("s"))  # model_args is the repeated --model-arg
        if flag:
            message = re.sub(rf"(?<![\w-]){re.escape(name)}(?![\w-])", flag, message, count=1)
    return message


def cli_provenance(**extra: Any) -> dict[str, Any]:
    """The provenance record of the running command (its command line and parsed options) plus ``extra``.

    Read from the command's Typer context, so a command passes it to the library stage that writes files.
    """
    from nnlab import artifacts  # lazy: it imports torch, which start-up (--help, completion) should not

    ctx, options = current_context(), command_options()
    argv0 = Path(sys.argv[0]) if sys.argv else Path()
    if argv0.name == "nnlab" or (argv0.name == "__main__.py" and argv0.parent.name == "nnlab"):
        command_line = " ".join(["nnlab", *sys.argv[1:]])
    elif ctx is not None:
        command_line = f"nnlab {ctx.info_name}"
    else:
        command_line = " ".join(sys.argv)
    return artifacts.provenance(command_line, options, **extra)


def command_options() -> dict[str, Any]:
    """The parsed options of the running command ({} outside a command)."""
    running = _RUNNING.get()
    return dict(running[1]) if running else {}


def from_options(cls: type[T], **overrides: Any) -> T:
    """A ``cls`` dataclass built from the running command's options of the same names as its fields (an option is
    named after the field it fills), ``overrides`` replacing or adding some. A field whose default a dataclass
    makes (a request's ``config``, ``data`` and ``runtime``) is built from the options in turn; other fields
    without either keep their defaults. How a command hands its options to a request without copying them one by
    one, and says each shared option once."""
    options = {**command_options(), **overrides}
    values = {}
    for f in dataclasses.fields(cls):
        if f.name in options:
            values[f.name] = options[f.name]
        elif dataclasses.is_dataclass(f.default_factory):
            values[f.name] = from_options(f.default_factory)
    return cls(**values)


def progress(quiet: bool = False, transient: bool = True) -> Progress:
    """A rich progress bar (description, bar, n/total, elapsed, remaining); off when quiet or not on a terminal."""
    return Progress(
        TextColumn("[bold blue]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=transient,
        disable=quiet or not err_console.is_terminal,  # no bar (and no stray blank line) in logs and pipes
    )


def parse_key_values(items: list[str] | None, name: str = "--model-arg") -> dict[str, Any]:
    """Parse repeated KEY=VALUE options, turning numbers, booleans and JSON into Python values."""
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
