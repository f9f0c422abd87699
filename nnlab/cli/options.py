"""The options commands share: the --help panels, one ``Annotated`` option type per shared concept (DESIGN.md,
"Command-line conventions"), and :func:`data_options`, which gives a data stage the options every such stage ends
with. A command declares ``dataset: DatasetOpt = None``; the library field it fills has the same name."""

from __future__ import annotations

import functools
import inspect
import typing
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer

from nnlab.cli.choices import DEVICES, Optimizer, Precision, Schedule, Split

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


# The training options of train and fit-head (TrainConfig's fields).
EpochsOpt = Annotated[int, typer.Option("--epochs", help="Maximum number of epochs.", rich_help_panel=OPTIM_PANEL)]
OptimizerOpt = Annotated[Optimizer, typer.Option("--optimizer", help="Optimizer.", rich_help_panel=OPTIM_PANEL)]
LrOpt = Annotated[float, typer.Option("--lr", help="Learning rate.", rich_help_panel=OPTIM_PANEL)]
MomentumOpt = Annotated[float, typer.Option("--momentum", help="SGD momentum.", rich_help_panel=OPTIM_PANEL)]
WeightDecayOpt = Annotated[
    float, typer.Option("--weight-decay", help="Weight decay.", rich_help_panel=REGULARISATION_PANEL)
]
ScheduleOpt = Annotated[
    Schedule, typer.Option("--schedule", help="Learning-rate schedule.", rich_help_panel=SCHEDULE_PANEL)
]
StepSizeOpt = Annotated[
    int, typer.Option("--step-size", help="Epochs per step of the step schedule.", rich_help_panel=SCHEDULE_PANEL)
]
GammaOpt = Annotated[
    float,
    typer.Option("--gamma", help="Decay factor of the step/exponential schedules.", rich_help_panel=SCHEDULE_PANEL),
]
LabelSmoothingOpt = Annotated[
    float, typer.Option("--label-smoothing", help="Label smoothing in [0, 1).", rich_help_panel=REGULARISATION_PANEL)
]
PatienceOpt = Annotated[
    Optional[int],
    typer.Option("--patience", help="Stop after N epochs without a better val accuracy.", rich_help_panel=OPTIM_PANEL),
]
CurvesPlotOpt = Annotated[
    Optional[Path], typer.Option("--plot", help="Write loss/accuracy curves as PNG.", rich_help_panel=OUTPUT_PANEL)
]
HistoryOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--history", help="History table (default: beside the output, .history.parquet).", rich_help_panel=OUTPUT_PANEL
    ),
]

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

    They follow the command's own parameters. The command's request reads them through
    :func:`nnlab.cli.common.from_options`; a parameter of its own named like one of them (``quiet: bool = False``)
    receives it. Put it under :func:`command`: ``@command`` then ``@data_options(batch_size=256)``.
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
