"""Seed S2's transfer head on VGG16: 512-256-128-classes with ReLUs and no dropout (the seed's exact head)."""

from __future__ import annotations

import torch
from torch import nn

from nnlab.models import create_model


def test_seed_head_has_the_seed_shape_and_no_dropout():
    net = create_model("vgg16", num_classes=10, head=[256, 128])
    linears = [m for m in net.classifier if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(512, 256), (256, 128), (128, 10)]
    assert [type(m) for m in net.classifier] == [nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Linear]
    assert not any(isinstance(m, nn.Dropout) for m in net.modules())
    assert len(net.features) == 31
    small = create_model("vgg16", num_classes=10, width=0.25, head=[256, 128])
    assert small(torch.rand(2, 3, 32, 32)).shape == (2, 10) and small.classifier[0].in_features == 128


def test_head_dropout_only_when_asked_and_classic_classifier_keeps_it():
    net = create_model("vgg16", num_classes=10, width=0.25, head=[256, 128], dropout=0.3)
    assert [m.p for m in net.classifier if isinstance(m, nn.Dropout)] == [0.3, 0.3]
    classic = create_model("vgg16", num_classes=10, width=0.25)
    assert [m.p for m in classic.classifier if isinstance(m, nn.Dropout)] == [0.5, 0.5]
