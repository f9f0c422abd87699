"""The model registry and ``create_model``: a name (plus options) becomes a raw ``nn.Module``.

A raw net maps *normalized* images to logits; :class:`nnlab.models.spec.Classifier` adds the
normalization. Builders register with :func:`register_model`, which also records the defaults
(:func:`model_defaults`) the CLI uses to pick an image size and pretrained normalization.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping

from torch import nn

from nnlab.data.info import IMAGENET_MEAN, IMAGENET_STD
from nnlab.errors import NnlabError, check_positive_int
from nnlab.models.layers import disable_inplace, parse_width
from nnlab.models.weights import load_weights
from nnlab.registry import Registry

MODELS = Registry("model")

_DEFAULTS: dict[str, dict[str, Any] | Callable[[str], dict[str, Any]]] = {}

# What one architecture option may hold: a kind (int, float, bool, list = list of numbers, dict = options of a
# nested model, None = may be unset) or a tuple of them; a tuple of strings is a closed set of words.
ArgKind = Any
_ARCH_ARGS: dict[str, dict[str, tuple]] = {}
_BOOL_WORDS = ("true", "false", "yes", "no", "1", "0")


def register_model(
    name: str,
    *,
    image_size: int = 32,
    channels: int = 3,
    pretrained: bool = False,
    defaults: Callable[[str], dict[str, Any]] | None = None,
    arch_args: Mapping[str, ArgKind] | None = None,
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Register a builder in :data:`MODELS` and remember its defaults for :func:`model_defaults`.

    A builder is called as ``fn([arg,] *, num_classes, in_channels, image_size, width, pretrained,
    **kwargs)``; prefix builders (``tv:``) receive the text after the prefix first. ``arch_args``
    is the allow-list of ``kwargs``: option name → kind (see :func:`check_arch_args`); nothing
    else ever reaches the builder, whether it comes from the command line or from an artifact.
    """

    def decorator(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        MODELS.register(name)(fn)
        _ARCH_ARGS[name] = {k: v if isinstance(v, tuple) else (v,) for k, v in (arch_args or {}).items()}
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


def _registry_key(name: str) -> str:
    _, arg = MODELS.resolve(name)
    return name if arg is None else name[: len(name) - len(arg)]


def _kind_ok(value: Any, kind: ArgKind) -> bool:
    if isinstance(kind, str):
        return isinstance(value, str) and value.strip().lower() == kind
    if kind is None or kind is type(None):
        return value is None
    if kind is bool:
        return isinstance(value, bool) or (isinstance(value, str) and value.strip().lower() in _BOOL_WORDS)
    if kind is int:
        return (isinstance(value, int) and not isinstance(value, bool) and abs(value) <= 1_000_000) or (
            isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 7
        )
    if kind is float:
        return (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and math.isfinite(value)
            and abs(value) <= 1_000_000
        )
    if kind is list:
        return isinstance(value, list) and 0 < len(value) <= 64 and all(_kind_ok(v, float) for v in value)
    if kind is dict:
        return isinstance(value, dict) and all(isinstance(k, str) for k in value)
    return False


def _describe(kinds: tuple) -> str:
    names = {
        int: "an integer",
        float: "a number",
        bool: "true or false",
        list: "a list of numbers",
        dict: "a mapping of options",
        None: "none",
        type(None): "none",
    }
    words = [k for k in kinds if isinstance(k, str)]
    parts = [names[k] for k in kinds if not isinstance(k, str)]
    if words:
        parts.append("one of " + ", ".join(words))
    return " or ".join(parts)


def arch_args(name: str) -> dict[str, tuple]:
    """The options architecture ``name`` accepts (name → allowed kinds), as registered."""
    return dict(_ARCH_ARGS[_registry_key(name)])


def check_arch_args(name: str, kwargs: Mapping[str, Any]) -> None:
    """Refuse any option of ``name`` outside its registered allow-list, or of the wrong kind.

    Kinds: ``int``, ``float`` (finite), ``bool``, ``list`` (of finite numbers), ``dict`` (options
    of a nested model, checked when that model is built), ``None``, or words (a closed set of
    strings). No option may carry a free-form string, so metadata can never hand a builder a file
    path or a callable's name. The error names the first offending option.
    """
    allowed = _ARCH_ARGS[_registry_key(name)]
    for key, value in kwargs.items():
        if key not in allowed:
            takes = ", ".join(allowed) or "none"
            raise NnlabError(f"model {name!r} does not take option {key!r} (it takes: {takes})")
        if not any(_kind_ok(value, kind) for kind in allowed[key]):
            shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
            raise NnlabError(f"model {name!r}: {key} must be {_describe(allowed[key])}, got {shown}")


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
    check_arch_args(name, kwargs)
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
