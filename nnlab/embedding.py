"""2-D embeddings of features for plots: UMAP (umap-learn) or PCA, one reducer fitted on clean features.

    clean_xy, (adv_xy,) = reduce_2d(clean_features, [adversarial_features], method="umap", seed=0)

The reducer is fitted on the clean features only and then applied to the others, so clean and
adversarial points lie in the same plane and can be compared. UMAP uses the seed study's settings
(``n_neighbors=10``, ``min_dist=0.3``) and is seeded, so the same features and seed give the same
embedding. ``method="pca"`` is the fast, deterministic alternative. :func:`run_embed` is the whole
`nnlab embed` stage in one call (features of a model or a features file → table and plot).
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from nnlab import artifacts
from nnlab.artifacts import save_figure, sibling
from nnlab.data.selection import DataSelection, DataStageRequest
from nnlab.errors import NnlabError
from nnlab.models import feature_layer, load_model, resolve_layer
from nnlab.report import subplots
from nnlab.runtime import Runtime
from nnlab.training.recipe import DataOptions, class_remap, dataset_for_model

METHODS = ("umap", "pca")
N_NEIGHBORS = 10
MIN_DIST = 0.3


def reduce_2d(
    clean: np.ndarray,
    others: Sequence[np.ndarray] = (),
    *,
    method: str = "umap",
    seed: int = 0,
    n_neighbors: int = N_NEIGHBORS,
    min_dist: float = MIN_DIST,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Fit a 2-D reducer on ``clean`` (N × D) and apply it to each array of ``others`` (M × D).

    Returns ``(clean N × 2, [M × 2, …])`` as float32. UMAP needs more samples than neighbours; with fewer
    than ``n_neighbors + 1`` clean samples ``n_neighbors`` shrinks to ``N − 1``.
    """
    if method not in METHODS:
        raise NnlabError(f"unknown embedding method {method!r}; valid: {', '.join(METHODS)}")
    clean = _matrix(clean, "clean features")
    others = [_matrix(o, "features") for o in others]
    for other in others:
        if other.shape[1] != clean.shape[1]:
            raise NnlabError(
                f"features of width {other.shape[1]} cannot share a plane fitted on width {clean.shape[1]}"
            )
    if len(clean) < 3:
        raise NnlabError(f"a 2-D embedding needs at least 3 samples, got {len(clean)}")
    if method == "pca":
        from sklearn.decomposition import PCA

        reducer = PCA(n_components=2, svd_solver="full", random_state=seed).fit(clean)
        fitted = reducer.transform(clean)
    else:
        umap = import_umap()
        reducer = umap.UMAP(
            n_components=2,
            n_neighbors=max(2, min(n_neighbors, len(clean) - 1)),
            min_dist=min_dist,
            random_state=seed,
            n_jobs=1,
            transform_seed=seed,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # n_jobs/random_state notices, small-data spectral fallbacks
            fitted = reducer.fit_transform(clean)
    applied = []
    for other in others:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            applied.append(
                np.asarray(reducer.transform(other), dtype=np.float32) if len(other) else np.zeros((0, 2), np.float32)
            )
    return np.asarray(fitted, dtype=np.float32), applied


def _matrix(features: Any, what: str) -> np.ndarray:
    array = np.asarray(features, dtype=np.float32)
    if array.ndim != 2 or array.shape[1] < 1:
        raise NnlabError(f"{what} must be an N × D matrix, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise NnlabError(f"{what} contain NaN or infinite values")
    return array


def import_umap() -> Any:
    """Import umap-learn and let numba cache its compiled kernels on disk.

    umap-learn compiles about a hundred numba kernels in every new process (half a minute of CPU on a
    2-core machine, far more than the embedding itself), because it does not ask numba to cache them.
    Enabling the cache on its module-level dispatchers before their first call makes later processes
    load them from disk; where no cache folder is writable, numba's refusal is ignored and the kernels
    are compiled as usual.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import umap
    try:
        from numba.core.dispatcher import Dispatcher
    except ImportError:  # pragma: no cover - numba is a dependency of umap-learn
        return umap
    for name, module in list(sys.modules.items()):
        if module is None or not (name == "umap" or name.startswith("umap.")):
            continue
        for value in list(vars(module).values()):
            if isinstance(value, Dispatcher) and type(getattr(value, "_cache", None)).__name__ == "NullCache":
                try:
                    value.enable_caching()
                except Exception:  # noqa: BLE001 - no writable cache location: compile as usual
                    pass
    return umap


def embedding_frame(
    clean_xy: np.ndarray,
    clean_labels: np.ndarray,
    clean_pred: np.ndarray,
    adversarial: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> Any:
    """The embedding table: x, y, label, pred, source (clean | adversarial), one row per sample."""
    import pandas as pd

    parts = [("clean", clean_xy, clean_labels, clean_pred)]
    if adversarial is not None:
        parts.append(("adversarial", *adversarial))
    frames = [
        pd.DataFrame(
            {
                "x": xy[:, 0].astype(np.float32),
                "y": xy[:, 1].astype(np.float32),
                "label": np.asarray(labels, dtype=np.int64),
                "pred": np.asarray(pred, dtype=np.int64),
                "source": source,
            }
        )
        for source, xy, labels, pred in parts
    ]
    return pd.concat(frames, ignore_index=True)


def plot_embedding(frame: Any, classes: Sequence[str], path: str | Path, title: str = "") -> Path:
    """Scatter plots coloured by true class: clean and (when present) adversarial side by side, same axes."""

    import matplotlib  # lazy: slow to import

    sources = [s for s in ("clean", "adversarial") if (frame["source"] == s).any()]
    fig, axes = subplots(1, len(sources), figsize=(6 * len(sources), 5.4), squeeze=False, sharex=True, sharey=True)
    cmap = matplotlib.colormaps["tab10" if len(classes) <= 10 else "tab20"]
    for ax, source in zip(axes[0], sources, strict=False):
        part = frame[frame["source"] == source]
        accuracy = float((part["label"] == part["pred"]).mean()) if (part["pred"] >= 0).all() else None
        for index, name in enumerate(classes):
            points = part[part["label"] == index]
            if len(points):
                ax.scatter(
                    points["x"], points["y"], s=6, alpha=0.7, color=cmap(index % cmap.N), label=str(name), linewidths=0
                )
        suffix = f" (accuracy {accuracy:.1%})" if accuracy is not None else ""
        ax.set_title(f"{source}: {len(part):,} samples{suffix}", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    if len(classes) <= 20:
        axes[0][-1].legend(title="class", fontsize=7, markerscale=2, loc="center left", bbox_to_anchor=(1.0, 0.5))
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


# --------------------------------------------------------------------------- inputs: features of a model or a file


class EmbedInput:
    """Features to embed, with their true classes and the model's predictions (−1 where there is no model)."""

    def __init__(self, features: np.ndarray, labels: np.ndarray, pred: np.ndarray):
        self.features = features
        self.labels = labels
        self.pred = pred

    def __len__(self) -> int:
        return len(self.labels)


def model_features(
    model: Any, ds: Any, layer: str, device: Any, *, batch_size: int = 256, num_workers: int | None = None
) -> EmbedInput:
    """Flattened output of ``layer`` and the predicted class for every item of ``ds``, in order, in eval mode.

    Under torchrun each rank computes a contiguous share of whole batches and rank 0 gets every row (the
    other ranks their own share), as in :func:`nnlab.training.inference.map_split`.
    """
    import torch

    from nnlab.training.inference import LABELS, eval_mode, map_split

    module = dict(model.net.named_modules()).get(layer)
    if module is None or not layer:
        raise NnlabError(f"unknown layer {layer!r}")
    captured: list[torch.Tensor] = []
    handle = module.register_forward_hook(
        lambda _m, _i, out: captured.append(
            (out[0] if isinstance(out, (tuple, list)) else out).detach().flatten(1).float().cpu()
        )
    )

    def step(images: torch.Tensor, _labels: torch.Tensor) -> dict[str, torch.Tensor]:
        captured.clear()
        with torch.no_grad():
            logits = model(images)
        return {"features": captured[-1], "pred": logits.argmax(1).cpu()}

    try:
        with eval_mode(model):
            out = map_split(
                step,
                ds,
                device=device,
                batch_size=batch_size,
                num_workers=num_workers,
                everywhere=False,
                empty="no samples to embed",
            )
    finally:
        handle.remove()
    return EmbedInput(out["features"].numpy(), out[LABELS].numpy(), out["pred"].numpy())


def file_features(path: Path, layer: str | None = None) -> tuple[EmbedInput, str, list[str], dict[str, Any]]:
    """One layer of a features artifact as an :class:`EmbedInput` (predictions −1), its name, classes and meta.

    Points are coloured by class, so a file without labels (no ``labels`` tensor, or only negative
    "unknown" labels) is refused with one clear sentence.
    """

    try:
        names = artifacts.tensor_shapes(path)
    except Exception:  # noqa: BLE001 - unreadable files get the loader's own message below
        names = None
    if names is not None and "labels" not in names:
        raise NnlabError(
            f"{path} has no labels: embed colours points by class, so it needs a features artifact "
            "with a 'labels' tensor, as `nnlab extract-features` writes"
        )
    feats = artifacts.load_features(path)
    labels = feats.labels.long().numpy()
    if len(labels) == 0 or (labels < 0).all():
        raise NnlabError(f"{path} has no labels (all are missing or negative): embed colours points by class")
    name, values = feats.layer(layer)
    classes = [str(c) for c in feats.meta.get("classes") or range(int(labels.max()) + 1)]
    data = EmbedInput(values.float().reshape(len(labels), -1).numpy(), labels, np.full(len(labels), -1, np.int64))
    return data, name, classes, feats.meta


def model_inputs(
    model_path: Path,
    data: DataSelection,
    runtime: Runtime,
    *,
    adversarial: Path | None = None,
    layer: str | None = None,
) -> tuple[EmbedInput, EmbedInput | None, str, list[str], str]:
    """Features of a model artifact on a dataset split and, optionally, on a stored adversarial set.

    Returns ``(clean, adversarial or None, layer name, classes, "dataset:split")``. ``layer`` defaults to
    the penultimate features (:func:`nnlab.models.feature_layer`). ``data``'s dataset and split default to the
    adversarial set's; when they match it, the clean samples are the originals of the adversarial
    images (same indices, same order), otherwise the split (or its ``fraction``/``limit`` subset).
    An adversarial set whose image shape differs from the model's input is refused.
    """
    import torch

    from nnlab import distributed
    from nnlab.training.evaluate_run import adversarial_originals

    dev = distributed.setup_device(runtime.device)
    model = load_model(model_path, device=dev)
    layer_name = resolve_layer(model.net, layer) if layer is not None else feature_layer(model.net)
    classes = list(model.spec.classes)
    adv_set = None
    if adversarial is not None:
        adv_set = artifacts.load_adversarial(adversarial)
        inp = model.spec.input
        expected = (inp["channels"], inp["size"], inp["size"])
        if tuple(adv_set.images.shape[1:]) != expected:
            raise NnlabError(
                f"{adversarial} holds images of shape {tuple(adv_set.images.shape[1:])}, but the model takes {expected}"
            )
    meta = adv_set.meta if adv_set is not None else {}
    name = data.dataset or meta.get("dataset") or model.provenance.get("dataset")
    if not name:
        raise NnlabError(f"{model_path} records no training dataset; name the dataset to embed")
    split = data.split or meta.get("split") or "test"
    paired = adv_set is not None and name == meta.get("dataset") and split == meta.get("split")
    options = DataOptions.of(replace(data, fraction=None, limit=None) if paired else data, runtime.seed, name)
    with distributed.main_first():  # under torchrun a download happens once
        if paired:  # the clean originals of the adversarial images, in the same order
            ds = adversarial_originals(model, adv_set, options, adversarial)
        else:
            ds = dataset_for_model(model, options, split)
    batch_size = data.batch_size
    clean = model_features(model, ds, layer_name, dev, batch_size=batch_size, num_workers=runtime.num_workers)
    adv = None
    if adv_set is not None:
        labels = adv_set.labels
        adv_classes = meta.get("classes")
        if adv_classes and list(adv_classes) != classes:
            labels = torch.as_tensor(class_remap(classes, list(adv_classes))[labels.numpy()])
        adv_ds = torch.utils.data.TensorDataset(adv_set.images, labels)
        adv = model_features(model, adv_ds, layer_name, dev, batch_size=batch_size, num_workers=0)
    return clean, adv, layer_name, classes, f"{name}:{split}"


# --------------------------------------------------------------------------- the whole stage


@dataclass
class EmbedRequest(DataStageRequest):
    """Every input of the embed stage as plain values (what `nnlab embed` is given).

    ``input`` is a model artifact (its ``layer`` features are computed on a dataset split and,
    optionally, on the ``adversarial`` set's images) or a features artifact (its ``layer`` is read).
    ``plot`` defaults to a PNG beside ``output``; ``data``'s dataset and split default as in :func:`model_inputs`.
    """

    input: Path
    output: Path
    plot: Path | None = None
    adversarial: Path | None = None
    layer: str | None = None
    method: str = "umap"


@dataclass
class EmbedOutcome:
    """What the embed stage wrote: the embedding table (x, y, label, pred, source) and its plot."""

    frame: Any
    layer: str
    source: str
    output: Path
    plot: Path
    summary: dict[str, Any]


def run_embed(request: EmbedRequest, *, provenance: Mapping[str, Any] | None = None) -> EmbedOutcome:
    """The embed stage: reduce a model's (or a features file's) features to 2-D and write the table and scatter plot.

    One reducer (:func:`reduce_2d`) is fitted on the clean features and applied to the adversarial
    ones, so both share a plane. ``provenance`` (e.g. the command line) is stored in the table.
    """
    from nnlab import distributed

    output = Path(request.output)
    if output.suffix != ".parquet":
        raise NnlabError(f"the embedding table must be a .parquet file, got {output}")
    plot_path = Path(request.plot) if request.plot is not None else sibling(output, ".png")
    if plot_path.suffix != ".png":
        raise NnlabError(f"the embedding plot must be a .png file, got {plot_path}")
    if request.method not in METHODS:
        raise NnlabError(f"unknown embedding method {request.method!r}; valid: {', '.join(METHODS)}")
    kind = artifacts.artifact_kind(request.input)
    if kind == "features":
        if request.adversarial is not None:
            raise NnlabError(
                "an adversarial set needs a model to compute its images' features; "
                f"{request.input} is a features artifact"
            )
        clean, layer_name, classes, fmeta = file_features(request.input, request.layer)
        adv = None
        source = f"{fmeta.get('dataset', '?')}:{fmeta.get('split', '?')}"
    elif kind == "model":
        clean, adv, layer_name, classes, source = model_inputs(
            request.input,
            request.data,
            request.runtime,
            adversarial=request.adversarial,
            layer=request.layer,
        )
    else:
        raise NnlabError(f"{request.input} is an nnlab {kind} artifact; embed takes a model or a features artifact")
    if not distributed.is_main():  # under torchrun rank 0 holds every row and alone reduces and writes
        distributed.barrier()
        return EmbedOutcome(frame=None, layer=layer_name, source=source, output=output, plot=plot_path, summary={})

    clean_xy, others = reduce_2d(
        clean.features, [adv.features] if adv is not None else [], method=request.method, seed=request.runtime.seed
    )
    frame = embedding_frame(
        clean_xy, clean.labels, clean.pred, (others[0], adv.labels, adv.pred) if adv is not None else None
    )
    plot_embedding(
        frame,
        classes,
        plot_path,
        title=f"{Path(request.input).name}: {layer_name} on {source}, {request.method.upper()}",
    )
    params = {"n_neighbors": N_NEIGHBORS, "min_dist": MIN_DIST} if request.method == "umap" else {}
    artifacts.save_table(
        output,
        frame,
        {
            "table": "embedding",
            "input": str(request.input),
            "layer": layer_name,
            "method": request.method,
            "params": params,
            "seed": request.runtime.seed,
            "classes": classes,
            "data": source,
            "adversarial": str(request.adversarial) if request.adversarial else None,
            "provenance": artifacts.provenance(base=provenance, seed=request.runtime.seed),
        },
    )
    summary = {
        "input": str(request.input),
        "layer": layer_name,
        "dim": int(clean.features.shape[1]),
        "data": source,
        "clean samples": len(clean),
        "method": request.method,
        "embedding table": str(output),
        "plot": str(plot_path),
    }
    if adv is not None:
        summary.update({"adversarial samples": len(adv), "adversarial set": str(request.adversarial)})
    distributed.barrier()
    return EmbedOutcome(frame=frame, layer=layer_name, source=source, output=output, plot=plot_path, summary=summary)
