"""`nnlab compare`: the seed's two tables for any set of models — accuracy and parameters; SI and CSI."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from nnlab.cli.common import (
    BatchSizeOpt,
    DataRootOpt,
    DeviceOpt,
    DownloadOpt,
    NumWorkersOpt,
    QuietOpt,
    SeedOpt,
    cli_provenance,
    command,
    console,
    progress,
)

EXAMPLES = """
Examples:

  nnlab compare artifacts/vgg.safetensors artifacts/linear.safetensors artifacts/mlp.safetensors --dataset digits -o artifacts/compare.parquet

  nnlab compare vgg.safetensors compressed.safetensors --dataset cifar10 --si-fraction 0.1 --device cuda -o compare.parquet
"""


@command
def compare(
    models: Annotated[list[Path], typer.Argument(metavar="MODEL...", help="Model artifacts to compare.")],
    output: Annotated[
        Optional[Path], typer.Option("--output", "-o", help="Comparison table (.parquet), one row per model.")
    ] = None,
    dataset: Annotated[
        Optional[str],
        typer.Option("--dataset", "-d", help="Dataset (default: the one the first model was trained on)."),
    ] = None,
    si_fraction: Annotated[
        float, typer.Option("--si-fraction", help="Stratified fraction of train for SI/CSI (the seed used 0.1).")
    ] = 0.1,
    si_test_fraction: Annotated[
        float, typer.Option("--si-test-fraction", help="Stratified fraction of test for SI/CSI.")
    ] = 1.0,
    limit: Annotated[
        Optional[int],
        typer.Option("--limit", help="Accuracy on at most N samples per split (stratified; default: whole splits)."),
    ] = None,
    val_fraction: Annotated[
        float, typer.Option("--val-fraction", help="As in training, to rebuild the same train/val split.")
    ] = 0.1,
    normalize: Annotated[
        bool, typer.Option("--normalize/--no-normalize", help="z-score every feature before SI (default on).")
    ] = True,
    batch_size: BatchSizeOpt = 256,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
    num_workers: NumWorkersOpt = None,
    data_root: DataRootOpt = None,
    download: DownloadOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Train/val/test accuracy and parameters, and SI/CSI of each model's classifier input on train and test."""
    from nnlab.compression.compare import run_compare
    from nnlab.device import resolve_device
    from nnlab.report import table

    with progress(quiet) as bar:
        task = bar.add_task("compare", total=None)
        comp, name = run_compare(
            models,
            dataset=dataset,
            output=output,
            provenance=cli_provenance(),
            si_fraction=si_fraction,
            si_test_fraction=si_test_fraction,
            limit=limit,
            val_fraction=val_fraction,
            seed=seed,
            device=resolve_device(device),
            batch_size=batch_size,
            num_workers=num_workers,
            root=data_root,
            download=download,
            normalize=normalize,
            progress=lambda message: bar.update(task, description=message),
        )
    if quiet:
        return
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
