"""`nnlab attack`: an adversarial version of a dataset split, its metrics table and a figure."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from nnlab.cli.common import (
    BatchSizeOpt, DataRootOpt, DeviceOpt, DownloadOpt, NumWorkersOpt, QuietOpt, SeedOpt, cli_provenance, command,
    console, progress, sibling,
)

EXAMPLES = """
Examples:

  nnlab attack artifacts/clean.safetensors --dataset mnist5k --split test --attack pixels+fgsm --eps 8/255 -o artifacts/adv.safetensors

  nnlab attack artifacts/clean.safetensors --attack pgd --eps 0.1 --alpha 0.01 --steps 10 --limit 500 -o artifacts/pgd.safetensors

  nnlab evaluate artifacts/circle.safetensors --adversarial artifacts/adv.safetensors   # k-NN models: transfer

  nnlab attack --summarize clean=clean.metrics.parquet,clean.adv-metrics.parquet -o summary.parquet
"""


@command
def attack(
    model_path: Annotated[Optional[Path], typer.Argument(metavar="MODEL", help="Model artifact to attack (.safetensors).")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Adversarial artifact (.safetensors); with --summarize the summary table (.parquet).")] = None,
    dataset: Annotated[Optional[str], typer.Option("--dataset", "-d", help="Dataset (default: the one the model was trained on).")] = None,
    split: Annotated[str, typer.Option("--split", help="train, val or test.")] = "test",
    attack_name: Annotated[str, typer.Option("--attack", "-a", help="fgsm, pgd, pixels, gaussian, or a chain applied left to right such as pixels+fgsm.")] = "pixels+fgsm",
    eps: Annotated[Optional[str], typer.Option("--eps", help="L∞ budget of fgsm/pgd in pixel units, e.g. 8/255 (default 8/255).")] = None,
    alpha: Annotated[Optional[str], typer.Option("--alpha", help="PGD step size in pixel units (default 2/255).")] = None,
    steps: Annotated[Optional[int], typer.Option("--steps", help="PGD steps (default 10).")] = None,
    random_start: Annotated[Optional[bool], typer.Option("--random-start/--no-random-start", help="PGD random start (default on).")] = None,
    pixels: Annotated[Optional[int], typer.Option("--pixels", help="Pixels set to white per image by the pixels attack (default 20).")] = None,
    sigma: Annotated[Optional[str], typer.Option("--sigma", help="Std of the gaussian noise in pixel units (default 0.1).")] = None,
    channels_last: Annotated[bool, typer.Option("--channels-last", help="fgsm/pgd: feed the model channels-last batches (faster on the CPU; images may differ from torchattacks' by float rounding).")] = False,
    metrics: Annotated[Optional[Path], typer.Option("--metrics", help="Metrics table (default: beside the output, .metrics.parquet).")] = None,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Figure of clean / adversarial / perturbation (default: beside the output, .grid.png).")] = None,
    val_fraction: Annotated[float, typer.Option("--val-fraction", help="As in training, to rebuild the same val split.")] = 0.1,
    fraction: Annotated[Optional[float], typer.Option("--fraction", help="Attack a stratified fraction of the split.")] = None,
    limit: Annotated[Optional[int], typer.Option("--limit", help="Attack at most N samples (stratified).")] = None,
    summarize: Annotated[Optional[list[str]], typer.Option("--summarize", help="Instead of attacking: write the study table (model, clean_acc, adv_acc) from `nnlab evaluate` tables, one NAME=CLEAN.parquet,ADVERSARIAL.parquet per model (repeatable).")] = None,
    batch_size: BatchSizeOpt = 256,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
    num_workers: NumWorkersOpt = 0,
    data_root: DataRootOpt = None,
    download: DownloadOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Attack a model on a dataset split: adversarial artifact, metrics table, figure (or --summarize a study)."""
    from nnlab.errors import NnlabError
    from nnlab.models import load_model

    if summarize:
        if model_path is not None:
            raise NnlabError("--summarize reads metrics tables; give no MODEL with it")
        _summarize(summarize, output, quiet)
        return
    if model_path is None:
        raise NnlabError("give the MODEL artifact to attack")
    if output is None or output.suffix != ".safetensors":
        raise NnlabError(f"give the adversarial artifact to write with -o FILE.safetensors, got {output}")
    metrics_path = metrics or sibling(output, ".metrics.parquet")
    plot_path = plot or sibling(output, ".grid.png")
    if metrics_path.suffix != ".parquet" or plot_path.suffix != ".png":
        raise NnlabError("--metrics must name a .parquet file and --plot a .png file")

    from nnlab import artifacts
    from nnlab.device import resolve_device
    from nnlab.report import key_values
    from nnlab.robustness import create_attack
    from nnlab.robustness.stage import (
        adversarial_meta, check_attackable, metrics_frame, plot_attack_grid, run_attack,
    )
    from nnlab.training.recipe import DataOptions, dataset_for_model

    dev = resolve_device(device)
    given = {"eps": eps, "alpha": alpha, "steps": steps, "random_start": random_start, "n": pixels, "sigma": sigma,
             "channels_last": channels_last or None}
    model = load_model(model_path, device=dev)
    adversary = create_attack(attack_name, model, seed=seed, **{k: v for k, v in given.items() if v is not None})
    check_attackable(model, adversary, str(model_path))
    name = dataset or model.provenance.get("dataset")
    if not name:
        raise NnlabError("say which dataset to attack with --dataset NAME")
    data = DataOptions(dataset=name, root=data_root, download=download, val_fraction=val_fraction, fraction=fraction,
                       limit=limit, seed=seed)
    ds = dataset_for_model(model, data, split)
    with progress(quiet) as bar:
        task = bar.add_task(f"{adversary.name}", total=len(ds))
        run = run_attack(model, ds, adversary, device=dev, batch_size=batch_size,
                         progress=lambda done, total: bar.update(task, completed=done, total=total))
    classes = list(model.spec.classes)
    prov = cli_provenance(dataset=name, seed=seed)
    meta = adversarial_meta(run, classes=classes, model=str(model_path), dataset=name, split=split,
                            extra={"fraction": fraction, "limit": limit, "seed": seed, "provenance": prov})
    plot_attack_grid(run, ds, classes, plot_path, title=f"{Path(model_path).name} on {name}:{split}: "
                                                        f"{run.attack} {_short(run.params)}")
    table = metrics_frame(run)
    artifacts.save_table(metrics_path, table, {"table": "attack", "adversarial": str(output), "model": str(model_path),
                                               "provenance": prov})
    artifacts.save_adversarial(output, run.images, run.labels, run.clean_pred, run.adv_pred, run.indices, meta)
    if quiet:
        return
    summary = {"model": str(model_path), "data": f"{name}:{split}", "attack": run.attack, **_flat(run.params),
               **run.metrics(), "adversarial set": str(output), "metrics table": str(metrics_path),
               "figure": str(plot_path)}
    console.print(key_values("attack", summary))


def _summarize(items: list[str], output: Path | None, quiet: bool) -> None:
    from nnlab import artifacts
    from nnlab.errors import NnlabError
    from nnlab.report import frame_table
    from nnlab.robustness.stage import robustness_summary

    if output is None or output.suffix != ".parquet":
        raise NnlabError(f"give the summary table to write with -o FILE.parquet, got {output}")
    entries = []
    for item in items:
        name, sep, paths = item.partition("=")
        parts = [p.strip() for p in paths.split(",")]
        if not sep or not name.strip() or len(parts) != 2 or not all(parts):
            raise NnlabError(f"--summarize expects NAME=CLEAN_METRICS.parquet,ADVERSARIAL_METRICS.parquet, got {item!r}")
        entries.append((name.strip(), Path(parts[0]), Path(parts[1])))
    table = robustness_summary(entries)
    artifacts.save_table(output, table, {"table": "robustness_summary", "sources": {n: [str(c), str(a)] for n, c, a in entries},
                                         "provenance": cli_provenance()})
    if not quiet:
        shown = frame_table("robustness summary", table)
        shown.caption = str(output)
        console.print(shown)


def _flat(params: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in params.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key} "))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _short(params: dict) -> str:
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in _flat(params).items())
