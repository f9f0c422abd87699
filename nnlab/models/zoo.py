"""Hub architectures: resnet18, mobilenet_v2 (seed-S1 head), and any ``tv:NAME`` / ``timm:NAME``.

The builders import torchvision (:mod:`nnlab.models.tv_nets`) and timm when they run, so registering them
(and listing the models) imports neither.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from nnlab.data.info import IMAGENET_MEAN, IMAGENET_STD
from nnlab.errors import NnlabError, UnknownNameError
from nnlab.models.layers import NORMS, as_choice, reject_unknown, set_input_channels
from nnlab.models.registry import register_model
from nnlab.models.weights import load_torchvision_weights


@register_model("resnet18", image_size=32, pretrained=True, arch_args={"norm": NORMS})
def build_resnet18(*, num_classes, in_channels, image_size, width, pretrained, norm="batch", **kwargs) -> nn.Module:
    """torchvision ResNet-18; option norm=batch|none (no batch norm); ImageNet weights at width 1."""
    from nnlab.models.tv_nets import ResNet18

    reject_unknown(kwargs, "resnet18", ["norm"])
    net = ResNet18(num_classes, in_channels, width, as_choice(norm, ("batch", "none"), "norm"))
    if pretrained:
        if width != 1.0:
            raise NnlabError("ImageNet weights for resnet18 exist only at width 1")
        from torchvision.models import ResNet18_Weights

        load_torchvision_weights(net, ResNet18_Weights.DEFAULT, "resnet18")
    return net


@register_model("mobilenet_v2", image_size=224, pretrained=True)
def build_mobilenet_v2(*, num_classes, in_channels, image_size, width, pretrained, **kwargs) -> nn.Module:
    """torchvision MobileNetV2 with seed S1's 1280-256-classes head; width → width_mult."""
    from nnlab.models.tv_nets import MobileNetV2Seed

    reject_unknown(kwargs, "mobilenet_v2")
    net = MobileNetV2Seed(num_classes, in_channels, width)
    if pretrained:
        if width != 1.0:
            raise NnlabError("ImageNet weights for mobilenet_v2 exist only at width 1")
        from torchvision.models import MobileNet_V2_Weights

        load_torchvision_weights(net, MobileNet_V2_Weights.DEFAULT, "mobilenet_v2")
    return net


def _torchvision_names() -> list[str]:
    import torchvision

    return torchvision.models.list_models(module=torchvision.models)


def _check_hub_width(width: float, name: str) -> None:
    if width != 1.0:
        raise NnlabError(f"width only applies to nnlab's own models, not {name}")


def _tv_defaults(name: str) -> dict[str, Any]:
    import torchvision

    if name not in _torchvision_names():
        raise UnknownNameError(f"unknown torchvision model {name!r}; see torchvision.models.list_models()")
    size, mean, std = 224, list(IMAGENET_MEAN), list(IMAGENET_STD)
    try:
        preset = torchvision.models.get_model_weights(name).DEFAULT.transforms()
        size, mean, std = int(preset.crop_size[0]), list(preset.mean), list(preset.std)
    except Exception:  # noqa: BLE001 - a model without weights keeps the ImageNet defaults
        pass
    return {"image_size": size, "channels": 3, "mean": mean, "std": std, "pretrained": True}


@register_model("tv:", defaults=_tv_defaults, arch_args={"dropout": float})
def build_torchvision(name: str, *, num_classes, in_channels, image_size, width, pretrained, **kwargs) -> nn.Module:
    """Any torchvision classification model by name, with a new classifier for num_classes."""
    import torchvision

    if name not in _torchvision_names():
        raise UnknownNameError(f"unknown torchvision model {name!r}; see torchvision.models.list_models()")
    _check_hub_width(width, f"tv:{name}")
    if name.startswith("vit_"):
        kwargs.setdefault("image_size", image_size)
    if name in ("googlenet", "inception_v3"):
        kwargs.setdefault("aux_logits", False)
        kwargs.setdefault("init_weights", True)
    try:
        net = torchvision.models.get_model(name, weights=None, num_classes=num_classes, **kwargs)
    except (TypeError, ValueError) as err:
        raise NnlabError(f"cannot build tv:{name} with these options ({err})") from err
    set_input_channels(net, in_channels)
    if pretrained:
        load_torchvision_weights(net, torchvision.models.get_model_weights(name).DEFAULT, f"tv:{name}")
    return net


def _timm_defaults(name: str) -> dict[str, Any]:
    import timm

    if not timm.is_model(name):
        raise UnknownNameError(f"unknown timm model {name!r}; see timm.list_models()")
    cfg = timm.models.get_pretrained_cfg(name)
    if cfg is None:
        return {
            "image_size": 224,
            "channels": 3,
            "mean": list(IMAGENET_MEAN),
            "std": list(IMAGENET_STD),
            "pretrained": False,
        }
    return {
        "image_size": int(cfg.input_size[-1]),
        "channels": int(cfg.input_size[0]),
        "mean": list(cfg.mean),
        "std": list(cfg.std),
        "pretrained": bool(cfg.has_weights),
    }


# timm's size options (all numbers, never a path or a name): enough to build a small member of a family offline
TIMM_ARGS = {
    "drop_rate": float,
    "drop_path_rate": float,
    "patch_size": int,
    "depth": int,
    "embed_dim": int,
    "num_heads": int,
    "mlp_ratio": float,
    "growth_rate": int,
    "block_config": list,
    "depths": list,
    "embed_dims": list,
}


@register_model("timm:", defaults=_timm_defaults, arch_args=TIMM_ARGS)
def build_timm(name: str, *, num_classes, in_channels, image_size, width, pretrained, **kwargs) -> nn.Module:
    """Any timm model by name (timm.create_model) with num_classes and in_chans set."""
    import timm

    if not timm.is_model(name):
        raise UnknownNameError(f"unknown timm model {name!r}; see timm.list_models()")
    _check_hub_width(width, f"timm:{name}")
    options = dict(num_classes=num_classes, in_chans=in_channels, **kwargs)
    try:
        try:
            return timm.create_model(name, pretrained=pretrained, **{"img_size": image_size, **options})
        except TypeError as err:
            if "img_size" not in str(err) or "img_size" in kwargs:
                raise
            return timm.create_model(name, pretrained=pretrained, **options)
    except TypeError as err:
        raise NnlabError(f"cannot build timm:{name} with these options ({err})") from err
    except (NnlabError, KeyboardInterrupt):
        raise
    except Exception as err:  # noqa: BLE001 - hub failures (offline, missing file) are user-fixable
        if not pretrained:
            raise
        raise NnlabError(
            f"could not get the pretrained weights of timm:{name} ({type(err).__name__}: {err}); "
            "offline, download them elsewhere and load the file as weights"
        ) from err
