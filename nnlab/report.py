"""Rich tables and matplotlib figures shared by the commands.

Figures are bare :class:`matplotlib.figure.Figure` objects (see :func:`subplots`): no pyplot state and no
backend is chosen, so a notebook user's backend is left alone, and they are written through
:func:`nnlab.artifacts.save_figure`, atomically like every other output. This module sits in the layer of
nnlab.artifacts: it imports nothing above it, and every stage may use it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
from rich.table import Table

from nnlab.artifacts import save_figure


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if value != value:  # NaN
            return ""
        if abs(value) >= 1000 or value == int(value) and abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.4f}"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    return str(value)


def table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    """A rich table with numbers formatted consistently (4 decimals, thousands separators)."""
    t = Table(title=title, title_justify="left", header_style="bold")
    for c in columns:
        t.add_column(
            c,
            justify="left"
            if c
            in ("name", "layer", "class", "model", "key", "value", "type", "metric", "op", "arguments", "description")
            else "right",
        )
    for r in rows:
        t.add_row(*[_fmt(v) for v in r])
    return t


def frame_table(title: str, df: Any, columns: Sequence[str] | None = None, max_rows: int = 60) -> Table:
    """A rich table of (the first ``max_rows`` rows of) a DataFrame."""
    cols = list(columns or df.columns)
    head = df.head(max_rows)
    rows = list(zip(*[head[c].tolist() for c in cols], strict=False)) if len(head) else []
    t = table(title, cols, rows)
    if len(df) > max_rows:
        t.caption = f"… {len(df) - max_rows} more rows"
    return t


def key_values(title: str, items: dict[str, Any]) -> Table:
    """A two-column table of named values."""
    return table(title, ["key", "value"], [[k, v] for k, v in items.items()])


def subplots(nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float], **kwargs: Any) -> tuple[Any, Any]:
    """``(figure, axes)`` like ``pyplot.subplots``, but a bare Figure that no pyplot state or GUI backend holds.

    Saving it needs no backend (``savefig`` renders with Agg), so the caller's matplotlib set-up is untouched.
    """
    from matplotlib.figure import Figure  # lazy: matplotlib is slow to import

    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, **kwargs)


def plot_history(history: Any, path: str | Path) -> Path:
    """Loss and accuracy per epoch, train and validation, side by side."""

    fig, (ax_loss, ax_acc) = subplots(1, 2, figsize=(10, 4))
    for split, style in (("train", "-"), ("val", "--")):
        if f"{split}_loss" in history:
            ax_loss.plot(history["epoch"], history[f"{split}_loss"], style, marker="o", label=split)
        if f"{split}_accuracy" in history:
            ax_acc.plot(history["epoch"], history[f"{split}_accuracy"], style, marker="o", label=split)
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    return save_figure(fig, path)


def plot_confusion(cm: np.ndarray, classes: list[str], path: str | Path, title: str = "confusion matrix") -> Path:
    """A confusion matrix heat map with counts in the cells (rows: true class, columns: predicted)."""

    n = len(classes)
    size = max(4.0, 0.5 * n + 2)
    fig, ax = subplots(figsize=(size, size))
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(n), classes, rotation=90 if n > 10 else 0)
    ax.set_yticks(range(n), classes)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    if n <= 30:
        threshold = cm.max() / 2 if cm.size else 0
        for i in range(n):
            for j in range(n):
                ax.text(
                    j,
                    i,
                    str(cm[i, j]),
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if cm[i, j] > threshold else "black",
                )
    return save_figure(fig, path)
