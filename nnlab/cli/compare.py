"""`nnlab compare`: the seed's two tables for any set of models — accuracy and parameters; SI and CSI."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from nnlab.cli.common import cli_provenance, command, console, from_options, progress
from nnlab.cli.options import DatasetOpt, LimitOpt, ValFractionOpt, data_options

EXAMPLES = """
Examples:

  nnlab compare artifacts/vgg.safetensors artifacts/linear.safetensors artifacts/mlp.safetensors --dataset digits -o artifacts/compare.parquet

  nnlab compare vgg.safetensors compressed.safetensors --dataset cifar10 --si-fraction 0.1 --device cuda -o compare.parquet
"""


@command
@data_options(batch_size=256)
def compare(
    models: Annotated[list[Path], typer.Argument(metavar="MODEL...", help="Model artifacts to compare.")],
    output: Annotated[
        Optional[Path], typer.Option("--output", "-o", help="Comparison table (.parquet), one row per model.")
    ] = None,
    dataset: DatasetOpt = None,
    si_fraction: Annotated[
        float, typer.Option("--si-fraction", help="Stratified fraction of train for SI/CSI (the seed used 0.1).")
    ] = 0.1,
    si_test_fraction: Annotated[
        float, typer.Option("--si-test-fraction", help="Stratified fraction of test for SI/CSI.")
    ] = 1.0,
    limit: LimitOpt = None,
    val_fraction: ValFractionOpt = 0.1,
    normalize: Annotated[
        bool, typer.Option("--normalize/--no-normalize", help="z-score every feature before SI (default on).")
    ] = True,
    quiet: bool = False,
) -> None:
    """Train/val/test accuracy and parameters, and SI/CSI of each model's classifier input on train and test."""
    from nnlab.compression.compare import CompareRequest, run_compare
    from nnlab.report import table

    request = from_options(CompareRequest)
    with progress(quiet) as bar:
        task = bar.add_task("compare", total=None)
        outcome = run_compare(
            request, provenance=cli_provenance(), progress=lambda message: bar.update(task, description=message)
        )
    if quiet:
        return
    comp, name = outcome.comparison, outcome.dataset
    acc = comp.accuracy
    base = int(acc["parameters"].iloc[0])
    width = max(len(str(m)) for m in acc["model"])
    shown = table(
        f"accuracy on {name}",
        ["model", "train", "val", "test", "parameters", "% of first"],
        [
            [
                r.model,
                r.train_accuracy,
                r.val_accuracy,
                r.test_accuracy,
                int(r.parameters),
                f"{100 * r.parameters / base:.1f} %",
            ]
            for r in acc.itertuples()
        ],
    )
    shown.columns[0].no_wrap, shown.columns[0].min_width = True, width
    console.print(shown)
    sep = comp.separation
    shown = table(
        "separation of the classifier's input",
        ["model", "layer", "dim", "SI train", "CSI train", "SI test", "CSI test"],
        [[r.model, r.layer, int(r.dim), r.si_train, r.csi_train, r.si_test, r.csi_test] for r in sep.itertuples()],
    )
    shown.columns[0].no_wrap, shown.columns[0].min_width = True, width
    console.print(shown)
    if output is not None:
        console.print(f"table: {output}")
