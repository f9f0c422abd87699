"""Training the head of an align-mode detector (``nnlab train --roi-mode align``).

Fast R-CNN's idea on R-CNN's data: the frozen backbone of a model artifact (``--init``) runs once per
image, every proposal of that image is pooled from the feature map with ``roi_align``
(:func:`nnlab.detection.roi.extract_proposal_features`), and only a head is fitted on those
features, for a handful of epochs that each take a fraction of a second. The result is a
roi_align model artifact (arch ``roi:BACKBONE``, :mod:`nnlab.models.roi`): backbone weights, head and pooling options in
one self-contained file, which ``nnlab detect --roi-mode align`` runs with the very same
feature function, so training and detection see identical features.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import torch

from nnlab.errors import NnlabError

ROI_DEFAULTS = {"output_size": 2, "pool": "avg", "image_scale": 1.0, "sampling_ratio": 2, "hidden": 256,
                "dropout": 0.2, "blocks": None}


def align_spec(source, classes: list[str], options: dict[str, Any]):
    """The ModelSpec of a roi_align model (arch ``roi:BACKBONE``) that reuses the backbone of ``source`` (a Classifier)."""
    from nnlab.models import ModelSpec

    if source.spec.surgery:
        raise NnlabError("the --init model of an align head must be a plain (not truncated) model")
    if source.spec.arch.startswith("roi:"):
        arch, arch_kwargs = source.spec.arch, dict(source.spec.arch_kwargs)
    else:
        backbone_kwargs = {k: v for k, v in source.spec.arch_kwargs.items() if k != "width"}
        arch = f"roi:{source.spec.arch}"
        arch_kwargs = {"width": source.spec.arch_kwargs.get("width", 1.0), "backbone_kwargs": backbone_kwargs,
                       **ROI_DEFAULTS}
    unknown = set(options) - set(ROI_DEFAULTS)
    if unknown:
        raise NnlabError(f"--model-arg {', '.join(sorted(unknown))} is not an align option; "
                         f"valid: {', '.join(ROI_DEFAULTS)}")
    arch_kwargs.update(options)
    if arch_kwargs.get("blocks") is None:
        arch_kwargs.pop("blocks", None)
    return ModelSpec(arch=arch, arch_kwargs=arch_kwargs, classes=classes, input=dict(source.spec.input),
                     surgery=[])


def build_align_model(source, classes: list[str], options: dict[str, Any] | None = None):
    """A ``roi_align`` Classifier whose backbone (and, when the classes agree, head) come from ``source``.

    Returns ``(model, copied)``, ``copied`` being the number of tensors taken from ``source``. The
    backbone is frozen (parameters and batch-norm statistics).
    """
    from nnlab.models import build_classifier

    model = build_classifier(align_spec(source, classes, options or {}))
    src = source.net.state_dict()
    dst = model.net.state_dict()
    matched = {k: v for k, v in src.items() if k in dst and dst[k].shape == v.shape}
    if not any(k.startswith("features.") for k in matched):
        raise NnlabError("the --init model shares no backbone weight with this align model (other width or input?)")
    dst.update(matched)
    model.net.load_state_dict(dst)
    for p in model.net.features.parameters():
        p.requires_grad_(False)
    return model, len(matched)


def roi_head(model):
    """The :class:`RoIAlignHead` that runs a ``roi_align`` model on whole images (backbone once per image)."""
    from nnlab.detection.roi import RoIAlignHead

    net = model.net
    if not hasattr(net, "roi_options"):
        raise NnlabError(f"align mode needs a roi_align model (nnlab train --roi-mode align); this one is a {model.spec.arch}")
    return RoIAlignHead(net.features, net.classifier, mean=model.spec.input["mean"], std=model.spec.input["std"],
                        **net.roi_options)


def region_features(model, dataset, progress: Callable[[int, int], None] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """RoIAlign features (N x D) and targets of every row of a proposals dataset, one backbone pass per image."""
    from nnlab.detection.roi import extract_proposal_features

    import numpy as np

    head = roi_head(model)
    head.eval()
    dataset.targets = np.array(dataset.targets)  # a writable copy (pandas hands out read-only arrays)
    with torch.inference_mode():
        return extract_proposal_features(head.backbone, dataset, progress=progress, **head.options)


def train_align_head(req, *, on_batch: Callable[[int, int], None] | None = None,
                     on_epoch: Callable[[dict], None] | None = None, customize=None):
    """`nnlab train --roi-mode align`: fit the head of a ``roi_align`` model on pooled proposal features.

    ``req`` is a :class:`nnlab.training.train_run.TrainRequest`: ``dataset`` must be ``proposals:PATH``,
    ``init`` the model artifact whose backbone is frozen; ``model_args`` set the pooling
    (``output_size``, ``pool``, ``image_scale``, ``sampling_ratio``, ``blocks``) and the head
    (``hidden``, ``dropout``); epochs, optimizer, learning rate, ``balance``, ``val_fraction`` and
    ``seed`` act as in `nnlab train`. Writes the model artifact and its history table; returns a
    TrainOutcome.
    """
    from nnlab import artifacts
    from nnlab.data import load_dataset
    from nnlab.device import resolve_device
    from nnlab.models import count_parameters
    from nnlab.training.config import TrainConfig
    from nnlab.training.engine import fit, seed_everything
    from nnlab.training.train_run import TrainOutcome, checkpoint_path

    if customize is not None:
        raise NnlabError("--roi-mode align cannot be combined with adversarial or metric-learning training")
    if not str(req.dataset).startswith("proposals:"):
        raise NnlabError(f"--roi-mode align trains on a proposals:PATH dataset, not {req.dataset!r}")
    if req.init is None:
        raise NnlabError("--roi-mode align needs --init MODEL: the model whose frozen backbone the head sits on")
    if not Path(req.init).exists():
        raise NnlabError(f"--init {req.init}: no such file")
    if req.output.suffix != ".safetensors":
        raise NnlabError(f"the model artifact must be a .safetensors file, got {req.output}")
    if req.model is not None and not str(req.model).startswith("roi:"):
        raise NnlabError("--roi-mode align builds a roi_align model from --init; drop --model")
    config = TrainConfig(
        epochs=req.epochs, batch_size=req.batch_size, optimizer=req.optimizer, lr=req.lr, momentum=req.momentum,
        weight_decay=req.weight_decay, schedule=req.schedule, step_size=req.step_size, gamma=req.gamma,
        label_smoothing=req.label_smoothing, patience=req.patience, seed=req.seed, num_workers=0, amp=req.amp,
        channels_last=False,
    )
    device = resolve_device(req.device)
    seed_everything(req.seed)
    options = dict(val_fraction=req.val_fraction, seed=req.seed, root=req.data_root)
    train_ds = load_dataset(req.dataset, "train", fraction=req.fraction, limit=req.limit, balance=req.balance,
                            **options)
    val_ds = load_dataset(req.dataset, "val", **options)
    source = artifacts.load_model(req.init)
    model, copied = build_align_model(source, list(train_ds.classes), dict(req.model_args))
    model.to(device).eval()

    t0 = time.perf_counter()
    x_train, y_train = region_features(model, train_ds, on_batch)
    x_val, y_val = region_features(model, val_ds, on_batch) if len(val_ds) else (None, None)
    extract_seconds = time.perf_counter() - t0
    if getattr(train_ds, "class_weights", None) is not None:
        config.class_weights = [float(w) for w in train_ds.class_weights]
    head = model.net.classifier
    train_set = torch.utils.data.TensorDataset(x_train, y_train)
    if x_val is not None and req.balance == "undersample":
        # Keeping the best epoch by accuracy on a val set that is ~90 % background picks a head that
        # says "background" everywhere; validate on the same balance as training instead.
        from nnlab.detection.dataset import undersample

        keep = torch.as_tensor(undersample(y_val.numpy(), 1.0, req.seed))
        x_val, y_val = x_val[keep], y_val[keep]
    val_set = torch.utils.data.TensorDataset(x_val, y_val) if x_val is not None else None
    result = fit(head, train_set, val_set, config, device, checkpoint=checkpoint_path(req.output), resume=req.resume,
                 on_epoch=on_epoch, on_batch=on_batch)
    model.to("cpu").eval()

    history = pd.DataFrame(result.history)
    best = next((r for r in result.history if r["epoch"] == result.best_epoch), result.history[-1])
    total, trainable = count_parameters(model.net)
    metrics = {"best_epoch": result.best_epoch, "train_accuracy": best.get("train_accuracy"),
               "val_accuracy": result.best_val_accuracy, "epochs_run": len(result.history)}
    prov = artifacts.provenance(dataset=req.dataset, seed=req.seed, train_config=config.to_dict(), roi_mode="align",
                                balance=req.balance, init=str(req.init))
    artifacts.save_model(req.output, model, metrics=metrics, provenance=prov)
    history_path = req.history or req.output.with_name(req.output.name.split(".")[0] + ".history.parquet")
    artifacts.save_table(history_path, history, {"table": "history", "provenance": prov})
    if req.plot is not None:
        from nnlab.report import plot_history

        plot_history(history, req.plot)
    checkpoint_path(req.output).unlink(missing_ok=True)
    summary = {
        "model": model.spec.arch, "backbone": f"{source.spec.arch} from {req.init} ({copied} tensors, frozen)",
        "dataset": req.dataset, "parameters": total, "trainable (head)": count_parameters(head)[1],
        "train regions": len(train_ds), "val regions": len(val_ds),
        "feature extraction s": round(extract_seconds, 2), "best epoch": result.best_epoch,
        "best val accuracy": result.best_val_accuracy, "device": str(device), "artifact": str(req.output),
        "history": str(history_path),
    }
    del trainable
    return TrainOutcome(model=model, history_frame=history, summary=summary)
