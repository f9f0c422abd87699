"""A torch Dataset of region crops cut on the fly from a proposals table (no crop on disk).

Items are ``(float32 C x S x S in [0, 1], int label)``; the label indexes ``classes``, which is
always ``["background", *positive classes]`` with the positive classes in the order recorded in
the proposals' metadata (natural order of the folder's object names unless ``--classes`` set it).
Crops are cut and resized by :func:`nnlab.detection.roi.crop_regions`, the very function that
detection uses in crop mode, so training and detection see identical pixels.

Splits are by image, never by crop: neighbouring proposals of one image overlap, so a split by
crop would put near-copies of validation crops in the training set.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from nnlab.artifacts import load_table
from nnlab.data.api import DATASETS, DatasetOpener
from nnlab.data.info import DatasetInfo
from nnlab.detection import voc
from nnlab.detection.proposals import BACKGROUND, BOX_COLUMNS
from nnlab.errors import NnlabError, ParameterError
from nnlab.ops.regions import crop_regions, image_to_tensor

BALANCE_MODES = ("none", "undersample", "weights")


def class_list(df: pd.DataFrame, classes: Sequence[str] | None = None) -> list[str]:
    """``["background", *classes]``; ``classes`` defaults to the labels in ``df`` in natural order."""
    positives = list(classes) if classes is not None else voc.natural_sorted(set(df["label"]) - {BACKGROUND})
    return [BACKGROUND, *[c for c in positives if c != BACKGROUND]]


def split_by_image(df: pd.DataFrame, val_fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Row positions ``(train, val)`` of ``df`` such that no image has rows on both sides.

    A seeded shuffle of the distinct images; ``round(val_fraction * n_images)`` of them (at least
    one when ``val_fraction > 0`` and there are two or more images) go to validation.
    """
    if not 0 <= val_fraction < 1:
        raise ParameterError("val_fraction", f"val_fraction must be in [0, 1), got {val_fraction}")
    images = np.asarray(sorted(df["image"].unique()), dtype=object)
    n_val = int(round(val_fraction * len(images)))
    if val_fraction > 0 and len(images) >= 2:
        n_val = min(max(n_val, 1), len(images) - 1)
    order = np.random.default_rng(seed).permutation(len(images))
    val_images = set(images[order[:n_val]])
    is_val = df["image"].isin(val_images).to_numpy()
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def undersample(targets: np.ndarray, factor: float = 1.0, seed: int = 0, background: int = 0) -> np.ndarray:
    """Positions that keep every positive and ``factor`` × as many background rows (seeded sample)."""
    targets = np.asarray(targets)
    positives = np.flatnonzero(targets != background)
    negatives = np.flatnonzero(targets == background)
    n_neg = min(len(negatives), int(round(factor * max(len(positives), 1))))
    chosen = np.random.default_rng(seed).choice(negatives, size=n_neg, replace=False)
    return np.sort(np.concatenate([positives, chosen]))


def class_weights(targets: np.ndarray, num_classes: int) -> torch.Tensor:
    """Inverse-frequency class weights (mean 1 over present classes, 0 for absent ones) for CrossEntropyLoss."""
    counts = np.bincount(np.asarray(targets, dtype=np.int64), minlength=num_classes).astype(np.float64)
    weights = np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / max((counts > 0).sum(), 1), 0.0)
    present = weights[counts > 0]
    if present.size:
        weights = weights / present.mean()
    return torch.tensor(weights, dtype=torch.float32)


class ProposalsDataset(Dataset):
    """Crops of the boxes in a proposals DataFrame, resized to ``image_size`` square, with labels.

    ``df`` needs columns image, file, x1, y1, x2, y2 and (for labels) label; images are read from
    ``image_root / file``. Decoded images are kept in a per-process LRU cache of ``cache_size``
    images (each DataLoader worker has its own), so rows sorted by image decode each image once.
    Unlabelled tables give label -1. ``channels`` 1 converts to grey, 3 repeats grey images.
    """

    def __init__(
        self,
        df: pd.DataFrame,
        image_root: str | os.PathLike,
        *,
        classes: Sequence[str] | None = None,
        image_size: int = 64,
        channels: int = 3,
        cache_size: int = 256,
    ):
        missing = {"image", "file", *BOX_COLUMNS} - set(df.columns)
        if missing:
            raise NnlabError(f"proposals table lacks columns {sorted(missing)}")
        if channels not in (1, 3):
            raise NnlabError(f"channels must be 1 or 3, got {channels}")
        self.df = df.reset_index(drop=True)
        self.image_root = Path(image_root)
        self.image_size = int(image_size)
        self.channels = int(channels)
        self.cache_size = int(cache_size)
        self.labelled = "label" in df.columns
        self.classes = class_list(df, classes) if self.labelled or classes is not None else [BACKGROUND]
        if self.labelled:
            index = {c: i for i, c in enumerate(self.classes)}
            unknown = set(self.df["label"]) - set(index)
            if unknown:
                raise NnlabError(f"proposal labels {sorted(unknown)} are not in the class list {self.classes}")
            self.targets = self.df["label"].map(index).to_numpy(np.int64)
        else:
            self.targets = np.full(len(self.df), -1, dtype=np.int64)
        self._boxes = np.array(self.df[BOX_COLUMNS].to_numpy(np.float32))
        self._files = self.df["file"].to_numpy(object)
        self._cache: OrderedDict[str, torch.Tensor] = OrderedDict()

    def __len__(self) -> int:
        return len(self.df)

    def _load_uint8(self, file: str) -> torch.Tensor:
        cached = self._cache.get(file)
        if cached is not None:
            self._cache.move_to_end(file)
            return cached
        cached = image_to_tensor(voc.read_image(self.image_root / file), self.channels, as_float=False)
        self._cache[file] = cached
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return cached

    def load_image(self, file: str) -> torch.Tensor:
        """The decoded image ``file`` as float32 C x H x W in [0, 1] (decoded images LRU-cached as uint8)."""
        return self._load_uint8(file).float().div_(255.0)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        image = self._load_uint8(self._files[i])
        x1, y1, x2, y2 = (float(v) for v in self._boxes[i])
        # Only the window the bilinear samples can reach is converted to float; the result equals
        # crop_regions on the whole image (samples lie in [x1 - 0.5, x2 - 0.5], plus one neighbour).
        height, width = image.shape[-2:]
        wx0, wy0 = max(int(np.floor(x1)) - 1, 0), max(int(np.floor(y1)) - 1, 0)
        wx1, wy1 = min(int(np.ceil(x2)) + 2, width), min(int(np.ceil(y2)) + 2, height)
        window = image[:, wy0:wy1, wx0:wx1].float().div_(255.0)
        box = torch.tensor([[x1 - wx0, y1 - wy0, x2 - wx0, y2 - wy0]], dtype=torch.float32)
        return crop_regions(window, box, self.image_size)[0], int(self.targets[i])


def image_statistics(
    image_root: str | os.PathLike, files: Sequence[str], channels: int, limit: int = 64, seed: int = 0
) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of up to ``limit`` whole images (seeded choice), for normalization."""
    files = sorted(set(files))
    if len(files) > limit:
        files = list(np.random.default_rng(seed).choice(files, size=limit, replace=False))
    total = torch.zeros(channels, dtype=torch.float64)
    total_sq = torch.zeros(channels, dtype=torch.float64)
    count = 0
    for file in files:
        x = image_to_tensor(voc.read_image(Path(image_root) / file), channels).double().flatten(1)
        total += x.sum(1)
        total_sq += (x * x).sum(1)
        count += x.shape[1]
    if count == 0:
        return [0.5] * channels, [0.25] * channels
    mean = total / count
    std = (total_sq / count - mean * mean).clamp_min(1e-12).sqrt()
    return [round(float(v), 6) for v in mean], [round(float(v), 6) for v in std]


def load_proposals_dataset(
    path: str | os.PathLike,
    split: str = "train",
    *,
    image_size: int | None = None,
    channels: int | None = None,
    val_fraction: float = 0.1,
    seed: int = 0,
    balance: str = "none",
    balance_factor: float = 1.0,
    limit: int | None = None,
    fraction: float | None = None,
    image_root: str | os.PathLike | None = None,
    cache_size: int = 256,
    **_ignored,
) -> ProposalsDataset:
    """Open a proposals parquet as a dataset with ImageDataset's contract (for ``proposals:PATH``).

    ``split``: ``train`` / ``val`` are a by-image split of the file (``val_fraction`` of its images,
    seeded); any other split (``test``, ``all``) is the whole file. ``balance``: ``undersample`` keeps
    every positive and ``balance_factor`` × as many negatives (seeded), in ``train`` and in ``val``
    (so that the best epoch is not picked by how well it says "background" on a set that is ~90 %
    background); ``weights`` keeps every row and sets ``class_weights`` (inverse frequency) for the
    loss of ``train``.
    ``fraction``/``limit`` then keep a seeded subset of whole images / the first ``limit`` rows.
    ``image_size`` defaults to 64, ``channels`` to 3. ``image_root`` overrides the image folder
    recorded in the metadata (for a moved VOC folder). Unused ImageDataset options are ignored.

    Attributes: classes, targets, indices (row positions in the file), info (name, classes,
    channels, image_size, mean, std), split, name, class_weights (tensor or None), meta.
    """
    if balance not in BALANCE_MODES:
        raise ParameterError("balance", f"unknown balance mode {balance!r}; valid: {', '.join(BALANCE_MODES)}")
    df, meta = load_table(path, table="proposals")
    if not {"image", "file", *BOX_COLUMNS} <= set(df.columns):
        raise NnlabError(f"{path} is not a proposals table (make one with `nnlab propose-regions`)")
    if "label" not in df.columns:
        raise NnlabError(f"{path} has no labels: it was made from a folder without annotations")
    root = Path(image_root) if image_root is not None else Path(meta.get("image_root", Path(path).parent))
    if not root.is_dir():
        raise NnlabError(f"image folder {root} of {path} does not exist; pass its new location")
    if split in ("train", "val"):
        train_rows, val_rows = split_by_image(df, val_fraction, seed)
        rows = train_rows if split == "train" else val_rows
    else:
        rows = np.arange(len(df))
    classes = class_list(df, meta.get("classes") or None)
    index = {c: i for i, c in enumerate(classes)}
    if fraction is not None and 0 < fraction < 1:
        images = np.asarray(sorted(df["image"].iloc[rows].unique()), dtype=object)
        n_keep = max(1, int(round(fraction * len(images))))
        kept = set(np.random.default_rng(seed + 1).choice(images, size=n_keep, replace=False))
        rows = rows[df["image"].iloc[rows].isin(kept).to_numpy()]
    weights = None
    if (balance == "undersample" and split in ("train", "val")) or (balance == "weights" and split == "train"):
        targets = df["label"].iloc[rows].map(index).to_numpy(np.int64)
        if balance == "undersample":
            rows = rows[undersample(targets, balance_factor, seed)]
        else:
            weights = class_weights(targets, len(classes))
    if limit is not None:
        rows = rows[:limit]
    # Rows grouped by image so that sequential reads hit the image cache.
    rows = rows[np.argsort(df["image"].iloc[rows].to_numpy(), kind="stable")]
    channels = 3 if channels is None else channels
    dataset = ProposalsDataset(
        df.iloc[rows], root, classes=classes, image_size=image_size or 64, channels=channels, cache_size=cache_size
    )
    # Statistics of the whole file's images, so that every split of one file reports the same ones.
    mean, std = image_statistics(root, df["file"].tolist(), channels, seed=seed)
    name = f"proposals:{path}"
    dataset.info = DatasetInfo(
        name=name, classes=classes, channels=channels, image_size=dataset.image_size, mean=mean, std=std
    )
    dataset.indices = np.asarray(rows, dtype=np.int64)
    dataset.split = split
    dataset.name = name
    dataset.class_weights = weights
    dataset.meta = meta
    return dataset


def _open_proposals(
    arg: str,
    split: str,
    *,
    root=None,
    download: bool = False,
    augment: str = "none",
    resize: str = "bilinear",
    **options,
) -> ProposalsDataset:
    # root/download/augment/resize are ImageDataset options; a proposals table names its own image folder
    return load_proposals_dataset(arg, split, **options)


def _proposals_info(arg: str, root=None) -> DatasetInfo:
    return load_proposals_dataset(arg, "all", limit=0).info


DATASETS.register("proposals:")(DatasetOpener(_open_proposals, _proposals_info))  # help: nnlab.detection.plugin
