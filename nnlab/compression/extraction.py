"""`nnlab extract-features` as a library call: a model's flattened activations on a dataset split, with the
metadata later stages rely on (source model, architecture and width, the cut each layer stands for)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from nnlab import artifacts, distributed
from nnlab.analysis.hooks import canonical_layer, extract_activations
from nnlab.data.selection import DataStageRequest
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


@dataclass
class ExtractRequest(DataStageRequest):
    """Every input of `nnlab extract-features`: the model, the layers (default: the layer feeding the classifier;
    ``all`` for every profiled layer), float16 storage and the data (``data.split`` default: train)."""

    model: Path
    output: Path
    layers: list[str] = field(default_factory=list)
    float16: bool = False


@dataclass
class ExtractOutcome:
    """The features artifact written, each layer's width and a summary for printing."""

    output: Path
    layers: dict[str, int]
    summary: dict[str, Any]


def run_extract_features(
    request: ExtractRequest,
    *,
    provenance: dict[str, Any] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ExtractOutcome:
    """Write a features artifact for the layers of the model on a (stratified subset of a) split."""

    model_path, output, sel, runtime = request.model, Path(request.output), request.data, request.runtime
    split, fraction, limit, seed = sel.split or "train", sel.fraction, sel.limit, runtime.seed
    if output.suffix != ".safetensors":
        raise NnlabError(f"the features artifact must be a .safetensors file, got {output}")
    if fraction is not None and limit is not None:
        raise ParameterError(("fraction", "limit"), "give either fraction or limit, not both")
    device = distributed.setup_device(runtime.device)
    model = load_model(model_path, device=device)
    name = sel.named(model.provenance.get("dataset"))
    names = resolve_layer_list(model, list(request.layers))
    with distributed.main_first():  # under torchrun a download happens once
        ds = dataset_for_model(model, DataOptions.of(sel, seed, name), split)
    acts, labels = extract_activations(
        model,
        ds,
        names,
        device=device,
        batch_size=sel.batch_size,
        num_workers=runtime.num_workers,
        dtype=torch.float16 if request.float16 else torch.float32,
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
    widths = {n: int(t.shape[1]) for n, t in acts.items()}
    summary = {
        "model": str(model_path),
        "data": f"{name}:{split}",
        "samples": int(len(labels)),
        **{f"layer {n}": f"{dim:,} features" for n, dim in widths.items()},
        "dtype": "float16" if request.float16 else "float32",
        "artifact": str(output),
    }
    return ExtractOutcome(output=output, layers=widths, summary=summary)
