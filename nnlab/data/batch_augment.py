"""Augmentation presets applied to a whole N×C×H×W batch at once, each sample with its own random parameters.

torchvision's v2 transforms draw one set of parameters per call, so a batch of different views costs one call
per image; at 32 px that per-call overhead is most of a small CNN's training step (the `svhn-aug` preset ran
at 541 images/s against 1,181 without augmentation). Here each transform draws a tensor of parameters for the
batch, from the distributions torchvision's transforms draw from, and applies them with one grid sample per
geometric step. Randomness comes from torch's global RNG, as the per-sample presets' does.

Registered in :data:`BATCH_AUGMENTS` under the preset name whose per-sample form it replaces
(nnlab.data.augment); a dataset uses the batched form where one exists.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

BatchAugment = Callable[[torch.Tensor], torch.Tensor]

GREY_WEIGHTS = (0.2989, 0.587, 0.114)  # torchvision's rgb_to_grayscale


def _uniform(n: int, low: float, high: float) -> torch.Tensor:
    return torch.empty(n, dtype=torch.float64).uniform_(low, high)


def _base_grid(h: int, w: int, centred: bool) -> torch.Tensor:
    """(h·w) × 3 homogeneous pixel-centre coordinates, x then y (torchvision's grids): from the image centre
    when ``centred`` (the affine grid), else from the corner (the perspective grid)."""
    oy, ox = ((1.0 - h) * 0.5, (1.0 - w) * 0.5) if centred else (0.5, 0.5)
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=torch.float64) + oy, torch.arange(w, dtype=torch.float64) + ox, indexing="ij"
    )
    return torch.stack([xs.reshape(-1), ys.reshape(-1), torch.ones(h * w, dtype=torch.float64)], dim=1)


def _sample(images: torch.Tensor, grid: torch.Tensor, mode: str) -> torch.Tensor:
    """torchvision's grid transform with fill 0: zeros padding, and for bilinear also the weight of the inside
    (a sampled ones channel) multiplied in, as torchvision does with a fill value."""
    n, c, h, w = images.shape
    grid = grid.to(images.dtype).view(n, h, w, 2)
    if mode == "nearest":
        return F.grid_sample(images, grid, mode=mode, padding_mode="zeros", align_corners=False)
    with_mask = torch.cat([images, images.new_ones(n, 1, h, w)], dim=1)
    out = F.grid_sample(with_mask, grid, mode=mode, padding_mode="zeros", align_corners=False)
    return out[:, :c] * out[:, c:]


def random_affine(
    images: torch.Tensor, degrees: float, translate: float = 0.0, scale: tuple[float, float] = (1.0, 1.0)
) -> torch.Tensor:
    """RandomAffine(degrees, (translate, translate), scale) per sample: angle U(-degrees, degrees), a whole-pixel
    shift of round(U(-t·size, t·size)) per axis, scale U(low, high), about the centre, nearest, fill 0."""
    n, _, h, w = images.shape
    angle = _uniform(n, -degrees, degrees)
    tx = _uniform(n, -translate * w, translate * w).round() if translate else torch.zeros(n, dtype=torch.float64)
    ty = _uniform(n, -translate * h, translate * h).round() if translate else torch.zeros(n, dtype=torch.float64)
    s = _uniform(n, *scale) if scale != (1.0, 1.0) else torch.ones(n, dtype=torch.float64)
    return affine(images, angle, tx, ty, s)


def affine(
    images: torch.Tensor, angle: torch.Tensor, tx: torch.Tensor, ty: torch.Tensor, scale: torch.Tensor
) -> torch.Tensor:
    """torchvision's ``affine`` (nearest, fill 0, about the centre, no shear) with each sample's own angle
    (degrees), whole-pixel shift and scale."""
    n, _, h, w = images.shape
    rad = torch.deg2rad(angle.to(torch.float64))
    tx, ty, s = tx.to(torch.float64), ty.to(torch.float64), scale.to(torch.float64)
    cos, sin = torch.cos(rad) / s, torch.sin(rad) / s
    # torchvision's inverse affine matrix (centre at the image centre, no shear), rows (x, y)
    theta = torch.stack(
        [
            torch.stack([cos, sin, -cos * tx - sin * ty], dim=1),
            torch.stack([-sin, cos, sin * tx - cos * ty], dim=1),
        ],
        dim=1,
    )
    base = _base_grid(h, w, centred=True)
    scale_xy = torch.tensor([0.5 * w, 0.5 * h], dtype=torch.float64)
    grid = torch.einsum("pk,nik->npi", base, theta) / scale_xy
    return _sample(images, grid, "nearest")


def color_jitter(images: torch.Tensor, brightness: float, contrast: float) -> torch.Tensor:
    """ColorJitter(brightness, contrast) per sample: factors U(1 - b, 1 + b) and U(1 - c, 1 + c), applied in a
    random order per sample, each clamped to [0, 1]; contrast blends with the mean of the grey image."""
    n = images.shape[0]
    b = _uniform(n, 1 - brightness, 1 + brightness)
    k = _uniform(n, 1 - contrast, 1 + contrast)
    return jitter(images, b, k, torch.rand(n) < 0.5)


def jitter(images: torch.Tensor, brightness: torch.Tensor, contrast: torch.Tensor, brightness_first: torch.Tensor):
    """torchvision's ``adjust_brightness`` and ``adjust_contrast`` with each sample's own factors, brightness
    first where ``brightness_first``, contrast first elsewhere."""
    n, c = images.shape[:2]
    b = brightness.to(images.dtype).view(n, 1, 1, 1)
    k = contrast.to(images.dtype).view(n, 1, 1, 1)

    def bright(x: torch.Tensor) -> torch.Tensor:
        return (x * b).clamp_(0.0, 1.0)

    def contr(x: torch.Tensor) -> torch.Tensor:
        grey = x if c == 1 else torch.einsum("nchw,c->nhw", x, x.new_tensor(GREY_WEIGHTS)).unsqueeze(1)
        mean = grey.mean(dim=(1, 2, 3), keepdim=True)
        return (x * k + mean * (1 - k)).clamp_(0.0, 1.0)

    first = contr(bright(images))
    second = bright(contr(images))
    return torch.where(brightness_first.view(n, 1, 1, 1), first, second)


def _perspective_coefficients(start: torch.Tensor, end: torch.Tensor) -> torch.Tensor:
    """Per sample the 8 coefficients mapping output points ``end`` to input points ``start`` (n × 4 × 2 each), as
    torchvision's _get_perspective_coeffs solves them (float64, then float32)."""
    n = end.shape[0]
    a = torch.zeros(n, 8, 8, dtype=torch.float64)
    x, y = end[..., 0], end[..., 1]
    u, v = start[..., 0], start[..., 1]
    ones, zeros = torch.ones_like(x), torch.zeros_like(x)
    a[:, 0::2] = torch.stack([x, y, ones, zeros, zeros, zeros, -u * x, -u * y], dim=2)
    a[:, 1::2] = torch.stack([zeros, zeros, zeros, x, y, ones, -v * x, -v * y], dim=2)
    return torch.linalg.solve(a, start.reshape(n, 8)).to(torch.float32).to(torch.float64)


def random_perspective(images: torch.Tensor, distortion: float, p: float) -> torch.Tensor:
    """RandomPerspective(distortion, p) per sample: with probability p each corner moves inward by a whole number
    of pixels below ``distortion`` · half the size (+1), bilinear, fill 0."""
    n, _, h, w = images.shape
    chosen = torch.nonzero(torch.rand(n) < p).flatten()
    if chosen.numel() == 0:
        return images
    m = chosen.numel()
    bound_h, bound_w = int(distortion * (h // 2)) + 1, int(distortion * (w // 2)) + 1

    def between(low: int, high: int) -> torch.Tensor:
        return torch.randint(low, high, (m,)).to(torch.float64)

    end = torch.stack(
        [
            torch.stack([between(0, bound_w), between(0, bound_h)], dim=1),
            torch.stack([between(w - bound_w, w), between(0, bound_h)], dim=1),
            torch.stack([between(w - bound_w, w), between(h - bound_h, h)], dim=1),
            torch.stack([between(0, bound_w), between(h - bound_h, h)], dim=1),
        ],
        dim=1,
    )
    out = images.clone()
    out[chosen] = perspective(images[chosen], end)
    return out


def perspective(images: torch.Tensor, end: torch.Tensor) -> torch.Tensor:
    """torchvision's ``perspective`` (bilinear, fill 0) taking each sample's corners (top-left, top-right,
    bottom-right, bottom-left) to its own ``end`` points (n × 4 × 2, x then y)."""
    m, _, h, w = images.shape
    start = torch.tensor([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], dtype=torch.float64).expand(m, 4, 2)
    k = _perspective_coefficients(start, end.to(torch.float64))
    base = _base_grid(h, w, centred=False)
    numerator = torch.einsum("pk,nik->npi", base, k[:, :6].view(m, 2, 3))
    denominator = base[None, :, 0] * k[:, 6:7] + base[None, :, 1] * k[:, 7:8] + 1.0
    grid = numerator / torch.tensor([0.5 * w, 0.5 * h], dtype=torch.float64) / denominator[..., None] - 1.0
    return _sample(images, grid, "bilinear")


def random_crop(images: torch.Tensor, padding: int) -> torch.Tensor:
    """RandomCrop(size, padding) per sample: zero-pad every side by ``padding`` and cut the original size out at a
    random whole-pixel offset."""
    n = images.shape[0]
    return crop(images, padding, torch.randint(0, 2 * padding + 1, (n,)), torch.randint(0, 2 * padding + 1, (n,)))


def crop(images: torch.Tensor, padding: int, top: torch.Tensor, left: torch.Tensor) -> torch.Tensor:
    """Each sample zero-padded by ``padding`` on every side and cut to its size at its own (top, left)."""
    n, c, h, w = images.shape
    padded = F.pad(images, (padding, padding, padding, padding))
    rows = (top[:, None] + torch.arange(h))[:, :, None]
    cols = (left[:, None] + torch.arange(w))[:, None, :]
    return padded[torch.arange(n)[:, None, None], :, rows, cols].permute(0, 3, 1, 2).contiguous()


def svhn_aug(image_size: int, channels: int) -> BatchAugment:
    """Seed S4's augmentation (the `svhn-aug` preset) for a batch: affine 10°/0.1/0.9–1.1 (nearest), colour
    jitter 0.2/0.2, perspective 0.2 with p 0.5 (bilinear), random crop with size//8 padding; each a per-sample
    draw from the distribution of torchvision's transform of the same name."""
    padding = image_size // 8

    def apply(images: torch.Tensor) -> torch.Tensor:
        x = random_affine(images, 10.0, 0.1, (0.9, 1.1))
        x = color_jitter(x, 0.2, 0.2)
        x = random_perspective(x, 0.2, 0.5)
        return random_crop(x, padding).clamp_(0.0, 1.0)

    return apply


BATCH_AUGMENTS: dict[str, Callable[[int, int], BatchAugment]] = {"svhn-aug": svhn_aug}


def build_batch_augment(name: str, image_size: int, channels: int) -> BatchAugment | None:
    """The batched form of preset ``name``, or None when it has none (the per-sample form is used then)."""
    builder = BATCH_AUGMENTS.get(name)
    return builder(image_size, channels) if builder is not None else None
