"""From names and options to a model and datasets ready for `fit` — the library side of `nnlab train`.

The CLI only parses options; everything that decides *what* is trained lives here, so the same
recipe is usable from Python and from other stages (fit-head, the robustness pipeline).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from nnlab.data import dataset_info, load_dataset
from nnlab.data.info import IMAGENET_MEAN, IMAGENET_STD
from nnlab.data.selection import DataSelection
from nnlab.errors import NnlabError, UsageError
from nnlab.models import Classifier, ModelSpec, create_model, load_model, match_parameters, model_defaults

NORMALIZATIONS = ("dataset", "imagenet", "half", "none")


@dataclass
class DataOptions:
    """Which data to load and how (see `nnlab.data.load_dataset`)."""

    dataset: str
    root: Path | None = None
    download: bool = False
    image_size: int | None = None
    channels: int | None = None
    augment: str = "none"
    val_fraction: float = 0.1
    fraction: float | None = None
    limit: int | None = None
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, selection: DataSelection, seed: int, dataset: str | None = None, **options: Any) -> "DataOptions":
        """The load options of a data selection under the run's ``seed``; ``dataset`` overrides its dataset,
        ``options`` set the others."""
        return cls(
            dataset=dataset or selection.dataset,
            root=selection.data_root,
            download=selection.download,
            val_fraction=selection.val_fraction,
            fraction=selection.fraction,
            limit=selection.limit,
            seed=seed,
            **options,
        )

    def load(self, split: str, *, augment: str | None = None, subset: bool = True):
        """Load one split with these options (augmentation only where asked)."""

        return load_dataset(
            self.dataset,
            split,
            root=self.root,
            download=self.download,
            image_size=self.image_size,
            channels=self.channels,
            augment=augment if augment is not None else "none",
            val_fraction=self.val_fraction,
            seed=self.seed,
            fraction=self.fraction if subset else None,
            limit=self.limit if subset else None,
            **self.extra,
        )


def normalization_stats(kind: str, info: Any, channels: int) -> tuple[list[float], list[float]]:
    """Mean and std (pixel units) for ``--normalize``: the dataset's own, ImageNet's, 0.5/0.5, or identity."""
    if kind not in NORMALIZATIONS:
        raise NnlabError(f"unknown normalization {kind!r}; valid: {', '.join(NORMALIZATIONS)}")
    if kind == "dataset":
        mean, std = list(info.mean), list(info.std)
    elif kind == "imagenet":
        mean, std = list(IMAGENET_MEAN), list(IMAGENET_STD)
    elif kind == "half":
        mean, std = [0.5], [0.5]
    else:
        mean, std = [0.0], [1.0]
    if len(mean) != channels:  # grey stats for RGB input (or the reverse): average or repeat
        mean = [float(np.mean(mean))] * channels
        std = [float(np.mean(std))] * channels
    return [float(m) for m in mean], [float(s) for s in std]


def resolve_input(model_name: str, data: DataOptions, *, pretrained: bool = False) -> tuple[int, int]:
    """Channels and image size for a model on a dataset: explicit options, then the model's, then the data's."""

    info = dataset_info(data.dataset, root=data.root)
    defaults = model_defaults(model_name) or {}
    channels = data.channels or defaults.get("channels") or info.channels
    if pretrained:
        channels = data.channels or 3
    size = data.image_size or defaults.get("image_size") or info.image_size
    return int(channels), int(size)


def build_new_model(
    model_name: str,
    data: DataOptions,
    *,
    width: float = 1.0,
    pretrained: bool = False,
    weights: Path | None = None,
    normalize: str | None = None,
    model_args: dict[str, Any] | None = None,
    classes: list[str] | None = None,
):
    """A fresh :class:`~nnlab.models.Classifier` for ``data``: architecture, classes and input spec.

    ``normalize`` defaults to ImageNet statistics for pretrained weights and to the dataset's own otherwise.
    """

    info = dataset_info(data.dataset, root=data.root)
    channels, size = resolve_input(model_name, data, pretrained=pretrained)
    data.channels, data.image_size = channels, size
    classes = list(classes or info.classes)
    kind = normalize or ("imagenet" if (pretrained or weights) else "dataset")
    mean, std = normalization_stats(kind, info, channels)
    kwargs = dict(model_args or {})
    builder_args = {
        "num_classes": len(classes),
        "in_channels": channels,
        "image_size": size,
        "width": width,
        "pretrained": pretrained,
        "weights": str(weights) if weights else None,
    }
    net = create_model(model_name, **merge_builder_args(builder_args, kwargs))
    arch_kwargs = {"width": width, **kwargs}
    spec = ModelSpec(
        arch=model_name,
        arch_kwargs=arch_kwargs,
        classes=classes,
        input={"channels": channels, "size": size, "mean": mean, "std": std},
        surgery=[],
    )
    return Classifier(net, spec)


# The parameter (or the source) behind each builder argument the recipe sets itself
_BUILDER_ARG_OWNERS = {
    "num_classes": "the classes",
    "in_channels": "the input channels",
    "image_size": "image_size",
    "width": "width",
    "pretrained": "pretrained",
    "weights": "weights",
}


def merge_builder_args(builder_args: dict[str, Any], model_args: dict[str, Any]) -> dict[str, Any]:
    """The builder's keyword arguments: those the recipe derives from its parameters plus ``model_args``.

    A model argument that names one the recipe already sets (``width`` given as ``width`` and again in
    ``model_args``) is a :class:`~nnlab.errors.UsageError` naming both, never a silent override.
    """
    twice = [key for key in model_args if key in builder_args]
    if twice:
        key = twice[0]
        owner = _BUILDER_ARG_OWNERS.get(key, key)
        raise UsageError(
            (owner, "model_args"),
            f"{owner} ({builder_args[key]!r}) and model_args ({key}={model_args[key]!r}) both set the model's "
            f"builder argument {key}; give it only once",
        )
    return {**builder_args, **model_args}


def init_from_artifact(model, path: Path, skip: Sequence[str] = ()) -> tuple[int, int]:
    """Copy every weight of a model artifact whose name and shape match into ``model`` (a new head stays new).

    Parameters matching a ``skip`` pattern (as ``--freeze`` patterns: prefix, glob or ``re:``) keep their new
    initialisation, e.g. ``classifier`` retrains a new classifier on copied features (seed S0's row (b)).
    Returns (copied, total) parameter-tensor counts; nothing matching is an error. This is how an
    offline backbone (e.g. trained on `mnist5k`) stands in for ImageNet pre-training.
    """

    source = load_model(path)
    if source.spec.arch != model.spec.arch:
        raise NnlabError(f"init model {path} is a {source.spec.arch} model, but this run trains a {model.spec.arch}")
    src = source.net.state_dict()
    dst = model.net.state_dict()
    if skip:  # the matched parameters and the buffers of their modules (e.g. a norm layer's running statistics)
        modules = {name.rpartition(".")[0] for name in match_parameters(model.net, list(skip))}
        src = {k: v for k, v in src.items() if k.rpartition(".")[0] not in modules}
    matched = {k: v for k, v in src.items() if k in dst and dst[k].shape == v.shape}
    matched.update(
        {
            k: adapt_input_weight(v, dst[k].shape[1])
            for k, v in src.items()
            if k in dst and k not in matched and _input_conv_pair(v, dst[k])
        }
    )
    if not matched:
        raise NnlabError(f"init model {path}: no weight matches this model's shapes (different width or input?)")
    dst.update(matched)
    model.net.load_state_dict(dst)
    return len(matched), len(dst)


def _input_conv_pair(src: torch.Tensor, dst: torch.Tensor) -> bool:
    """A conv weight that differs only in grey (1) versus colour (3) input channels."""
    return (
        src.ndim == 4
        and dst.ndim == 4
        and src.shape[0] == dst.shape[0]
        and src.shape[2:] == dst.shape[2:]
        and {src.shape[1], dst.shape[1]} == {1, 3}
    )


def adapt_input_weight(weight: torch.Tensor, channels: int) -> torch.Tensor:
    """A first-conv weight for ``channels`` input channels: grey → RGB repeats it divided by 3, RGB → grey sums it,
    so the layer responds to a grey image given as grey or as equal RGB channels alike (as timm adapts ImageNet
    weights to other channel counts)."""
    if weight.shape[1] == channels:
        return weight
    if channels == 1:
        return weight.sum(dim=1, keepdim=True)
    return weight.repeat(1, channels, 1, 1) / channels


def class_remap(model_classes: list[str], data_classes: list[str]) -> np.ndarray:
    """Index map from a dataset's class order to the model's, by class name; unmatched names are an error.

    This lets a model trained on `mnist5k` be evaluated on `digits` (same class names, other domain).
    """
    missing = [c for c in data_classes if c not in model_classes]
    if missing:
        raise NnlabError(
            f"the dataset has classes the model does not know ({', '.join(map(str, missing[:5]))}"
            f"{'…' if len(missing) > 5 else ''}); the model's classes are {', '.join(map(str, model_classes[:12]))}"
        )
    index = {c: i for i, c in enumerate(model_classes)}
    return np.array([index[c] for c in data_classes], dtype=np.int64)


class RemappedDataset(torch.utils.data.Dataset):
    """A dataset view whose labels are re-indexed into another class order (see `class_remap`)."""

    def __init__(self, ds: Any, mapping: np.ndarray, classes: list[str]):
        self.ds, self.mapping, self.classes = ds, mapping, classes
        self.targets = mapping[np.asarray(ds.targets)]
        for attr in ("info", "indices", "split", "name"):
            if hasattr(ds, attr):
                setattr(self, attr, getattr(ds, attr))

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, i: int):
        x, y = self.ds[i]
        return x, int(self.mapping[int(y)])


def dataset_for_model(model, data: DataOptions, split: str):
    """Load ``split`` shaped for ``model`` (its channels and size), labels in the model's class order."""
    data.channels = model.spec.input["channels"]
    data.image_size = model.spec.input["size"]
    ds = data.load(split)
    if list(ds.classes) == list(model.spec.classes):
        return ds
    return RemappedDataset(ds, class_remap(list(model.spec.classes), list(ds.classes)), list(model.spec.classes))
