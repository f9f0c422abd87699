"""Evaluate a model artifact on a dataset split or on a stored adversarial set — what `nnlab evaluate` does."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.utils.data import Subset

from nnlab import artifacts, distributed
from nnlab.artifacts import load_adversarial
from nnlab.data.selection import DataStageRequest
from nnlab.errors import NnlabError
from nnlab.models import load_model
from nnlab.report import plot_confusion
from nnlab.training.engine import evaluate, evaluate_tensors
from nnlab.training.metrics import COUNT_COLUMNS, METRICS_COLUMNS, classification_records, confusion_from_table
from nnlab.training.recipe import DataOptions, class_remap, dataset_for_model

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class Evaluation:
    """Headline numbers, the tidy metrics table (its records and columns; ``table`` as a DataFrame) and the class
    names they refer to."""

    loss: float
    accuracy: float
    rows: list[dict[str, Any]]
    classes: list[str]
    samples: int
    source: str
    columns: list[str] = field(default_factory=lambda: list(METRICS_COLUMNS))

    @property
    def overall(self) -> dict[str, Any]:
        """The overall row (accuracy, loss, macro scores, and on an adversarial set the transfer figures)."""
        return next(r for r in self.rows if r["scope"] == "overall")

    @property
    def table(self) -> pd.DataFrame:
        """The metrics table as a DataFrame, as the written parquet reads back."""
        import pandas as pd

        df = pd.DataFrame(self.rows, columns=self.columns)
        for col in COUNT_COLUMNS:
            df[col] = df[col].astype("Int64")
        return df


def evaluate_on_dataset(
    model: Any, data: Any, split: str, device: torch.device, batch_size: int = 256, num_workers: int | None = None
) -> Evaluation:
    """Accuracy, loss, per-class scores and confusion of ``model`` on one split of ``data`` (a DataOptions)."""

    with distributed.main_first():  # under torchrun a download happens once
        ds = dataset_for_model(model, data, split)
    res = evaluate(model, ds, device, batch_size=batch_size, num_workers=num_workers)
    classes = list(model.spec.classes)
    rows = classification_records(res.targets, res.predictions, classes, loss=res.loss)
    return Evaluation(res.loss, res.accuracy, rows, classes, len(ds), f"{data.dataset}:{split}")


def adversarial_originals(model: Any, adv: Any, data: DataOptions, path: Path) -> Any:
    """The clean originals of the adversarial images in ``adv`` (same samples, same order), read from ``data``'s
    dataset on the split the set was made from (its ``split`` meta) as ``model`` takes them."""
    split = adv.meta.get("split") or "test"
    ds = dataset_for_model(model, data, split)
    position = {int(v): i for i, v in enumerate(getattr(ds, "indices", range(len(ds))))}
    missing = [int(i) for i in adv.indices if int(i) not in position]
    if missing:
        raise NnlabError(
            f"{path} refers to samples {missing[:3]} that {data.dataset}:{split} does not have; "
            "use the val_fraction it was made with"
        )
    return Subset(ds, [position[int(i)] for i in adv.indices])


def transfer_figures(clean_pred: np.ndarray, adv_pred: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Accuracy on the clean originals and the attack's success rate among the originals this model classifies
    correctly (the share of those that the adversarial image makes wrong). Made against this model it is the
    attack's own success rate (as `nnlab attack` reports it); made against another model it is the rate at which
    the attack transfers."""
    correct = clean_pred == labels
    flipped = correct & (adv_pred != labels)
    return {
        "clean_accuracy": float(correct.mean()) if len(labels) else float("nan"),
        "success_rate": float(flipped.sum() / correct.sum()) if correct.any() else float("nan"),
    }


def evaluate_on_adversarial(
    model: Any, path: Path, device: torch.device, batch_size: int = 256, data: DataOptions | None = None
) -> Evaluation:
    """The same metrics on a stored adversarial set (images made against this or another model).

    With ``data`` (the options to read the set's dataset; its ``dataset`` the set's own), the overall row also
    holds the model's ``clean_accuracy`` on the originals and the attack's ``success_rate`` among those it
    classifies correctly (:func:`transfer_figures`).
    """

    adv = load_adversarial(path)
    inp = model.spec.input
    expected = (inp["channels"], inp["size"], inp["size"])
    if tuple(adv.images.shape[1:]) != expected:
        raise NnlabError(f"{path} holds images of shape {tuple(adv.images.shape[1:])}, but the model takes {expected}")
    labels = adv.labels
    adv_classes = adv.meta.get("classes")
    classes = list(model.spec.classes)
    if adv_classes and list(adv_classes) != classes:
        labels = torch.as_tensor(class_remap(classes, list(adv_classes))[labels.numpy()])
    res = evaluate_tensors(model, adv.images, labels, device, batch_size=batch_size)
    rows = classification_records(res.targets, res.predictions, classes, loss=res.loss)
    ev = Evaluation(res.loss, res.accuracy, rows, classes, len(labels), f"adversarial:{path}")
    if data is not None:
        originals = adversarial_originals(model, adv, data, path)
        clean = evaluate(model, originals, device, batch_size=batch_size)
        figures = transfer_figures(clean.predictions, res.predictions, res.targets)
        ev.overall.update(figures)
        ev.columns += list(figures)
    return ev


def per_class_rows(ev: Evaluation) -> list[list[Any]]:
    """Rows (class, precision, recall, f1, support) for a rich table."""
    cls = [r for r in ev.rows if r["scope"] == "class"]
    return [[r["class"], r["precision"], r["recall"], r["f1"], int(r["support"])] for r in cls]


def confusion(ev: Evaluation) -> np.ndarray:
    """The confusion matrix of an evaluation."""

    return confusion_from_table(ev.rows, ev.classes)


@dataclass
class EvaluateRequest(DataStageRequest):
    """Every input of the evaluate stage as plain values (what `nnlab evaluate` is given).

    With ``adversarial`` the model is evaluated on that stored set; otherwise on ``data.split`` of
    ``data.dataset`` (default: the dataset the model was trained on). ``output`` defaults to a table
    beside the model (``.metrics.parquet``); ``plot`` (a confusion-matrix PNG) is optional.
    """

    model: Path
    output: Path | None = None
    adversarial: Path | None = None
    plot: Path | None = None


@dataclass
class EvaluateOutcome:
    """The evaluation and the files written."""

    evaluation: Evaluation
    output: Path
    plot: Path | None
    summary: dict[str, Any]


def run_evaluate(request: EvaluateRequest, *, provenance: dict[str, Any] | None = None) -> EvaluateOutcome:
    """The evaluate stage: load a model artifact, evaluate it, write the metrics table (and confusion PNG).

    ``provenance`` (e.g. the command line) is stored in the table's metadata.
    """
    output = (
        Path(request.output) if request.output is not None else artifacts.sibling(request.model, ".metrics.parquet")
    )
    if output.suffix != ".parquet":
        raise NnlabError(f"the metrics table must be a .parquet file, got {output}")
    sel, runtime = request.data, request.runtime
    device = distributed.setup_device(runtime.device)
    model = load_model(request.model, device=device)
    if request.adversarial is not None:
        made_on = load_adversarial(request.adversarial).meta.get("dataset")
        name = sel.dataset or made_on
        originals = (
            DataOptions(dataset=name, root=sel.data_root, download=sel.download, val_fraction=sel.val_fraction)
            if name and name == made_on
            else None
        )
        ev = evaluate_on_adversarial(model, request.adversarial, device, batch_size=sel.batch_size, data=originals)
    else:
        name = sel.dataset or model.provenance.get("dataset")
        if not name:
            raise NnlabError(f"{request.model} records no training dataset; name the dataset to evaluate on")
        ev = evaluate_on_dataset(
            model,
            DataOptions.of(sel, runtime.seed, name),
            sel.split or "test",
            device,
            batch_size=sel.batch_size,
            num_workers=runtime.num_workers,
        )
    if distributed.is_main():  # under torchrun every rank evaluated a share; rank 0 alone writes
        artifacts.save_records(
            output,
            ev.rows,
            ev.columns,
            {
                "table": "metrics",
                "model": str(request.model),
                "source": ev.source,
                "provenance": artifacts.provenance(base=provenance, seed=runtime.seed),
            },
            nullable_ints=COUNT_COLUMNS,
        )
        if request.plot is not None:
            title = f"{Path(request.model).name} on {ev.source}"
            plot_confusion(confusion(ev), ev.classes, request.plot, title=title)
    distributed.barrier()
    summary = {
        "model": str(request.model),
        "data": ev.source,
        "samples": ev.samples,
        "accuracy": ev.accuracy,
        "loss": ev.loss,
        **{
            label: float(ev.overall[column])
            for column, label in (("clean_accuracy", "clean accuracy (originals)"), ("success_rate", "success rate"))
            if column in ev.overall
        },
        "metrics table": str(output),
    }
    if request.plot is not None:
        summary["confusion plot"] = str(request.plot)
    return EvaluateOutcome(evaluation=ev, output=output, plot=request.plot, summary=summary)
