"""`nnlab embed`: a 2-D map (UMAP or PCA) of a model's features on clean and adversarial images."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from nnlab.cli.choices import EmbedMethod, Split
from nnlab.cli.common import (
    DATA_PANEL,
    EMBEDDING_PANEL,
    OUTPUT_PANEL,
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
)

EXAMPLES = """
Examples:

  nnlab embed artifacts/clean.safetensors --dataset mnist5k --split test --adversarial artifacts/adv.safetensors -o artifacts/embedding.parquet --plot artifacts/umap.png

  nnlab embed artifacts/clean.safetensors --split test --method pca --layer layer3 -o artifacts/pca.parquet

  nnlab embed artifacts/features.safetensors -o artifacts/features-umap.parquet   # a features artifact
"""


@command
def embed(
    input_path: Annotated[
        Path, typer.Argument(metavar="INPUT", help="Model artifact, or features artifact (from extract-features).")
    ],
    output: OutputOpt,
    dataset: Annotated[
        Optional[str],
        typer.Option(
            "--dataset",
            "-d",
            help="Dataset (default: the adversarial set's, else the model's).",
            rich_help_panel=DATA_PANEL,
        ),
    ] = None,
    split: Annotated[
        Optional[Split],
        typer.Option(
            "--split", help="Dataset split (default: the adversarial set's, else test).", rich_help_panel=DATA_PANEL
        ),
    ] = None,
    adversarial: Annotated[
        Optional[Path],
        typer.Option(
            "--adversarial",
            help="Adversarial artifact: embed its images too, in the plane fitted on the clean ones.",
            rich_help_panel=DATA_PANEL,
        ),
    ] = None,
    val_fraction: Annotated[
        float,
        typer.Option(
            "--val-fraction", help="As in training, to rebuild the same val split.", rich_help_panel=DATA_PANEL
        ),
    ] = 0.1,
    fraction: Annotated[
        Optional[float],
        typer.Option("--fraction", help="A stratified fraction of the split.", rich_help_panel=DATA_PANEL),
    ] = None,
    limit: Annotated[
        Optional[int],
        typer.Option("--limit", help="At most N samples of the split (stratified).", rich_help_panel=DATA_PANEL),
    ] = None,
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
    batch_size: BatchSizeOpt = 256,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
    num_workers: NumWorkersOpt = None,
    data_root: DataRootOpt = None,
    download: DownloadOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Reduce features to 2-D (one reducer fitted on clean data) and write an embedding table and plot."""
    from nnlab.embedding import EmbedRequest, run_embed
    from nnlab.report import key_values

    outcome = run_embed(
        EmbedRequest(
            input=input_path,
            output=output,
            plot=plot,
            adversarial=adversarial,
            layer=layer,
            method=method,
            dataset=dataset,
            split=split,
            val_fraction=val_fraction,
            fraction=fraction,
            limit=limit,
            batch_size=batch_size,
            seed=seed,
            device=device,
            num_workers=num_workers,
            data_root=data_root,
            download=download,
        ),
        provenance=cli_provenance(),
    )
    if not quiet:
        console.print(key_values("embedding", outcome.summary))
