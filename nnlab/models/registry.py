"""The model registry and ``create_model``: a name (plus options) becomes a raw ``nn.Module``.

A raw net maps *normalized* images to logits; :class:`nnlab.models.spec.Classifier` adds the
normalization. Builders register with :func:`register_model`, which also records the defaults
(:func:`model_defaults`) the CLI uses to pick an image size and pretrained normalization.
"""

from __future__ import annotations

from typing import Any, Callable

from torch import nn

from nnlab.data.info import IMAGENET_MEAN, IMAGENET_STD
from nnlab.errors import NnlabError, check_positive_int
from nnlab.models.layers import disable_inplace, parse_width
from nnlab.models.weights import load_weights
from nnlab.registry import Registry

MODELS = Registry("model")

_DEFAULTS: dict[str, dict[str, Any] | Callable[[str], dict[str, Any]]] = {}


def register_model(
    name: str,
    *,
    image_size: int = 32,
    channels: int = 3,
    pretrained: bool = False,
    defaults: Callable[[str], dict[str, Any]] | None = None,
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Register a builder in :data:`MODELS` and remember its defaults for :func:`model_defaults`.

    A builder is called as ``fn([arg,] *, num_classes, in_channels, image_size, width, pretrained,
    **kwargs)``; prefix builders (``tv:``) receive the text after the prefix first.
    """

    def decorator(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        MODELS.register(name)(fn)
        if defaults is not None:
            _DEFAULTS[name] = defaults
        else:
            _DEFAULTS[name] = {
                "image_size": image_size,
                "channels": channels,
                "mean": list(IMAGENET_MEAN) if pretrained else None,
                "std": list(IMAGENET_STD) if pretrained else None,
                "pretrained": pretrained,
            }
        return fn

    return decorator


def model_defaults(name: str) -> dict[str, Any]:
    """Preferred input for an architecture, so the CLI can fill unset options.

    Returns ``{"image_size", "channels", "mean", "std", "pretrained"}``: ``image_size`` is the size
    the architecture is meant to run at (32 for the seed networks, the pretrained input size for
    hub models), ``mean``/``std`` are the statistics its pretrained weights expect (None when it has
    none: use the dataset's), ``pretrained`` whether ``pretrained=True`` can work at all.
    """
    fn, arg = MODELS.resolve(name)
    key = name if arg is None else name[: len(name) - len(arg)]
    entry = _DEFAULTS[key]
    result = entry(arg) if callable(entry) else entry
    return {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in result.items()}


def create_model(
    name: str,
    *,
    num_classes: int,
    in_channels: int = 3,
    image_size: int = 32,
    width: float = 1.0,
    pretrained: bool = False,
    weights: str | None = None,
    **kwargs: Any,
) -> nn.Module:
    """Build the raw net ``name`` (normalized images → logits), optionally with weights.

    ``pretrained`` fetches hub weights (torchvision/timm); ``weights`` loads a local file
    (safetensors or a torch state dict) for offline use, skipping a classifier of another shape.
    In-place activations are switched off everywhere so forward hooks see true layer outputs.
    """

    num_classes = check_positive_int(num_classes, "num_classes")
    in_channels = check_positive_int(in_channels, "in_channels")
    image_size = check_positive_int(image_size, "image_size")
    width = parse_width(width)
    if pretrained and weights is not None:
        raise NnlabError("give either pretrained weights or a local weights file, not both")
    fn, arg = MODELS.resolve(name)
    args = () if arg is None else (arg,)
    net = fn(
        *args,
        num_classes=num_classes,
        in_channels=in_channels,
        image_size=image_size,
        width=width,
        pretrained=bool(pretrained),
        **kwargs,
    )
    disable_inplace(net)
    if weights is not None:
        load_weights(net, weights)
    return net
