"""Small shared helpers for the model builders: option parsing, width scaling, module edits."""

from __future__ import annotations

import math
from typing import Any, Iterable

from torch import nn

from nnlab.errors import NnlabError

NORMS = ("none", "batch", "group", "layer")


def parse_width(width: Any) -> float:
    """``--width`` as a positive float (it multiplies channel counts and hidden widths)."""
    try:
        value = float(width)
    except (TypeError, ValueError):
        raise NnlabError(f"width must be a positive number, got {width!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise NnlabError(f"width must be a positive number, got {width!r}")
    return value


def as_bool(value: Any, what: str) -> bool:
    """A boolean model option; accepts the strings a CLI ``key=value`` gives."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise NnlabError(f"{what} must be true or false, got {value!r}")


def as_choice(value: Any, choices: Iterable[str], what: str) -> str:
    """A string option restricted to ``choices``."""
    options = tuple(choices)
    text = str(value).strip().lower()
    if text not in options:
        raise NnlabError(f"{what} must be one of {', '.join(options)}, got {value!r}")
    return text


def reject_unknown(kwargs: dict[str, Any], arch: str, accepted: Iterable[str] = ()) -> None:
    """Fail clearly on model options an architecture does not take."""
    if kwargs:
        known = ", ".join(accepted) or "none"
        raise NnlabError(f"model {arch!r} does not take option(s) {', '.join(sorted(kwargs))}; it takes: {known}")


def reject_pretrained(pretrained: bool, arch: str) -> None:
    """Architectures without hub weights refuse ``pretrained``."""
    if pretrained:
        raise NnlabError(f"model {arch!r} has no pretrained weights; train it, or load a weights file")


def scaled(channels: int, width: float) -> int:
    """``channels`` scaled by ``width``, at least 1."""
    return max(1, int(round(channels * width)))


def make_norm(kind: str, channels: int) -> nn.Module | None:
    """A 2-d normalization layer: batch, group (32 groups, fewer when channels are not divisible),
    layer (GroupNorm(1, C), i.e. LayerNorm over C,H,W with per-channel affine), or None."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "group":
        return nn.GroupNorm(math.gcd(32, channels), channels)
    if kind == "layer":
        return nn.GroupNorm(1, channels)
    return None


def disable_inplace(net: nn.Module) -> None:
    """Switch off ``inplace`` on every module, so a hook's tensor is not overwritten later."""
    for module in net.modules():
        if isinstance(getattr(module, "inplace", None), bool):
            module.inplace = False


def first_conv(net: nn.Module) -> tuple[str, nn.Conv2d] | None:
    """The first ``Conv2d`` in registration order (the stem), or None."""
    for name, module in net.named_modules():
        if isinstance(module, nn.Conv2d):
            return name, module
    return None


def set_module(net: nn.Module, name: str, module: nn.Module) -> None:
    """Replace the submodule at dotted ``name`` with ``module``."""
    parent_name, _, child = name.rpartition(".")
    parent = net.get_submodule(parent_name) if parent_name else net
    setattr(parent, child, module)


def set_input_channels(net: nn.Module, in_channels: int) -> None:
    """Give the stem convolution ``in_channels`` inputs (weights re-initialized; loading adapts them)."""
    found = first_conv(net)
    if found is None or found[1].in_channels == in_channels:
        return
    name, conv = found
    if conv.groups != 1:
        raise NnlabError(f"cannot change the input channels of {type(net).__name__}: its stem is a grouped conv")
    new = nn.Conv2d(
        in_channels,
        conv.out_channels,
        conv.kernel_size,
        conv.stride,
        conv.padding,
        conv.dilation,
        conv.groups,
        conv.bias is not None,
        conv.padding_mode,
    )
    set_module(net, name, new.to(conv.weight.device))


def kaiming_init(net: nn.Module) -> None:
    """torchvision's VGG/ResNet initialisation: He-normal convs (fan-out, ReLU), zero biases, N(0, 0.01) linear
    layers, unit/zero norms. PyTorch's default (He-uniform with a = √5) shrinks the signal by about √3 per conv,
    so a plain stack of six ReLU convs without normalization starts near zero output and SGD does not move it."""
    for module in net.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, 0, 0.01)
            nn.init.zeros_(module.bias)
        elif isinstance(module, (nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm)) and module.weight is not None:
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
