"""Evaluate a model artifact on a dataset split or on a stored adversarial set — what `nnlab evaluate` does."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from nnlab.artifacts import load_adversarial
from nnlab.errors import NnlabError
from nnlab.training.engine import evaluate, evaluate_tensors
from nnlab.training.metrics import classification_table, confusion_from_table
from nnlab.training.recipe import class_remap, dataset_for_model


@dataclass
class Evaluation:
    """Headline numbers, the tidy metrics table and the class names they refer to."""

    loss: float
    accuracy: float
    table: pd.DataFrame
    classes: list[str]
    samples: int
    source: str


def evaluate_on_dataset(model: Any, data: Any, split: str, device: torch.device, batch_size: int = 256,
                        num_workers: int = 0) -> Evaluation:
    """Accuracy, loss, per-class scores and confusion of ``model`` on one split of ``data`` (a DataOptions)."""

    ds = dataset_for_model(model, data, split)
    res = evaluate(model, ds, device, batch_size=batch_size, num_workers=num_workers)
    classes = list(model.spec.classes)
    table = classification_table(res.targets, res.predictions, classes, loss=res.loss)
    return Evaluation(res.loss, res.accuracy, table, classes, len(ds), f"{data.dataset}:{split}")


def evaluate_on_adversarial(model: Any, path: Path, device: torch.device, batch_size: int = 256) -> Evaluation:
    """The same metrics on a stored adversarial set (images made against this or another model)."""

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
    table = classification_table(res.targets, res.predictions, classes, loss=res.loss)
    return Evaluation(res.loss, res.accuracy, table, classes, len(labels), f"adversarial:{path}")


def per_class_rows(ev: Evaluation) -> list[list[Any]]:
    """Rows (class, precision, recall, f1, support) for a rich table."""
    cls = ev.table[ev.table["scope"] == "class"]
    return [[r["class"], r["precision"], r["recall"], r["f1"], int(r["support"])] for _, r in cls.iterrows()]


def confusion(ev: Evaluation) -> np.ndarray:
    """The confusion matrix of an evaluation."""

    return confusion_from_table(ev.table, ev.classes)
