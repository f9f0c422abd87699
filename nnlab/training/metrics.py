"""Classification metrics as one tidy table: overall, per class, and the confusion matrix."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

# The metrics table's columns in order; `support` and `count` are integer counts with gaps (pandas' Int64).
METRICS_COLUMNS = [
    "scope",
    "class",
    "precision",
    "recall",
    "f1",
    "support",
    "accuracy",
    "loss",
    "true_class",
    "pred_class",
    "count",
]
COUNT_COLUMNS = ("support", "count")


def classification_table(
    y_true: np.ndarray, y_pred: np.ndarray, classes: list[str], loss: float | None = None
) -> pd.DataFrame:
    """:func:`classification_records` as a DataFrame (the counts as pandas' nullable Int64)."""
    import pandas as pd

    df = pd.DataFrame(classification_records(y_true, y_pred, classes, loss), columns=METRICS_COLUMNS)
    for col in COUNT_COLUMNS:
        df[col] = df[col].astype("Int64")
    return df


def classification_records(
    y_true: np.ndarray, y_pred: np.ndarray, classes: list[str], loss: float | None = None
) -> list[dict[str, Any]]:
    """Rows with ``scope`` 'overall' (accuracy, loss, macro scores), 'class' (precision, recall, f1,
    support per class) and 'confusion' (true_class, pred_class, count), so one parquet holds all three;
    plain Python values (``nnlab evaluate`` writes them without importing pandas).
    """
    cm = confusion_counts(y_true, y_pred, len(classes))
    p, r, f, s = per_class_scores(cm)
    acc = float((np.asarray(y_true) == np.asarray(y_pred)).mean()) if len(y_true) else float("nan")
    rows = [
        {
            "scope": "overall",
            "class": "all",
            "precision": float(p.mean()),
            "recall": float(r.mean()),
            "f1": float(f.mean()),
            "support": int(s.sum()),
            "accuracy": acc,
            "loss": loss,
        }
    ]
    for i, name in enumerate(classes):
        rows.append(
            {
                "scope": "class",
                "class": str(name),
                "precision": float(p[i]),
                "recall": float(r[i]),
                "f1": float(f[i]),
                "support": int(s[i]),
            }
        )
    for i, t in enumerate(classes):
        for j, q in enumerate(classes):
            rows.append(
                {
                    "scope": "confusion",
                    "class": str(t),
                    "true_class": str(t),
                    "pred_class": str(q),
                    "count": int(cm[i, j]),
                }
            )
    return rows


def confusion_from_table(df: pd.DataFrame | list[dict[str, Any]], classes: list[str]) -> np.ndarray:
    """The confusion matrix (rows: true class, columns: predicted) stored in a metrics table (a DataFrame or
    its records)."""
    records = df if isinstance(df, list) else df.to_dict("records")
    index = {c: i for i, c in enumerate(classes)}
    cm = np.zeros((len(classes), len(classes)), dtype=np.int64)
    for r in records:
        if r["scope"] == "confusion":
            cm[index[r["true_class"]], index[r["pred_class"]]] = int(r["count"])
    return cm


def confusion_counts(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts[true, pred] over the labels 0 … num_classes-1 (others ignored), as sklearn's confusion_matrix."""
    y_true, y_pred = np.asarray(y_true, dtype=np.int64).reshape(-1), np.asarray(y_pred, dtype=np.int64).reshape(-1)
    known = (y_true >= 0) & (y_true < num_classes) & (y_pred >= 0) & (y_pred < num_classes)
    flat = np.bincount(y_true[known] * num_classes + y_pred[known], minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes)


def per_class_scores(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall, F1 and support per class from a confusion matrix, 0 where undefined.

    The same arithmetic as sklearn's ``precision_recall_fscore_support(zero_division=0)`` (F1 as
    2·tp / (true + predicted)), so the same floats (tests/training checks it), without importing scikit-learn,
    which costs `nnlab evaluate` seconds of start-up.
    """
    tp = np.diag(cm)
    predicted, true = cm.sum(axis=0), cm.sum(axis=1)
    return _divide(tp, predicted), _divide(tp, true), _divide(2.0 * tp, 1.0 * true + predicted), true


def _divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    zero = denominator == 0
    result = np.asarray(numerator, dtype=np.float64) / np.where(zero, 1, denominator).astype(np.float64)
    result[zero] = 0.0
    return result
