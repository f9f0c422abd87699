"""The `nnlab attack` stage: attack a dataset split, measure it, draw it, write the adversarial artifact.

:func:`run_attack` is the whole stage in one call (load the model, open the split, attack, measure,
write the adversarial artifact, its metrics table and a figure). :func:`attack_dataset` walks a
split in order, batch by batch, with one attack object, so seeded attacks (``pixels``) give the same
images for the same split, batch size and seed. Only the adversarial images are kept; the clean ones
are re-read from the dataset for the figure.

    from nnlab.robustness.stage import AttackRequest, run_attack

    outcome = run_attack(AttackRequest(model="clean.safetensors", output="adv.safetensors", attack="fgsm",
                                       params={"eps": "8/255"}, limit=500))
    outcome.metrics  # samples, clean_accuracy, adversarial_accuracy, success_rate, mean_linf, mean_l2
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

from nnlab import artifacts, distributed
from nnlab.artifacts import save_figure, sibling
from nnlab.data.selection import DataStageRequest
from nnlab.errors import NnlabError
from nnlab.models import load_model
from nnlab.report import subplots
from nnlab.robustness.base import Attack
from nnlab.robustness.factory import create_attack
from nnlab.robustness.knn import KNNClassifier
from nnlab.training.inference import LABELS, Step, map_split
from nnlab.training.recipe import DataOptions, dataset_for_model

METRIC_COLUMNS = ("samples", "clean_accuracy", "adversarial_accuracy", "success_rate", "mean_linf", "mean_l2")


@dataclass
class AttackRun:
    """An attacked split: adversarial images and everything the artifact and the metrics need."""

    images: Tensor
    labels: Tensor
    clean_pred: Tensor
    adv_pred: Tensor
    indices: Tensor
    linf: Tensor
    l2: Tensor
    attack: str
    params: dict[str, Any] = field(default_factory=dict)

    def metrics(self) -> dict[str, float | int]:
        """Clean and adversarial accuracy, success rate among the initially correct, mean L∞ and L2."""
        correct = self.clean_pred == self.labels
        flipped = correct & (self.adv_pred != self.labels)
        n = len(self.labels)
        return {
            "samples": n,
            "clean_accuracy": correct.float().mean().item() if n else float("nan"),
            "adversarial_accuracy": (self.adv_pred == self.labels).float().mean().item() if n else float("nan"),
            "success_rate": (flipped.sum() / correct.sum()).item() if correct.any() else float("nan"),
            "mean_linf": self.linf.mean().item() if n else float("nan"),
            "mean_l2": self.l2.mean().item() if n else float("nan"),
        }


def is_knn_model(model: Any) -> bool:
    """Whether ``model`` classifies with a k-NN head (a circle-loss model), whose output has no input gradient."""

    return any(isinstance(module, KNNClassifier) for module in model.modules())


def check_attackable(model: Any, attack: Attack, model_name: str = "this model") -> None:
    """Refuse a gradient attack on a k-NN model with a message that says what to do instead.

    Model-free attacks (``pixels``, ``gaussian``) work on any model. Gradient attacks (``fgsm``, ``pgd``)
    need a differentiable output; a k-NN vote has none, so the way to judge a k-NN model is to attack a
    differentiable model and evaluate the k-NN model on that stored set (a transfer attack, as the seed did).
    """
    parts = getattr(attack, "parts", [attack])
    gradient = [part.name for part in parts if part.uses_model]
    if gradient and is_knn_model(model):
        raise NnlabError(
            f"{model_name} classifies by k-NN, which has no input gradient for {'/'.join(gradient)}; attack a "
            "differentiable model and judge this one by evaluating it on that adversarial set"
        )


def attack_dataset(
    model: Any,
    ds: Any,
    attack: Attack,
    *,
    device: torch.device,
    batch_size: int = 256,
    num_workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> AttackRun:
    """Attack every sample of ``ds`` (in order) and record predictions before and after, and the perturbation sizes.

    ``model`` must already be on ``device`` and in eval mode; ``attack`` must be built on it. Under
    torchrun each rank attacks a contiguous share of whole batches (its seeded attack first skips the
    earlier ranks' batches) and rank 0 gets the whole run, identical to a one-process run; the other
    ranks get their own share.
    """

    if len(ds) == 0:
        raise NnlabError("the dataset split to attack is empty")
    check_attackable(model, attack)
    part = distributed.shard_range(len(ds), batch_size)
    if part.start:  # a seeded attack draws as if it had attacked the earlier ranks' batches
        image = torch.as_tensor(ds[0][0])
        for _ in range(part.start // batch_size):
            attack.advance((batch_size, *image.shape), image.dtype)
    gathered = map_split(
        attack_step(model, attack, device),
        ds,
        device=device,
        batch_size=batch_size,
        num_workers=num_workers,
        progress=progress,
        everywhere=False,
    )
    count = len(gathered[LABELS])
    indices = getattr(ds, "indices", None)
    indices = torch.as_tensor(np.asarray(indices), dtype=torch.long) if indices is not None else torch.arange(len(ds))
    return AttackRun(
        images=gathered["images"],
        labels=gathered[LABELS],
        clean_pred=gathered["clean"],
        adv_pred=gathered["adv"],
        indices=indices[part] if count < len(ds) else indices,
        linf=gathered["linf"],
        l2=gathered["l2"],
        attack=attack.name,
        params=attack.params(),
    )


def attack_step(model: Any, attack: Attack, device: torch.device) -> Step:
    """The :func:`~nnlab.training.inference.map_split` step of an attack: a batch's adversarial images, the
    predictions before and after, and the perturbations' L∞ and L2 sizes."""

    def step(images: Tensor, labels: Tensor) -> dict[str, Tensor]:
        labels = labels.to(device)
        with torch.no_grad():
            clean_pred = model(images).argmax(1)
        adversarial = attack(images, labels).detach()
        with torch.no_grad():
            adv_pred = model(adversarial).argmax(1)
        delta = (adversarial - images).flatten(1)
        return {
            "images": adversarial.cpu(),
            "clean": clean_pred.cpu(),
            "adv": adv_pred.cpu(),
            "linf": delta.abs().amax(1).cpu(),
            "l2": delta.norm(dim=1).cpu(),
        }

    return step


def metrics_frame(run: AttackRun) -> Any:
    """The metrics table (one row): attack, its parameters as JSON, and :meth:`AttackRun.metrics`."""
    import json

    import pandas as pd

    return pd.DataFrame([{"attack": run.attack, "params": json.dumps(run.params, sort_keys=True), **run.metrics()}])


def grid_samples(run: AttackRun, count: int = 8) -> list[int]:
    """Positions to show: attacks that flipped a correct prediction first, one class at a time, then the rest."""
    correct = run.clean_pred == run.labels
    flipped = (correct & (run.adv_pred != run.labels)).nonzero().flatten().tolist()
    chosen: list[int] = []
    seen: set[int] = set()
    for i in flipped:  # one flipped sample per class first, so the grid shows several classes
        if int(run.labels[i]) not in seen:
            seen.add(int(run.labels[i]))
            chosen.append(i)
    taken = set(chosen)
    flipped_set = set(flipped)
    rest = [i for i in flipped if i not in taken] + [i for i in range(len(run.labels)) if i not in flipped_set]
    return (chosen + rest)[:count]


def plot_attack_grid(
    run: AttackRun, ds: Any, classes: Sequence[str], path: str | Path, count: int = 8, title: str | None = None
) -> Path:
    """PNG grid: clean images, adversarial images and their perturbation amplified, with true and predicted classes.

    The perturbation is shown as ``0.5 + delta / (2 a)``, clipped, with ``a`` the median of the non-zero
    ``|delta|`` of the image: a ±eps sign pattern spans the full grey range and whitened pixels saturate
    (the amplification factor is in the title).
    """

    picks = grid_samples(run, count)
    if not picks:
        raise NnlabError("no samples to draw")
    fig, axes = subplots(3, len(picks), figsize=(1.7 * len(picks), 5.6), squeeze=False)
    for col, i in enumerate(picks):
        clean = torch.as_tensor(ds[i][0]).float()
        adv = run.images[i]
        delta = adv - clean
        moved = delta.abs().flatten()
        moved = moved[moved > 0]
        scale = float(moved.median()) if len(moved) else 1.0
        shown = (0.5 + delta / (2 * scale)).clamp(0, 1)
        label = classes[int(run.labels[i])]
        rows = [
            (clean, f"true {label}\npred {classes[int(run.clean_pred[i])]}"),
            (adv, f"pred {classes[int(run.adv_pred[i])]}"),
            (shown, f"×{1 / (2 * scale):.0f}"),
        ]
        for row, (img, text) in enumerate(rows):
            ax = axes[row][col]
            pixels = img.permute(1, 2, 0).numpy()
            ax.imshow(pixels[..., 0] if pixels.shape[2] == 1 else pixels, cmap="gray", vmin=0, vmax=1)
            wrong = row == 1 and int(run.adv_pred[i]) != int(run.labels[i])
            ax.set_title(text, fontsize=8, color="red" if wrong else "black")
            ax.set_xticks([])
            ax.set_yticks([])
    for row, name in enumerate(("clean", "adversarial", "perturbation")):
        axes[row][0].set_ylabel(name, fontsize=9)
    fig.suptitle(title or f"{run.attack} {run.params}", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)


def adversarial_meta(
    run: AttackRun,
    *,
    classes: Sequence[str],
    model: str,
    dataset: str,
    split: str,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Metadata of the adversarial artifact: the attack and its parameters, classes, source model and data."""
    return {
        "attack": run.attack,
        "params": run.params,
        "classes": list(classes),
        "model": model,
        "dataset": dataset,
        "split": split,
        "metrics": run.metrics(),
        **dict(extra or {}),
    }


# --------------------------------------------------------------------------- the whole stage


@dataclass
class AttackRequest(DataStageRequest):
    """Every input of the attack stage as plain values (what `nnlab attack` is given).

    ``params`` are the attack's parameters (``eps``, ``alpha``, ``steps``, ``random_start``, ``n``,
    ``sigma``, ``channels_last``; numbers or fractions such as ``"8/255"``); those the attack does not
    take are an error. ``data.dataset`` defaults to the one the model was trained on, ``data.split`` to test;
    ``metrics`` and ``plot`` default to files beside ``output`` (``.metrics.parquet``, ``.grid.png``).
    """

    model: Path
    output: Path
    attack: str = "pixels+fgsm"
    params: dict[str, Any] = field(default_factory=dict)
    metrics: Path | None = None
    plot: Path | None = None

    def paths(self) -> tuple[Path, Path, Path]:
        """``(adversarial artifact, metrics table, figure)``, checked for their file types."""
        output = Path(self.output)
        if output.suffix != ".safetensors":
            raise NnlabError(f"the adversarial artifact must be a .safetensors file, got {output}")
        metrics = Path(self.metrics) if self.metrics is not None else sibling(output, ".metrics.parquet")
        plot = Path(self.plot) if self.plot is not None else sibling(output, ".grid.png")
        if metrics.suffix != ".parquet":
            raise NnlabError(f"the attack's metrics table must be a .parquet file, got {metrics}")
        if plot.suffix != ".png":
            raise NnlabError(f"the attack's figure must be a .png file, got {plot}")
        return output, metrics, plot


@dataclass
class AttackOutcome:
    """What the attack stage wrote and measured."""

    run: AttackRun
    dataset: str
    split: str
    output: Path
    metrics_path: Path
    plot: Path
    metrics: dict[str, float | int]
    summary: dict[str, Any]


def run_attack(
    request: AttackRequest,
    *,
    progress: Callable[[int, int], None] | None = None,
    provenance: Mapping[str, Any] | None = None,
) -> AttackOutcome:
    """The attack stage: attack a model on a dataset split and write the adversarial artifact, metrics table, figure.

    Loads the model artifact, builds the attack on it (refusing a gradient attack on a k-NN model),
    opens the split shaped for the model, attacks every sample (:func:`attack_dataset`), then writes the
    figure, the one-row metrics table and the adversarial artifact, each atomically and only after the
    whole split was attacked. ``provenance`` (e.g. the command line) is stored in every file written.
    ``progress(done, total)`` reports samples attacked.
    """
    output, metrics_path, plot_path = request.paths()
    sel, runtime = request.data, request.runtime
    split = sel.split or "test"
    device = distributed.setup_device(runtime.device)
    model = load_model(request.model, device=device)
    params = {k: v for k, v in request.params.items() if v is not None}
    adversary = create_attack(request.attack, model, seed=runtime.seed, **params)
    check_attackable(model, adversary, str(request.model))
    name = sel.dataset or model.provenance.get("dataset")
    if not name:
        raise NnlabError(f"{request.model} records no training dataset; name the dataset to attack")
    with distributed.main_first():  # under torchrun a download happens once
        ds = dataset_for_model(model, DataOptions.of(sel, runtime.seed, name), split)
    run = attack_dataset(
        model,
        ds,
        adversary,
        device=device,
        batch_size=sel.batch_size,
        num_workers=runtime.num_workers,
        progress=progress,
    )
    classes = list(model.spec.classes)
    prov = artifacts.provenance(base=provenance, dataset=name, seed=runtime.seed)
    if distributed.is_main():  # under torchrun rank 0 holds the whole run and alone writes
        meta = adversarial_meta(
            run,
            classes=classes,
            model=str(request.model),
            dataset=name,
            split=split,
            extra={"fraction": sel.fraction, "limit": sel.limit, "seed": runtime.seed, "provenance": prov},
        )
        plot_attack_grid(
            run,
            ds,
            classes,
            plot_path,
            title=f"{Path(request.model).name} on {name}:{split}: {run.attack} {_short(run.params)}",
        )
        artifacts.save_table(
            metrics_path,
            metrics_frame(run),
            {"table": "attack", "adversarial": str(output), "model": str(request.model), "provenance": prov},
        )
        artifacts.save_adversarial(output, run.images, run.labels, run.clean_pred, run.adv_pred, run.indices, meta)
    distributed.barrier()
    measured = run.metrics()
    summary = {
        "model": str(request.model),
        "data": f"{name}:{split}",
        "attack": run.attack,
        **_flat(run.params),
        **measured,
        "adversarial set": str(output),
        "metrics table": str(metrics_path),
        "figure": str(plot_path),
    }
    return AttackOutcome(
        run=run,
        dataset=name,
        split=split,
        output=output,
        metrics_path=metrics_path,
        plot=plot_path,
        metrics=measured,
        summary=summary,
    )


def _flat(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested parameters (a chain's per-part dicts) as one level: ``{"fgsm eps": 0.03, ...}``."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, Mapping):
            out.update(_flat(value, f"{prefix}{key} "))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _short(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in _flat(params).items())
