"""`nnlab si-profile` as a library call: profile a model artifact on dataset splits, or a features artifact."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

from nnlab import artifacts, distributed
from nnlab.analysis.hooks import si_profile, si_profile_features
from nnlab.compression.plots import plot_si_profile
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


def run_si_profile(
    source: Path,
    output: Path,
    *,
    dataset: str | None = None,
    splits: Sequence[str] = ("train", "test"),
    layers: Sequence[str] = (),
    fraction: float | None = None,
    limit: int | None = None,
    orders: Sequence[Any] = (),
    normalize: bool = True,
    memory_mb: float = 3072.0,
    plot: Path | None = None,
    val_fraction: float = 0.1,
    seed: int = 0,
    device: Any = "cpu",
    batch_size: int = 256,
    num_workers: int = 0,
    root: Path | None = None,
    download: bool = False,
    progress: Callable[[str], None] | None = None,
    provenance: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write the SI-profile table (and plot); returns a summary with the table under ``_table``."""

    if output.suffix != ".parquet":
        raise NnlabError(f"the profile table must be a .parquet file, got {output}")
    if fraction is not None and limit is not None:
        raise ParameterError(("fraction", "limit"), "give either fraction or limit, not both")
    ks = _orders(orders)
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
        name = dataset or model.provenance.get("dataset")
        if not name:
            raise NnlabError("say which dataset to profile on (the model does not record one)")
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
            data = DataOptions(
                dataset=name,
                root=root,
                download=download,
                val_fraction=val_fraction,
                fraction=fraction,
                limit=limit,
                seed=seed,
            )
            with distributed.main_first():  # under torchrun a download happens once
                datasets[split] = dataset_for_model(model, data, split)
        df = si_profile(
            model,
            datasets,
            chosen_layers,
            orders=ks,
            normalize=normalize,
            device=device,
            batch_size=batch_size,
            num_workers=num_workers,
            memory_mb=memory_mb,
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
        return {"source": str(source), "table": str(output), "_table": df}
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
    if plot is not None:
        summary["plot"] = str(plot)
    summary["_table"] = df
    return summary
