"""`nnlab fit-head`: train a new head on the ranked features of a frozen, truncated backbone."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from nnlab.cli.choices import Augment
from nnlab.cli.common import cli_provenance, command, console, err_console, from_options, progress
from nnlab.cli.options import (
    DATA_PANEL,
    MODEL_PANEL,
    REGULARISATION_PANEL,
    CurvesPlotOpt,
    DatasetOpt,
    EpochsOpt,
    FractionOpt,
    GammaOpt,
    GradAccumOpt,
    GradClipOpt,
    HistoryOpt,
    LabelSmoothingOpt,
    LimitOpt,
    LrOpt,
    MomentumOpt,
    OptimizerOpt,
    OutputOpt,
    PatienceOpt,
    PrecisionOpt,
    ScheduleOpt,
    StepSizeOpt,
    SyncBnOpt,
    ValFractionOpt,
    WeightDecayOpt,
    data_options,
)

EXAMPLES = """
Examples:

  nnlab fit-head artifacts/trunc.safetensors --ranking artifacts/ranking.parquet --best --hidden "" -o artifacts/linear.safetensors

  nnlab fit-head artifacts/trunc.safetensors --ranking artifacts/ranking.parquet --top 400 --hidden 4096,4096 --dropout 0.2 --dataset cifar10 -o artifacts/mlp.safetensors

  nnlab fit-head artifacts/trunc.safetensors --ranking artifacts/ranking.parquet --best --hidden 4096,4096 --hidden-scale 0.125 -o artifacts/small-mlp.safetensors
"""


@command
@data_options(batch_size=128)
def fit_head(
    model_path: Annotated[
        Path, typer.Argument(metavar="TRUNC", help="Truncated model artifact (from `nnlab truncate`).")
    ],
    output: OutputOpt,
    ranking: Annotated[
        Optional[Path],
        typer.Option(
            "--ranking",
            help="Ranking table (from rank-features) of the truncated model's output.",
            rich_help_panel=MODEL_PANEL,
        ),
    ] = None,
    top: Annotated[
        Optional[int], typer.Option("--top", help="Keep the first N ranked features.", rich_help_panel=MODEL_PANEL)
    ] = None,
    best: Annotated[
        bool,
        typer.Option("--best", help="Keep the best prefix of the ranking (highest SI).", rich_help_panel=MODEL_PANEL),
    ] = False,
    hidden: Annotated[
        str,
        typer.Option(
            "--hidden",
            help='Hidden widths of the head, e.g. 4096,4096; "" for a linear head.',
            rich_help_panel=MODEL_PANEL,
        ),
    ] = "",
    hidden_scale: Annotated[
        float,
        typer.Option(
            "--hidden-scale",
            help="Multiply every hidden width (e.g. by the model's --width).",
            rich_help_panel=MODEL_PANEL,
        ),
    ] = 1.0,
    dropout: Annotated[
        float,
        typer.Option(
            "--dropout",
            help="Dropout of the head (before the linear layer of a linear head).",
            rich_help_panel=REGULARISATION_PANEL,
        ),
    ] = 0.2,
    dataset: DatasetOpt = None,
    augment: Annotated[
        Augment,
        typer.Option(
            "--augment",
            help="Augmentation preset; with 'none' the backbone's features are computed once and cached.",
            rich_help_panel=DATA_PANEL,
        ),
    ] = "none",
    cache: Annotated[
        bool,
        typer.Option(
            "--cache/--no-cache",
            help="Cache the frozen backbone's features when there is no augmentation.",
            rich_help_panel=DATA_PANEL,
        ),
    ] = True,
    val_fraction: ValFractionOpt = 0.1,
    fraction: FractionOpt = None,
    limit: LimitOpt = None,
    epochs: EpochsOpt = 6,
    optimizer: OptimizerOpt = "adam",
    lr: LrOpt = 1e-3,
    momentum: MomentumOpt = 0.9,
    weight_decay: WeightDecayOpt = 0.0,
    schedule: ScheduleOpt = "none",
    step_size: StepSizeOpt = 30,
    gamma: GammaOpt = 0.1,
    label_smoothing: LabelSmoothingOpt = 0.0,
    patience: PatienceOpt = None,
    precision: PrecisionOpt = "auto",
    grad_clip: GradClipOpt = None,
    grad_accum: GradAccumOpt = 1,
    plot: CurvesPlotOpt = None,
    history_path: HistoryOpt = None,
    sync_bn: SyncBnOpt = False,
    quiet: bool = False,
) -> None:
    """Freeze a truncated model, keep its ranked features, train a new head; writes one self-contained model."""
    from nnlab.compression.head import HeadRequest, parse_hidden, run_fit_head
    from nnlab.errors import NnlabError

    if not hidden_scale > 0:
        raise NnlabError(f"--hidden-scale must be positive, got {hidden_scale}")
    request = from_options(
        HeadRequest,
        model=model_path,
        hidden=parse_hidden(hidden, hidden_scale),
        history=history_path,
    )
    with progress(quiet) as bar:
        task = bar.add_task("epoch 1", total=None)

        def on_batch(step: int, total: int) -> None:
            bar.update(task, completed=step, total=total)

        def on_epoch(row: dict) -> None:
            bar.update(task, description=f"epoch {row['epoch'] + 1}")
            if not quiet:
                err_console.print(
                    f"epoch {row['epoch']}: train loss {row['train_loss']:.4f}, "
                    f"val acc {row.get('val_accuracy', float('nan')):.4f} ({row['seconds']:.1f} s)"
                )

        def on_cache(message: str) -> None:
            bar.update(task, description=message)

        outcome = run_fit_head(
            request, on_epoch=on_epoch, on_batch=on_batch, on_cache=on_cache, provenance=cli_provenance()
        )
    if quiet:
        return
    from nnlab.report import frame_table, key_values

    console.print(frame_table("history", outcome.history_frame))
    console.print(key_values("fit-head summary", outcome.summary))
