"""nnlab.embedding: seeded UMAP/PCA reduction fitted on clean features, the table and the plot."""

from __future__ import annotations

import numpy as np
import pytest

from nnlab.embedding import embedding_frame, plot_embedding, reduce_2d
from nnlab.errors import NnlabError


def _blobs(seed: int, n: int = 60, dim: int = 12) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    centres = rng.normal(scale=4.0, size=(3, dim))
    return (centres[labels] + rng.normal(size=(n, dim))).astype(np.float32), labels


def test_umap_same_seed_gives_the_same_embedding():
    clean, _ = _blobs(0)
    shifted = clean[:20] + 0.3
    first, (first_other,) = reduce_2d(clean, [shifted], method="umap", seed=3)
    second, (second_other,) = reduce_2d(clean, [shifted], method="umap", seed=3)
    assert first.shape == (60, 2) and first_other.shape == (20, 2)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(first_other, second_other)
    other_seed, _ = reduce_2d(clean, [], method="umap", seed=4)
    assert not np.array_equal(first, other_seed)


def test_pca_is_fitted_on_clean_features_only():
    clean, _ = _blobs(1)
    far = clean + 100.0  # a shift the fit never sees: a plane fitted on clean data maps it elsewhere
    xy, (far_xy,) = reduce_2d(clean, [far], method="pca", seed=0)
    np.testing.assert_allclose(xy.mean(axis=0), 0.0, atol=1e-3)  # PCA centres on the clean mean
    assert np.abs(far_xy.mean(axis=0)).max() > 1.0
    again, _ = reduce_2d(clean, [], method="pca", seed=0)
    np.testing.assert_array_equal(xy, again)


def test_bad_method_and_mismatched_widths_are_clear_errors():
    clean, _ = _blobs(2)
    with pytest.raises(NnlabError, match="unknown embedding method"):
        reduce_2d(clean, method="tsne")
    with pytest.raises(NnlabError, match="cannot share a plane"):
        reduce_2d(clean, [clean[:, :5]], method="pca")


def test_frame_columns_and_side_by_side_plot(tmp_path):
    clean, labels = _blobs(3)
    xy, (adv_xy,) = reduce_2d(clean, [clean[:10]], method="pca")
    frame = embedding_frame(xy, labels, labels, (adv_xy, labels[:10], (labels[:10] + 1) % 3))
    assert list(frame.columns) == ["x", "y", "label", "pred", "source"]
    assert frame["source"].value_counts().to_dict() == {"clean": 60, "adversarial": 10}
    path = plot_embedding(frame, ["a", "b", "c"], tmp_path / "e.png", title="t")
    assert path.stat().st_size > 5000
