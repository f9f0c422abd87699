"""Classification metrics as one tidy table: overall, per class, and the confusion matrix."""

from __future__ import annotations

import numpy as np
import pandas as pd


def classification_table(
    y_true: np.ndarray, y_pred: np.ndarray, classes: list[str], loss: float | None = None
) -> pd.DataFrame:
    """Rows with ``scope`` 'overall' (accuracy, loss, macro scores), 'class' (precision, recall, f1,
    support per class) and 'confusion' (true_class, pred_class, count), so one parquet holds all three.
    """
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    labels = np.arange(len(classes))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
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
    cm = confusion_matrix(y_true, y_pred, labels=labels)
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
    df = pd.DataFrame(rows)
    for col in ("support", "count"):
        df[col] = df[col].astype("Int64")
    return df


def confusion_from_table(df: pd.DataFrame, classes: list[str]) -> np.ndarray:
    """The confusion matrix (rows: true class, columns: predicted) stored in a metrics table."""
    conf = df[df["scope"] == "confusion"]
    index = {c: i for i, c in enumerate(classes)}
    cm = np.zeros((len(classes), len(classes)), dtype=np.int64)
    for t, q, n in zip(conf["true_class"], conf["pred_class"], conf["count"], strict=False):
        cm[index[t], index[q]] = int(n)
    return cm
