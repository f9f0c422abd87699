"""Cluttered colour backgrounds (gradients, blurred noise, strokes, digit fragments) drawn with OpenCV.

Shared by the synthetic detection scenes (nnlab.detection.scenes) and the built-in ``colordigits`` dataset,
so it lives in the data layer: both draw from a caller's ``np.random.Generator`` and are deterministic for it.
"""

from __future__ import annotations

import cv2
import numpy as np


def background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A float32 RGB background in [0, 255]: a colour gradient, usually with a blurred noise texture."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * xx + np.sin(angle) * yy)
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    image = c0 + (c1 - c0) * ramp[..., None]
    if rng.random() < 0.7:
        cells = int(rng.integers(4, 33))
        noise = rng.normal(0, 1, (cells, cells, 3)).astype(np.float32)
        noise = cv2.resize(noise, (size, size), interpolation=cv2.INTER_CUBIC)
        image = image + noise * rng.uniform(10, 45)
    return image.astype(np.float32)


def clutter(rng: np.random.Generator, image: np.ndarray, digits: np.ndarray, count: int) -> None:
    """Draw ``count`` strokes (lines, arcs) and fragments of ``digits`` (N×28×28 uint8) onto ``image`` in place."""
    size = image.shape[0]
    for _ in range(count):
        color = rng.uniform(0, 255, 3).tolist()
        kind = rng.random()
        layer = np.zeros((size, size), np.float32)
        if kind < 0.35:
            p1, p2 = rng.integers(0, size, 2), rng.integers(0, size, 2)
            cv2.line(layer, tuple(int(v) for v in p1), tuple(int(v) for v in p2), 1.0, int(rng.integers(2, 7)),
                     cv2.LINE_AA)
        elif kind < 0.65:
            center = tuple(int(v) for v in rng.integers(0, size, 2))
            axes = tuple(int(v) for v in rng.integers(6, size // 4, 2))
            start = float(rng.uniform(0, 360))
            cv2.ellipse(layer, center, axes, float(rng.uniform(0, 180)), start, start + float(rng.uniform(60, 200)),
                        1.0, int(rng.integers(2, 7)), cv2.LINE_AA)
        else:
            digit = digits[int(rng.integers(len(digits)))].astype(np.float32) / 255.0
            window = int(rng.integers(8, 12))
            y0, x0 = int(rng.integers(4, 24 - window)), int(rng.integers(4, 24 - window))
            piece = digit[y0:y0 + window, x0:x0 + window]
            side = int(rng.integers(12, 40))
            piece = cv2.resize(piece, (side, side), interpolation=cv2.INTER_LINEAR)
            py, px = int(rng.integers(0, size - side)), int(rng.integers(0, size - side))
            layer[py:py + side, px:px + side] = piece
        alpha = layer[..., None]
        image *= 1 - alpha
        image += alpha * np.asarray(color, np.float32)
