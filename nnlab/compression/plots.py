"""Figures of the SI stages: the layer-wise SI/CSI profile and the forward-ranking curve (seed S0's figures)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from nnlab.artifacts import save_figure
from nnlab.report import subplots


def plot_si_profile(
    profile: pd.DataFrame, path: str | Path, title: str = "separation index per layer", cut: int | None = None
) -> Path:
    """One SI curve (solid) and one CSI curve (dashed) per split against the layer index; ``cut`` draws a
    vertical line at a chosen cut."""

    import matplotlib  # lazy: slow to import

    n_layers = profile["layer_index"].nunique()
    fig, ax = subplots(figsize=(max(6.0, 0.28 * n_layers + 3), 4.5))
    colors = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, (split, rows) in enumerate(profile.groupby("split", sort=False)):
        rows = rows.sort_values("layer_index")
        color = colors[k % len(colors)]
        ax.plot(rows["layer_index"], rows["si"], "-o", color=color, markersize=3, label=f"SI {split}")
        if "csi" in rows:
            ax.plot(rows["layer_index"], rows["csi"], "--s", color=color, markersize=3, label=f"CSI {split}")
    if cut is not None:
        ax.axvline(cut, color="grey", linestyle=":", label=f"cut after {cut}")
    ticks = sorted(profile["layer_index"].unique())
    ax.set_xticks(ticks)
    if len(ticks) > 16:
        ax.tick_params(axis="x", labelsize=7)
    ax.set(xlabel="layer index", ylabel="index", title=title, ylim=(0, 1.02))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def plot_ranking(
    ranking: pd.DataFrame, meta: dict[str, Any], path: str | Path, title: str = "forward feature selection by SI"
) -> Path:
    """SI against the number of selected features, the best prefix marked, the all-features SI as a line."""

    fig, ax = subplots(figsize=(7, 4.5))
    ax.plot(ranking["step"], ranking["si"], "-", linewidth=1.2, label="SI of the first n features")
    best = meta.get("best_step")
    if best is not None:
        best_si = float(ranking["si"].iloc[int(best) - 1])
        ax.plot([best], [best_si], "o", color="red", label=f"best: {best} features, SI {best_si:.4f}")
        ax.axvline(best, color="red", linestyle=":", linewidth=0.8)
    if meta.get("si_all") is not None:
        ax.axhline(
            meta["si_all"],
            color="grey",
            linestyle="--",
            linewidth=0.8,
            label=f"all {meta.get('feature_dim', '')} features: SI {meta['si_all']:.4f}",
        )
    ax.set(
        xlabel="number of selected features" if best is not None else "rank",
        ylabel="SI" if best is not None else "SI of the feature alone",
        title=f"{title} ({meta.get('layer', '')})",
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)
