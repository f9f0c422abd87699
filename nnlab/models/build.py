"""Model building: a Classifier from a spec (to restore a saved model) or from an architecture name."""

from __future__ import annotations

from typing import Any

from nnlab.errors import NnlabError
from nnlab.models.registry import create_model, model_defaults
from nnlab.models.spec import Classifier, ModelSpec
from nnlab.models.surgery import apply_surgery


def build_classifier(spec: ModelSpec) -> Classifier:
    """The architecture described by ``spec`` (surgery included) with random weights; load a state
    dict into it to restore a saved model."""
    kwargs = dict(spec.arch_kwargs)
    width = kwargs.pop("width", 1.0)
    num_classes = kwargs.pop("num_classes", spec.num_classes)
    net = create_model(
        spec.arch, num_classes=num_classes, in_channels=spec.channels, image_size=spec.size, width=width, **kwargs
    )
    return Classifier(apply_surgery(net, spec.surgery), spec)


def create_classifier(
    arch: str,
    classes: list[str],
    *,
    channels: int = 3,
    size: int = 32,
    mean: list[float] | None = None,
    std: list[float] | None = None,
    width: float = 1.0,
    pretrained: bool = False,
    weights: str | None = None,
    **kwargs: Any,
) -> Classifier:
    """A new Classifier for ``classes``: spec + :func:`create_model` in one call.

    Without ``mean``/``std``: a pretrained model uses its weights' statistics (averaged when the
    channel count differs), anything else 0.5/0.5. Pass the dataset's statistics to override.
    """
    if mean is None or std is None:
        defaults = model_defaults(arch) if pretrained else {}
        d_mean, d_std = defaults.get("mean"), defaults.get("std")
        if d_mean and d_std:
            if len(d_mean) != channels:
                d_mean, d_std = [sum(d_mean) / len(d_mean)] * channels, [sum(d_std) / len(d_std)] * channels
        else:
            d_mean, d_std = [0.5] * channels, [0.5] * channels
        mean = list(d_mean) if mean is None else mean
        std = list(d_std) if std is None else std
    if not classes:
        raise NnlabError("a classifier needs at least one class name")
    spec = ModelSpec(
        arch=arch,
        arch_kwargs={"width": float(width), **kwargs},
        classes=list(classes),
        input={
            "channels": int(channels),
            "size": int(size),
            "mean": [float(m) for m in mean],
            "std": [float(s) for s in std],
        },
        surgery=[],
    )
    net = create_model(
        arch,
        num_classes=len(spec.classes),
        in_channels=spec.channels,
        image_size=spec.size,
        width=width,
        pretrained=pretrained,
        weights=weights,
        **kwargs,
    )
    return Classifier(net, spec)
