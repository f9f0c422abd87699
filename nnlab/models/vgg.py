"""Seed S0's VGG16 for small images, torchvision-compatible (``features``/``avgpool``/``classifier``)."""

from __future__ import annotations

import torch
from torch import nn

from nnlab.errors import NnlabError
from nnlab.models.layers import kaiming_init, reject_unknown, scaled
from nnlab.models.registry import register_model
from nnlab.models.weights import load_torchvision_weights

VGG16_CFG: tuple[int | str, ...] = (
    64,
    64,
    "M",
    128,
    128,
    "M",
    256,
    256,
    256,
    "M",
    512,
    512,
    512,
    "M",
    512,
    512,
    512,
    "M",
)


class VGG16(nn.Module):
    """13 conv3x3+ReLU and 5 max-pools in ``features`` (31 modules), AdaptiveAvgPool2d(7, 7), and a
    25088-4096-4096-classes classifier with ReLU + Dropout(``dropout``, default 0.5); ``width`` scales every width.
    With ``head`` (hidden sizes) the classifier is seed S2's: global average, C-h1-…-classes with ReLUs and, as in
    the seed, no dropout unless ``dropout`` is given.

    At width 1 the state-dict keys and shapes are torchvision's ``vgg16``, so its ImageNet weights
    load. ReLUs are not in-place, so hooks on a conv see its real output.
    """

    nnlab_chain = ("features", "avgpool", "+flatten", "classifier")
    nnlab_profile = ("features*",)
    nnlab_feature_layer = "features"

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 3,
        width: float = 1.0,
        dropout: float | None = None,
        head: tuple[int, ...] | None = None,
    ):
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for item in VGG16_CFG:
            if item == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                out = scaled(int(item), width)
                layers += [nn.Conv2d(channels, out, kernel_size=3, padding=1), nn.ReLU()]
                channels = out
        self.features = nn.Sequential(*layers)
        if head is None:
            self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
            hidden = scaled(4096, width)
            dropout = 0.5 if dropout is None else dropout
            self.classifier = nn.Sequential(
                nn.Linear(channels * 7 * 7, hidden),
                nn.ReLU(),
                nn.Dropout(dropout),
                nn.Linear(hidden, hidden),
                nn.ReLU(),
                nn.Dropout(dropout),
                nn.Linear(hidden, num_classes),
            )
        else:  # seed S2's transfer head: global average, then C-h1-h2-…-classes with ReLUs (dropout only if asked)
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            layers = []
            for size in head:
                layers += [nn.Linear(channels, size), nn.ReLU()]
                if dropout:
                    layers.append(nn.Dropout(dropout))
                channels = size
            self.classifier = nn.Sequential(*layers, nn.Linear(channels, num_classes))
        kaiming_init(self)
        if head is not None:
            # N(0, 0.01) suits torchvision's 25,088-wide classifier; through a narrow 256-128 head it shrinks the
            # signal ~10× per layer and SGD never leaves chance. Keras' Dense default, as in the seed: Glorot.
            for module in self.classifier.modules():
                if isinstance(module, nn.Linear):
                    nn.init.xavier_uniform_(module.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def _head_sizes(head) -> tuple[int, ...] | None:
    if head is None:
        return None
    items = head.split(",") if isinstance(head, str) else head if isinstance(head, (list, tuple)) else [head]
    try:
        sizes = tuple(int(v) for v in items)
    except (TypeError, ValueError):
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise NnlabError(f"vgg16 head must list hidden sizes such as [256,128], got {head!r}")
    return sizes


@register_model("vgg16", image_size=32, pretrained=True, arch_args={"dropout": float, "head": list})
def build_vgg16(
    *, num_classes, in_channels, image_size, width, pretrained, dropout=None, head=None, **kwargs
) -> nn.Module:
    """VGG16 of seed S0 (134,301,514 parameters for 10 classes); ImageNet weights at width 1; option head=[256,128]
    puts seed S2's small transfer head (global average, 512-256-128-classes, no dropout unless dropout= is given)
    in place of the 4096-4096 classifier."""
    reject_unknown(kwargs, "vgg16", ["dropout", "head"])
    head = _head_sizes(head)
    if image_size < 32:
        raise NnlabError(f"vgg16 needs images of at least 32×32 pixels (it pools 5 times), got {image_size}")
    net = VGG16(num_classes, in_channels, width, None if dropout is None else float(dropout), head)
    if pretrained:
        if width != 1.0:
            raise NnlabError("ImageNet weights for vgg16 exist only at width 1")
        from torchvision.models import VGG16_Weights

        load_torchvision_weights(net, VGG16_Weights.DEFAULT, "vgg16")
    return net
