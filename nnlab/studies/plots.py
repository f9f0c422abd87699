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


def _profile_part(tables: Sequence[Path], split: str, measure: str, row: str) -> pd.DataFrame:
    """The layers of the first of ``tables`` (one row's SI-profile tables) that profiled ``split``."""
    for table_path in tables:
        df, _ = load_study_table(table_path)
        part = df[df["split"] == split].sort_values("layer_index")
        if not part.empty:
            if measure not in part.columns:
                raise NnlabError(f"{table_path} has no {measure!r} on split {split!r} to draw")
            return part
    raise NnlabError(f"row {row!r} has no SI profile of split {split!r} to draw ({', '.join(map(str, tables))})")


def plot_si_curves(
    profiles: dict[str, Path | Sequence[Path]],
    path: str | Path,
    split: str | Sequence[str] = "test",
    measure: str | Sequence[str] = "si",
    title: str | None = None,
) -> Path:
    """Each ``measure`` of every profiled layer on each ``split``, one panel per (split, measure) — e.g. SI and
    CSI side by side, train above test — and one curve per row, on one axis of layer names merged across the rows.

    A row may hold several SI-profile tables (e.g. a train-subset profile and a val/test one): each split is
    read from the first of them that profiled it.
    """
    splits = [split] if isinstance(split, str) else list(split)
    measures = [measure] if isinstance(measure, str) else list(measure)
    tables = {row: [p] if isinstance(p, (str, Path)) else list(p) for row, p in profiles.items()}
    parts = {(s, m): {row: _profile_part(t, s, m, row) for row, t in tables.items()} for s in splits for m in measures}
    n_layers = max(len(part) for by_row in parts.values() for part in by_row.values())
    panel_width = max(8.0, 0.3 * n_layers + 3)
    fig, axes = subplots(
        len(splits), len(measures), figsize=(panel_width * len(measures), 4.5 * len(splits)), squeeze=False
    )
    for i, s in enumerate(splits):
        for j, m in enumerate(measures):
            ax = axes[i][j]
            split_order, split_xs = _merged_axis([list(p["layer_name"]) for p in parts[(s, m)].values()])
            for (row, part), x in zip(parts[(s, m)].items(), split_xs, strict=True):
                ax.plot(x, part[m], marker="o", markersize=3, label=row)
            ax.set_xticks(range(len(split_order)), split_order, rotation=60, ha="right", fontsize=7)
            ax.set(ylabel=f"{m} ({s})", title=f"{m.upper()} by layer ({s})")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
    if title:
        fig.suptitle(title)
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
