"""Seed S1's custom ResNet family, as nn.Sequential subclasses whose named children run in order.

Because each net is a plain chain of named children, a per-child SI profile, truncation at any
child, and hooks all see exactly the layers the seed profiled (conv, ELU, pool, resblock, avgpool,
flatten, fc). The seed's final Softmax is dropped: nets output logits.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from nnlab.errors import NnlabError, check_positive_int
from nnlab.models.layers import NORMS, as_bool, as_choice, make_norm, reject_pretrained, reject_unknown, scaled
from nnlab.models.registry import register_model


def _branch(channels: int, norm: str) -> nn.Sequential:
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    layers["conv1"] = nn.Conv2d(channels, channels, kernel_size=3, padding=1)
    if (n := make_norm(norm, channels)) is not None:
        layers["norm1"] = n
    layers["elu"] = nn.ELU()
    layers["conv2"] = nn.Conv2d(channels, channels, kernel_size=3, padding=1)
    if (n := make_norm(norm, channels)) is not None:
        layers["norm2"] = n
    return nn.Sequential(layers)


class ResBlock(nn.Module):
    """ELU(sum over ``paths`` of conv-norm-ELU-conv-norm + identity); each path has its own weights
    (ResNeXt-style), ``skip=False`` drops the identity."""

    def __init__(self, channels: int, norm: str = "none", skip: bool = True, paths: int = 1):
        super().__init__()
        self.skip = skip
        self.paths = nn.ModuleList(_branch(channels, norm) for _ in range(paths))
        self.elu = nn.ELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.paths[0](x)
        for path in self.paths[1:]:
            out = out + path(x)
        if self.skip:
            out = out + x
        return self.elu(out)

    def extra_repr(self) -> str:
        return f"skip={self.skip}"


class ProjectionBlock(nn.Module):
    """ELU(conv-norm-ELU-[pool]-conv-norm + [pool]-conv1x1-norm): a residual block whose shortcut
    is a 1x1 projection; both branches pool alike, so shapes match at any input size."""

    def __init__(self, in_channels: int, out_channels: int, norm: str = "none", downsample: bool = False):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)
        self.norm1 = make_norm(norm, out_channels) or nn.Identity()
        self.elu1 = nn.ELU()
        self.pool = nn.MaxPool2d(2) if downsample else nn.Identity()
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1)
        self.norm2 = make_norm(norm, out_channels) or nn.Identity()
        shortcut: list[nn.Module] = [nn.MaxPool2d(2)] if downsample else []
        shortcut.append(nn.Conv2d(in_channels, out_channels, kernel_size=1))
        if (n := make_norm(norm, out_channels)) is not None:
            shortcut.append(n)
        self.shortcut = nn.Sequential(*shortcut)
        self.elu2 = nn.ELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.pool(self.elu1(self.norm1(self.conv1(x))))
        out = self.norm2(self.conv2(out))
        return self.elu2(out + self.shortcut(x))


def _final_pool(side: int) -> tuple[nn.Module, int]:
    """The seed's AvgPool(3, stride 2) when the map is at least 3×3, else a global average."""
    if side >= 3:
        return nn.AvgPool2d(kernel_size=3, stride=2), (side - 3) // 2 + 1
    return nn.AdaptiveAvgPool2d(1), 1


def _check_size(image_size: int, arch: str) -> int:
    if image_size < 8:
        raise NnlabError(f"{arch} needs images of at least 8×8 pixels, got {image_size}")
    return image_size // 8


def _conv_unit(layers: OrderedDict, i: int, cin: int, cout: int, norm: str, kernel: int = 3) -> None:
    layers[f"conv{i}"] = nn.Conv2d(cin, cout, kernel_size=kernel, padding=kernel // 2)
    if (n := make_norm(norm, cout)) is not None:
        layers[f"norm{i}"] = n
    layers[f"elu{i}"] = nn.ELU()


class CustomResNet(nn.Sequential):
    """conv(32) conv(64) pool, ResBlock(64), conv(128) pool, conv(256) pool, ResBlock(256),
    AvgPool(3, 2), flatten, fc 256-256, fc 256-classes (channel counts × ``width``).

    ``norm`` goes before each activation (none/batch/group/layer), ``skip=False`` removes the
    identity shortcuts, ``conv4_1x1`` makes conv4 a 1x1 conv, ``paths`` > 1 makes the residual
    blocks multi-path. As in the seed there is no activation between fc1 and fc2.
    """

    nnlab_feature_layer = "avgpool"

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 3,
        image_size: int = 32,
        width: float = 1.0,
        norm: str = "none",
        skip: bool = True,
        conv4_1x1: bool = False,
        paths: int = 1,
    ):
        side = _check_size(image_size, "custom-resnet")
        c1, c2, c3, c4 = (scaled(c, width) for c in (32, 64, 128, 256))
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        _conv_unit(layers, 1, in_channels, c1, norm)
        _conv_unit(layers, 2, c1, c2, norm)
        layers["maxpool1"] = nn.MaxPool2d(2)
        layers["resblock1"] = ResBlock(c2, norm, skip, paths)
        _conv_unit(layers, 3, c2, c3, norm)
        layers["maxpool2"] = nn.MaxPool2d(2)
        _conv_unit(layers, 4, c3, c4, norm, kernel=1 if conv4_1x1 else 3)
        layers["maxpool3"] = nn.MaxPool2d(2)
        layers["resblock2"] = ResBlock(c4, norm, skip, paths)
        layers["avgpool"], out_side = _final_pool(side)
        layers["flatten"] = nn.Flatten()
        hidden = scaled(256, width)
        layers["fc1"] = nn.Linear(c4 * out_side * out_side, hidden)
        layers["fc2"] = nn.Linear(hidden, num_classes)
        super().__init__(layers)


class CustomResNetImproved(nn.Sequential):
    """The seed's improved variant: conv(32) conv(64) pool, three residual blocks with 1x1
    projection shortcuts (64, 128 pooled, 256 pooled), AvgPool, flatten, fc 256-256, ELU, fc."""

    nnlab_feature_layer = "avgpool"

    def __init__(
        self, num_classes: int, in_channels: int = 3, image_size: int = 32, width: float = 1.0, norm: str = "none"
    ):
        side = _check_size(image_size, "custom-resnet-improved")
        c1, c2, c3, c4 = (scaled(c, width) for c in (32, 64, 128, 256))
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        _conv_unit(layers, 1, in_channels, c1, norm)
        _conv_unit(layers, 2, c1, c2, norm)
        layers["maxpool1"] = nn.MaxPool2d(2)
        layers["block1"] = ProjectionBlock(c2, c2, norm)
        layers["block2"] = ProjectionBlock(c2, c3, norm, downsample=True)
        layers["block3"] = ProjectionBlock(c3, c4, norm, downsample=True)
        layers["avgpool"], out_side = _final_pool(side)
        layers["flatten"] = nn.Flatten()
        hidden = scaled(256, width)
        layers["fc1"] = nn.Linear(c4 * out_side * out_side, hidden)
        layers["elu3"] = nn.ELU()
        layers["fc2"] = nn.Linear(hidden, num_classes)
        super().__init__(layers)


@register_model(
    "custom-resnet", image_size=32, arch_args={"norm": NORMS, "skip": bool, "conv4_1x1": bool, "paths": int}
)
def build_custom_resnet(
    *,
    num_classes,
    in_channels,
    image_size,
    width,
    pretrained,
    norm="none",
    skip=True,
    conv4_1x1=False,
    paths=1,
    **kwargs,
) -> nn.Module:
    """Seed S1 custom ResNet; options norm=none|batch|group|layer, skip, conv4_1x1, paths."""
    reject_unknown(kwargs, "custom-resnet", ["norm", "skip", "conv4_1x1", "paths"])
    reject_pretrained(pretrained, "custom-resnet")
    return CustomResNet(
        num_classes,
        in_channels,
        image_size,
        width,
        norm=as_choice(norm, NORMS, "norm"),
        skip=as_bool(skip, "skip"),
        conv4_1x1=as_bool(conv4_1x1, "conv4_1x1"),
        paths=check_positive_int(paths, "paths"),
    )


@register_model("custom-resnet-improved", image_size=32, arch_args={"norm": NORMS})
def build_custom_resnet_improved(
    *, num_classes, in_channels, image_size, width, pretrained, norm="none", **kwargs
) -> nn.Module:
    """Seed S1 improved ResNet: 1x1 projection shortcuts, 3 residual blocks; option norm."""
    reject_unknown(kwargs, "custom-resnet-improved", ["norm"])
    reject_pretrained(pretrained, "custom-resnet-improved")
    return CustomResNetImproved(num_classes, in_channels, image_size, width, norm=as_choice(norm, NORMS, "norm"))
