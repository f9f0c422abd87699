"""Architecture options are checked against each registry entry's allow-list, from the CLI and from artifacts."""

from __future__ import annotations

import pytest

from nnlab.errors import NnlabError
from nnlab.models import create_model
from nnlab.models.registry import arch_args, check_arch_args


@pytest.mark.parametrize(
    "name, kwargs, fragment",
    [
        ("timm:resnet18", {"checkpoint_path": "/tmp/w.pth"}, "checkpoint_path"),
        ("timm:resnet18", {"pretrained_cfg_overlay": {"file": "/tmp/w.pth"}}, "pretrained_cfg_overlay"),
        ("tv:resnet18", {"weights": "x"}, "weights"),
        ("tv:resnet18", {"norm_layer": "torch.nn.Identity"}, "norm_layer"),
        ("cnn", {"norm": "batch"}, "norm"),
        ("custom-resnet", {"norm": "/etc/passwd"}, "norm"),
        ("custom-resnet", {"paths": [1, 2]}, "paths"),
        ("custom-resnet", {"skip": {"a": 1}}, "skip"),
        ("vgg16", {"dropout": float("nan")}, "dropout"),
        ("vgg16", {"dropout": "0.5; rm -rf"}, "dropout"),
        ("roi:vgg16", {"pool": "os.system"}, "pool"),
        ("roi:vgg16", {"scales": ["a"]}, "scales"),
        ("roi:vgg16", {"hidden": 10**12}, "hidden"),
    ],
)
def test_options_outside_the_allow_list_are_refused_naming_the_key(name, kwargs, fragment):
    with pytest.raises(NnlabError, match=fragment):
        check_arch_args(name, kwargs)


def test_create_model_checks_before_the_builder_runs(monkeypatch):
    import timm

    monkeypatch.setattr(timm, "create_model", lambda *a, **k: pytest.fail("timm was called"))
    with pytest.raises(NnlabError, match="checkpoint_path"):
        create_model("timm:resnet18", num_classes=3, checkpoint_path="/tmp/w.pth")


def test_what_nnlab_itself_passes_is_accepted():
    check_arch_args("custom-resnet", {"norm": "Batch", "skip": False, "conv4_1x1": "true", "paths": "4"})
    check_arch_args("vgg16", {"dropout": 0})
    check_arch_args("timm:resnet18", {"drop_rate": 0.1})
    check_arch_args(
        "roi:vgg16",
        {
            "backbone_kwargs": {"dropout": 0.5},
            "split": None,
            "scales": [1.0, 0.5],
            "pool": "avg",
            "output_size": 2,
            "roi_size": 32,
            "image_scale": 1,
        },
    )
    assert set(arch_args("custom-resnet")) == {"norm", "skip", "conv4_1x1", "paths"}
    assert arch_args("mlp") == {}


def test_cli_model_arg_goes_through_the_same_check(runner, app, tmp_path):
    from tests.cli.helpers import assert_clear_error, invoke

    out = tmp_path / "m.safetensors"
    res = invoke(
        runner,
        app,
        "train",
        "--model",
        "timm:resnet18",
        "--model-arg",
        f"checkpoint_path={tmp_path}/w.pth",
        "--dataset",
        "digits",
        "--epochs",
        "1",
        "-o",
        out,
    )
    assert_clear_error(res, "checkpoint_path")
    assert not out.exists()
