"""Truncation, selection, heads, layer lists, feature layers, parameter counts and freezing."""

from __future__ import annotations

import pytest
import torch

from nnlab.errors import NnlabError
from nnlab.models import (
    SURGERY,
    attach_head,
    count_parameters,
    create_classifier,
    create_model,
    feature_layer,
    freeze,
    list_layers,
    profile_layers,
    resolve_layer,
    set_trainable,
    truncate,
    unfreeze,
)

CLASSES = [str(i) for i in range(4)]


@pytest.fixture(scope="module")
def vgg():
    torch.manual_seed(0)
    return create_classifier("vgg16", CLASSES, width=0.125, mean=[0.5] * 3, std=[0.25] * 3).eval()


def test_truncate_at_every_vgg_index_gives_that_activation(vgg):
    x = torch.rand(2, 3, 32, 32)
    activations = []
    h = vgg.normalize(x)
    with torch.no_grad():
        for layer in vgg.net.features:
            h = layer(h)
            activations.append(h.flatten(1))
        names = [n for n, _ in profile_layers(vgg)]
        assert names == [f"features.{i}" for i in range(31)]
        for index in range(31):
            cut = truncate(vgg, index)
            assert cut.spec.surgery[-1] == {"op": "truncate", "at": f"features.{index}"}
            assert len(cut.net.features) == index + 1
            assert torch.equal(cut(x), activations[index]), index
        assert torch.equal(truncate(vgg, "features.23")(x), activations[23])
        assert torch.equal(truncate(vgg, "23")(x), activations[23])
        assert truncate(vgg, 23)(x).shape == (2, 64 * 2 * 2)


def test_truncate_after_features_inserts_the_forward_flatten(vgg):
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        penultimate = truncate(vgg, "classifier.4")(x)
        expected = vgg.net.classifier[:5](torch.flatten(vgg.net.avgpool(vgg.net.features(vgg.normalize(x))), 1))
        assert torch.equal(penultimate, expected)
        assert torch.equal(truncate(vgg, "classifier.6")(x), vgg(x))


@pytest.mark.parametrize(
    "arch,at",
    [
        ("resnet18", "layer2"),
        ("resnet18", "avgpool"),
        ("custom-resnet", "resblock2"),
        ("mobilenet_v2", "features.5"),
        ("mobilenet_v2", "pool"),
        ("cnn", "pool2"),
        ("mlp", "relu1"),
        ("custom-resnet-improved", "block2"),
    ],
)
def test_truncate_other_architectures_matches_a_hook(arch, at):
    torch.manual_seed(0)
    model = create_classifier(arch, CLASSES, width=0.125).eval()
    x = torch.rand(2, 3, 32, 32)
    seen = {}
    handle = model.net.get_submodule(at).register_forward_hook(lambda m, i, o: seen.setdefault("out", o))
    with torch.no_grad():
        model(x)
        handle.remove()
        assert torch.equal(truncate(model, at)(x), seen["out"].flatten(1))


def test_truncate_refuses_what_is_not_a_chain():
    resnet = create_classifier("resnet18", CLASSES, width=0.125)
    with pytest.raises(NnlabError, match="cannot cut inside layer1.0"):
        truncate(resnet, "layer1.0.conv1")
    vit = create_classifier("timm:test_vit", CLASSES)
    with pytest.raises(NnlabError, match="not a plain sequence"):
        truncate(vit, "blocks")


def test_resolve_layer_errors_list_what_is_valid(vgg):
    assert resolve_layer(vgg.net, 0) == "features.0" and resolve_layer(vgg, "30") == "features.30"
    assert resolve_layer(vgg.net, "avgpool") == "avgpool"
    with pytest.raises(NnlabError, match=r"0\.\.30"):
        resolve_layer(vgg.net, 31)
    with pytest.raises(NnlabError, match=r"0\.\.30"):
        truncate(vgg, -1)
    with pytest.raises(NnlabError, match="unknown layer 'features.99'.*features.0"):
        resolve_layer(vgg.net, "features.99")


def test_attach_head_validates(vgg):
    with pytest.raises(NnlabError, match="truncate it first"):
        attach_head(vgg, [0, 1])
    cut = truncate(vgg, 23)
    with pytest.raises(NnlabError, match=r"0\.\.255"):
        attach_head(cut, [0, 256])
    with pytest.raises(NnlabError, match="distinct"):
        attach_head(cut, [1, 1])
    with pytest.raises(NnlabError, match="class names"):
        attach_head(cut, [1], num_classes=7)
    headed = attach_head(cut, [3, 2], hidden=[5])
    with pytest.raises(NnlabError, match="already has one"):
        attach_head(headed, [0])
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        features = cut(x)[:, [3, 2]]
        assert torch.equal(headed.eval()(x), headed.net.head(features))
    assert feature_layer(headed.net) == "select" and feature_layer(cut.net) == "flatten"
    assert set_trainable(headed, ["head"]) == [
        "net.head.0.weight",
        "net.head.0.bias",
        "net.head.3.weight",
        "net.head.3.bias",
    ]
    assert count_parameters(headed)[1] == 2 * 5 + 5 + 5 * 4 + 4


def test_surgery_registry_and_bad_ops():
    assert {"truncate", "select", "head"} <= set(SURGERY.names())
    net = create_model("mlp", num_classes=3, width=0.125)
    from nnlab.models import apply_surgery

    with pytest.raises(NnlabError, match="needs at"):
        apply_surgery(net, [{"op": "truncate"}])
    with pytest.raises(NnlabError, match="truncate it first"):
        apply_surgery(net, [{"op": "select", "indices": [0]}])
    with pytest.raises(NnlabError, match="unknown surgery"):
        apply_surgery(net, [{"op": "prune"}])


@pytest.mark.parametrize(
    "arch,expected",
    [
        ("vgg16", "features"),
        ("resnet18", "avgpool"),
        ("custom-resnet", "avgpool"),
        ("custom-resnet-improved", "avgpool"),
        ("mobilenet_v2", "pool"),
        ("mlp", "relu2"),
        ("cnn", "flatten"),
        ("tv:resnet18", "avgpool"),
        ("timm:resnet18", "global_pool"),
    ],
)
def test_feature_layer_names(arch, expected):
    with torch.device("meta"):
        assert feature_layer(create_model(arch, num_classes=3, width=1.0 if ":" in arch else 0.125)) == expected


def test_feature_layer_output_feeds_the_classifier():
    torch.manual_seed(0)
    net = create_model("custom-resnet", num_classes=3, width=0.125).eval()
    seen = {}
    net.get_submodule(feature_layer(net)).register_forward_hook(lambda m, i, o: seen.setdefault("f", o))
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        logits = net(x)
        assert torch.allclose(net.fc2(net.fc1(seen["f"].flatten(1))), logits)
    mobile = create_model("mobilenet_v2", num_classes=3, width=0.125).eval()
    mobile.pool.register_forward_hook(lambda m, i, o: seen.__setitem__("p", o))
    with torch.no_grad():
        logits = mobile(x)
        assert torch.allclose(mobile.classifier(seen["p"].flatten(1)), logits)


def test_profile_layers_follow_forward_order():
    net = create_model("custom-resnet", num_classes=3, width=0.125)
    names = [n for n, _ in profile_layers(net)]
    assert names == [
        "conv1",
        "elu1",
        "conv2",
        "elu2",
        "maxpool1",
        "resblock1",
        "conv3",
        "elu3",
        "maxpool2",
        "conv4",
        "elu4",
        "maxpool3",
        "resblock2",
        "avgpool",
        "flatten",
        "fc1",
        "fc2",
    ]
    rows = [r.name for r in list_layers(net, (3, 32, 32), depth=1)]
    assert rows == names
    assert [n for n, _ in profile_layers(create_model("resnet18", num_classes=3, width=0.125))][-2:] == [
        "avgpool",
        "fc",
    ]


def test_list_layers_shapes_and_params(vgg):
    rows = list_layers(vgg, (3, 32, 32))
    by_name = {r.name: r for r in rows}
    assert by_name["features.0"].output_shape == (8, 32, 32) and by_name["features.0"].type == "Conv2d"
    assert by_name["features.23"].output_shape == (64, 2, 2)
    assert by_name["avgpool"].output_shape == (64, 7, 7)
    assert by_name["classifier.6"].output_shape == (4,)
    assert sum(r.params for r in rows) == count_parameters(vgg)[0]
    assert [r.name for r in rows][:2] == ["features.0", "features.1"]


def test_freeze_unfreeze_patterns(vgg):
    model = create_classifier("vgg16", CLASSES, width=0.125)
    total = count_parameters(model)[0]
    frozen = freeze(model, "features")
    assert len(frozen) == 26 and all(n.startswith("net.features.") for n in frozen)
    head = sum(p.numel() for p in model.net.classifier.parameters())
    assert count_parameters(model) == (total, head)
    unfreeze(model, ["features.2?.*", "re:^features\\.0\\."])
    assert model.net.features[0].weight.requires_grad and model.net.features[21].bias.requires_grad
    assert not model.net.features[2].weight.requires_grad
    set_trainable(model, "classifier.6.*")
    assert count_parameters(model)[1] == 512 * 4 + 4
    with pytest.raises(NnlabError, match="matches no parameter.*features"):
        freeze(model, "backbone.*")
    with pytest.raises(NnlabError, match="at least one"):
        freeze(model, " , ")
