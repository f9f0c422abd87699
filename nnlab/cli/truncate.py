"""`nnlab truncate`: cut a model after a layer (by index, name, or chosen from an SI profile)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from nnlab.cli.common import cli_provenance, command, console, from_options
from nnlab.cli.options import OutputOpt, QuietOpt

EXAMPLES = """
Examples:

  nnlab truncate artifacts/vgg.safetensors --at 23 -o artifacts/trunc.safetensors

  nnlab truncate artifacts/vgg.safetensors --at features.23 -o artifacts/trunc.safetensors

  nnlab truncate artifacts/vgg.safetensors --at auto --profile artifacts/profile.parquet --threshold 0.02 -o artifacts/trunc.safetensors
"""


@command
def truncate(
    model_path: Annotated[Path, typer.Argument(metavar="MODEL", help="Model artifact (.safetensors).")],
    output: OutputOpt,
    at: Annotated[
        str,
        typer.Option(
            "--at",
            help="Layer index (see `nnlab inspect MODEL --layers`; VGG16: 0..30 in `features`), layer name, or 'auto'.",
        ),
    ],
    profile: Annotated[
        Optional[Path], typer.Option("--profile", help="SI profile (from si-profile) for --at auto.")
    ] = None,
    threshold: Annotated[
        Optional[float],
        typer.Option(
            "--threshold",
            help="--at auto: cut at the first pooling layer after which the train SI gains less than this (default "
            "0.02; on the seed's CIFAR-10 VGG16 profile that is index 23).",
        ),
    ] = None,
    quiet: QuietOpt = False,
) -> None:
    """Cut a model: its output becomes the flattened activation after the chosen layer (recorded in its surgery)."""
    from nnlab.compression.truncation import TruncateRequest, run_truncate
    from nnlab.report import key_values

    outcome = run_truncate(from_options(TruncateRequest, model=model_path), provenance=cli_provenance())
    if not quiet:
        console.print(key_values("truncate", outcome.summary))
