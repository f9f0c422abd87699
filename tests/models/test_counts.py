"""Exact parameter counts of seed S0 and torchvision state-dict compatibility (meta tensors: no RAM, no time)."""

from __future__ import annotations

import torch
import torchvision

from nnlab.models import attach_head, count_parameters, create_classifier, create_model, truncate

CLASSES = [str(i) for i in range(10)]


def _shapes(module):
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def test_vgg16_seed_counts_original_truncated_and_compressed():
    with torch.device("meta"):
        original = create_classifier("vgg16", CLASSES)
        assert count_parameters(original) == (134_301_514, 134_301_514)
        assert len(original.net.features) == 31
        cut = truncate(original, 23)
        assert cut.spec.surgery == [{"op": "truncate", "at": "features.23"}]
        linear = attach_head(cut, list(range(400)), hidden=[], dropout=0.2)
        deep = attach_head(cut, list(range(400)), hidden=[4096, 4096], dropout=0.2)
    assert count_parameters(linear)[0] == 7_639_274
    assert count_parameters(deep)[0] == 26_100_042
    assert count_parameters(original)[0] == 134_301_514  # surgery copies, never edits the original


def test_vgg16_keys_match_torchvision():
    with torch.device("meta"):
        ours = create_model("vgg16", num_classes=10)
        theirs = torchvision.models.vgg16(num_classes=10)
    assert _shapes(ours) == _shapes(theirs)


def test_resnet18_and_mobilenet_v2_keys_match_torchvision():
    with torch.device("meta"):
        ours = create_model("resnet18", num_classes=10)
        theirs = torchvision.models.resnet18(num_classes=10)
        mobile = create_model("mobilenet_v2", num_classes=2)
        tv_mobile = torchvision.models.mobilenet_v2()
    assert _shapes(ours) == _shapes(theirs)
    features = {k: v for k, v in _shapes(tv_mobile).items() if k.startswith("features.")}
    assert {k: v for k, v in _shapes(mobile).items() if k.startswith("features.")} == features
    head = {k: v for k, v in _shapes(mobile).items() if k.startswith("classifier.")}
    assert head == {
        "classifier.1.weight": (256, 1280),
        "classifier.1.bias": (256,),
        "classifier.4.weight": (2, 256),
        "classifier.4.bias": (2,),
    }


def test_width_scales_every_width():
    with torch.device("meta"):
        small = create_model("vgg16", num_classes=10, width=0.125)
    assert small.features[0].out_channels == 8 and small.features[28].out_channels == 64
    assert small.classifier[0].in_features == 64 * 49 and small.classifier[3].out_features == 512


def test_seed_s1_s2_sizes():
    net = create_model("custom-resnet", num_classes=10)
    assert net.fc1.in_features == 256 and net.fc2.out_features == 10
    assert create_model("mlp", num_classes=10).fc1.in_features == 3072
    assert create_model("cnn", num_classes=10).fc.in_features == 4096
    # counts derived from the seed layer lists
    assert count_parameters(create_model("mlp", num_classes=10))[0] == 3072 * 256 + 256 + 256 * 128 + 128 + 1290
