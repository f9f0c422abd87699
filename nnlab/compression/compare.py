"""The seed's two comparison tables for any set of models — the library side of `nnlab compare`.

Table 1 (accuracy): train / val / test accuracy and parameter count per model.
Table 2 (separation): SI and CSI of the representation that feeds each model's classifier
(:func:`nnlab.models.feature_layer`: VGG16's ``features`` output, a compressed model's selected features), on a
stratified fraction of the train split and on the test split.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import pandas as pd

from nnlab import artifacts
from nnlab.analysis.hooks import extract_activations
from nnlab.analysis.separation import separation_indices
from nnlab.data.selection import DataStageRequest
from nnlab.device import resolve_device
from nnlab.errors import NnlabError, ParameterError
from nnlab.models import count_parameters, feature_layer, load_model
from nnlab.training.engine import evaluate
from nnlab.training.recipe import DataOptions, dataset_for_model

SPLITS = ("train", "val", "test")


@dataclass
class Comparison:
    """The two tables, one row per model in the order given."""

    accuracy: pd.DataFrame
    separation: pd.DataFrame


def _label(path: Path, taken: set[str]) -> str:
    name = Path(path).name.split(".")[0]
    label, n = name, 1
    while label in taken:
        n += 1
        label = f"{name}#{n}"
    taken.add(label)
    return label


def compare_models(
    paths: Sequence[Path],
    dataset: str,
    *,
    si_fraction: float | None = 0.1,
    si_test_fraction: float | None = None,
    si_limit: int | None = None,
    limit: int | None = None,
    val_fraction: float = 0.1,
    seed: int = 0,
    device: Any = "cpu",
    batch_size: int = 256,
    num_workers: int | None = None,
    root: Path | None = None,
    download: bool = False,
    normalize: bool = True,
    progress: Callable[[str], None] | None = None,
) -> Comparison:
    """Evaluate every model on train/val/test and measure SI/CSI of its classifier's input (see the module doc).

    ``si_fraction`` / ``si_limit`` pick the stratified train subset for SI (the seed used 10 %);
    ``si_test_fraction`` does the same for test (default: all of it). ``limit`` caps each split used for accuracy
    (stratified; default: the whole split).
    """

    if not paths:
        raise NnlabError("name at least one model to compare")
    for frac, opt in ((si_fraction, "si_fraction"), (si_test_fraction, "si_test_fraction")):
        if frac is not None and not 0 < frac <= 1:
            raise ParameterError(opt, f"{opt} must be in (0, 1], got {frac}")
    taken: set[str] = set()
    acc_rows, si_rows = [], []
    for path in paths:
        model = load_model(path, device=device)
        label = _label(path, taken)
        row: dict[str, Any] = {"model": label, "path": str(path)}
        for split in SPLITS:
            if progress is not None:
                progress(f"{label}: accuracy on {split}")
            data = DataOptions(
                dataset=dataset, root=root, download=download, val_fraction=val_fraction, seed=seed, limit=limit
            )
            ds = dataset_for_model(model, data, split)
            row[f"{split}_accuracy"] = evaluate(
                model, ds, device, batch_size=batch_size, num_workers=num_workers
            ).accuracy
        total, _ = count_parameters(model.net)
        row["parameters"] = int(total)
        acc_rows.append(row)

        layer = feature_layer(model.net)
        si_row: dict[str, Any] = {"model": label, "layer": layer}
        for split, frac, cap in (("train", si_fraction, si_limit), ("test", si_test_fraction, None)):
            if progress is not None:
                progress(f"{label}: SI of {layer} on {split}")
            data = DataOptions(
                dataset=dataset,
                root=root,
                download=download,
                val_fraction=val_fraction,
                seed=seed,
                fraction=frac if frac not in (None, 1.0) else None,
                limit=cap,
            )
            ds = dataset_for_model(model, data, split)
            acts, labels = extract_activations(
                model, ds, [layer], device=device, batch_size=batch_size, num_workers=num_workers
            )
            values = separation_indices(acts[layer], labels, center=True, normalize=normalize, device=device)
            si_row.update(
                {
                    f"si_{split}": values["si"],
                    f"csi_{split}": values["csi"],
                    f"{split}_samples": len(labels),
                    "dim": int(acts[layer].shape[1]),
                }
            )
        si_rows.append(si_row)
    accuracy = pd.DataFrame(acc_rows)[
        ["model", "train_accuracy", "val_accuracy", "test_accuracy", "parameters", "path"]
    ]
    separation = pd.DataFrame(si_rows)[
        ["model", "layer", "dim", "si_train", "csi_train", "si_test", "csi_test", "train_samples", "test_samples"]
    ]
    return Comparison(accuracy=accuracy, separation=separation)


def comparison_frame(comp: Comparison) -> pd.DataFrame:
    """Both tables joined on the model, one row per model (what `compare -o` writes)."""
    return comp.accuracy.merge(comp.separation, on="model", how="left")


@dataclass
class CompareRequest(DataStageRequest):
    """Every input of `nnlab compare`: the models, the table to write, the SI subsets (``si_fraction`` of train,
    ``si_test_fraction`` of test), z-scoring and the data (``data.limit`` caps each split used for accuracy;
    ``data.dataset`` default: the first model's)."""

    models: list[Path]
    output: Path | None = None
    si_fraction: float | None = 0.1
    si_test_fraction: float | None = None
    normalize: bool = True


@dataclass
class CompareOutcome:
    """The comparison (accuracy and separation tables), the dataset it was made on and the table written."""

    comparison: Comparison
    dataset: str
    output: Path | None


def run_compare(
    request: CompareRequest,
    *,
    progress: Callable[[str], None] | None = None,
    provenance: dict[str, Any] | None = None,
) -> CompareOutcome:
    """The compare stage: :func:`compare_models` on the request's dataset, written to ``request.output`` (when given)
    as both tables side by side (:func:`comparison_frame`) with ``provenance`` in its metadata."""
    paths, output, sel, runtime = list(request.models), request.output, request.data, request.runtime
    if output is not None and Path(output).suffix != ".parquet":
        raise NnlabError(f"the comparison table must be a .parquet file, got {output}")
    if not paths:
        raise NnlabError("name at least one model to compare")
    name = sel.dataset or load_model(paths[0]).provenance.get("dataset")
    if not name:
        raise NnlabError(f"{paths[0]} records no training dataset; name the dataset to compare on")
    comp = compare_models(
        paths,
        name,
        si_fraction=request.si_fraction,
        si_test_fraction=request.si_test_fraction,
        limit=sel.limit,
        val_fraction=sel.val_fraction,
        seed=runtime.seed,
        device=resolve_device(runtime.device),
        batch_size=sel.batch_size,
        num_workers=runtime.num_workers,
        root=sel.data_root,
        download=sel.download,
        normalize=request.normalize,
        progress=progress,
    )
    if output is not None:
        artifacts.save_table(
            output,
            comparison_frame(comp),
            {
                "table": "comparison",
                "dataset": name,
                "si_fraction": request.si_fraction,
                "si_test_fraction": request.si_test_fraction,
                "provenance": artifacts.provenance(base=provenance, dataset=name, seed=runtime.seed),
            },
        )
    return CompareOutcome(comparison=comp, dataset=name, output=None if output is None else Path(output))
