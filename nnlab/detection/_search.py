"""Selective search and image decoding with OpenCV and numpy only.

:func:`nnlab.detection.proposals.propose_images` runs :func:`propose_one` in worker threads (OpenCV
releases the GIL). The module imports neither torch nor the rest of nnlab, so that it also suits
worker processes should a caller prefer them.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from nnlab.errors import NnlabError

MODES = ("fast", "quality", "single")


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Decode an image file to an RGB ``uint8`` array H x W x 3; unreadable files raise NnlabError."""
    data = np.fromfile(str(path), dtype=np.uint8) if Path(path).is_file() else None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data is not None and data.size else None
    if image is None:
        raise NnlabError(f"cannot read image {path}: missing, empty or corrupt")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def selective_search(
    image: np.ndarray,
    mode: str = "fast",
    max_side: int | None = 256,
    min_size: float = 8,
    max_per_image: int | None = 2000,
) -> np.ndarray:
    """Selective-search boxes of one RGB ``uint8`` image as a float32 N x 4 array (x1, y1, x2, y2).

    The search runs on a copy shrunk so that its longer side is at most ``max_side`` (None: full
    size; smaller images are never enlarged);
    boxes are mapped back to the original pixels and clipped. Boxes narrower or shorter than
    ``min_size`` original pixels are dropped, duplicates (same box after rounding to whole pixels)
    are removed keeping the first, and the first ``max_per_image`` boxes are kept, in the reproducible
    random order of :func:`reproducible_order` (OpenCV's own random ranking changes from run to run).
    ``mode``: ``fast`` (as the seed), ``quality`` (more strategies, slower, more boxes) or ``single``
    (one strategy, fastest).
    """
    if mode not in MODES:
        raise NnlabError(f"unknown selective-search mode {mode!r}; valid modes: {', '.join(MODES)}")
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    height, width = image.shape[:2]
    work = image
    if max_side is not None and max(height, width) > max_side:
        scale = max_side / max(height, width)
        work = cv2.resize(
            image, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA
        )
    sx, sy = width / work.shape[1], height / work.shape[0]
    search = cv2.ximgproc.segmentation.createSelectiveSearchSegmentation()
    search.setBaseImage(cv2.cvtColor(work, cv2.COLOR_RGB2BGR))
    {
        "fast": search.switchToSelectiveSearchFast,
        "quality": search.switchToSelectiveSearchQuality,
        "single": search.switchToSingleStrategy,
    }[mode]()
    rects = np.asarray(search.process(), dtype=np.float32).reshape(-1, 4)
    boxes = np.stack(
        [rects[:, 0] * sx, rects[:, 1] * sy, (rects[:, 0] + rects[:, 2]) * sx, (rects[:, 1] + rects[:, 3]) * sy], axis=1
    )
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, width)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, height)
    keep = ((boxes[:, 2] - boxes[:, 0]) >= min_size) & ((boxes[:, 3] - boxes[:, 1]) >= min_size)
    boxes = boxes[keep]
    boxes = boxes[reproducible_order(boxes)]
    _, first = np.unique(np.round(boxes).astype(np.int32), axis=0, return_index=True)
    boxes = boxes[np.sort(first)]
    if max_per_image is not None:
        boxes = boxes[:max_per_image]
    return boxes.astype(np.float32)


def reproducible_order(boxes: np.ndarray) -> np.ndarray:
    """A fixed pseudo-random order of ``boxes`` (N x 4): the positions that sort them by a hash of their coordinates.

    OpenCV ranks selective-search regions with a random number per region from a generator shared by
    all threads, so the same image gives its boxes in another order on every run (the set is the
    same). Ranking by a hash keeps the order random with respect to position and size, as OpenCV
    means it, but the same on every run, so proposals, the rows kept by ``max_per_image`` and
    everything trained on them are reproducible.
    """
    coords = np.round(boxes * 8).astype(np.uint64)
    key = np.zeros(len(boxes), dtype=np.uint64)
    for column, multiplier in enumerate(
        (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x85EBCA77C2B2AE63)
    ):
        key = (key ^ (coords[:, column] * np.uint64(multiplier))) * np.uint64(0x100000001B3)
    return np.lexsort((*boxes.T[::-1], key))


def propose_one(args: tuple) -> tuple[str, np.ndarray | None, tuple[int, int] | None, str | None]:
    """Worker body: ``(name, path, options)`` → ``(name, boxes, (width, height), error)``; never raises."""
    name, path, options = args
    try:
        image = read_image(path)
    except NnlabError as exc:
        return name, None, None, str(exc)
    try:
        boxes = selective_search(image, **options)
    except cv2.error as exc:
        return name, None, None, f"selective search failed on {path}: {exc}"
    return name, boxes, (image.shape[1], image.shape[0]), None
