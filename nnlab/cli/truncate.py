"""`nnlab truncate`: cut a model after a layer (by index, name, or chosen from an SI profile)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from nnlab.cli.common import OutputOpt, QuietOpt, cli_provenance, command, console

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
    at: Annotated[str, typer.Option("--at", help="Layer index (see `nnlab inspect MODEL --layers`; VGG16: 0..30 in `features`), layer name, or 'auto'.")],
    profile: Annotated[Optional[Path], typer.Option("--profile", help="SI profile (from si-profile) for --at auto.")] = None,
    threshold: Annotated[Optional[float], typer.Option("--threshold", help="--at auto: cut at the first pooling layer after which the train SI gains less than this (default 0.02; on the seed's CIFAR-10 VGG16 profile that is index 23).")] = None,
    quiet: QuietOpt = False,
) -> None:
    """Cut a model: its output becomes the flattened activation after the chosen layer (recorded in its surgery)."""
    from nnlab.compression.truncation import truncate_model
    from nnlab.errors import NnlabError
    from nnlab.models import count_parameters, load_model, save_model
    from nnlab.report import key_values

    if output.suffix != ".safetensors":
        raise NnlabError(f"the model artifact must be a .safetensors file, got {output}")
    model = load_model(model_path)
    cut, info = truncate_model(model, at, profile_path=profile, threshold=threshold)
    before, after = count_parameters(model.net)[0], count_parameters(cut.net)[0]
    prov = cli_provenance(dataset=model.provenance.get("dataset"), source=str(model_path),
                                profile=str(profile) if profile else None)
    save_model(output, cut, provenance=prov)
    if quiet:
        return
    console.print(key_values("truncate", {"model": str(model_path), **info, "parameters before": before,
                                          "parameters after": after, "artifact": str(output)}))
