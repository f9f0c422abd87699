"""Every registered model builds and runs; options and bad names fail clearly."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from nnlab.errors import NnlabError, UnknownNameError
from nnlab.models import MODELS, create_model, model_defaults

PLAIN = [n for n in MODELS.names() if not n.endswith("NAME")]


def test_registry_lists_the_seed_models():
    assert set(PLAIN) == {
        "vgg16",
        "custom-resnet",
        "custom-resnet-improved",
        "mlp",
        "cnn",
        "cnn-bn-dropout",
        "resnet18",
        "mobilenet_v2",
    }
    assert "tv:NAME" in MODELS.names() and "timm:NAME" in MODELS.names()


@pytest.mark.parametrize("name", PLAIN)
def test_every_registered_model_runs_a_forward_pass(name):
    torch.manual_seed(0)
    net = create_model(name, num_classes=4, width=0.125, image_size=32)
    net.train()
    out = net(torch.rand(2, 3, 32, 32))
    assert out.shape == (2, 4) and torch.isfinite(out).all()
    out.sum().backward()
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)


@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("custom-resnet", {"norm": "batch"}),
        ("custom-resnet", {"norm": "group"}),
        ("custom-resnet", {"norm": "layer"}),
        ("custom-resnet", {"skip": False}),
        ("custom-resnet", {"conv4_1x1": "true"}),
        ("custom-resnet", {"paths": 2}),
        ("custom-resnet", {"paths": "4", "norm": "batch"}),
        ("custom-resnet-improved", {"norm": "batch"}),
        ("resnet18", {"norm": "none"}),
    ],
)
def test_model_options_build_and_run(name, kwargs):
    net = create_model(name, num_classes=3, width=0.125, image_size=32, **kwargs)
    assert net(torch.rand(2, 3, 32, 32)).shape == (2, 3)


def test_options_change_the_architecture():
    plain = create_model("custom-resnet", num_classes=3, width=0.25)
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) for m in plain.modules())
    bn = create_model("custom-resnet", num_classes=3, width=0.25, norm="batch")
    assert sum(isinstance(m, nn.BatchNorm2d) for m in bn.modules()) == 8
    group = create_model("custom-resnet", num_classes=3, width=1.0, norm="group")
    assert {m.num_groups for m in group.modules() if isinstance(m, nn.GroupNorm)} == {32}
    layer = create_model("custom-resnet", num_classes=3, width=0.25, norm="layer")
    assert {m.num_groups for m in layer.modules() if isinstance(m, nn.GroupNorm)} == {1}
    assert create_model("custom-resnet", num_classes=3, width=0.25, conv4_1x1=True).conv4.kernel_size == (1, 1)
    four = create_model("custom-resnet", num_classes=3, width=0.25, paths=4)
    assert len(four.resblock1.paths) == 4
    first, second = four.resblock1.paths[0].conv1.weight, four.resblock1.paths[1].conv1.weight
    assert first.data_ptr() != second.data_ptr() and not torch.equal(first, second)
    improved = create_model("custom-resnet-improved", num_classes=3, width=0.25)
    assert [n for n in ("block1", "block2", "block3") if improved.get_submodule(n).shortcut[-1].kernel_size == (1, 1)]
    no_bn = create_model("resnet18", num_classes=3, width=0.25, norm="none")
    assert not any(isinstance(m, nn.BatchNorm2d) for m in no_bn.modules())


def test_skip_false_removes_the_identity():
    net = create_model("custom-resnet", num_classes=3, width=0.125, skip=False)
    block = net.resblock1
    for p in block.parameters():
        nn.init.zeros_(p)
    x = torch.randn(1, block.paths[0].conv1.in_channels, 4, 4)
    assert torch.allclose(block(x), torch.zeros_like(x))  # ELU(0): no identity added


@pytest.mark.parametrize(
    "name,size", [("mlp", 28), ("cnn", 28), ("custom-resnet", 28), ("resnet18", 28), ("vgg16", 32)]
)
def test_grayscale_and_other_sizes(name, size):
    net = create_model(name, num_classes=10, in_channels=1, image_size=size, width=0.125)
    assert net(torch.rand(2, 1, size, size)).shape == (2, 10)


def test_vgg16_refuses_images_too_small_to_pool():
    with pytest.raises(NnlabError, match="at least 32"):
        create_model("vgg16", num_classes=10, image_size=28, width=0.125)


def test_tiny_images_use_a_global_pool():
    net = create_model("custom-resnet", num_classes=10, image_size=8, width=0.125)
    assert net(torch.rand(2, 3, 8, 8)).shape == (2, 10)


@pytest.mark.parametrize(
    "name,channels", [("tv:resnet18", 3), ("tv:mobilenet_v3_small", 1), ("timm:test_resnet", 1), ("timm:test_vit", 3)]
)
def test_hub_models_by_prefix(name, channels):
    net = create_model(name, num_classes=5, in_channels=channels, image_size=32).eval()
    assert net(torch.rand(2, channels, 32, 32)).shape == (2, 5)
    assert not any(getattr(m, "inplace", False) is True for m in net.modules())


def test_unknown_names_list_valid_ones():
    with pytest.raises(UnknownNameError, match="vgg16"):
        create_model("vgg17", num_classes=10)
    with pytest.raises(UnknownNameError, match="torchvision"):
        create_model("tv:not_a_model", num_classes=10)
    with pytest.raises(UnknownNameError, match="timm"):
        create_model("timm:not_a_model", num_classes=10)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"norm": "weird"}, "norm must be one of"),
        ({"paths": 0}, "paths must be a positive integer"),
        ({"skip": "maybe"}, "skip must be true or false"),
        ({"colour": "red"}, "does not take option"),
        ({"width": 0}, "width must be a positive number"),
        ({"width": "wide"}, "width must be a positive number"),
        ({"num_classes": 0}, "num_classes must be a positive integer"),
        ({"image_size": 4}, "at least 8"),
        ({"pretrained": True}, "no pretrained weights"),
    ],
)
def test_bad_options_raise_one_clear_error(kwargs, message):
    options = {"num_classes": 3, "width": 0.125, **kwargs}
    with pytest.raises(NnlabError, match=message):
        create_model("custom-resnet", **options)


def test_width_is_refused_for_hub_models():
    with pytest.raises(NnlabError, match="width"):
        create_model("tv:resnet18", num_classes=3, width=0.5)


def test_pretrained_offline_says_use_weights(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def offline(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", offline)
    with pytest.raises(NnlabError, match="load the file as weights"):
        create_model("resnet18", num_classes=10, pretrained=True)
    with pytest.raises(NnlabError, match="only at width 1"):
        create_model("vgg16", num_classes=10, pretrained=True, width=0.5)
    with pytest.raises(NnlabError, match="not both"):
        create_model("vgg16", num_classes=10, pretrained=True, weights="x.pt")


def test_model_defaults():
    assert model_defaults("vgg16")["image_size"] == 32
    assert model_defaults("vgg16")["mean"] == [0.485, 0.456, 0.406] and model_defaults("vgg16")["pretrained"]
    assert model_defaults("custom-resnet")["mean"] is None and not model_defaults("mlp")["pretrained"]
    assert model_defaults("mobilenet_v2")["image_size"] == 224
    tv = model_defaults("tv:resnet18")
    assert tv["image_size"] == 224 and len(tv["std"]) == 3
    assert model_defaults("timm:resnet18")["image_size"] == 224
    with pytest.raises(UnknownNameError):
        model_defaults("nope")


def test_pretrained_loads_hub_weights_with_a_new_head(monkeypatch):
    torch.manual_seed(0)
    hub = torchvision.models.resnet18().state_dict()
    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", lambda *a, **k: hub)
    net = create_model("resnet18", num_classes=10, in_channels=1, pretrained=True)
    assert torch.equal(net.layer4[1].conv2.weight, hub["layer4.1.conv2.weight"])
    assert torch.allclose(net.conv1.weight[:, 0], hub["conv1.weight"].sum(1))
    assert net.fc.out_features == 10
