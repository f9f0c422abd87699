"""The ranking table of `nnlab rank-features`, and what later stages need to trust it.

A ranking table has one row per step (``step``, ``feature``, ``si``: the SI of the first ``step`` features) and
records in its schema metadata the layer it ranks (``layer`` as named in the features file, ``cut``: the layer of
the original architecture whose flattened output those features are), ``feature_dim``, the best prefix
(``best_step``, ``best_si``), the SI with all features (``si_all``) and the source model (path, arch, width), so
`fit-head` can refuse a ranking made on another layer or width.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import torch

from nnlab import artifacts, distributed
from nnlab.analysis.ranking import forward_ranking, univariate_ranking
from nnlab.analysis.separation import separation_index, validate_inputs
from nnlab.artifacts import load_table
from nnlab.compression.plots import plot_ranking
from nnlab.errors import NnlabError, ParameterError

METHODS = ("forward", "univariate")


def rank_features(
    fs: Any,
    layer: str | None = None,
    *,
    method: str = "forward",
    max_steps: int | None = None,
    normalize: bool = True,
    progress: Callable[[int, int, float], None] | None = None,
    group: Any = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Rank the features of one layer of a :class:`~nnlab.artifacts.FeatureSet`; returns (table, metadata).

    ``forward``: greedy forward selection by SI (``si`` = SI of the prefix). ``univariate``: features by their
    own SI (``si`` = that feature's SI; there is no best prefix). ``group``: a ``torch.distributed`` process
    group sharing the first step (every feature's own SI) and the SI with all features (identical results).
    """

    if method not in METHODS:
        raise NnlabError(f"unknown ranking method {method!r}; valid: {', '.join(METHODS)}")
    if layer is None and len(fs.layers) > 1:
        raise ParameterError(
            "layer", f"this features file holds {len(fs.layers)} layers ({', '.join(fs.layers)}); choose one with layer"
        )
    name, X = fs.layer(layer)
    X, y = validate_inputs(X.float() if X.dtype in (torch.float16, torch.bfloat16) else X, fs.labels)
    if max_steps is not None and max_steps < 1:
        raise ParameterError("max_steps", f"max_steps must be at least 1, got {max_steps}")
    dim = int(X.shape[1])
    if method == "forward":
        result = forward_ranking(X, y, normalize=normalize, max_steps=max_steps, progress=progress, group=group)
        features, si = result.features, result.si
        best_step, si_all = int(result.best_step), float(result.si_all)
        best_si = float(si[best_step - 1])
    else:
        features, si = univariate_ranking(X, y, normalize=normalize, group=group)
        if max_steps is not None:
            features, si = features[:max_steps], si[:max_steps]
        best_step, best_si = None, None
        si_all = float(separation_index(X, y, normalize=normalize, group=group))
    table = pd.DataFrame(
        {"step": range(1, len(features) + 1), "feature": [int(f) for f in features], "si": [float(s) for s in si]}
    )
    meta_in = fs.meta or {}
    cut = (meta_in.get("canonical") or {}).get(name, name)
    meta = {
        "table": "ranking",
        "method": method,
        "layer": name,
        "cut": cut,
        "feature_dim": dim,
        "samples": int(X.shape[0]),
        "normalize": normalize,
        "best_step": best_step,
        "best_si": best_si,
        "si_all": si_all,
        "source_model": meta_in.get("model"),
        "arch": meta_in.get("arch"),
        "width": (meta_in.get("arch_kwargs") or {}).get("width"),
        "dataset": meta_in.get("dataset"),
        "split": meta_in.get("split"),
    }
    return table, meta


@dataclass
class RankFeaturesRequest:
    """Every input of `nnlab rank-features`: the features artifact, the layer (needed when it holds several), the
    method (forward or univariate), the forward selection's step limit, z-scoring and the plot."""

    features: Path
    output: Path
    layer: str | None = None
    method: str = "forward"
    max_steps: int | None = None
    normalize: bool = True
    plot: Path | None = None


@dataclass
class RankFeaturesOutcome:
    """The ranking table, its metadata (layer, cut, best prefix, SI with all features, …), a summary for printing
    and the files written."""

    table: pd.DataFrame
    meta: dict[str, Any]
    summary: dict[str, Any]
    output: Path
    plot: Path | None


def run_rank_features(
    request: RankFeaturesRequest,
    *,
    progress: Callable[[int, int, float], None] | None = None,
    provenance: dict[str, Any] | None = None,
) -> RankFeaturesOutcome:
    """The rank-features stage: rank one layer of a features artifact and write the ranking table (and plot).

    The outcome holds the table and metadata of :func:`rank_features`; ``provenance`` is stored in the metadata.
    Under torchrun the processes join a (gloo) group and share the first step and the SI with all features; every
    process gets the same table, rank 0 writes it.
    """
    output, plot = Path(request.output), None if request.plot is None else Path(request.plot)
    if output.suffix != ".parquet":
        raise NnlabError(f"the ranking table must be a .parquet file, got {output}")
    fs = artifacts.load_features(request.features)
    distributed.setup_device("cpu")  # joins the process group under torchrun; nothing otherwise
    group = torch.distributed.group.WORLD if distributed.is_distributed() else None
    table, meta = rank_features(
        fs,
        request.layer,
        method=request.method,
        max_steps=request.max_steps,
        normalize=request.normalize,
        progress=progress,
        group=group,
    )
    meta["features_file"] = str(request.features)
    meta["provenance"] = artifacts.provenance(base=provenance)
    if distributed.is_main():
        artifacts.save_table(output, table, meta)
        if plot is not None:
            plot_ranking(table, meta, plot)
    distributed.barrier()
    summary = {
        "layer": meta["layer"],
        "cut": meta["cut"],
        "features": meta["feature_dim"],
        "samples": meta["samples"],
        "method": request.method,
        "ranked": len(table),
        "best prefix": meta["best_step"],
        "SI at best prefix": meta["best_si"],
        "SI with all features": meta["si_all"],
        "table": str(output),
    }
    if plot is not None:
        summary["plot"] = str(plot)
    return RankFeaturesOutcome(table=table, meta=meta, summary=summary, output=output, plot=plot)


def load_ranking(path: Any) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read a ranking table and check its columns."""

    df, meta = load_table(path, table="ranking")
    missing = {"step", "feature", "si"} - set(df.columns)
    if missing:
        raise NnlabError(f"{path} lacks the ranking columns {', '.join(sorted(missing))}")
    return df.sort_values("step").reset_index(drop=True), meta


def select_from_ranking(
    df: pd.DataFrame,
    meta: dict[str, Any],
    *,
    top: int | None,
    best: bool,
    cut: str | None,
    dim: int,
    arch: str | None = None,
    width: float | None = None,
) -> list[int]:
    """The feature indices to keep: the first ``top`` ranked, or the best prefix; checked against the model
    they will select from (its cut layer, feature count, architecture and width)."""
    if (top is None) == (not best):
        raise ParameterError(("top", "best"), "choose the features with either top N or best, not both")
    if meta.get("cut") is not None and cut is not None and meta["cut"] != cut:
        raise NnlabError(
            f"the ranking was made on layer {meta['cut']}, but the model is cut at {cut}; "
            "rank the features of this model's cut (is the ranking from another layer?)"
        )
    if meta.get("feature_dim") is not None and int(meta["feature_dim"]) != dim:
        raise NnlabError(
            f"the ranking is over {meta['feature_dim']} features, but the model outputs {dim}; "
            "is the ranking from another layer or width?"
        )
    if meta.get("arch") and arch and meta["arch"] != arch:
        raise NnlabError(f"the ranking was made on a {meta['arch']} model, but this model is a {arch}")
    if meta.get("width") is not None and width is not None and float(meta["width"]) != float(width):
        raise NnlabError(
            f"the ranking was made on a model of width {meta['width']}, but this model has width "
            f"{width}; is the ranking from another width?"
        )
    if best:
        if meta.get("best_step") is None:
            raise NnlabError("this ranking has no best prefix (univariate ranking); choose the top N")
        count = int(meta["best_step"])
    else:
        count = int(top)
        if count < 1:
            raise ParameterError("top", f"top must be at least 1, got {count}")
        if count > dim:
            raise ParameterError("top", f"top {count} is larger than the feature count ({dim})")
        if count > len(df):
            raise ParameterError(
                "top",
                f"top {count} is larger than the ranking, which holds {len(df)} ranked features "
                "(it was stopped early by max_steps)",
            )
    features = [int(f) for f in df["feature"].iloc[:count]]
    if any(f < 0 or f >= dim for f in features):
        valid = f"a layer of {dim} features (0..{dim - 1})" if dim else "a layer without features"
        raise NnlabError(
            f"the ranking names features such as {next(f for f in features if f < 0 or f >= dim)}, outside {valid}; "
            "is it from another layer or width?"
        )
    return features
