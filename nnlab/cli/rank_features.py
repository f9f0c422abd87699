"""`nnlab rank-features`: greedy forward feature selection by SI on one layer of a features artifact."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from nnlab.cli.choices import RankMethod
from nnlab.cli.common import cli_provenance, command, console, from_options, progress
from nnlab.cli.options import OutputOpt, QuietOpt

EXAMPLES = """
Examples:

  nnlab rank-features artifacts/cut-feats.safetensors -o artifacts/ranking.parquet --plot artifacts/ranking.png

  nnlab rank-features artifacts/two.safetensors --layer features.23 --max-steps 100 -o artifacts/r100.parquet

  nnlab rank-features artifacts/cut-feats.safetensors --method univariate -o artifacts/uni.parquet
"""


@command
def rank_features(
    features: Annotated[Path, typer.Argument(metavar="FEATURES", help="Features artifact (from extract-features).")],
    output: OutputOpt,
    layer: Annotated[
        Optional[str], typer.Option("--layer", help="Layer to rank (needed when the file holds several).")
    ] = None,
    method: Annotated[
        RankMethod,
        typer.Option(
            "--method", help="forward (exact greedy selection by SI) or univariate (each feature's own SI, fast)."
        ),
    ] = "forward",
    max_steps: Annotated[
        Optional[int], typer.Option("--max-steps", help="Stop the forward selection after K features.")
    ] = None,
    normalize: Annotated[
        bool, typer.Option("--normalize/--no-normalize", help="z-score every feature first (default on).")
    ] = True,
    plot: Annotated[
        Optional[Path], typer.Option("--plot", help="Write SI against the number of selected features as PNG.")
    ] = None,
    quiet: QuietOpt = False,
) -> None:
    """Rank a layer's features by forward selection on SI; writes (step, feature, si) and the best prefix."""
    from nnlab.compression.ranking_table import RankFeaturesRequest, run_rank_features
    from nnlab.report import frame_table, key_values

    with progress(quiet) as bar:
        task = bar.add_task("ranking", total=None)

        def advance(step: int, total: int, si: float) -> None:
            bar.update(task, completed=step, total=total, description=f"ranking (SI {si:.4f})")

        outcome = run_rank_features(from_options(RankFeaturesRequest), progress=advance, provenance=cli_provenance())
    if quiet:
        return
    console.print(frame_table("ranking (first steps)", outcome.table, max_rows=15))
    console.print(key_values("rank-features", outcome.summary))
