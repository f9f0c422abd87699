"""Deterministic per-image preparation: channel conversion and resizing of [0, 1] float tensors."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from nnlab.errors import NnlabError
from nnlab.data.info import LUMA


def check_channels(native: int, wanted: int | None) -> None:
    """Reject channel conversions other than grey↔RGB."""
    if wanted is None or wanted == native:
        return
    if {native, wanted} != {1, 3}:
        raise NnlabError(f"cannot convert {native}-channel images to {wanted} channels; use 1 or 3")


RESIZE_MODES = ("bilinear", "pad")


def _pad_or_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    """Centre ``x`` (N×C×H×W) on a black ``size``×``size`` canvas, cropping the centre if it is larger."""
    h, w = x.shape[-2:]
    top, left = (size - h) // 2, (size - w) // 2
    return F.pad(x, (left, size - w - left, top, size - h - top))  # negative padding crops


def prepare(x: torch.Tensor, channels: int, size: int, mode: str = "bilinear") -> torch.Tensor:
    """Convert float images (C×H×W or N×C×H×W, in [0, 1]) to ``channels`` and a ``size``×``size`` square.

    grey→RGB repeats the channel; RGB→grey uses luma weights. ``mode="bilinear"`` resizes with antialias
    (non-square images are stretched); ``mode="pad"`` centres the image on a black square (zero padding,
    or a centre crop when the image is larger), e.g. MNIST 28→32 as in LeNet.
    """
    single = x.dim() == 3
    if single:
        x = x.unsqueeze(0)
    c = x.shape[1]
    if c == 3 and channels == 1:
        w = torch.tensor(LUMA, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        x = (x * w).sum(dim=1, keepdim=True)
    if x.shape[-2:] != (size, size) and mode == "pad":
        x = _pad_or_crop(x, size)
    elif x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        x = x.clamp(0.0, 1.0)
    if c == 1 and channels == 3:
        x = x.expand(-1, 3, -1, -1).contiguous()
    return x[0] if single else x


def to_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 → float32 in [0, 1]; float tensors are assumed already in [0, 1]."""
    if x.dtype == torch.uint8:
        return x.to(torch.float32).div_(255.0)
    return x.to(torch.float32)
