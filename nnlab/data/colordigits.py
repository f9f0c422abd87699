"""``colordigits``: the 5,000 ``mnist5k`` digits as 32×32 colour images on cluttered backgrounds.

What SVHN is to MNIST, offline: each digit is cut to its tight box, scaled to a random height
(45–90 % of the image) and aspect, placed at a random position, and blended in a colour that
contrasts with the background under it (bright on dark or dark on bright) over a gradient / noise
background with strokes and fragments of other digits (nnlab.data.backgrounds). Scenes are drawn
at 64×64 and reduced to 32×32 (area interpolation), so strokes keep anti-aliased edges.

Row ``i`` is drawn from its own ``(seed, i)`` generator, so the images are a pure function of the
seed. Labels and row order are mnist5k's, so the fixed test carve picks the same digits in both
datasets: a model trained on mnist5k's train split never saw a colordigits test digit. The array is
generated once (a few seconds) and cached as ``ROOT/colordigits/colordigits-v1-seed<seed>.npz``.

``colordigits-large`` is the same domain with more images: the 4,000 mnist5k digits outside the fixed test
carve, each drawn ``LARGE_COPIES`` times with the generators ``(1, i)`` … ``(copies, i)`` and clutter made
of those 4,000 digits only; its test split is colordigits' own 1,000 test images (seed 0). So its train/val
pool holds no test digit, not even as a clutter fragment: a stand-in for a large related domain (ImageNet
before CIFAR-10, SVHN's 73k images) that never shows the colordigits test images. Its validation split is
fixed: one drawing of a stratified 10 % of those digits, whose other drawings are in no split, so no training
image shows a validation digit (14,400 train, 400 val).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path

import cv2
import numpy as np
import torch

from nnlab.artifacts import atomic_path
from nnlab.data.backgrounds import background, clutter
from nnlab.data.builtin import ArraySource, mnist5k_source
from nnlab.data.info import DIGIT_CLASSES
from nnlab.data.source import Part
from nnlab.data.splits import stratified_split

SIZE = 32
CANVAS = 64
VERSION = 1
LARGE_COPIES = 4
VAL_FRACTION = 0.1
VAL_SEED = 20


def render_digit(rng: np.random.Generator, digit: np.ndarray, fragments: np.ndarray) -> np.ndarray:
    """One 32×32×3 uint8 image of ``digit`` (28×28 uint8) on a cluttered colour background."""
    image = background(rng, CANVAS)
    clutter(rng, image, fragments, int(rng.integers(2, 7)))
    ys, xs = np.nonzero(digit > 30)
    glyph = digit[ys.min():ys.max() + 1, xs.min():xs.max() + 1].astype(np.float32) / 255.0
    height = int(rng.integers(int(0.45 * CANVAS), int(0.9 * CANVAS) + 1))
    width = round(glyph.shape[1] * height / glyph.shape[0] * rng.uniform(0.8, 1.25))
    width = min(CANVAS, max(4, width))
    mask = np.clip(cv2.resize(glyph, (width, height), interpolation=cv2.INTER_LINEAR), 0, 1)
    y0, x0 = int(rng.integers(0, CANVAS - height + 1)), int(rng.integers(0, CANVAS - width + 1))
    region = image[y0:y0 + height, x0:x0 + width]
    bright = float(region.mean()) < 128 if rng.random() < 0.85 else rng.random() < 0.5
    color = rng.uniform(170, 255, 3) if bright else rng.uniform(0, 85, 3)
    alpha = mask[..., None]
    region *= 1 - alpha
    region += alpha * color.astype(np.float32)
    image += rng.normal(0, rng.uniform(0, 8), image.shape).astype(np.float32)
    image = cv2.resize(np.clip(image, 0, 255), (SIZE, SIZE), interpolation=cv2.INTER_AREA)
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def generate_colordigits(digits: np.ndarray, seed: int = 0, rows: Sequence[int] | None = None,
                         fragments: np.ndarray | None = None) -> np.ndarray:
    """uint8 images (len(rows)×3×32×32), image ``i`` rendering ``digits[i]`` (N×28×28 uint8) with generator
    ``(seed, i)`` and clutter fragments of ``fragments`` (default all ``digits``); ``rows`` (default all)
    picks which rows to render."""
    rows = range(len(digits)) if rows is None else rows
    fragments = digits if fragments is None else fragments
    out = np.empty((len(rows), 3, SIZE, SIZE), dtype=np.uint8)
    for k, i in enumerate(rows):
        out[k] = render_digit(np.random.default_rng([seed, int(i)]), digits[i], fragments).transpose(2, 0, 1)
    return out


def generate_colordigits_large(digits: np.ndarray, pool: np.ndarray, copies: int = LARGE_COPIES) -> np.ndarray:
    """uint8 images (copies·len(pool)×3×32×32): every ``digits[pool]`` drawn once per seed 1..``copies`` (copy
    by copy), with clutter fragments of ``digits[pool]`` only, so no digit outside ``pool`` shows anywhere."""
    fragments = digits[pool]
    return np.concatenate([generate_colordigits(digits, seed, pool, fragments) for seed in range(1, copies + 1)])


def cache_path(root: Path, seed: int = 0) -> Path:
    """Where the generated array for ``seed`` is cached under the data root."""
    return Path(root) / "colordigits" / f"colordigits-v{VERSION}-seed{seed}.npz"


def colordigits_images(root: Path, seed: int = 0) -> np.ndarray:
    """The cached images for ``seed`` (generated and written atomically on first use)."""
    path = cache_path(root, seed)
    mnist = mnist5k_source()
    if path.is_file():
        try:
            with np.load(path) as stored:
                images = stored["images"]
            if images.shape == (len(mnist.full.targets), 3, SIZE, SIZE) and images.dtype == np.uint8:
                return images
        except (OSError, ValueError, KeyError):
            pass  # a foreign, damaged or inconsistent cache file is regenerated and replaced
    digits = mnist.full.images[:, 0].numpy()
    images = generate_colordigits(digits, seed)
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, images=images, targets=mnist.full.targets)
    return images


def large_cache_path(root: Path, copies: int | None = None) -> Path:
    """Where the ``colordigits-large`` pool (``copies``, default LARGE_COPIES, drawings of each non-test digit)
    is cached."""
    copies = copies or LARGE_COPIES
    return Path(root) / "colordigits" / f"colordigits-large-v{VERSION}-x{copies}.npz"


def colordigits_large_images(root: Path, copies: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The cached ``colordigits-large`` pool as (images, labels), generated and written atomically on first use."""
    copies = copies or LARGE_COPIES
    path = large_cache_path(root, copies)
    if path.is_file():
        try:
            with np.load(path) as stored:
                return stored["images"], stored["targets"]
        except (OSError, ValueError, KeyError):
            pass  # a foreign or damaged cache file is regenerated and replaced
    mnist = mnist5k_source()
    pool = np.sort(mnist.rest)
    images = generate_colordigits_large(mnist.full.images[:, 0].numpy(), pool, copies)
    targets = np.tile(mnist.full.targets[pool], copies)
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, images=images, targets=targets)
    return images, targets


class ColorDigitsLarge(ArraySource):
    """``colordigits-large``: train on every drawing of the train digits, validate on one drawing of digits no
    training image shows (so validation figures are not inflated by other drawings of the same digit), test on
    colordigits' own test images."""

    def __init__(self, images: torch.Tensor, targets: np.ndarray, train: np.ndarray, val: np.ndarray,
                 test: np.ndarray):
        super().__init__("colordigits-large", DIGIT_CLASSES, images, targets, test=test)
        self.train, self.val = np.sort(train), np.sort(val)
        self.rest = np.concatenate([self.train, self.val])  # normalization statistics come from these rows

    def part(self, which: str) -> Part | None:
        if which == "pool":
            return self.full.take(self.train)
        if which == "val":
            return self.full.take(self.val)
        return super().part(which)


@cache
def colordigits_large_source(root: Path, copies: int | None = None) -> ArraySource:
    """The ``colordigits-large`` source: all drawings of 90 % of the non-test digits for train, the first drawing
    of the other 10 % (a fixed stratified carve) for val, colordigits' test images as test."""
    copies = copies or LARGE_COPIES
    images, targets = colordigits_large_images(root, copies)
    test = colordigits_source(root).part("test")
    digits = len(targets) // copies
    keep, held = stratified_split(targets[:digits], VAL_FRACTION, VAL_SEED)
    train = np.concatenate([keep + copy * digits for copy in range(copies)])
    all_images = torch.cat([torch.from_numpy(images), test.images]).contiguous()
    all_targets = np.concatenate([targets, test.targets]).astype(np.int64)
    test_rows = np.arange(len(targets), len(all_targets))  # the held digits' other drawings are in no split
    return ColorDigitsLarge(all_images, all_targets, train, held, test_rows)


@cache
def colordigits_source(root: Path, seed: int = 0) -> ArraySource:
    """The ``colordigits`` source: cached images, mnist5k's labels and its fixed 20 % test carve."""
    images = torch.from_numpy(colordigits_images(root, seed)).contiguous()
    return ArraySource("colordigits", DIGIT_CLASSES, images, mnist5k_source().full.targets.copy())
