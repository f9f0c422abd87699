"""`nnlab evaluate`: accuracy, loss, per-class scores and the confusion matrix of a model artifact."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from nnlab.cli.common import (
    BatchSizeOpt, DataRootOpt, DeviceOpt, DownloadOpt, NumWorkersOpt, QuietOpt, SeedOpt, cli_provenance, command,
    console, sibling,
)

EXAMPLES = """
Examples:

  nnlab evaluate artifacts/vgg.safetensors --dataset digits --split test

  nnlab evaluate artifacts/cnn.safetensors --dataset digits --split test   # trained on mnist5k: cross-domain

  nnlab evaluate artifacts/robust.safetensors --adversarial artifacts/adv.safetensors
"""


@command
def evaluate(
    model_path: Annotated[Path, typer.Argument(metavar="MODEL", help="Model artifact (.safetensors).")],
    dataset: Annotated[Optional[str], typer.Option("--dataset", "-d", help="Dataset (default: the one the model was trained on).")] = None,
    split: Annotated[str, typer.Option("--split", help="train, val or test.")] = "test",
    adversarial: Annotated[Optional[Path], typer.Option("--adversarial", help="Evaluate on a stored adversarial set instead of a dataset.")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Metrics table (default: beside the model, .metrics.parquet).")] = None,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Write the confusion matrix as PNG.")] = None,
    val_fraction: Annotated[float, typer.Option("--val-fraction", help="As in training, to rebuild the same val split.")] = 0.1,
    fraction: Annotated[Optional[float], typer.Option("--fraction", help="Evaluate on a stratified fraction of the split.")] = None,
    limit: Annotated[Optional[int], typer.Option("--limit", help="Evaluate on at most N samples (stratified).")] = None,
    batch_size: BatchSizeOpt = 256,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
    num_workers: NumWorkersOpt = 0,
    data_root: DataRootOpt = None,
    download: DownloadOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Evaluate a model on a dataset split (or an adversarial set) and write a metrics table."""
    from nnlab import artifacts
    from nnlab.device import resolve_device
    from nnlab.models import load_model
    from nnlab.report import key_values, plot_confusion, table
    from nnlab.training.evaluate_run import confusion, evaluate_on_adversarial, evaluate_on_dataset, per_class_rows
    from nnlab.training.recipe import DataOptions

    dev = resolve_device(device)
    model = load_model(model_path, device=dev)
    if adversarial is not None:
        ev = evaluate_on_adversarial(model, adversarial, dev, batch_size=batch_size)
    else:
        name = dataset or model.provenance.get("dataset")
        if not name:
            from nnlab.errors import NnlabError

            raise NnlabError("say which dataset to evaluate on with --dataset NAME")
        data = DataOptions(dataset=name, root=data_root, download=download, val_fraction=val_fraction,
                           fraction=fraction, limit=limit, seed=seed)
        ev = evaluate_on_dataset(model, data, split, dev, batch_size=batch_size, num_workers=num_workers)
    out = output or sibling(model_path, ".metrics.parquet")
    artifacts.save_table(out, ev.table, {"table": "metrics", "model": str(model_path), "source": ev.source,
                                         "provenance": cli_provenance(seed=seed)})
    if plot is not None:
        plot_confusion(confusion(ev), ev.classes, plot, title=f"{Path(model_path).name} on {ev.source}")
    if quiet:
        return
    console.print(table(f"per class ({ev.source})", ["class", "precision", "recall", "f1", "support"], per_class_rows(ev)))
    summary = {"model": str(model_path), "data": ev.source, "samples": ev.samples, "accuracy": ev.accuracy,
               "loss": ev.loss, "metrics table": str(out)}
    if plot:
        summary["confusion plot"] = str(plot)
    console.print(key_values("evaluation", summary))
