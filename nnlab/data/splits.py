"""Seeded, stratified index splits: test carving, train/val carving, and subsets for SI work.

All functions return sorted ``np.int64`` position arrays so datasets keep their source order.
The draws are scikit-learn's ``train_test_split(positions, test_size=N, stratify=targets, random_state=seed)``
(``StratifiedShuffleSplit``), and when a class is too small to stratify (fewer than 2 members, or fewer rows
taken or kept than classes) its unstratified ``ShuffleSplit``: the same generator calls in the same order, so the
same positions (tests/data/test_builtin_and_splits.py checks this against scikit-learn). They are written out
here because importing scikit-learn costs every loading process seconds (scipy), more than loading a small
built-in dataset and evaluating a model on it.
"""

from __future__ import annotations

import math

import numpy as np

from nnlab.errors import NnlabError

# Built-in datasets without an official test split get a FIXED one, independent of --seed,
# so test accuracy is comparable across runs with different seeds.
TEST_FRACTION = 0.2
TEST_SEED = 20240601


def _approximate_mode(counts: np.ndarray, n_draws: int, rng: np.random.RandomState) -> np.ndarray:
    """Rows to draw per class (sklearn.utils.extmath._approximate_mode): floor of the proportional share, then
    one more for the classes with the largest remainders, ties broken by ``rng``."""
    continuous = counts / counts.sum() * n_draws
    floored = np.floor(continuous)
    need_to_add = int(n_draws - floored.sum())
    if need_to_add > 0:
        remainder = continuous - floored
        for value in np.sort(np.unique(remainder))[::-1]:
            (tied,) = np.where(remainder == value)
            add_now = min(len(tied), need_to_add)
            floored[rng.choice(tied, size=add_now, replace=False)] += 1
            need_to_add -= add_now
            if need_to_add == 0:
                break
    return floored.astype(int)


def _stratified(targets: np.ndarray, n_take: int, seed: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(kept, taken) as StratifiedShuffleSplit draws them, or None where it refuses to stratify."""
    classes, inverse, counts = np.unique(targets, return_inverse=True, return_counts=True)
    n_keep = len(targets) - n_take
    if counts.min() < 2 or n_keep < len(classes) or n_take < len(classes):
        return None
    members = np.split(np.argsort(inverse.reshape(-1), kind="stable"), np.cumsum(counts)[:-1])
    rng = np.random.RandomState(seed)
    keep_counts = _approximate_mode(counts, n_keep, rng)
    take_counts = _approximate_mode(counts - keep_counts, n_take, rng)
    keep: list[int] = []
    take: list[int] = []
    for i, rows in enumerate(members):
        shuffled = rows.take(rng.permutation(counts[i]), mode="clip")
        keep.extend(shuffled[: keep_counts[i]])
        take.extend(shuffled[keep_counts[i] : keep_counts[i] + take_counts[i]])
    return np.asarray(keep, dtype=np.int64), np.asarray(take, dtype=np.int64)


def _split(targets: np.ndarray, n_take: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    parts = _stratified(targets, n_take, seed)
    if parts is None:  # ShuffleSplit: one seeded permutation, the first n_take rows taken
        order = np.random.RandomState(seed).permutation(len(targets))
        parts = order[n_take:], order[:n_take]
    keep, take = parts
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
