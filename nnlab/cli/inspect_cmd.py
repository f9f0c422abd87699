"""`nnlab inspect`: a rich summary of any artifact."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nnlab.cli.common import command, console

EXAMPLES = """
Examples:

  nnlab inspect artifacts/vgg.safetensors

  nnlab inspect artifacts/vgg.safetensors --layers

  nnlab inspect artifacts/profile.parquet
"""


@command
def inspect(
    path: Annotated[
        Path,
        typer.Argument(
            metavar="ARTIFACT", help="A model, features or adversarial .safetensors, or an nnlab .parquet table."
        ),
    ],
    layers: Annotated[
        bool, typer.Option("--layers", help="For a model: every layer with its output shape and parameters.")
    ] = False,
) -> None:
    """Show an artifact's kind, metadata, tensors or columns, parameter counts and surgery."""
    from nnlab.inspection import describe
    from nnlab.report import key_values, table

    for section in describe(path, layers=layers):
        if section.rows or section.columns:
            console.print(table(section.title, section.columns, section.rows))
        else:
            console.print(key_values(section.title, section.items))
