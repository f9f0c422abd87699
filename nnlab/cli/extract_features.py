"""`nnlab extract-features`: flattened activations of chosen layers of a model on a dataset split."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from nnlab.cli.common import cli_provenance, command, console, from_options, progress, split_list
from nnlab.cli.options import DatasetOpt, FractionOpt, LimitOpt, OutputOpt, SplitOpt, ValFractionOpt, data_options

EXAMPLES = """
Examples:

  nnlab extract-features artifacts/vgg.safetensors --dataset digits --split train --fraction 0.5 -o artifacts/feats.safetensors

  nnlab extract-features artifacts/trunc.safetensors --split train --limit 500 -o artifacts/cut-feats.safetensors

  nnlab extract-features artifacts/vgg.safetensors --layers features.23,features.30 --float16 -o artifacts/two.safetensors
"""


@command
@data_options(batch_size=256)
def extract_features(
    model_path: Annotated[Path, typer.Argument(metavar="MODEL", help="Model artifact (.safetensors).")],
    output: OutputOpt,
    dataset: DatasetOpt = None,
    split: SplitOpt = "train",
    layers: Annotated[
        Optional[str],
        typer.Option(
            "--layers",
            help="Comma-separated layer names or indices (see `nnlab inspect MODEL --layers`), or 'all' (default: "
            "the layer feeding the classifier; for a truncated model its output).",
        ),
    ] = None,
    fraction: FractionOpt = None,
    limit: LimitOpt = None,
    float16: Annotated[bool, typer.Option("--float16", help="Store activations as float16 (half the size).")] = False,
    val_fraction: ValFractionOpt = 0.1,
    quiet: bool = False,
) -> None:
    """Write the flattened activations of a model's layers and the labels as a features artifact."""
    from nnlab.compression.extraction import ExtractRequest, run_extract_features
    from nnlab.report import key_values

    request = from_options(ExtractRequest, model=model_path, layers=split_list(layers))
    with progress(quiet) as bar:
        task = bar.add_task("batches", total=None)
        outcome = run_extract_features(
            request,
            provenance=cli_provenance(),
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    if not quiet:
        console.print(key_values("features", outcome.summary))
