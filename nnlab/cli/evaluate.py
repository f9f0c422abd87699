"""`nnlab evaluate`: accuracy, loss, per-class scores and the confusion matrix of a model artifact."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from nnlab.cli.common import cli_provenance, command, console, from_options
from nnlab.cli.options import DatasetOpt, FractionOpt, LimitOpt, SplitOpt, ValFractionOpt, data_options

EXAMPLES = """
Examples:

  nnlab evaluate artifacts/vgg.safetensors --dataset digits --split test

  nnlab evaluate artifacts/cnn.safetensors --dataset digits --split test   # trained on mnist5k: cross-domain

  nnlab evaluate artifacts/robust.safetensors --adversarial artifacts/adv.safetensors
"""


@command
@data_options(batch_size=256)
def evaluate(
    model_path: Annotated[Path, typer.Argument(metavar="MODEL", help="Model artifact (.safetensors).")],
    dataset: DatasetOpt = None,
    split: SplitOpt = "test",
    adversarial: Annotated[
        Optional[Path], typer.Option("--adversarial", help="Evaluate on a stored adversarial set instead of a dataset.")
    ] = None,
    output: Annotated[
        Optional[Path],
        typer.Option("--output", "-o", help="Metrics table (default: beside the model, .metrics.parquet)."),
    ] = None,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Write the confusion matrix as PNG.")] = None,
    val_fraction: ValFractionOpt = 0.1,
    fraction: FractionOpt = None,
    limit: LimitOpt = None,
    quiet: bool = False,
) -> None:
    """Evaluate a model on a dataset split (or an adversarial set) and write a metrics table."""
    from nnlab.report import key_values, table
    from nnlab.training.evaluate_run import EvaluateRequest, per_class_rows, run_evaluate

    outcome = run_evaluate(from_options(EvaluateRequest, model=model_path), provenance=cli_provenance())
    if quiet:
        return
    ev = outcome.evaluation
    console.print(
        table(f"per class ({ev.source})", ["class", "precision", "recall", "f1", "support"], per_class_rows(ev))
    )
    console.print(key_values("evaluation", outcome.summary))
