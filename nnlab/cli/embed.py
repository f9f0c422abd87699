"""`nnlab embed`: a 2-D map (UMAP or PCA) of a model's features on clean and adversarial images."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from nnlab.cli.choices import EmbedMethod
from nnlab.cli.common import cli_provenance, command, console, from_options
from nnlab.cli.options import (
    DATA_PANEL,
    EMBEDDING_PANEL,
    OUTPUT_PANEL,
    DatasetOpt,
    FractionOpt,
    LimitOpt,
    OutputOpt,
    SplitOpt,
    ValFractionOpt,
    data_options,
)

EXAMPLES = """
Examples:

  nnlab embed artifacts/clean.safetensors --dataset mnist5k --split test --adversarial artifacts/adv.safetensors -o artifacts/embedding.parquet --plot artifacts/umap.png

  nnlab embed artifacts/clean.safetensors --split test --method pca --layer layer3 -o artifacts/pca.parquet

  nnlab embed artifacts/features.safetensors -o artifacts/features-umap.parquet   # a features artifact
"""


@command
@data_options(batch_size=256)
def embed(
    input_path: Annotated[
        Path, typer.Argument(metavar="INPUT", help="Model artifact, or features artifact (from extract-features).")
    ],
    output: OutputOpt,
    dataset: DatasetOpt = None,
    split: SplitOpt = None,
    adversarial: Annotated[
        Optional[Path],
        typer.Option(
            "--adversarial",
            help="Adversarial artifact: embed its images too, in the plane fitted on the clean ones.",
            rich_help_panel=DATA_PANEL,
        ),
    ] = None,
    val_fraction: ValFractionOpt = 0.1,
    fraction: FractionOpt = None,
    limit: LimitOpt = None,
    layer: Annotated[
        Optional[str],
        typer.Option(
            "--layer",
            help="Layer name or index (default: the penultimate features that feed the classifier; for a features "
            "artifact its last layer).",
            rich_help_panel=EMBEDDING_PANEL,
        ),
    ] = None,
    method: Annotated[
        EmbedMethod,
        typer.Option(
            "--method",
            help="umap (n_neighbors 10, min_dist 0.3, seeded) or pca (fast).",
            rich_help_panel=EMBEDDING_PANEL,
        ),
    ] = "umap",
    plot: Annotated[
        Optional[Path],
        typer.Option(
            "--plot", help="Scatter plot PNG (default: beside the output, .png).", rich_help_panel=OUTPUT_PANEL
        ),
    ] = None,
    quiet: bool = False,
) -> None:
    """Reduce features to 2-D (one reducer fitted on clean data) and write an embedding table and plot."""
    from nnlab.embedding import EmbedRequest, run_embed
    from nnlab.report import key_values

    outcome = run_embed(
        from_options(EmbedRequest, input=input_path),
        provenance=cli_provenance(),
    )
    if not quiet:
        console.print(key_values("embedding", outcome.summary))
