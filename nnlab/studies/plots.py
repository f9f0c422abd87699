"""The figures of a study summary: grouped bars, SI-by-layer curves, confusion matrices side by side."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from nnlab.artifacts import save_figure
from nnlab.errors import NnlabError
from nnlab.report import subplots
from nnlab.studies.selectors import load_study_table

COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


def plot_bars(df: pd.DataFrame, key: str, columns: Sequence[str], path: str | Path, title: str | None = None) -> Path:
    """Grouped bars, one group per row and one bar per column; a ``seed_<column>`` column, when present, is drawn
    hatched right beside its column."""
    series = []
    for column in columns:
        series.append((column, column, False))
        if f"seed_{column}" in df.columns and f"seed_{column}" not in columns:
            series.append((f"seed_{column}", f"seed {column}", True))
    n, width = len(df), 0.8 / max(1, len(series))
    fig, ax = subplots(figsize=(max(6.0, 1.1 * n * max(1, len(series)) * 0.45 + 2), 4.5))
    x = np.arange(n)
    color_of: dict[str, str] = {}
    for i, (column, label, hatched) in enumerate(series):
        base = column[5:] if hatched else column
        color = color_of.setdefault(base, COLORS[len(color_of) % len(COLORS)])
        values = pd.to_numeric(df[column], errors="coerce").to_numpy(dtype=float)
        ax.bar(
            x + (i - (len(series) - 1) / 2) * width,
            values,
            width,
            label=label,
            color=color,
            alpha=0.45 if hatched else 1.0,
            hatch="//" if hatched else None,
            edgecolor="black",
            linewidth=0.4,
        )
    ax.set_xticks(x, [str(v) for v in df[key]], rotation=30, ha="right")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    ax.set_title(title or "study summary")
    fig.tight_layout()
    return save_figure(fig, path)


def _merged_axis(sequences: Sequence[Sequence[str]]) -> tuple[list[str], list[list[int]]]:
    """One axis of layer names on which each sequence keeps its own order, and each sequence's x positions on it.

    A name new to the axis goes right after the previous name of its sequence, so variants with extra layers
    (norms, blocks) share one axis; a name met again only later in the axis is reused, one that would send the
    curve backwards (the same name at another depth, e.g. an ``elu3`` after the head) gets a tick of its own.
    """
    labels: list[str] = []
    axis: list[int] = []  # tick ids in axis order; a tick id indexes labels
    sequence_ticks: list[list[int]] = []
    for names in sequences:
        at, ticks = 0, []
        for name in names:
            found = next((i for i in range(at, len(axis)) if labels[axis[i]] == name), None)
            if found is None:
                labels.append(name)
                axis.insert(at, len(labels) - 1)
                found = at
            ticks.append(axis[found])
            at = found + 1
        sequence_ticks.append(ticks)
    x_of = {tick: x for x, tick in enumerate(axis)}
    return [labels[t] for t in axis], [[x_of[t] for t in ticks] for ticks in sequence_ticks]


def plot_si_curves(
    profiles: dict[str, Path], path: str | Path, split: str = "test", measure: str = "si", title: str | None = None
) -> Path:
    """``measure`` of every profiled layer on ``split``, one curve per row (its SI-profile table), on one axis of
    layer names merged across the rows."""
    parts = {}
    for row, table_path in profiles.items():
        df, _ = load_study_table(table_path)
        part = df[df["split"] == split].sort_values("layer_index")
        if part.empty or measure not in part.columns:
            raise NnlabError(f"{table_path} has no {measure!r} on split {split!r} to draw")
        parts[row] = part
    order, xs = _merged_axis([list(p["layer_name"]) for p in parts.values()])
    fig, ax = subplots(figsize=(max(10.0, 0.35 * len(order) + 3), 5))
    for (row, part), x in zip(parts.items(), xs, strict=True):
        ax.plot(x, part[measure], marker="o", markersize=3, label=row)
    ax.set_xticks(range(len(order)), order, rotation=60, ha="right", fontsize=7)
    ax.set(ylabel=f"{measure} ({split})", title=title or f"{measure.upper()} by layer ({split})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_confusions(metrics: dict[str, Path], path: str | Path, title: str | None = None) -> Path:
    """The confusion matrix stored in each row's metrics table, side by side (rows: true, columns: predicted)."""
    n = len(metrics)
    cols = min(n, 4)
    rows = math.ceil(n / cols)
    fig, axes = subplots(rows, cols, figsize=(3.6 * cols, 3.6 * rows), squeeze=False)
    for ax, (row, table_path) in zip(axes.flat, metrics.items(), strict=False):
        df, _ = load_study_table(table_path)
        classes = [str(c) for c in df[df["scope"] == "class"]["class"]]
        conf = df[df["scope"] == "confusion"]
        if not classes or conf.empty:
            raise NnlabError(f"{table_path} holds no confusion matrix")
        index = {c: i for i, c in enumerate(classes)}
        cm = np.zeros((len(classes), len(classes)), dtype=np.int64)
        for t, q, count in zip(
            conf["true_class"].astype(str), conf["pred_class"].astype(str), conf["count"], strict=False
        ):
            cm[index[t], index[q]] = int(count)
        ax.imshow(cm, cmap="Blues")
        accuracy = float(np.trace(cm)) / max(1, int(cm.sum()))
        ax.set_title(f"{row} ({accuracy:.1%})", fontsize=9)
        ax.set_xticks(range(len(classes)), classes, fontsize=6)
        ax.set_yticks(range(len(classes)), classes, fontsize=6)
        ax.set_xlabel("predicted", fontsize=8)
        ax.set_ylabel("true", fontsize=8)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)
