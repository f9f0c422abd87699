"""`nnlab run-table`: training runs side by side (model, trainable parameters, accuracy, seconds per epoch)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from nnlab.cli.common import QuietOpt, cli_provenance, command, console

EXAMPLES = """
Examples:

  nnlab run-table artifacts/finetune-block/*.safetensors -o artifacts/finetune-block/summary.parquet

  nnlab run-table a.safetensors b.safetensors --markdown table.md
"""


@command
def run_table(
    runs: Annotated[list[Path], typer.Argument(metavar="MODEL...", help="Model artifacts written by `nnlab train`.")],
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write the table as parquet.")] = None,
    markdown: Annotated[Optional[Path], typer.Option("--markdown", help="Also write it as a markdown table.")] = None,
    quiet: QuietOpt = False,
) -> None:
    """One row per training run: model, block, trainable parameters, train/val accuracy, seconds per epoch."""
    from nnlab.report import frame_table
    from nnlab.training.run_table import SHOWN
    from nnlab.training.run_table import run_table as build

    result = build(runs, output, markdown, provenance=cli_provenance())
    if not quiet:
        console.print(frame_table("training runs (all columns in the parquet/markdown files)", result.frame, SHOWN))
