"""Training augmentation presets, applied on the fly to [0, 1] float tensors C×H×W.

Each preset is a builder ``(image_size, channels) -> callable | None`` registered in ``AUGMENTS``,
so the CLI can list them. Randomness comes from torch's global RNG (seed it with torch.manual_seed;
DataLoader workers get derived seeds). Outputs are clamped back into [0, 1].
"""

from __future__ import annotations

from typing import Callable

import torch

from nnlab.registry import Registry

AUGMENTS = Registry("augmentation")

Augment = Callable[[torch.Tensor], torch.Tensor]


def _pad(size: int) -> int:
    return size // 8


@AUGMENTS.register("none", help="no augmentation")
def _none(image_size: int, channels: int) -> Augment | None:
    return None


@AUGMENTS.register("flip-crop", help="random horizontal flip + random crop with size//8 padding (seeds S0, S2)")
def _flip_crop(image_size: int, channels: int) -> Augment:
    from torchvision.transforms import v2

    return v2.Compose([v2.RandomHorizontalFlip(), v2.RandomCrop(image_size, padding=_pad(image_size))])


@AUGMENTS.register("flip-rotate", help="random horizontal flip + random rotation of up to 10 degrees (seed S1)")
def _flip_rotate(image_size: int, channels: int) -> Augment:
    from torchvision.transforms import v2

    return v2.Compose([v2.RandomHorizontalFlip(), v2.RandomRotation(10)])


@AUGMENTS.register("rotate", help="random rotation of up to 10 degrees: seed S1's flip-rotate without the flip, for "
                                  "classes that mirroring changes (digits)")
def _rotate(image_size: int, channels: int) -> Augment:
    from torchvision.transforms import v2

    return v2.RandomRotation(10)


@AUGMENTS.register("svhn-aug", help="affine 10°/0.1/0.9-1.1, colour jitter 0.2/0.2, perspective 0.2 p0.5, "
                                    "random crop with size//8 padding (seed S4)")
def _svhn_aug(image_size: int, channels: int) -> Augment:
    from torchvision.transforms import v2

    return v2.Compose([
        v2.RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1)),
        v2.ColorJitter(brightness=0.2, contrast=0.2),
        v2.RandomPerspective(distortion_scale=0.2, p=0.5),
        v2.RandomCrop(image_size, padding=_pad(image_size)),
    ])


@AUGMENTS.register("random-resized-crop", help="RandomResizedCrop (scale 0.08-1, ratio 3/4-4/3, antialiased) + random "
                                               "horizontal flip: the ImageNet/timm training view, for 224-px "
                                               "fine-tuning (seeds S3, S4)")
def _random_resized_crop(image_size: int, channels: int) -> Augment:
    from torchvision.transforms import v2

    return v2.Compose([v2.RandomResizedCrop(image_size, antialias=True), v2.RandomHorizontalFlip()])


CENTER_CROP_FRACTION = 0.875  # timm's default crop_pct: resize to 256, crop 224


@AUGMENTS.register("resize-center-crop", help="Resize to size/0.875 + CenterCrop(size): the ImageNet/timm "
                                              "evaluation view (256 -> 224), deterministic (seeds S3, S4)")
def _resize_center_crop(image_size: int, channels: int) -> Augment:
    from torchvision.transforms import v2

    resized = int(round(image_size / CENTER_CROP_FRACTION))
    return v2.Compose([v2.Resize(resized, antialias=True), v2.CenterCrop(image_size)])


def build_augment(name: str, image_size: int, channels: int) -> Augment | None:
    """The augmentation callable for preset ``name`` (None for ``none``); unknown → UnknownNameError."""
    builder, _ = AUGMENTS.resolve(name)
    return builder(image_size, channels)


def augment_names() -> list[str]:
    """Registered preset names, for --help."""
    return AUGMENTS.names()
