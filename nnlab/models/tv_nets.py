"""nnlab's variants of torchvision's ResNet-18 and MobileNetV2, subclasses of torchvision's own (same state-dict
keys), in a module of their own so that only building them imports torchvision (:mod:`nnlab.models.zoo`)."""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models.mobilenetv2 import MobileNetV2
from torchvision.models.resnet import BasicBlock, ResNet

from nnlab.models.layers import scaled, set_input_channels


class _NoNorm(nn.Identity):
    """Stands in for BatchNorm2d in the no-normalization ResNet (takes and ignores its arguments)."""


class ResNet18(ResNet):
    """torchvision's ResNet-18 (same keys at width 1) with channel ``width`` and optional no-BN."""

    nnlab_chain = (
        "conv1",
        "bn1",
        "relu",
        "maxpool",
        "layer1",
        "layer2",
        "layer3",
        "layer4",
        "avgpool",
        "+flatten",
        "fc",
    )
    nnlab_feature_layer = "avgpool"

    def __init__(self, num_classes: int, in_channels: int = 3, width: float = 1.0, norm: str = "batch"):
        nn.Module.__init__(self)
        norm_layer = nn.BatchNorm2d if norm == "batch" else _NoNorm
        self._norm_layer = norm_layer
        self.inplanes = scaled(64, width)
        self.dilation = 1
        self.groups = 1
        self.base_width = 64
        self.conv1 = nn.Conv2d(in_channels, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = norm_layer(self.inplanes)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(BasicBlock, scaled(64, width), 2)
        self.layer2 = self._make_layer(BasicBlock, scaled(128, width), 2, stride=2)
        self.layer3 = self._make_layer(BasicBlock, scaled(256, width), 2, stride=2)
        self.layer4 = self._make_layer(BasicBlock, scaled(512, width), 2, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(scaled(512, width), num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)


class MobileNetV2Seed(MobileNetV2):
    """torchvision's MobileNetV2 (same ``features`` keys) with seed S1's head: Dropout 0.2,
    1280→256, ReLU, Dropout 0.2, 256→classes; pooling and flatten are modules so hooks see them."""

    nnlab_chain = ("features", "pool", "flatten", "classifier")
    nnlab_profile = ("features*", "pool", "flatten", "classifier")
    nnlab_feature_layer = "pool"

    def __init__(
        self, num_classes: int, in_channels: int = 3, width: float = 1.0, hidden: int = 256, dropout: float = 0.2
    ):
        super().__init__(num_classes=num_classes, width_mult=width)
        del self.classifier  # re-added below so named children follow the forward order
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.classifier = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(self.last_channel, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )
        for m in self.classifier.modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)
        set_input_channels(self, in_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.flatten(self.pool(self.features(x))))
