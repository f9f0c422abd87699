"""Seed S2's small networks: an MLP and a plain CNN (optionally with dropout + batch norm)."""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from nnlab.errors import NnlabError
from nnlab.models.layers import kaiming_init, reject_pretrained, reject_unknown, scaled
from nnlab.models.registry import register_model


class MLP(nn.Sequential):
    """flatten → C·S·S-256-128-classes with ReLUs (widths scaled by ``width``)."""

    nnlab_feature_layer = "relu2"

    def __init__(self, num_classes: int, in_channels: int, image_size: int, width: float = 1.0):
        h1, h2 = scaled(256, width), scaled(128, width)
        super().__init__(
            OrderedDict(
                flatten=nn.Flatten(),
                fc1=nn.Linear(in_channels * image_size * image_size, h1),
                relu1=nn.ReLU(),
                fc2=nn.Linear(h1, h2),
                relu2=nn.ReLU(),
                fc3=nn.Linear(h2, num_classes),
            )
        )


class SimpleCNN(nn.Sequential):
    """[conv32, conv64, pool] [conv128, conv128, pool] [conv256, conv256, pool], flatten, one linear
    layer (4096 → classes at 32×32); ``bn_dropout`` adds Dropout(0.2) + BatchNorm after each pool."""

    nnlab_feature_layer = "flatten"

    def __init__(
        self, num_classes: int, in_channels: int, image_size: int, width: float = 1.0, bn_dropout: bool = False
    ):
        if image_size < 8:
            raise NnlabError(f"the cnn models need images of at least 8×8 pixels, got {image_size}")
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        channels = in_channels
        conv = 0
        for block, (a, b) in enumerate(((32, 64), (128, 128), (256, 256)), start=1):
            for out in (scaled(a, width), scaled(b, width)):
                conv += 1
                layers[f"conv{conv}"] = nn.Conv2d(channels, out, kernel_size=3, padding=1)
                layers[f"relu{conv}"] = nn.ReLU()
                channels = out
            layers[f"pool{block}"] = nn.MaxPool2d(2, 2)
            if bn_dropout:
                layers[f"drop{block}"] = nn.Dropout(0.2)
                layers[f"bn{block}"] = nn.BatchNorm2d(channels)
        side = image_size // 8
        layers["flatten"] = nn.Flatten()
        layers["fc"] = nn.Linear(channels * side * side, num_classes)
        super().__init__(layers)
        kaiming_init(self)


@register_model("mlp", image_size=32)
def build_mlp(*, num_classes, in_channels, image_size, width, pretrained, **kwargs) -> nn.Module:
    """Seed S2 MLP: flatten, 256, 128, classes."""
    reject_unknown(kwargs, "mlp")
    reject_pretrained(pretrained, "mlp")
    return MLP(num_classes, in_channels, image_size, width)


@register_model("cnn", image_size=32)
def build_cnn(*, num_classes, in_channels, image_size, width, pretrained, **kwargs) -> nn.Module:
    """Seed S2 CNN: six 3x3 convs in three pooled blocks, one linear layer."""
    reject_unknown(kwargs, "cnn")
    reject_pretrained(pretrained, "cnn")
    return SimpleCNN(num_classes, in_channels, image_size, width)


@register_model("cnn-bn-dropout", image_size=32)
def build_cnn_bn_dropout(*, num_classes, in_channels, image_size, width, pretrained, **kwargs) -> nn.Module:
    """Seed S2 CNN with Dropout(0.2) + BatchNorm after each pool."""
    reject_unknown(kwargs, "cnn-bn-dropout")
    reject_pretrained(pretrained, "cnn-bn-dropout")
    return SimpleCNN(num_classes, in_channels, image_size, width, bn_dropout=True)
