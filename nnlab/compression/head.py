"""Fit a new head on a frozen, truncated backbone (seed S0, compression step 3) — the library side of `fit-head`.

The backbone (everything before the head, feature selection included) is frozen and kept in eval mode while the
head trains, so its batch-norm statistics and dropout never change. Without augmentation the backbone's output
is the same every epoch, so it is computed once per split and the head trains on the cached features; the
training streams (batch order, dropout masks) are the same either way, so caching gives the same head.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn
from torch.utils.data import TensorDataset

from nnlab import distributed
from nnlab.compression.ranking_table import load_ranking, select_from_ranking
from nnlab.data.selection import DataStageRequest
from nnlab.errors import NnlabError, ParameterError
from nnlab.models import attach_head, count_parameters, feature_dim, load_model
from nnlab.training.config import TrainConfig
from nnlab.training.engine import fit, map_dataset, seed_everything
from nnlab.training.precision import resolve_precision
from nnlab.training.recipe import DataOptions, RemappedDataset, class_remap, dataset_for_model
from nnlab.training.train_run import TrainOutcome, train_and_save

HEAD = "head"


def cut_of(model: Any) -> str | None:
    """The layer a model was truncated at (its last truncate operation), or None."""
    cuts = [op.get("at") for op in model.spec.surgery if op.get("op") == "truncate"]
    return str(cuts[-1]) if cuts else None


def require_truncated(model: Any, what: str = "the model") -> str:
    """The model's cut layer; an untruncated model, or one that already has a head, is a clear error."""
    cut = cut_of(model)
    if cut is None:
        raise NnlabError(
            f"fit-head needs a truncated model, but {what} is not truncated; "
            "truncate it first (at a layer index, name or auto)"
        )
    if any(op.get("op") == "head" for op in model.spec.surgery):
        raise NnlabError(f"{what} already has a fitted head; fit a new head on the truncated model instead")
    if any(op.get("op") == "select" for op in model.spec.surgery):
        raise NnlabError(f"{what} already selects features; fit the head on the plain truncated model")
    return cut


class FrozenBackbone(nn.Module):
    """Classifier minus its head: normalization, backbone and feature selection; always in eval mode."""

    def __init__(self, classifier: Any):
        super().__init__()
        self.classifier = classifier

    def train(self, mode: bool = True) -> "FrozenBackbone":
        return super().train(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.classifier.normalize(x)
        for name, child in self.classifier.net.named_children():
            if name == HEAD:
                break
            x = child(x)
        return x


class HeadTrainer(nn.Module):
    """The whole classifier as `fit` sees it: ``.train()`` puts only the head in training mode."""

    def __init__(self, classifier: Any):
        super().__init__()
        self.classifier = classifier

    @property
    def net(self) -> nn.Module:  # `fit` builds its optimizer from `model.net`'s trainable parameters
        return self.classifier.net

    def train(self, mode: bool = True) -> "HeadTrainer":
        super().train(mode)
        for name, child in self.classifier.net.named_children():
            if name != HEAD:
                child.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(x)


class _HeadOnly(nn.Module):
    """The head alone, trained on cached backbone features."""

    def __init__(self, head: nn.Module):
        super().__init__()
        self.net = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@torch.no_grad()
def backbone_features(
    model: Any, ds: Any, device: torch.device, batch_size: int = 256, num_workers: int | None = None
) -> TensorDataset:
    """The frozen backbone's output (after feature selection) for every item of ``ds``, with labels.

    Under torchrun each rank computes a share of the batches and every rank gets all of them, in order.
    """

    backbone = FrozenBackbone(model).to(device).eval()
    features, targets = map_dataset(backbone, ds, device, batch_size, num_workers)
    return TensorDataset(features, targets)


def build_headed(trunc: Any, indices: list[int] | None, hidden: list[int], dropout: float, seed: int) -> Any:
    """The truncated model + feature selection + a fresh head (initialized from ``seed``), backbone frozen."""

    require_truncated(trunc)
    seed_everything(seed)
    model = attach_head(trunc, indices, hidden=hidden, dropout=dropout)
    for name, param in model.net.named_parameters():
        param.requires_grad_(name.split(".")[0] == HEAD)
    return model


def train_head(
    model: Any,
    train_ds: Any,
    val_ds: Any,
    config: Any,
    device: torch.device,
    *,
    cache: bool = True,
    on_epoch: Callable[[dict], None] | None = None,
    on_batch: Callable[[int, int], None] | None = None,
    on_cache: Callable[[str], None] | None = None,
) -> Any:
    """Train ``model``'s head in place (best-val weights kept); with ``cache`` the backbone runs once per split."""

    if cache:
        if on_cache is not None:
            on_cache("caching backbone features")
        train_feats = backbone_features(model, train_ds, device, max(config.batch_size, 256), config.num_workers)
        val_feats = (
            backbone_features(model, val_ds, device, max(config.batch_size, 256), config.num_workers)
            if val_ds is not None
            else None
        )
        head = model.net.get_submodule(HEAD)
        result = fit(_HeadOnly(head), train_feats, val_feats, config, device, on_epoch=on_epoch, on_batch=on_batch)
    else:
        result = fit(HeadTrainer(model), train_ds, val_ds, config, device, on_epoch=on_epoch, on_batch=on_batch)
    model.to("cpu").eval()
    return result


@dataclass
class HeadRequest(DataStageRequest):
    """Every option of `nnlab fit-head`: the truncated model, the head, its training (``config``) and the data
    (``data``; its batch size, seed and workers are the run's, see :meth:`TrainConfig.for_run`)."""

    model: Path
    ranking: Path | None
    output: Path
    top: int | None = None
    best: bool = False
    hidden: list[int] = field(default_factory=list)
    dropout: float = 0.2
    augment: str = "none"
    cache: bool = True
    config: TrainConfig = field(default_factory=TrainConfig)
    history: Path | None = None
    plot: Path | None = None

    def __post_init__(self) -> None:
        self.config = self.config.for_run(self.data, self.runtime)


def parse_hidden(text: str | None, width: float = 1.0) -> list[int]:
    """'' → [] (linear head); '4096,4096' → [4096, 4096]; ``width`` scales each width (rounded, at least 1)."""
    widths = []
    for part in (text or "").replace(" ", "").split(","):
        if not part:
            continue
        if not part.isdigit() or int(part) < 1:
            raise ParameterError(
                "hidden",
                f"hidden widths must be comma-separated positive integers such as 4096,4096 (or empty), got {text!r}",
            )
        widths.append(max(1, int(round(int(part) * width))))
    return widths


def run_fit_head(
    req: HeadRequest,
    *,
    on_epoch: Callable[[dict], None] | None = None,
    on_batch: Callable[[int, int], None] | None = None,
    on_cache: Callable[[str], None] | None = None,
    provenance: dict[str, Any] | None = None,
) -> TrainOutcome:
    """Load, check, select, build, train and save — what `nnlab fit-head` does; returns the trained model, its history
    and a summary.

    ``provenance`` (see :func:`nnlab.artifacts.provenance`) is recorded in what is written.
    """

    if req.output.suffix != ".safetensors":
        raise NnlabError(f"the model artifact must be a .safetensors file, got {req.output}")
    trunc = load_model(req.model)
    cut = require_truncated(trunc, str(req.model))
    dim = feature_dim(trunc)
    indices = None
    if req.ranking is not None:
        df, meta = load_ranking(req.ranking)
        indices = select_from_ranking(
            df,
            meta,
            top=req.top,
            best=req.best,
            cut=cut,
            dim=dim,
            arch=trunc.spec.arch,
            width=trunc.spec.arch_kwargs.get("width"),
        )
    elif req.top is not None or req.best:
        raise ParameterError(("top", "best"), "top and best select ranked features; give the ranking table too")
    sel, runtime = req.data, req.runtime
    dataset = sel.named(trunc.provenance.get("dataset"), "train the head on")
    config = replace(req.config, extra=dict(req.config.extra))
    device = distributed.setup_device(runtime.device)
    config.precision = resolve_precision(config.precision, device)  # the artifact records what ran
    model = build_headed(trunc, indices, req.hidden, req.dropout, runtime.seed)
    with distributed.main_first():  # under torchrun a download happens once
        train_ds = _train_split(model, DataOptions.of(sel, runtime.seed, dataset), req.augment)
    val_ds = dataset_for_model(
        model, DataOptions.of(replace(sel, fraction=None, limit=None), runtime.seed, dataset), "val"
    )
    cache = req.cache and req.augment == "none"
    saved = train_and_save(
        model,
        lambda: train_head(
            model,
            train_ds,
            val_ds,
            config,
            device,
            cache=cache,
            on_epoch=on_epoch,
            on_batch=on_batch,
            on_cache=on_cache,
        ),
        output=req.output,
        history=req.history,
        plot=req.plot,
        provenance=dict(
            base=provenance,
            dataset=dataset,
            seed=runtime.seed,
            train_config=config.to_dict(),
            augment=req.augment,
            backbone=str(req.model),
            ranking=str(req.ranking) if req.ranking else None,
            features=len(indices) if indices is not None else dim,
            hidden=req.hidden,
            dropout=req.dropout,
            cached_features=cache,
        ),
    )
    result, history, history_path = saved.result, saved.history, saved.history_path
    total, trainable = count_parameters(model.net)
    summary = {
        "backbone": str(req.model),
        "cut": cut,
        "features": len(indices) if indices is not None else dim,
        "of": dim,
        "hidden": ",".join(map(str, req.hidden)) or "none (linear)",
        "dropout": req.dropout,
        "parameters": total,
        "trainable": trainable,
        "cached features": cache,
        "train samples": len(train_ds),
        "val samples": len(val_ds),
        "best epoch": result.best_epoch,
        "best val accuracy": result.best_val_accuracy,
        "device": str(device),
        "precision": config.precision,
        "artifact": str(req.output),
        "history": str(history_path),
    }
    return TrainOutcome(model=model, history_frame=history, summary=summary)


def _train_split(model: Any, data: Any, augment: str) -> Any:
    """The train split (with ``augment``), shaped for ``model``, labels in its class order."""

    data.channels = model.spec.input["channels"]
    data.image_size = model.spec.input["size"]
    ds = data.load("train", augment=augment)
    if list(ds.classes) == list(model.spec.classes):
        return ds
    return RemappedDataset(ds, class_remap(list(model.spec.classes), list(ds.classes)), list(model.spec.classes))
