"""What every command shares: option types, error handling, consoles and progress bars."""

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
from typing import TYPE_CHECKING, Annotated, Any, Callable, Optional, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from nnlab.cli.choices import DEVICES, Precision, Split
from nnlab.errors import NnlabError, ParameterError, UsageError
from nnlab.launch import env_rank

if TYPE_CHECKING:
    from nnlab.data.selection import DataSelection

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


# Panels that group the options of the long commands in --help, in this order.
DATA_PANEL = "Data"
MODEL_PANEL = "Model"
OPTIM_PANEL = "Optimisation"
SCHEDULE_PANEL = "Schedule"
REGULARISATION_PANEL = "Regularisation"
ROBUSTNESS_PANEL = "Robustness"
DETECTION_PANEL = "Detection"
ATTACK_PANEL = "Attack"
EMBEDDING_PANEL = "Embedding"
SEARCH_PANEL = "Selective search"
LABELS_PANEL = "Labels"
OUTPUT_PANEL = "Output"
RUNTIME_PANEL = "Runtime"


def check_device(value: str | None) -> str | None:
    """Accept auto, cpu, cuda, cuda:N and mps (any case); anything else is a usage error listing them."""
    if value is None:
        return None
    name = value.strip().lower()
    index = name.partition(":")[2]
    if name in DEVICES or (name.startswith("cuda:") and index.isdigit()):
        return name
    raise typer.BadParameter(f"{value!r} is not one of {', '.join(map(repr, DEVICES))} or 'cuda:N'.")


def complete_device(incomplete: str) -> list[str]:
    """Shell completion for --device."""
    return [d for d in DEVICES if d.startswith(incomplete.lower())]


# Shared options (DESIGN.md, "Command-line conventions"). Options set once per machine also read an
# environment variable (shown in --help): NNLAB_DEVICE, NNLAB_NUM_WORKERS, NNLAB_DATA.
DeviceOpt = Annotated[
    str,
    typer.Option(
        "--device",
        help="auto, cpu, cuda, cuda:N or mps.",
        envvar="NNLAB_DEVICE",
        show_envvar=True,
        callback=check_device,
        autocompletion=complete_device,
        rich_help_panel=RUNTIME_PANEL,
    ),
]
SeedOpt = Annotated[
    int,
    typer.Option(
        "--seed", help="Random seed: same inputs and seed give the same artifacts.", rich_help_panel=RUNTIME_PANEL
    ),
]
BatchSizeOpt = Annotated[
    int,
    typer.Option(
        "--batch-size",
        min=1,
        help="Batch size (under torchrun: per process, so the global batch is this × the number of processes).",
        rich_help_panel=RUNTIME_PANEL,
    ),
]
NumWorkersOpt = Annotated[
    Optional[int],
    typer.Option(
        "--num-workers",
        min=0,
        help="DataLoader worker processes (default: one per available CPU core less one, at most 8, and 0 below "
        "4 cores; 0 loads in the main process).",
        envvar="NNLAB_NUM_WORKERS",
        show_envvar=True,
        rich_help_panel=RUNTIME_PANEL,
    ),
]
PrecisionOpt = Annotated[
    Precision,
    typer.Option(
        "--precision",
        help="32 (float32), bf16 (bfloat16 autocast; CUDA GPUs with native bf16, or the CPU), 16 (float16 autocast "
        "with a gradient scaler; CUDA) or auto (bf16 where native, else 16 on CUDA, 32 elsewhere).",
        rich_help_panel=RUNTIME_PANEL,
    ),
]
GradClipOpt = Annotated[
    Optional[float],
    typer.Option(
        "--grad-clip",
        help="Clip the global gradient norm to this value before each step.",
        rich_help_panel=OPTIM_PANEL,
    ),
]
GradAccumOpt = Annotated[
    int,
    typer.Option(
        "--grad-accum",
        min=1,
        help="Accumulate the gradients of N batches per optimizer step (effective batch = batch size × N).",
        rich_help_panel=OPTIM_PANEL,
    ),
]
SyncBnOpt = Annotated[
    bool,
    typer.Option(
        "--sync-bn",
        help="Under torchrun on CUDA: synchronise BatchNorm statistics across processes (SyncBatchNorm).",
        rich_help_panel=RUNTIME_PANEL,
    ),
]
DatasetOpt = Annotated[
    Optional[str],
    typer.Option(
        "--dataset",
        "-d",
        help="Dataset (see `nnlab datasets`; for a model's stage, default: the one it was trained on).",
        rich_help_panel=DATA_PANEL,
    ),
]
SplitOpt = Annotated[Optional[Split], typer.Option("--split", help="Dataset split.", rich_help_panel=DATA_PANEL)]
ValFractionOpt = Annotated[
    float,
    typer.Option(
        "--val-fraction",
        help="Stratified share of the train split held out for validation (as in training, to rebuild the same "
        "val split).",
        rich_help_panel=DATA_PANEL,
    ),
]
FractionOpt = Annotated[
    Optional[float],
    typer.Option("--fraction", help="A stratified fraction of each split used.", rich_help_panel=DATA_PANEL),
]
LimitOpt = Annotated[
    Optional[int],
    typer.Option("--limit", help="At most N samples of each split used (stratified).", rich_help_panel=DATA_PANEL),
]
DataRootOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--data-root",
        help="Dataset folder (default: ./data).",
        envvar="NNLAB_DATA",
        show_envvar=True,
        rich_help_panel=DATA_PANEL,
    ),
]
DownloadOpt = Annotated[
    bool,
    typer.Option("--download", help="Download the dataset if it is not under --data-root.", rich_help_panel=DATA_PANEL),
]
QuietOpt = Annotated[
    bool, typer.Option("--quiet", "-q", help="No progress bars or tables, only errors.", rich_help_panel=OUTPUT_PANEL)
]
OutputOpt = Annotated[Path, typer.Option("--output", "-o", help="Output file.", rich_help_panel=OUTPUT_PANEL)]


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


# The options every data stage ends with, in this order (their --help panels: Runtime, Data, Output).
DATA_STAGE_OPTIONS: dict[str, tuple[Any, Any]] = {
    "batch_size": (BatchSizeOpt, None),  # each stage names its own default batch size
    "seed": (SeedOpt, 0),
    "device": (DeviceOpt, "auto"),
    "num_workers": (NumWorkersOpt, None),
    "data_root": (DataRootOpt, None),
    "download": (DownloadOpt, False),
    "quiet": (QuietOpt, False),
}


def data_options(batch_size: int) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Give a command that runs a model over a dataset the options every such stage ends with (--batch-size,
    --seed, --device, --num-workers, --data-root, --download, --quiet), declared once here.

    They follow the command's own parameters. The command reads them through :func:`data_selection` and
    :func:`from_options`; a parameter of its own named like one of them (``quiet: bool = False``) receives it.
    Put it under :func:`command`: ``@command`` then ``@data_options(batch_size=256)``.
    """

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        hints = typing.get_type_hints(fn, include_extras=True)
        own = [p for p in inspect.signature(fn).parameters.values() if p.name not in DATA_STAGE_OPTIONS]
        received = set(inspect.signature(fn).parameters)
        defaults = {name: default for name, (_, default) in DATA_STAGE_OPTIONS.items()}
        defaults["batch_size"] = batch_size
        shared = [
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=defaults[name])
            for name, (annotation, _) in DATA_STAGE_OPTIONS.items()
        ]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return fn(*args, **{name: value for name, value in kwargs.items() if name in received})

        wrapper.__signature__ = inspect.Signature(
            [p.replace(annotation=hints.get(p.name, p.annotation)) for p in own] + shared
        )
        wrapper.__annotations__ = {
            **{p.name: hints[p.name] for p in own if p.name in hints},
            **{p.name: p.annotation for p in shared},
        }
        return wrapper

    return decorate


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
    named after the field it fills), ``overrides`` replacing or adding some; fields without either keep their
    defaults. How a command hands its options to a request without copying them one by one."""
    options = {**command_options(), **overrides}
    return cls(**{f.name: options[f.name] for f in dataclasses.fields(cls) if f.name in options})


def data_selection(**overrides: Any) -> "DataSelection":
    """The running command's data-selection options (those of the eleven it has) as one
    :class:`~nnlab.data.selection.DataSelection`: the one place the CLI turns options into it."""
    from nnlab.data.selection import DataSelection

    return from_options(DataSelection, **overrides)


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
