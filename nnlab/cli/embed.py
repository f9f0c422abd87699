"""`nnlab embed`: a 2-D map (UMAP or PCA) of a model's features on clean and adversarial images."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from nnlab.cli.common import (
    BatchSizeOpt, DataRootOpt, DeviceOpt, DownloadOpt, NumWorkersOpt, OutputOpt, QuietOpt, SeedOpt, cli_provenance,
    command, console, sibling,
)

EXAMPLES = """
Examples:

  nnlab embed artifacts/clean.safetensors --dataset mnist5k --split test --adversarial artifacts/adv.safetensors -o artifacts/embedding.parquet --plot artifacts/umap.png

  nnlab embed artifacts/clean.safetensors --split test --method pca --layer layer3 -o artifacts/pca.parquet

  nnlab embed artifacts/features.safetensors -o artifacts/features-umap.parquet   # a features artifact
"""


@command
def embed(
    input_path: Annotated[Path, typer.Argument(metavar="INPUT", help="Model artifact, or features artifact (from extract-features).")],
    output: OutputOpt,
    dataset: Annotated[Optional[str], typer.Option("--dataset", "-d", help="Dataset (default: the adversarial set's, else the model's).")] = None,
    split: Annotated[Optional[str], typer.Option("--split", help="train, val or test (default: the adversarial set's, else test).")] = None,
    adversarial: Annotated[Optional[Path], typer.Option("--adversarial", help="Adversarial artifact: embed its images too, in the plane fitted on the clean ones.")] = None,
    layer: Annotated[Optional[str], typer.Option("--layer", help="Layer name or index (default: the penultimate features that feed the classifier; for a features artifact its last layer).")] = None,
    method: Annotated[str, typer.Option("--method", help="umap (n_neighbors 10, min_dist 0.3, seeded) or pca (fast).")] = "umap",
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Scatter plot PNG (default: beside the output, .png).")] = None,
    val_fraction: Annotated[float, typer.Option("--val-fraction", help="As in training, to rebuild the same val split.")] = 0.1,
    fraction: Annotated[Optional[float], typer.Option("--fraction", help="A stratified fraction of the split.")] = None,
    limit: Annotated[Optional[int], typer.Option("--limit", help="At most N samples of the split (stratified).")] = None,
    batch_size: BatchSizeOpt = 256,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
    num_workers: NumWorkersOpt = 0,
    data_root: DataRootOpt = None,
    download: DownloadOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Reduce features to 2-D (one reducer fitted on clean data) and write an embedding table and plot."""
    from nnlab import artifacts
    from nnlab.embedding import METHODS, embedding_frame, plot_embedding, reduce_2d
    from nnlab.errors import NnlabError
    from nnlab.report import key_values

    if output.suffix != ".parquet":
        raise NnlabError(f"the embedding table must be a .parquet file, got {output}")
    plot_path = plot or sibling(output, ".png")
    if plot_path.suffix != ".png":
        raise NnlabError(f"--plot must name a .png file, got {plot_path}")
    if method not in METHODS:
        raise NnlabError(f"unknown --method {method!r}; valid: {', '.join(METHODS)}")
    kind = artifacts.artifact_kind(input_path)
    if kind == "features":
        if adversarial is not None:
            raise NnlabError("--adversarial needs a MODEL to compute the adversarial images' features; "
                             f"{input_path} is a features artifact")
        from nnlab.embedding import file_features

        clean, layer_name, classes, fmeta = file_features(input_path, layer)
        adv = None
        source = f"{fmeta.get('dataset', '?')}:{fmeta.get('split', '?')}"
    elif kind == "model":
        from nnlab.embedding import model_inputs

        clean, adv, layer_name, classes, source = model_inputs(
            input_path, dataset=dataset, split=split, adversarial=adversarial, layer=layer, val_fraction=val_fraction,
            fraction=fraction, limit=limit, seed=seed, device=device, batch_size=batch_size, num_workers=num_workers,
            data_root=data_root, download=download)
    else:
        raise NnlabError(f"{input_path} is an nnlab {kind} artifact; embed takes a model or a features artifact")

    clean_xy, others = reduce_2d(clean.features, [adv.features] if adv is not None else [], method=method, seed=seed)
    frame = embedding_frame(clean_xy, clean.labels, clean.pred,
                            (others[0], adv.labels, adv.pred) if adv is not None else None)
    title = f"{Path(input_path).name}: {layer_name} on {source}, {method.upper()}"
    plot_embedding(frame, classes, plot_path, title=title)
    params = {"n_neighbors": 10, "min_dist": 0.3} if method == "umap" else {}
    artifacts.save_table(output, frame, {
        "table": "embedding", "input": str(input_path), "layer": layer_name, "method": method, "params": params,
        "seed": seed, "classes": classes, "data": source, "adversarial": str(adversarial) if adversarial else None,
        "provenance": cli_provenance(seed=seed)})
    if quiet:
        return
    summary = {"input": str(input_path), "layer": layer_name, "dim": int(clean.features.shape[1]),
               "data": source, "clean samples": len(clean), "method": method, "embedding table": str(output),
               "plot": str(plot_path)}
    if adv is not None:
        summary.update({"adversarial samples": len(adv), "adversarial set": str(adversarial)})
    console.print(key_values("embedding", summary))

