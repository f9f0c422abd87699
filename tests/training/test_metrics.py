"""classification_table's scores are scikit-learn's, computed without importing it."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from nnlab.training.metrics import classification_table, confusion_counts, per_class_scores


def test_scores_equal_scikit_learns_exactly():
    rng = np.random.default_rng(0)
    cases = [
        (rng.integers(0, 10, 360), rng.integers(0, 10, 360), 10),
        (np.array([0, 0, 1, 1, 2]), np.array([0, 1, 1, 1, 1]), 4),  # class 3 never seen, class 2 never predicted
        (rng.integers(0, 3, 1000), np.zeros(1000, dtype=int), 3),
    ]
    for y_true, y_pred, k in cases:
        cm = confusion_counts(y_true, y_pred, k)
        labels = np.arange(k)
        assert np.array_equal(cm, confusion_matrix(y_true, y_pred, labels=labels))
        ours = per_class_scores(cm)
        theirs = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
        for a, b in zip(ours, theirs, strict=True):
            assert a.dtype == b.dtype and np.array_equal(a, b)


def test_the_table_holds_overall_class_and_confusion_rows():
    df = classification_table(np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2]), ["a", "b", "c"], loss=0.5)
    overall = df[df.scope == "overall"].iloc[0]
    assert overall.accuracy == 0.75 and overall.support == 4 and overall.loss == 0.5
    assert list(df[df.scope == "class"]["f1"]) == [1.0, 2 / 3, 2 / 3]
    confusion = df[df.scope == "confusion"]
    assert len(confusion) == 9 and confusion["count"].sum() == 4
