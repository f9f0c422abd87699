"""One training run end to end: data, model, freezing, fit, artifact, history — what `nnlab train` does.

:func:`run_train` is the stage. It dispatches on ``TrainRequest.roi_mode`` through the
:data:`ROI_TRAINERS` registry: ``crop`` (every ordinary classifier, and R-CNN detectors trained on
region crops) is :func:`train_classifier` here; higher layers register other modes
(:mod:`nnlab.detection.align` registers ``align``, the Fast R-CNN head trainer, when it is imported).
Behaviour that a higher layer adds to an ordinary run (adversarial batches, circle loss) arrives as
``TrainRequest.hooks``, an object with the :class:`TrainingHooks` methods
(:class:`nnlab.robustness.training.RobustnessSettings`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Protocol

import pandas as pd

from nnlab import artifacts, distributed
from nnlab.data.selection import DataStageRequest
from nnlab.errors import NnlabError, ParameterError
from nnlab.models import count_parameters, load_model, save_model, set_trainable
from nnlab.models import freeze as freeze_params
from nnlab.models.presets import apply_block_preset
from nnlab.registry import Registry
from nnlab.report import plot_history
from nnlab.training.config import TrainConfig
from nnlab.training.engine import FitResult, fit, seed_everything
from nnlab.training.precision import resolve_precision
from nnlab.training.recipe import DataOptions, build_new_model, init_from_artifact

ROI_TRAINERS = Registry("roi mode")
"""roi mode → trainer ``(request, *, on_batch, on_epoch, provenance) -> TrainOutcome``."""


class TrainingHooks(Protocol):
    """What a higher layer adds to an ordinary training run (e.g. robustness: adversarial batches, circle loss)."""

    def settings(self) -> dict[str, Any]:
        """JSON-able settings, recorded in the training config (so in the artifact's provenance); {} when inactive."""

    def fit_hooks(self, model: Any, train_ds: Any, config: Any, request: "TrainRequest") -> dict[str, Any]:
        """Extra :func:`nnlab.training.engine.fit` keyword arguments (``batch_hook``, ``loss_fn``, ``validate_fn``).

        May change ``model`` in place before training (circle loss turns it into a k-NN model).
        """


@dataclass
class TrainRequest(DataStageRequest):
    """Every option of `nnlab train`: the model, the training settings (``config``) and the data (``data``).

    ``data.dataset`` names the dataset to train on; its ``split`` is not read (a run uses train and val).
    The batch size, seed and DataLoader workers are said once, in ``data``: ``config`` takes them from there
    (a ``config`` that sets one of them to anything else is an error).
    """

    output: Path
    model: str | None = None
    config: TrainConfig = field(default_factory=TrainConfig)
    init: Path | None = None
    init_skip: list[str] = field(default_factory=list)
    pretrained: bool = False
    weights: Path | None = None
    width: float = 1.0
    model_args: dict[str, Any] = field(default_factory=dict)
    image_size: int | None = None
    augment: str = "none"
    normalize: str | None = None
    freeze: list[str] = field(default_factory=list)
    trainable: list[str] = field(default_factory=list)
    block_preset: str | None = None
    resume: bool = False
    plot: Path | None = None
    history: Path | None = None
    balance: str = "none"
    roi_mode: str = "crop"
    hooks: TrainingHooks | None = None

    def __post_init__(self) -> None:
        self.config = self.config.for_run(self.data, self.runtime)


@dataclass
class TrainOutcome:
    """The trained model and what to show about it."""

    model: Any
    history_frame: pd.DataFrame
    summary: dict[str, Any]


def epoch_timing(history: pd.DataFrame) -> dict[str, float]:
    """Mean train and validation seconds per epoch and images per second over a history table
    (the seed S3 report's speed columns); columns the history lacks are left out."""
    columns = {
        "train_seconds": "train_seconds_per_epoch",
        "val_seconds": "val_seconds_per_epoch",
        "train_images_per_second": "train_images_per_second",
        "val_images_per_second": "val_images_per_second",
    }
    return {name: float(history[col].mean()) for col, name in columns.items() if col in history and len(history)}


def checkpoint_path(output: Path) -> Path:
    """Where the per-epoch checkpoint of a run writing ``output`` lives (removed after success)."""
    return output.with_name(output.name + ".ckpt")


@dataclass
class SavedRun:
    """A finished training run as written: `fit`'s result, the history table, the artifact's metrics and the
    history table's path."""

    result: FitResult
    history: pd.DataFrame
    metrics: dict[str, Any]
    history_path: Path


def train_and_save(
    model: Any,
    train: Callable[[], FitResult],
    *,
    output: Path,
    provenance: dict[str, Any],
    history: Path | None = None,
    plot: Path | None = None,
    metrics: Callable[[pd.DataFrame], dict[str, Any]] | None = None,
) -> SavedRun:
    """Run ``train`` (a `fit` of ``model`` or of a part of it) and write what every trainer writes.

    That is the model artifact (on the CPU, in eval mode) with the best epoch's metrics plus
    ``metrics(history)``, the history table (default: beside ``output``) and the optional loss/accuracy
    ``plot``; the run's checkpoint (:func:`checkpoint_path`) is removed. ``provenance`` holds the keywords of
    :func:`nnlab.artifacts.provenance`, recorded as the files are written. Under torchrun rank 0 alone
    writes and every rank waits for it. Shared by `train`, the align head and `fit-head`.
    """
    result = train()
    model.to("cpu").eval()
    frame = pd.DataFrame(result.history)
    best = next((r for r in result.history if r["epoch"] == result.best_epoch), result.history[-1])
    written = {
        "best_epoch": result.best_epoch,
        "train_accuracy": best.get("train_accuracy"),
        "val_accuracy": result.best_val_accuracy,
        "epochs_run": len(result.history),
        **(metrics(frame) if metrics is not None else {}),
    }
    prov = artifacts.provenance(**provenance)
    history_path = history or artifacts.sibling(output, ".history.parquet")
    if distributed.is_main():  # under torchrun rank 0 alone writes; every rank holds the same model
        save_model(output, model, metrics=written, provenance=prov)
        artifacts.save_table(history_path, frame, {"table": "history", "provenance": prov})
        if plot is not None:
            plot_history(frame, plot)
        checkpoint_path(output).unlink(missing_ok=True)
    distributed.barrier()
    return SavedRun(result, frame, written, history_path)


def run_train(
    req: TrainRequest,
    *,
    on_batch: Callable[[int, int], None] | None = None,
    on_epoch: Callable[[dict], None] | None = None,
    provenance: dict[str, Any] | None = None,
) -> TrainOutcome:
    """The training stage: train as `nnlab train` does and write the model artifact, history table and optional plot.

    ``req.roi_mode`` picks the trainer from :data:`ROI_TRAINERS` (``crop``: :func:`train_classifier`).
    ``on_batch(step, total)`` and ``on_epoch(history row)`` report progress; ``provenance`` (see
    :func:`nnlab.artifacts.provenance`, e.g. the CLI's command line) is recorded in what is written.
    """
    if req.roi_mode not in ROI_TRAINERS:
        raise NnlabError(
            f"unknown roi mode {req.roi_mode!r}; registered: {', '.join(ROI_TRAINERS.names())} "
            "(align is registered by importing nnlab.detection.align)"
        )
    return ROI_TRAINERS.get(req.roi_mode)(req, on_batch=on_batch, on_epoch=on_epoch, provenance=provenance)


@ROI_TRAINERS.register("crop", help="train the whole classifier on images (or region crops)")
def train_classifier(
    req: TrainRequest,
    *,
    on_batch: Callable[[int, int], None] | None = None,
    on_epoch: Callable[[dict], None] | None = None,
    provenance: dict[str, Any] | None = None,
) -> TrainOutcome:
    """Train a classifier on a dataset (images, or the crops of a proposals table) and write its artifact and history.

    ``req.hooks`` (when given) may return extra `fit` keyword arguments (loss or batch hooks) — the
    robustness layer uses them for adversarial training and circle loss — and its settings are
    recorded in the training config.
    """

    if req.output.suffix != ".safetensors":
        raise NnlabError(f"the model artifact must be a .safetensors file, got {req.output}")
    sel, runtime = req.data, req.runtime
    if not 0 < sel.val_fraction < 1:
        raise ParameterError("val_fraction", f"val_fraction must be in (0, 1), got {sel.val_fraction}")
    if not sel.dataset:
        raise ParameterError("dataset", "say which dataset to train on")
    if req.init is not None and not Path(req.init).exists():
        raise ParameterError("init", f"init model {req.init}: no such file")
    if req.weights is not None and not Path(req.weights).exists():
        raise ParameterError("weights", f"weights file {req.weights}: no such file")
    model_name = req.model
    if model_name is None:
        if req.init is None:
            raise NnlabError("say which model to train: a model name, or an init model artifact")

        model_name = load_model(req.init).spec.arch
    config = replace(
        req.config, extra=dict(req.config.extra)
    )  # the run completes it (precision resolved, class weights) without touching req
    device = distributed.setup_device(runtime.device)
    config.precision = resolve_precision(config.precision, device)  # the artifact records what ran
    data = DataOptions.of(
        sel,
        runtime.seed,
        image_size=req.image_size,
        augment=req.augment,
        extra={"balance": req.balance} if req.balance != "none" else {},
    )

    seed_everything(runtime.seed)
    model = build_new_model(
        model_name,
        data,
        width=req.width,
        pretrained=req.pretrained,
        weights=req.weights,
        normalize=req.normalize,
        model_args=req.model_args,
    )
    init_info = None
    if req.init is not None:
        copied, total = init_from_artifact(model, Path(req.init), skip=req.init_skip)
        init_info = f"{copied}/{total} tensors from {req.init}"
    if req.freeze:
        freeze_params(model.net, req.freeze)
    if req.trainable:
        set_trainable(model.net, req.trainable)
    preset = None
    if req.block_preset is not None:
        if req.freeze or req.trainable:
            raise NnlabError("a block preset decides what trains; give it without freeze/trainable patterns")
        preset = apply_block_preset(model, req.block_preset)
    distilled = getattr(model.net, "set_distilled_training", None)
    if callable(distilled):  # DeiT distilled: train both heads, CE(class head) + CE(distillation head)
        distilled(True)

    with distributed.main_first():  # a download happens once
        train_ds = data.load("train", augment=req.augment)
    val_ds = data.load("val", subset=False)
    if getattr(train_ds, "class_weights", None) is not None:
        config.class_weights = [float(w) for w in train_ds.class_weights]
    fit_kwargs: dict[str, Any] = {}
    if req.hooks is not None:
        config.extra.update(req.hooks.settings())
        fit_kwargs = req.hooks.fit_hooks(model, train_ds, config, req)

    def train() -> FitResult:
        result = fit(
            model,
            train_ds,
            val_ds,
            config,
            device,
            checkpoint=checkpoint_path(req.output),
            resume=req.resume,
            on_epoch=on_epoch,
            on_batch=on_batch,
            **fit_kwargs,
        )
        if callable(distilled):
            distilled(False)
        return result

    def extra_metrics(history: pd.DataFrame) -> dict[str, Any]:
        total, trainable = count_parameters(model.net)
        extra = {"parameters": total, "trainable_parameters": trainable, **epoch_timing(history)}
        if preset is not None:
            extra.update(block_preset=req.block_preset, block=preset.block, heads=list(preset.heads))
        return extra

    saved = train_and_save(
        model,
        train,
        output=req.output,
        history=req.history,
        plot=req.plot,
        metrics=extra_metrics,
        provenance=dict(
            base=provenance,
            dataset=sel.dataset,
            seed=runtime.seed,
            train_config=config.to_dict(),
            augment=req.augment,
            init=str(req.init) if req.init else None,
        ),
    )
    result, history, history_path = saved.result, saved.history, saved.history_path
    total, trainable = saved.metrics["parameters"], saved.metrics["trainable_parameters"]
    timing = epoch_timing(history)

    summary = {
        "model": model_name,
        "dataset": sel.dataset,
        "parameters": total,
        "trainable": trainable,
        "train samples": len(train_ds),
        "val samples": len(val_ds),
        "best epoch": result.best_epoch,
        "best val accuracy": result.best_val_accuracy,
        "stopped early": result.stopped_early,
        "device": str(device),
        "precision": config.precision,
        "effective batch": config.batch_size * config.grad_accum * distributed.world_size(),
        "artifact": str(req.output),
        "history": str(history_path),
    }
    if distributed.world_size() > 1:  # under torchrun; the effective batch counts every process's
        summary["processes"] = distributed.world_size()
    if preset is not None:
        summary["block preset"] = f"{req.block_preset}: {preset.block or 'none'} + {', '.join(preset.heads)}"
    summary.update({k.replace("_", " "): v for k, v in timing.items()})
    if init_info:
        summary["init"] = init_info
    if result.resumed_from:
        summary["resumed from epoch"] = result.resumed_from
    if req.plot:
        summary["plot"] = str(req.plot)
    return TrainOutcome(model=model, history_frame=history, summary=summary)
