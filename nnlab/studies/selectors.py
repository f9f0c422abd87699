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

import math
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nnlab import artifacts
from nnlab.errors import NnlabError

if TYPE_CHECKING:
    import pandas as pd

HISTORY_STATS = ("last", "max", "min", "mean")

# A table as read here: column name -> its values as Python objects (pyarrow's to_pydict), so that a summary is
# built without importing pandas (2 s of a 2.8 s `nnlab summarize` before).
Columns = dict[str, list[Any]]


@lru_cache(maxsize=256)
def _table(path: Path) -> tuple[Columns, dict[str, Any]]:
    table, meta = artifacts.read_arrow_table(path)
    return table.to_pydict(), meta


@lru_cache(maxsize=64)
def _frame(path: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    return artifacts.load_table(path)


def clear_cache() -> None:
    """Forget tables read so far (they are cached per path while one summary is built)."""
    _table.cache_clear()
    _frame.cache_clear()


def table_kind(path: Path) -> str:
    """``model`` or the nnlab table name of ``path`` (metrics, history, si_profile, …)."""
    kind = artifacts.artifact_kind(path)
    if kind != "table":
        return kind
    return str(_table(path)[1].get("table", "table"))


def load_study_table(path: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The (cached) table at ``path`` as a DataFrame, and its metadata (for the figures)."""
    return _frame(path)


def _bad(path: Path, selector: str, valid: str) -> NnlabError:
    return NnlabError(f"selector {selector!r} does not fit {path} ({table_kind(path)} table); valid: {valid}")


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _number(value: Any) -> Any:
    """A cell as the summary stores it: NaN for a missing number, Python scalars for numpy ones."""
    if value is None:
        return math.nan
    return value.item() if hasattr(value, "item") else value


def _where(cols: Columns, **equal: Any) -> list[int]:
    """Row positions whose columns equal the given values (compared as text, as the selectors are written)."""
    n = len(next(iter(cols.values()), []))
    return [i for i in range(n) if all(str(cols[c][i]) == str(v) for c, v in equal.items())]


def _first(cols: Columns, rows: list[int], column: str) -> Any:
    return _number(cols[column][rows[0]])


def _metrics(path: Path, cols: Columns, selector: str) -> Any:
    valid = "a column of the overall row (accuracy, loss, precision, recall, f1) or class:NAME:COLUMN"
    parts = selector.split(":")
    if parts[0] == "class" and len(parts) == 3:
        rows = _where(cols, scope="class", **{"class": parts[1]}) if "class" in cols else []
        column = parts[2]
    elif len(parts) == 1:
        rows, column = _where(cols, scope="overall"), selector
    else:
        raise _bad(path, selector, valid)
    if not rows or column not in cols or all(_missing(cols[column][i]) for i in rows):
        raise _bad(path, selector, valid)
    return _first(cols, rows, column)


def _history(path: Path, cols: Columns, selector: str) -> Any:
    valid = f"best_val_accuracy, seconds_per_epoch, epochs, best_epoch, {'/'.join(HISTORY_STATS)}:COLUMN or a column"
    length = len(next(iter(cols.values()), []))
    if selector == "epochs":
        return length
    if selector == "seconds_per_epoch" and "seconds" in cols:
        return _stat("mean", cols["seconds"])
    val = cols.get("val_accuracy", [])
    if selector in ("best_val_accuracy", "best_epoch") and any(not _missing(v) for v in val):
        best = max((i for i, v in enumerate(val) if not _missing(v)), key=lambda i: (val[i], -i))
        return float(val[best]) if selector == "best_val_accuracy" else int(cols["epoch"][best])
    stat, _, column = selector.rpartition(":")
    stat = stat or "last"
    if stat not in HISTORY_STATS or column not in cols or not length:
        raise _bad(path, selector, valid)
    return _stat(stat, cols[column])


def _stat(stat: str, values: list[Any]) -> Any:
    """``last`` (as stored), or ``max`` / ``min`` / ``mean`` of the values that are not missing (NaN if none)."""
    if stat == "last":
        return _number(values[-1])
    present = [v for v in values if not _missing(v)]
    if not present:
        return math.nan
    if stat == "mean":  # numpy's pairwise sum, as pandas' mean adds
        return float(np.sum(np.asarray(present, dtype=np.float64)) / len(present))
    return _number(max(present) if stat == "max" else min(present))


def _profile(path: Path, cols: Columns, selector: str) -> Any:
    valid = "LAYER:SPLIT:MEASURE, e.g. avgpool:val:si (LAYER a name, an index or last)"
    parts = selector.split(":")
    if len(parts) != 3:
        raise _bad(path, selector, valid)
    layer, split, measure = parts
    rows = _where(cols, split=split)
    if not rows:
        splits = ", ".join(map(str, dict.fromkeys(cols["split"])))
        raise NnlabError(f"{path} has no {split!r} split; it has: {splits}")
    index = cols["layer_index"]
    if layer == "last":
        top = max(index[i] for i in rows)
        rows = [i for i in rows if index[i] == top]
    elif layer.isdigit():
        rows = [i for i in rows if index[i] == int(layer)]
    else:
        rows = [i for i in rows if cols["layer_name"][i] == layer]
    if not rows:
        layers = ", ".join(map(str, dict.fromkeys(cols["layer_name"])))
        raise NnlabError(f"{path} has no layer {layer!r}; it has: {layers}")
    if measure not in cols or measure in ("layer_index", "layer_name", "layer_type", "split"):
        raise _bad(path, selector, valid)
    return _first(cols, rows, measure)


def _row_column(path: Path, cols: Columns, selector: str) -> Any:
    key = next(iter(cols))
    valid = f"ROW:COLUMN with ROW a value of its {key!r} column"
    row, _, column = selector.rpartition(":")
    rows = _where(cols, **{key: row}) if row else []
    if not rows or column not in cols:
        raise _bad(path, selector, valid)
    return _first(cols, rows, column)


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
    cols, _ = _table(path)
    if kind in ("metrics", "attack") and "scope" in cols:
        return _metrics(path, cols, selector)
    if kind == "history":
        return _history(path, cols, selector)
    if kind == "si_profile":
        return _profile(path, cols, selector)
    if kind in ("comparison", "detection_metrics", "robustness_summary") and cols:
        return _row_column(path, cols, selector)
    raise NnlabError(
        f"{path} is a {kind} artifact; summarize reads metrics, history, si_profile, comparison and "
        f"detection_metrics tables and model artifacts"
    )
