"""`nnlab si-profile` as a library call: profile a model artifact on dataset splits, or a features artifact."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import pandas as pd

from nnlab import artifacts, distributed
from nnlab.analysis.hooks import si_profile, si_profile_features
from nnlab.compression.plots import plot_si_profile
from nnlab.data.selection import DataStageRequest
from nnlab.errors import NnlabError, ParameterError
from nnlab.models import load_model, profile_layers, resolve_layer
from nnlab.training.recipe import DataOptions, dataset_for_model


def _orders(orders: Sequence[Any]) -> list[int]:
    out = []
    for item in orders:
        text = str(item).strip()
        if not text.isdigit() or int(text) < 1:
            raise ParameterError("orders", f"orders must be positive integers such as 3,5, got {item!r}")
        out.append(int(text))
    return out


MEMORY_FRACTION = 0.5
_UNITS = {"": 1, "B": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def default_memory() -> int:
    """The activation budget when none is given: half of the memory available now (``os.sysconf``), at least
    256 MB; the other half leaves room for the model, the indices' working memory and the rest of the machine."""
    try:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # not every platform reports it
        available = 6 * 2**30
    return max(256 * 2**20, int(available * MEMORY_FRACTION))


def parse_memory(text: Any) -> int:
    """A memory size in bytes from an int or a text such as ``4G``, ``3072M``, ``512MB`` or ``1.5GiB``."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = int(text)
    else:
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([KMGT]?)(?:I?B)?\s*", str(text).upper())
        if not match:
            raise ParameterError("memory", f"memory must be a size such as 4G or 3072M, got {text!r}")
        value = int(float(match.group(1)) * _UNITS[match.group(2)])
    if value < 1:
        raise ParameterError("memory", f"memory must be positive, got {text!r}")
    return value


@dataclass
class SiProfileOutcome:
    """The profile table (one row per layer and split), a summary for printing and the files written."""

    table: pd.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)
    output: Path | None = None
    plot: Path | None = None

    def per_layer(self) -> pd.DataFrame:
        """One row per layer (index, layer, dim) with SI and CSI per split as columns: what `si-profile` prints."""
        df = self.table
        wide = df.pivot_table(index=["layer_index", "layer_name"], columns="split", values=["si", "csi"], sort=False)
        wide.columns = [f"{value.upper()} {split}" for value, split in wide.columns]
        wide = wide.reset_index()
        dims = df.drop_duplicates("layer_index").set_index("layer_index")["dim"]
        wide.insert(2, "dim", wide["layer_index"].map(dims))
        return wide.rename(columns={"layer_index": "index", "layer_name": "layer"})


@dataclass
class SiProfileRequest(DataStageRequest):
    """Every input of `nnlab si-profile`: a model (profiled on ``splits`` of ``data``) or a features artifact (its
    layers), the layers, the high orders, z-scoring, the activation budget and the plot."""

    source: Path
    output: Path
    splits: list[str] = field(default_factory=lambda: ["train", "test"])
    layers: list[str] = field(default_factory=list)
    orders: list[Any] = field(default_factory=list)
    normalize: bool = True
    memory: Any = None
    plot: Path | None = None


def run_si_profile(
    request: SiProfileRequest,
    *,
    progress: Callable[[str], None] | None = None,
    provenance: dict[str, Any] | None = None,
) -> SiProfileOutcome:
    """Write the SI-profile table (and plot) of a model on dataset splits, or of the layers of a features artifact.

    ``memory``: the activations held at once, in bytes or as a size such as ``4G`` (default
    :func:`default_memory`, half of the available memory): when all layers' activations exceed it, the layers are
    profiled in consecutive groups that fit, one forward pass per group, with the same table as one pass.
    """

    source, output, sel, runtime = Path(request.source), Path(request.output), request.data, request.runtime
    layers, splits, normalize, plot = request.layers, request.splits, request.normalize, request.plot
    fraction, limit, seed = sel.fraction, sel.limit, runtime.seed
    if output.suffix != ".parquet":
        raise NnlabError(f"the profile table must be a .parquet file, got {output}")
    if fraction is not None and limit is not None:
        raise ParameterError(("fraction", "limit"), "give either fraction or limit, not both")
    ks = _orders(request.orders)
    budget = default_memory() if request.memory is None else parse_memory(request.memory)
    device = distributed.setup_device(runtime.device)
    kind = artifacts.artifact_kind(source)
    meta: dict[str, Any] = {"table": "si_profile", "source": str(source), "normalize": normalize, "orders": ks}
    if kind == "features":
        fs = artifacts.load_features(source)
        chosen = dict(fs.layers)
        if layers:
            missing = [n for n in layers if n not in chosen]
            if missing:
                raise NnlabError(f"layer {missing[0]!r} is not in {source}; it has: {', '.join(chosen)}")
            chosen = {n: chosen[n] for n in layers}
        split = str(fs.meta.get("split", "features"))
        df = si_profile_features(
            chosen, fs.labels, split, orders=ks, normalize=normalize, device=device, progress=progress
        )
        meta.update(
            arch=fs.meta.get("arch"),
            width=(fs.meta.get("arch_kwargs") or {}).get("width"),
            dataset=fs.meta.get("dataset"),
            splits=[split],
            samples={split: int(len(fs.labels))},
        )
    elif kind == "model":
        model = load_model(source, device=device)
        name = sel.named(model.provenance.get("dataset"), "profile on")
        if not splits:
            raise NnlabError("name at least one split, e.g. train,test")
        all_layers = [n for n, _ in profile_layers(model.net)]
        if layers:
            names = [resolve_layer(model.net, item) for item in layers]
            chosen_layers = [(all_layers.index(n) if n in all_layers else i, n) for i, n in enumerate(names)]
        else:
            chosen_layers = list(enumerate(all_layers))
        datasets = {}
        for split in splits:
            data = DataOptions.of(sel, seed, name)
            with distributed.main_first():  # under torchrun a download happens once
                datasets[split] = dataset_for_model(model, data, split)
        df = si_profile(
            model,
            datasets,
            chosen_layers,
            orders=ks,
            normalize=normalize,
            device=device,
            batch_size=sel.batch_size,
            num_workers=runtime.num_workers,
            memory_mb=budget / 2**20,
            progress=progress,
        )
        meta.update(
            arch=model.spec.arch,
            width=model.spec.arch_kwargs.get("width"),
            dataset=name,
            splits=list(splits),
            fraction=fraction,
            limit=limit,
            samples={s: int(len(d)) for s, d in datasets.items()},
        )
    else:
        raise NnlabError(f"{source} is an nnlab {kind} artifact; si-profile needs a model or a features artifact")
    meta["provenance"] = artifacts.provenance(base=provenance, dataset=meta.get("dataset"), seed=seed)
    if not distributed.is_main():  # under torchrun rank 0 computed the table and alone writes it
        distributed.barrier()
        return SiProfileOutcome(table=df, summary={"source": str(source), "table": str(output)}, output=output)
    artifacts.save_table(output, df, meta)
    if plot is not None:
        plot_si_profile(df, plot, title=f"SI / CSI per layer — {Path(source).name}")
    distributed.barrier()
    summary = {
        "source": str(source),
        "layers": int(df["layer_index"].nunique()),
        "splits": ", ".join(meta["splits"]),
        "samples": ", ".join(f"{k} {v:,}" for k, v in meta["samples"].items()),
        "table": str(output),
    }
    if kind == "model":
        summary["activation budget"] = f"{budget / 2**20:,.0f} MB"
    if plot is not None:
        summary["plot"] = str(plot)
    return SiProfileOutcome(table=df, summary=summary, output=output, plot=plot)
