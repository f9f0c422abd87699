"""Seeded, stratified index splits: test carving, train/val carving, and subsets for SI work.

All functions return sorted ``np.int64`` position arrays so datasets keep their source order.
Stratification uses scikit-learn's ``train_test_split``; when a class is too small to stratify
(fewer than 2 members, or fewer rows taken than classes) it falls back to a plain seeded shuffle.
"""

from __future__ import annotations

import math

import numpy as np

from nnlab.errors import NnlabError

# Built-in datasets without an official test split get a FIXED one, independent of --seed,
# so test accuracy is comparable across runs with different seeds.
TEST_FRACTION = 0.2
TEST_SEED = 20240601


def _split(targets: np.ndarray, n_take: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split  # imported lazily: sklearn takes seconds to import

    positions = np.arange(len(targets), dtype=np.int64)
    try:
        keep, take = train_test_split(positions, test_size=n_take, stratify=targets, random_state=seed)
    except ValueError:
        keep, take = train_test_split(positions, test_size=n_take, stratify=None, random_state=seed)
    return np.sort(keep).astype(np.int64), np.sort(take).astype(np.int64)


def stratified_split(targets: np.ndarray, fraction: float, seed: int, what: str = "validation"
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Split positions into (kept, taken) with ``ceil(fraction * n)`` taken, class proportions kept."""
    n = len(targets)
    n_take = math.ceil(fraction * n)
    if n_take < 1 or n_take >= n:
        raise NnlabError(f"a {what} fraction of {fraction} of {n} images leaves an empty split; "
                         f"use a fraction that keeps at least one image on each side")
    return _split(np.asarray(targets), n_take, seed)


def fixed_test_split(targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The constant (rest, test) carve for datasets with no official test split."""
    return stratified_split(targets, TEST_FRACTION, TEST_SEED, what="test")


def stratified_subset(targets: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Sorted positions of a stratified, seeded subset of ``size`` rows (all rows if size >= n)."""
    n = len(targets)
    if size >= n:
        return np.arange(n, dtype=np.int64)
    _, take = _split(np.asarray(targets), size, seed)
    return take


def check_split_options(split: str, val_fraction: float, fraction: float | None, limit: int | None) -> None:
    """Reject nonsensical split options with one sentence each."""
    if split not in ("train", "val", "test"):
        raise NnlabError(f"unknown split {split!r}; valid splits: train, val, test")
    if not (isinstance(val_fraction, (int, float)) and 0.0 < val_fraction < 1.0):
        raise NnlabError(f"val fraction must be strictly between 0 and 1, got {val_fraction}")
    if fraction is not None and limit is not None:
        raise NnlabError("give either a fraction or a limit for the subset, not both")
    if fraction is not None and not (0.0 < fraction <= 1.0):
        raise NnlabError(f"fraction must be in (0, 1], got {fraction}")
    if limit is not None and (int(limit) != limit or limit < 1):
        raise NnlabError(f"limit must be a whole number of at least 1, got {limit}")
