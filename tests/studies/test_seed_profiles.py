"""`make STUDY PROFILE=seed` plans the seed's own setting: each training step of the `make -n` plan is compared with
a table of the seed reports' settings (SEEDS.md). Nothing runs and nothing is downloaded."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.make_plan import make_commands

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")

# per study: the output file of each training step → the seed's setting. None: the option must be absent
# (native image size, no hub weights); "flag" options are checked for presence.
C10 = {"dataset": "cifar10", "download": True}
SEED_SETTINGS: dict[str, dict[str, dict[str, object]]] = {
    # S0: SGD 0.01 m0.9 wd 5e-4, StepLR(50, 0.1), 200 epochs, patience 20, batch 128, flip + crop, 32 px, scratch
    "compress-vgg": {
        "vgg16": {
            **C10,
            "model": "vgg16",
            "width": "1",
            "epochs": "200",
            "batch-size": "128",
            "lr": "0.01",
            "optimizer": "sgd",
            "momentum": "0.9",
            "weight-decay": "5e-4",
            "schedule": "step",
            "step-size": "50",
            "patience": "20",
            "augment": "flip-crop",
            "image-size": None,
            "pretrained": False,
        }
    },
    # S1: SGD 0.01 m0.9, StepLR(40, 0.1), 100 epochs, batch 256, flip + rotation, 32 px, scratch
    "norm-study": {
        variant: {
            **C10,
            "width": "1",
            "epochs": "100",
            "batch-size": "256",
            "lr": "0.01",
            "optimizer": "sgd",
            "momentum": "0.9",
            "schedule": "step",
            "step-size": "40",
            "augment": "flip-rotate",
            "image-size": None,
            "pretrained": False,
        }
        for variant in ("plain", "batchnorm", "groupnorm", "layernorm", "no-skip", "four-path", "improved")
    },
    # S2: batch 128, flip + crop; MLP SGD 1e-1 → 1e-4, 10 epochs per lr; CNNs Adam 1e-3, 10 epochs; VGG16 from
    # ImageNet weights, SGD 1e-3 (head 1e-2) momentum 0.9 wd 1e-3
    "transfer-study": {
        "mlp": {**C10, "model": "mlp", "batch-size": "128", "optimizer": "sgd", "lr": "1e-1", "epochs": "40"},
        "cnn": {**C10, "model": "cnn", "width": "1", "optimizer": "adam", "lr": "1e-3", "epochs": "10"},
        "cnn-bn-dropout": {**C10, "width": "1", "optimizer": "adam", "lr": "1e-3", "epochs": "10"},
        "transfer": {
            **C10,
            "model": "vgg16",
            "width": "1",
            "pretrained": True,
            "init": None,
            "optimizer": "sgd",
            "lr": "1e-3",
            "lr-head": "1e-2",
            "momentum": "0.9",
            "weight-decay": "1e-3",
            "batch-size": "128",
            "augment": "flip-crop",
        },
    },
    # S3: ImageNet DeiT-Base-Distilled / DenseNet201, CIFAR-10 at 224 px, batch 32, Adam 1e-4, 10 epochs
    "finetune-block": {
        f"{model}-{preset}": {
            **C10,
            "model": hub,
            "image-size": "224",
            "pretrained": True,
            "batch-size": "32",
            "optimizer": "adam",
            "lr": "1e-4",
            "epochs": "10",
            "block-preset": "last" if preset == "block" else "head",
        }
        for model, hub in (("deit", "timm:deit_base_distilled_patch16_224"), ("densenet", "timm:densenet201"))
        for preset in ("block", "head")
    },
    # S4 generalization: ResNet18 on SVHN, batch 16, SGD 1e-3 m0.9, ExponentialLR 0.99, 15 epochs, 32 px
    "generalization": {
        "baseline": {
            "model": "resnet18",
            "dataset": "svhn",
            "download": True,
            "width": "1",
            "image-size": "32",
            "batch-size": "16",
            "optimizer": "sgd",
            "lr": "1e-3",
            "momentum": "0.9",
            "schedule": "exponential",
            "gamma": "0.99",
            "epochs": "15",
            "pretrained": False,
        },
        "pretrained": {"dataset": "svhn", "pretrained": True, "init": None, "epochs": "15", "batch-size": "16"},
        "augmentation": {"dataset": "svhn", "augment": "svhn-aug", "epochs": "15"},
        "reverse": {"dataset": "mnist", "download": True, "epochs": "15", "batch-size": "16"},
    },
    # S4 robustness: ImageNet ResNet18 on CIFAR-10 at 224 px, 40k/10k split, batch 128, 25 epochs
    "robustness": {
        name: {
            **C10,
            "model": "resnet18",
            "width": "1",
            "image-size": "224",
            "pretrained": True,
            "batch-size": "128",
            "val-fraction": "0.2",
            "epochs": "25",
        }
        for name in ("clean", "adversarial", "circle")
    },
    # S1 part 2: ImageNet MobileNetV2, features frozen, 224 px, Adam 5e-3, StepLR(3, 0.3), 10 epochs, 70/30 split
    "detect-demo": {
        "detector": {
            "model": "mobilenet_v2",
            "width": "1",
            "pretrained": True,
            "init": None,
            "freeze": "features",
            "image-size": "224",
            "optimizer": "adam",
            "lr": "5e-3",
            "schedule": "step",
            "step-size": "3",
            "gamma": "0.3",
            "epochs": "10",
            "val-fraction": "0.3",
        }
    },
}


def option(command: list[str], name: str) -> str | bool | None:
    """The value of ``--name`` in a command (True for a flag, None when absent)."""
    flag = f"--{name}"
    if flag not in command:
        return None
    i = command.index(flag)
    following = command[i + 1] if i + 1 < len(command) else "--"
    return True if following.startswith("--") else following


@pytest.fixture()
def voc(tmp_path: Path) -> Path:
    """A folder that passes for a Pascal VOC folder (its last file present), as detect-demo's seed profile reads."""
    marker = tmp_path / "voc" / "ImageSets" / "Main" / "trainval.txt"
    marker.parent.mkdir(parents=True)
    marker.touch()
    return marker.parents[2]


@pytest.mark.parametrize("study", sorted(SEED_SETTINGS))
def test_seed_profile_plans_the_seeds_setting(study: str, tmp_path: Path, voc: Path) -> None:
    stamp = tmp_path / "installed"
    stamp.touch()
    commands = make_commands(study, PROFILE="seed", STAMP=str(stamp), DD_VOC=str(voc))
    trained = {Path(c[c.index("-o") + 1]).name.split(".")[0]: c for c in commands if c[0] == "train"}
    for name, setting in SEED_SETTINGS[study].items():
        assert name in trained, (name, sorted(trained))
        command = trained[name]
        for key, expected in setting.items():
            got = option(command, key)
            if expected is False or expected is None:
                assert got is None, (name, key, got)
            else:
                assert got == expected, (name, key, got, expected)
    readers = [c for c in commands if "--dataset" in c and not c[c.index("--dataset") + 1].startswith("proposals:")]
    assert all("--download" in c for c in readers), "every step that reads a dataset may fetch it"
    assert readers or study == "detect-demo"  # detect-demo reads the user's VOC folder
    assert all("artifacts/seed/" in " ".join(c) for c in commands), "the seed profile writes under artifacts/seed/"


def test_seed_profile_studies_start_from_hub_weights_without_a_pretraining_step(tmp_path: Path, voc: Path) -> None:
    stamp = tmp_path / "installed"
    stamp.touch()
    for study, stem in (("transfer-study", "backbone"), ("finetune-block", "pretrained"), ("detect-demo", "backbone")):
        outputs = [" ".join(c) for c in make_commands(study, PROFILE="seed", STAMP=str(stamp), DD_VOC=str(voc))]
        assert not any(f"{stem}.safetensors --quiet" in c for c in outputs if c.startswith("train")), study


def test_unknown_profile_is_refused(tmp_path: Path) -> None:
    import subprocess

    from tests.make_plan import ROOT

    res = subprocess.run(["make", "-n", "norm-study", "PROFILE=gpu"], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode != 0 and "PROFILE is offline or seed" in res.stderr
