"""`nnlab extract-features` as a library call: a model's flattened activations on a dataset split, with the
metadata later stages rely on (source model, architecture and width, the cut each layer stands for)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from nnlab import artifacts, distributed
from nnlab.analysis.hooks import canonical_layer, extract_activations
from nnlab.errors import NnlabError, ParameterError
from nnlab.models import feature_layer, load_model, profile_layers, resolve_layer
from nnlab.training.recipe import DataOptions, dataset_for_model


def resolve_layer_list(model: Any, layers: Sequence[str]) -> list[str]:
    """Layer names from indices / names / ``all``; default (empty): the layer feeding the classifier."""

    if not layers:
        return [feature_layer(model.net)]
    if len(layers) == 1 and layers[0].lower() == "all":
        return [name for name, _ in profile_layers(model.net)]
    names = [resolve_layer(model.net, item) for item in layers]
    if len(set(names)) != len(names):
        raise NnlabError("a layer is named twice in the layer list")
    return names


def extract_features(
    model_path: Path,
    output: Path,
    *,
    dataset: str | None,
    split: str = "train",
    layers: Sequence[str] = (),
    fraction: float | None = None,
    limit: int | None = None,
    float16: bool = False,
    val_fraction: float = 0.1,
    seed: int = 0,
    device: Any = "cpu",
    batch_size: int = 256,
    num_workers: int = 0,
    root: Path | None = None,
    download: bool = False,
    provenance: dict[str, Any] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Write a features artifact for ``layers`` of the model on a (stratified subset of a) split; returns a summary."""

    if output.suffix != ".safetensors":
        raise NnlabError(f"the features artifact must be a .safetensors file, got {output}")
    if fraction is not None and limit is not None:
        raise ParameterError(("fraction", "limit"), "give either fraction or limit, not both")
    model = load_model(model_path, device=device)
    name = dataset or model.provenance.get("dataset")
    if not name:
        raise NnlabError("say which dataset to use (the model does not record one)")
    names = resolve_layer_list(model, list(layers))
    data = DataOptions(
        dataset=name, root=root, download=download, val_fraction=val_fraction, fraction=fraction, limit=limit, seed=seed
    )
    with distributed.main_first():  # under torchrun a download happens once
        ds = dataset_for_model(model, data, split)
    acts, labels = extract_activations(
        model,
        ds,
        names,
        device=device,
        batch_size=batch_size,
        num_workers=num_workers,
        dtype=torch.float16 if float16 else torch.float32,
        progress=progress,
    )
    meta = {
        "model": str(model_path),
        "arch": model.spec.arch,
        "arch_kwargs": model.spec.arch_kwargs,
        "surgery": [op.get("op") for op in model.spec.surgery],
        "classes": model.spec.classes,
        "dataset": name,
        "split": split,
        "fraction": fraction,
        "limit": limit,
        "seed": seed,
        "samples": int(len(labels)),
        "canonical": {n: canonical_layer(model, n) for n in names},
        "provenance": artifacts.provenance(base=provenance, dataset=name, seed=seed),
    }
    if distributed.is_main():  # under torchrun rank 0 holds every row and alone writes
        artifacts.save_features(output, acts, labels, meta)
    distributed.barrier()
    return {
        "model": str(model_path),
        "data": f"{name}:{split}",
        "samples": int(len(labels)),
        "layers": {n: int(t.shape[1]) for n, t in acts.items()},
        "dtype": "float16" if float16 else "float32",
        "artifact": str(output),
    }
