"""`nnlab si-profile`: SI and CSI of every layer of a model (or of every layer in a features artifact)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from nnlab.cli.common import cli_provenance, command, console, from_options, progress, split_list
from nnlab.cli.options import DatasetOpt, FractionOpt, LimitOpt, OutputOpt, ValFractionOpt, data_options

EXAMPLES = """
Examples:

  nnlab si-profile artifacts/vgg.safetensors --dataset digits --splits train,test --fraction 0.5 -o artifacts/profile.parquet --plot artifacts/profile.png

  nnlab si-profile artifacts/feats.safetensors -o artifacts/feats-profile.parquet

  nnlab si-profile artifacts/resnet.safetensors --layers layer3,layer4,avgpool --orders 3,5 -o artifacts/p.parquet
"""


@command
@data_options(batch_size=256)
def si_profile(
    source: Annotated[
        Path,
        typer.Argument(
            metavar="MODEL|FEATURES", help="Model artifact, or a features artifact (its layers are profiled)."
        ),
    ],
    output: OutputOpt,
    dataset: DatasetOpt = None,
    splits: Annotated[str, typer.Option("--splits", help="Comma-separated splits to profile.")] = "train,test",
    layers: Annotated[
        Optional[str],
        typer.Option(
            "--layers",
            help="Comma-separated layer names or indices (default: VGG's 31 `features` modules; other models' named "
            "children).",
        ),
    ] = None,
    fraction: FractionOpt = None,
    limit: LimitOpt = None,
    orders: Annotated[
        Optional[str],
        typer.Option("--orders", help="Also the high-order, soft-order and anti SI of these orders, e.g. 3,5."),
    ] = None,
    normalize: Annotated[
        bool, typer.Option("--normalize/--no-normalize", help="z-score every feature before the indices (default on).")
    ] = True,
    memory: Annotated[
        Optional[str],
        typer.Option(
            "--memory",
            help="Activations held at once, e.g. 4G or 3072M (default: half of the available memory). When all "
            "layers' activations exceed it, consecutive layers are profiled in groups that fit, one forward pass "
            "per group (same table); a layer that cannot fit alone is refused with the estimate. Peak memory is "
            "about this plus the model plus 0.5 GB.",
        ),
    ] = None,
    plot: Annotated[
        Optional[Path], typer.Option("--plot", help="Write SI and CSI per split against the layer index as PNG.")
    ] = None,
    val_fraction: ValFractionOpt = 0.1,
    quiet: bool = False,
) -> None:
    """Separation index and center SI of every layer, in order, on each split; a table and an optional plot."""
    from nnlab.compression.profile_run import SiProfileRequest, run_si_profile
    from nnlab.distributed import is_main
    from nnlab.report import frame_table, key_values

    request = from_options(
        SiProfileRequest,
        splits=split_list(splits),
        layers=split_list(layers),
        orders=split_list(orders),
    )
    with progress(quiet) as bar:
        task = bar.add_task("si-profile", total=None)
        outcome = run_si_profile(
            request, provenance=cli_provenance(), progress=lambda message: bar.update(task, description=message)
        )
    if quiet or not is_main():  # under torchrun rank 0 reports
        return
    wide = outcome.per_layer()
    shown = frame_table("separation index per layer", wide, max_rows=200)
    shown.columns[1].no_wrap = True
    shown.columns[1].min_width = max(len(str(n)) for n in wide["layer"])
    console.print(shown)
    console.print(key_values("si-profile", outcome.summary))
