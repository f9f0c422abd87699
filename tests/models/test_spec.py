"""ModelSpec metadata round trip, Classifier normalization, rebuild-and-load gives identical logits."""

from __future__ import annotations

import json

import pytest
import torch

from nnlab.errors import ArtifactError, NnlabError
from nnlab.models import Classifier, ModelSpec, attach_head, build_classifier, create_classifier, truncate

CLASSES = ["a", "b", "c"]


def _spec(**overrides):
    base = dict(
        arch="custom-resnet",
        arch_kwargs={"width": 0.125, "norm": "batch", "paths": 2},
        classes=CLASSES,
        input={"channels": 3, "size": 32, "mean": [0.5, 0.4, 0.3], "std": [0.2, 0.25, 0.3]},
        surgery=[],
    )
    base.update(overrides)
    return ModelSpec(**base)


def test_metadata_round_trip():
    spec = _spec(surgery=[{"op": "truncate", "at": "avgpool"}])
    meta = spec.to_metadata()
    assert set(meta) == {"nnlab.arch", "nnlab.arch_kwargs", "nnlab.classes", "nnlab.input", "nnlab.surgery"}
    assert all(isinstance(v, str) for v in meta.values())
    assert json.loads(meta["nnlab.classes"]) == CLASSES
    assert ModelSpec.from_metadata({**meta, "nnlab.kind": "model"}) == spec


def test_arch_kwargs_keep_width_and_drop_pretrained():
    spec = ModelSpec(
        arch="vgg16",
        arch_kwargs={"pretrained": True, "weights": "x.pt", "dropout": 0.3},
        classes=CLASSES,
        input={"channels": 3, "size": 32},
    )
    assert spec.arch_kwargs == {"dropout": 0.3, "width": 1.0}
    model = create_classifier("resnet18", CLASSES, width=0.125, norm="none")
    assert model.spec.arch_kwargs == {"width": 0.125, "norm": "none"}


def test_from_metadata_rejects_missing_or_broken():
    meta = _spec().to_metadata()
    with pytest.raises(ArtifactError, match="nnlab.surgery is missing"):
        ModelSpec.from_metadata({k: v for k, v in meta.items() if k != "nnlab.surgery"})
    with pytest.raises(ArtifactError, match="m.safetensors: metadata field nnlab.classes is not valid JSON"):
        ModelSpec.from_metadata({**meta, "nnlab.classes": "[oops"}, path="m.safetensors")
    with pytest.raises(ArtifactError, match="nnlab.surgery must be a list of mappings"):
        ModelSpec.from_metadata({**meta, "nnlab.surgery": '{"op": "x"}'})
    with pytest.raises(ArtifactError, match="nnlab.input.size must be in"):
        ModelSpec.from_metadata(
            {**meta, "nnlab.input": '{"channels": 3, "size": -4, "mean": [0, 0, 0], "std": [1, 1, 1]}'}
        )


def test_classifier_normalizes_inside_and_buffers_are_not_saved():
    torch.manual_seed(0)
    model = build_classifier(_spec()).eval()
    x = torch.rand(2, 3, 32, 32)
    expected = model.net(
        (x - torch.tensor([0.5, 0.4, 0.3]).view(1, 3, 1, 1)) / torch.tensor([0.2, 0.25, 0.3]).view(1, 3, 1, 1)
    )
    assert torch.allclose(model(x), expected)
    keys = model.state_dict().keys()
    assert "mean" not in keys and "std" not in keys and all(k.startswith("net.") for k in keys)
    with pytest.raises(NnlabError, match="mean/std"):
        Classifier(model.net, _spec(input={"channels": 3, "size": 32, "mean": [0.5], "std": [0.5]}))


def _assert_rebuild_identical(model, x):
    model.eval()
    again = build_classifier(ModelSpec.from_metadata(model.spec.to_metadata()))
    again.load_state_dict(model.state_dict())
    again.eval()
    assert torch.equal(model(x), again(x))


def test_build_and_load_reproduces_logits_plain_and_surgered():
    torch.manual_seed(1)
    x = torch.rand(3, 3, 32, 32)
    vgg = create_classifier("vgg16", CLASSES, width=0.125, mean=[0.5] * 3, std=[0.5] * 3)
    _assert_rebuild_identical(vgg, x)
    compressed = attach_head(truncate(vgg, 23), [5, 1, 7, 30], hidden=[16], dropout=0.2)
    assert [op["op"] for op in compressed.spec.surgery] == ["truncate", "select", "head"]
    _assert_rebuild_identical(compressed, x)
    resnet = create_classifier("resnet18", CLASSES, width=0.125)
    _assert_rebuild_identical(
        attach_head(truncate(resnet, "layer3"), None, hidden=[], num_classes=2, classes=["x", "y"]), x
    )
    custom = create_classifier("custom-resnet", CLASSES, width=0.125, norm="layer")
    _assert_rebuild_identical(attach_head(truncate(custom, "avgpool"), [0, 3], hidden=[8]), x)
