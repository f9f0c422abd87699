"""Reading one figure out of an nnlab artifact: a metrics, history, SI-profile, comparison or detection-metrics
table, or a model artifact. ``read_figure(path, selector)`` is what each `summarize` cell does.

Selectors, by what the file is (the default when none is given in brackets):

- metrics table (`nnlab evaluate`, `nnlab attack`): a column of the overall row (``accuracy``), or
  ``class:NAME:COLUMN`` for one class's precision/recall/f1/support;
- history table (`nnlab train`, `nnlab fit-head`): ``best_val_accuracy``, ``seconds_per_epoch``, ``epochs``,
  ``best_epoch``, ``STAT:COLUMN`` with STAT one of last/max/min/mean, or a plain column (its last value);
- SI-profile table (`nnlab si-profile`): ``LAYER:SPLIT:MEASURE`` (``si``, ``csi``, or an order column), LAYER a
  layer name, an index, or ``last``;
- comparison table (`nnlab compare`): ``ROW:COLUMN`` (ROW the table's first column);
- detection-metrics table (`nnlab detect --metrics`): ``CLASS:COLUMN`` (``all:ap``);
- model artifact: ``params`` (its number of parameters) or a figure `nnlab train` recorded in it
  (``trainable_parameters``, ``train_accuracy``, ``val_accuracy``, ``train_seconds_per_epoch``, ``block``, …).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from nnlab import artifacts
from nnlab.errors import NnlabError

HISTORY_STATS = ("last", "max", "min", "mean")


@lru_cache(maxsize=256)
def _table(path: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    return artifacts.load_table(path)


def clear_cache() -> None:
    """Forget tables read so far (they are cached per path while one summary is built)."""
    _table.cache_clear()


def table_kind(path: Path) -> str:
    """``model`` or the nnlab table name of ``path`` (metrics, history, si_profile, …)."""
    kind = artifacts.artifact_kind(path)
    if kind != "table":
        return kind
    return str(_table(path)[1].get("table", "table"))


def load_study_table(path: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The (cached) table at ``path`` and its metadata."""
    return _table(path)


def _bad(path: Path, selector: str, valid: str) -> NnlabError:
    return NnlabError(f"selector {selector!r} does not fit {path} ({table_kind(path)} table); valid: {valid}")


def _number(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _metrics(path: Path, df: pd.DataFrame, selector: str) -> Any:
    valid = "a column of the overall row (accuracy, loss, precision, recall, f1) or class:NAME:COLUMN"
    parts = selector.split(":")
    if parts[0] == "class" and len(parts) == 3:
        rows = df[(df["scope"] == "class") & (df["class"].astype(str) == parts[1])]
        column = parts[2]
    elif len(parts) == 1:
        rows, column = df[df["scope"] == "overall"], selector
    else:
        raise _bad(path, selector, valid)
    if rows.empty or column not in rows.columns or rows[column].isna().all():
        raise _bad(path, selector, valid)
    return _number(rows[column].iloc[0])


def _history(path: Path, df: pd.DataFrame, selector: str) -> Any:
    valid = f"best_val_accuracy, seconds_per_epoch, epochs, best_epoch, {'/'.join(HISTORY_STATS)}:COLUMN or a column"
    if selector == "epochs":
        return len(df)
    if selector == "seconds_per_epoch" and "seconds" in df:
        return float(df["seconds"].mean())
    if selector in ("best_val_accuracy", "best_epoch") and "val_accuracy" in df and df["val_accuracy"].notna().any():
        best = int(df["val_accuracy"].idxmax())
        return float(df["val_accuracy"].iloc[best]) if selector == "best_val_accuracy" else int(df["epoch"].iloc[best])
    stat, _, column = selector.rpartition(":")
    stat = stat or "last"
    if stat not in HISTORY_STATS or column not in df.columns or df.empty:
        raise _bad(path, selector, valid)
    series = df[column]
    return _number(series.iloc[-1] if stat == "last" else getattr(series, stat)())


def _profile(path: Path, df: pd.DataFrame, selector: str) -> Any:
    valid = "LAYER:SPLIT:MEASURE, e.g. avgpool:val:si (LAYER a name, an index or last)"
    parts = selector.split(":")
    if len(parts) != 3:
        raise _bad(path, selector, valid)
    layer, split, measure = parts
    rows = df[df["split"] == split]
    if rows.empty:
        raise NnlabError(f"{path} has no {split!r} split; it has: {', '.join(map(str, df['split'].unique()))}")
    if layer == "last":
        rows = rows[rows["layer_index"] == rows["layer_index"].max()]
    elif layer.isdigit():
        rows = rows[rows["layer_index"] == int(layer)]
    else:
        rows = rows[rows["layer_name"] == layer]
    if rows.empty:
        raise NnlabError(f"{path} has no layer {layer!r}; it has: {', '.join(map(str, df['layer_name'].unique()))}")
    if measure not in rows.columns or measure in ("layer_index", "layer_name", "layer_type", "split"):
        raise _bad(path, selector, valid)
    return _number(rows[measure].iloc[0])


def _row_column(path: Path, df: pd.DataFrame, selector: str, key: str) -> Any:
    valid = f"ROW:COLUMN with ROW a value of its {key!r} column"
    row, _, column = selector.rpartition(":")
    rows = df[df[key].astype(str) == row]
    if not row or rows.empty or column not in df.columns:
        raise _bad(path, selector, valid)
    return _number(rows[column].iloc[0])


def _model(path: Path, selector: str) -> Any:
    from nnlab.models import load_model  # lazy: only a model cell needs torch; tables are read without it

    model = load_model(path)
    if selector == "params":
        return int(sum(p.numel() for p in model.net.parameters()))
    recorded = {k: v for k, v in model.metrics.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)}
    if selector not in recorded:
        valid = ", ".join(["params", *recorded])
        raise NnlabError(f"selector {selector!r} does not fit the model artifact {path}; valid: {valid}")
    value = recorded[selector]
    return value if isinstance(value, str) else _number(value)


DEFAULTS = {"metrics": "accuracy", "attack": "accuracy", "history": "best_val_accuracy", "model": "params"}


def read_figure(path: str | Path, selector: str | None = None) -> Any:
    """The figure that ``selector`` picks out of the artifact at ``path`` (see the module docstring)."""
    path = Path(path)
    if not path.exists():
        raise NnlabError(f"{path}: no such file")
    kind = table_kind(path)
    if selector is None:
        if kind not in DEFAULTS:
            raise NnlabError(f"{path} is a {kind} table; say which figure to read from it with #SELECTOR")
        selector = DEFAULTS[kind]
    if kind == "model":
        return _model(path, selector)
    df, _ = _table(path)
    if kind in ("metrics", "attack") and "scope" in df.columns:
        return _metrics(path, df, selector)
    if kind == "history":
        return _history(path, df, selector)
    if kind == "si_profile":
        return _profile(path, df, selector)
    if kind in ("comparison", "detection_metrics", "robustness_summary") and len(df.columns):
        return _row_column(path, df, selector, str(df.columns[0]))
    raise NnlabError(
        f"{path} is a {kind} artifact; summarize reads metrics, history, si_profile, comparison and "
        f"detection_metrics tables and model artifacts"
    )
