"""`nnlab extract-features`: flattened activations of chosen layers of a model on a dataset split."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from nnlab.cli.choices import Split
from nnlab.cli.common import (
    BatchSizeOpt,
    DataRootOpt,
    DeviceOpt,
    DownloadOpt,
    NumWorkersOpt,
    OutputOpt,
    QuietOpt,
    SeedOpt,
    cli_provenance,
    command,
    console,
    progress,
    split_list,
)

EXAMPLES = """
Examples:

  nnlab extract-features artifacts/vgg.safetensors --dataset digits --split train --fraction 0.5 -o artifacts/feats.safetensors

  nnlab extract-features artifacts/trunc.safetensors --split train --limit 500 -o artifacts/cut-feats.safetensors

  nnlab extract-features artifacts/vgg.safetensors --layers features.23,features.30 --float16 -o artifacts/two.safetensors
"""


@command
def extract_features(
    model_path: Annotated[Path, typer.Argument(metavar="MODEL", help="Model artifact (.safetensors).")],
    output: OutputOpt,
    dataset: Annotated[
        Optional[str], typer.Option("--dataset", "-d", help="Dataset (default: the one the model was trained on).")
    ] = None,
    split: Annotated[Split, typer.Option("--split", help="Dataset split.")] = "train",
    layers: Annotated[
        Optional[str],
        typer.Option(
            "--layers",
            help="Comma-separated layer names or indices (see `nnlab inspect MODEL --layers`), or 'all' (default: "
            "the layer feeding the classifier; for a truncated model its output).",
        ),
    ] = None,
    fraction: Annotated[Optional[float], typer.Option("--fraction", help="A stratified fraction of the split.")] = None,
    limit: Annotated[
        Optional[int], typer.Option("--limit", help="At most N samples of the split (stratified).")
    ] = None,
    float16: Annotated[bool, typer.Option("--float16", help="Store activations as float16 (half the size).")] = False,
    val_fraction: Annotated[
        float, typer.Option("--val-fraction", help="As in training, to rebuild the same train/val split.")
    ] = 0.1,
    batch_size: BatchSizeOpt = 256,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
    num_workers: NumWorkersOpt = None,
    data_root: DataRootOpt = None,
    download: DownloadOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Write the flattened activations of a model's layers and the labels as a features artifact."""
    from nnlab.compression.extraction import extract_features as run
    from nnlab.distributed import setup_device
    from nnlab.report import key_values

    with progress(quiet) as bar:
        task = bar.add_task("batches", total=None)
        summary = run(
            model_path,
            output,
            dataset=dataset,
            split=split,
            layers=split_list(layers),
            fraction=fraction,
            limit=limit,
            float16=float16,
            val_fraction=val_fraction,
            seed=seed,
            device=setup_device(device),
            batch_size=batch_size,
            num_workers=num_workers,
            root=data_root,
            download=download,
            provenance=cli_provenance(),
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    if not quiet:
        dims = summary.pop("layers")
        summary.update({f"layer {name}": f"{dim:,} features" for name, dim in dims.items()})
        console.print(key_values("features", summary))
