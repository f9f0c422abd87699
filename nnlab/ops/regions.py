"""Region operations on image tensors: conversion, box cropping, pyramid levels and pooled-map reduction.

Torch-only building blocks below the models and detection: :class:`nnlab.models.roi` pools regions
with them and :mod:`nnlab.detection` cuts training crops and classifies regions with the same
functions, so a region is the same tensor at training and at detection time.

Box convention: 0-based continuous ``(x1, y1, x2, y2)``; a box covers exactly the pixels
``image[y1:y2, x1:x2]`` (``roi_align(aligned=True)``).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

# How a pooled region map (N x C x h x w) becomes a feature vector: spatial mean, spatial max, or all values.
POOLS = ("avg", "max", "flatten")


def image_to_tensor(image: np.ndarray, channels: int = 3, as_float: bool = True) -> torch.Tensor:
    """RGB/grey ``uint8`` H x W (x C) array → C x H x W tensor with ``channels`` channels.

    float32 in [0, 1] by default, uint8 with ``as_float=False``. Grey uses ITU-R 601 weights
    (OpenCV's RGB2GRAY).
    """
    image = np.ascontiguousarray(image)
    if channels == 1 and image.ndim == 3:
        import cv2  # lazy: OpenCV is slow to import and only grey conversion needs it

        image = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    tensor = torch.from_numpy(image)
    tensor = tensor.unsqueeze(0) if tensor.ndim == 2 else tensor.permute(2, 0, 1)
    if channels == 3 and tensor.shape[0] == 1:
        tensor = tensor.expand(3, -1, -1)
    tensor = tensor.contiguous()
    return tensor.float().div_(255.0) if as_float else tensor


def as_image(image: torch.Tensor | np.ndarray, channels: int = 3) -> torch.Tensor:
    """One C x H x W image tensor from a uint8 RGB array (converted to ``channels``) or a (1 x) C x H x W tensor."""
    if isinstance(image, np.ndarray):
        return image_to_tensor(image, channels)
    return image[0] if image.ndim == 4 else image


def as_boxes(boxes, device) -> torch.Tensor:
    """Boxes (array, list or tensor) as an N x 4 float32 tensor on ``device``."""
    return torch.as_tensor(
        np.array(boxes, dtype=np.float32) if not torch.is_tensor(boxes) else boxes, dtype=torch.float32, device=device
    ).reshape(-1, 4)


def crop_regions(image: torch.Tensor, boxes: torch.Tensor, size: int, sampling_ratio: int = 0) -> torch.Tensor:
    """Every box of one C x H x W image cut and resized to ``size x size`` in one call → N x C x S x S.

    ``torchvision.ops.roi_align`` on the image itself (``aligned=True``), adaptive sampling (``ceil(box
    side / size)`` bilinear samples per output pixel and axis, averaged, which anti-aliases large boxes).
    A box exactly ``size`` pixels wide on integer coordinates gives the pixels themselves.
    """
    image = as_image(image)
    boxes = as_boxes(boxes, image.device)
    from torchvision.ops import roi_align  # lazy: torchvision.ops loads torch._dynamo and sympy (seconds)

    return roi_align(
        image[None], [boxes], output_size=(size, size), spatial_scale=1.0, sampling_ratio=sampling_ratio, aligned=True
    )


def normalize(x: torch.Tensor, mean: Sequence[float] | None, std: Sequence[float] | None) -> torch.Tensor:
    """``(x - mean) / std`` per channel of an N x C x H x W batch; unchanged when either is None."""
    if mean is None or std is None:
        return x
    m = torch.as_tensor(mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    s = torch.as_tensor(std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    return (x - m) / s


def pyramid_levels(boxes: torch.Tensor, scales: Sequence[float], roi_size: float) -> torch.Tensor:
    """Index into ``scales`` of the pyramid level each box is pooled from (SPPnet / Fast R-CNN scale selection).

    A box goes to the level at which its side (``sqrt(w · h)``) comes closest, in log scale, to
    ``roi_size`` pixels: the size of the crops the backbone was trained on, so the pooled region
    sees its object at the scale the backbone knows.
    """
    side = ((boxes[:, 2] - boxes[:, 0]).clamp_min(1) * (boxes[:, 3] - boxes[:, 1]).clamp_min(1)).sqrt()
    levels = torch.as_tensor(list(scales), dtype=torch.float32, device=boxes.device)
    return (side[:, None] * levels[None] / float(roi_size)).log2().abs().argmin(dim=1)


def scale_image(x: torch.Tensor, scale: float) -> torch.Tensor:
    """An N x C x H x W batch resized by ``scale`` (bilinear, antialiased when shrinking)."""
    if scale == 1.0:
        return x
    height, width = x.shape[-2:]
    size = (max(1, round(height * scale)), max(1, round(width * scale)))
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=scale < 1)


def reduce_pooled(pooled: torch.Tensor, pool: str) -> torch.Tensor:
    """Pooled region maps N x C x h x w → N x D: spatial ``avg``, spatial ``max`` or ``flatten`` (see POOLS)."""
    if pool == "avg":
        return pooled.mean(dim=(2, 3))
    if pool == "max":
        return pooled.amax(dim=(2, 3))
    return pooled.flatten(1)
