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
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from nnlab.data import load_dataset
from nnlab.detection.roi import RoIAlignHead, extract_proposal_features
from nnlab.device import resolve_device
from nnlab.errors import NnlabError, ParameterError
from nnlab.models import ModelSpec, build_classifier, count_parameters, load_model
from nnlab.models.roi import c4_split, feature_strides
from nnlab.ops.regions import reduce_pooled
from nnlab.training.engine import FitResult, fit, seed_everything
from nnlab.training.train_run import ROI_TRAINERS, TrainOutcome, checkpoint_path, train_and_save

ROI_DEFAULTS = {
    "output_size": "auto",
    "pool": "avg",
    "image_scale": 1.0,
    "sampling_ratio": 0,
    "hidden": 256,
    "dropout": 0.2,
    "blocks": None,
    "split": "auto",
    "scales": [1.0, 0.5, 0.25],
    "roi_size": "auto",
}
"""``auto``: ``roi_size`` is the side of the crops the ``--init`` model was trained on; ``split``
pools regions after the deepest block whose stride is at most ``min(16, roi_size / 8)``, and the
later blocks run on each pooled region (Faster R-CNN's C4 split: stride 16 and 14 x 14 cells for
224-pixel crops; for the demo's 32-pixel crops stride 4 and 8 x 8 cells, which matched crop mode's
mAP where pooling at stride 8 or 16 lost 0.2 or 0.45); ``output_size`` is ``roi_size`` over that
stride, so a pooled region has the shape a crop has at that depth. ``scales`` is the image
pyramid. ``split=none scales=none`` give the plain single-scale pooling of the last feature map."""


def _resolve_auto(arch_kwargs: dict[str, Any], source) -> dict[str, Any]:
    """Concrete split, roi_size, output_size and scales for the ``auto``/``none`` align options."""

    options = dict(arch_kwargs)
    for key in ("split", "scales", "blocks"):
        if isinstance(options.get(key), str) and options[key].lower() == "none":
            options[key] = None
    features = source.net.features
    channels = int(source.spec.input.get("channels", 3))
    if options.get("blocks") is not None:
        features = features[: int(options["blocks"])]
        if options.get("split") == "auto":
            options["split"] = None
    if options.get("roi_size") == "auto":
        options["roi_size"] = int(source.spec.input.get("size") or 32)
    if (
        isinstance(options.get("roi_size"), bool)
        or not isinstance(options.get("roi_size"), int)
        or options["roi_size"] < 1
    ):
        raise NnlabError(f"roi_size must be a positive number of pixels or auto, got {options.get('roi_size')!r}")
    split = options.get("split")
    if split not in (None, "auto") and (
        isinstance(split, bool) or not isinstance(split, int) or not 1 <= split < len(features)
    ):
        if len(features) < 2:
            raise NnlabError(
                f"the backbone has {len(features)} feature block(s), too few to split; split must be "
                f"auto or none, got {split!r}"
            )
        raise NnlabError(f"split must be auto, none or a block count in 1..{len(features) - 1}, got {split!r}")
    if options.get("split") == "auto":
        options["split"] = c4_split(features, channels, stride=min(16, max(1, int(options["roi_size"]) // 8)))
    if options.get("output_size") == "auto":
        if options.get("split") is not None:
            stride = feature_strides(features, channels)[int(options["split"]) - 1]
            options["output_size"] = max(1, int(options["roi_size"]) // stride)
        else:
            options["output_size"] = 2
    if options.get("scales") is None:
        options.pop("roi_size", None)
    return options


def align_spec(source, classes: list[str], options: dict[str, Any]):
    """The ModelSpec of a roi_align model (arch ``roi:BACKBONE``) that reuses the backbone of ``source`` (a
    Classifier)."""

    if source.spec.surgery:
        raise NnlabError("the init model of an align head must be a plain (not truncated) model")
    if source.spec.arch.startswith("roi:"):
        arch, arch_kwargs = source.spec.arch, dict(source.spec.arch_kwargs)
    else:
        backbone_kwargs = {k: v for k, v in source.spec.arch_kwargs.items() if k != "width"}
        arch = f"roi:{source.spec.arch}"
        arch_kwargs = {
            "width": source.spec.arch_kwargs.get("width", 1.0),
            "backbone_kwargs": backbone_kwargs,
            **ROI_DEFAULTS,
        }
    unknown = set(options) - set(ROI_DEFAULTS)
    if unknown:
        raise NnlabError(
            f"model options {', '.join(sorted(unknown))} are not align options; valid: {', '.join(ROI_DEFAULTS)}"
        )
    arch_kwargs.update(options)
    arch_kwargs = _resolve_auto(arch_kwargs, source)
    for key in ("blocks", "split", "scales"):
        if arch_kwargs.get(key) is None:
            arch_kwargs.pop(key, None)
    return ModelSpec(arch=arch, arch_kwargs=arch_kwargs, classes=classes, input=dict(source.spec.input), surgery=[])


def build_align_model(source, classes: list[str], options: dict[str, Any] | None = None):
    """A ``roi_align`` Classifier whose backbone (and, when the classes agree, head) come from ``source``.

    Returns ``(model, copied)``, ``copied`` being the number of tensors taken from ``source``. The
    backbone is frozen (parameters and batch-norm statistics).
    """

    model = build_classifier(align_spec(source, classes, options or {}))
    src = source.net.state_dict()
    dst = model.net.state_dict()
    matched = {k: v for k, v in src.items() if k in dst and dst[k].shape == v.shape}
    if not any(k.startswith("features.") for k in matched):
        raise NnlabError("the init model shares no backbone weight with this align model (other width or input?)")
    dst.update(matched)
    model.net.load_state_dict(dst)
    for p in model.net.features.parameters():
        p.requires_grad_(False)
    return model, len(matched)


def roi_head(model):
    """The :class:`RoIAlignHead` that runs a ``roi_align`` model on whole images (backbone once per image)."""

    net = model.net
    if not hasattr(net, "roi_options"):
        raise NnlabError(f"align mode needs a roi_align model (trained in align mode); this one is a {model.spec.arch}")
    tail = getattr(net, "tail", None)
    trunk = net.trunk if hasattr(net, "trunk") else net.features
    return RoIAlignHead(
        trunk, net.classifier, tail=tail, mean=model.spec.input["mean"], std=model.spec.input["std"], **net.roi_options
    )


def region_features(
    model, dataset, progress: Callable[[int, int], None] | None = None, *, before_tail: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """RoIAlign features (N x D) and targets of every row of a proposals dataset, one backbone pass per image.

    ``before_tail``: the pooled trunk maps themselves, flattened (N x C·o·o), which
    :class:`PooledRegionHead` takes; otherwise the features after the tail, which the classifier takes.
    """

    import numpy as np

    head = roi_head(model)
    head.eval()
    dataset.targets = np.array(dataset.targets)  # a writable copy (pandas hands out read-only arrays)
    options = {**head.options, "pool": "flatten"} if before_tail else head.options
    with torch.inference_mode():
        return extract_proposal_features(
            head.backbone, dataset, tail=None if before_tail else head.tail, progress=progress, **options
        )


class PooledRegionHead(nn.Module):
    """What an align model trains on top of its frozen trunk: the backbone's tail on each pooled region, then the
    classifier.

    Faster R-CNN's C4 head: the last backbone stage belongs to the region head and is fine-tuned
    on pooled features, because a frozen stage trained on crops reads a region pooled from a whole
    image (other context, no zero padding at the box edge) poorly. Takes the flattened pooled
    maps of :func:`region_features` (``before_tail=True``).
    """

    def __init__(self, tail: nn.Module, classifier: nn.Module, channels: int, size: int, pool: str):
        super().__init__()
        self.tail, self.classifier = tail, classifier
        self.channels, self.size, self.pool = channels, size, pool

    def forward(self, flat: torch.Tensor) -> torch.Tensor:
        maps = flat.view(len(flat), self.channels, self.size, self.size)
        return self.classifier(reduce_pooled(self.tail(maps), self.pool))


@ROI_TRAINERS.register("align")  # help: nnlab.detection.plugin
def train_align_head(
    req,
    *,
    on_batch: Callable[[int, int], None] | None = None,
    on_epoch: Callable[[dict], None] | None = None,
    provenance: dict[str, Any] | None = None,
) -> TrainOutcome:
    """Roi mode ``align`` of :func:`nnlab.training.train_run.run_train`: fit the head of a ``roi_align`` model.

    ``req`` is a :class:`nnlab.training.train_run.TrainRequest`: ``dataset`` must be ``proposals:PATH``,
    ``init`` the model artifact whose backbone is frozen; ``model_args`` set the pooling
    (``output_size``, ``pool``, ``image_scale``, ``sampling_ratio``, ``blocks``) and the head
    (``hidden``, ``dropout``); epochs, optimizer, learning rate, ``balance``, ``val_fraction`` and
    ``seed`` act as in `nnlab train`. Writes the model artifact and its history table; returns a
    TrainOutcome.
    """

    if req.hooks is not None and req.hooks.settings():
        raise NnlabError(
            "align-mode training fits a head on fixed features; it cannot be combined with "
            "adversarial or metric-learning training"
        )
    if not str(req.data.dataset).startswith("proposals:"):
        raise NnlabError(f"align mode trains on a proposals:PATH dataset, not {req.data.dataset!r}")
    if req.init is None:
        raise ParameterError("init", "align mode needs an init model: the model whose frozen backbone the head sits on")
    if not Path(req.init).exists():
        raise ParameterError("init", f"init model {req.init}: no such file")
    if req.output.suffix != ".safetensors":
        raise NnlabError(f"the model artifact must be a .safetensors file, got {req.output}")
    if req.model is not None and not str(req.model).startswith("roi:"):
        raise ParameterError("init", "align mode builds a roi_align model from the init model; do not name a model too")
    sel, runtime = req.data, req.runtime
    # the head trains on in-memory roi features: no loader workers, no channels-last, one learning rate
    config = replace(req.config, lr_head=None, sync_bn=False, num_workers=0, channels_last=False)
    device = resolve_device(runtime.device)
    seed_everything(runtime.seed)
    options = dict(val_fraction=sel.val_fraction, seed=runtime.seed, root=sel.data_root)
    train_ds = load_dataset(
        sel.dataset, "train", fraction=sel.fraction, limit=sel.limit, balance=req.balance, **options
    )
    val_ds = load_dataset(sel.dataset, "val", balance=req.balance, **options)
    source = load_model(req.init)
    model, copied = build_align_model(source, list(train_ds.classes), dict(req.model_args))
    model.to(device).eval()

    t0 = time.perf_counter()
    c4 = getattr(model.net, "split", None) is not None
    x_train, y_train = region_features(model, train_ds, on_batch, before_tail=c4)
    x_val, y_val = region_features(model, val_ds, on_batch, before_tail=c4) if len(val_ds) else (None, None)
    extract_seconds = time.perf_counter() - t0
    if getattr(train_ds, "class_weights", None) is not None:
        config.class_weights = [float(w) for w in train_ds.class_weights]
    head = model.net.classifier
    if c4:
        size = int(model.net.roi_options["output_size"])
        head = PooledRegionHead(
            model.net.tail, model.net.classifier, x_train.shape[1] // (size * size), size, model.net.pool
        )
        for p in head.tail.parameters():
            p.requires_grad_(True)
    train_set = torch.utils.data.TensorDataset(x_train, y_train)
    val_set = torch.utils.data.TensorDataset(x_val, y_val) if x_val is not None else None

    def train() -> FitResult:
        result = fit(
            head,
            train_set,
            val_set,
            config,
            device,
            checkpoint=checkpoint_path(req.output),
            resume=req.resume,
            on_epoch=on_epoch,
            on_batch=on_batch,
        )
        for p in model.net.features.parameters():
            p.requires_grad_(False)
        return result

    saved = train_and_save(
        model,
        train,
        output=req.output,
        history=req.history,
        plot=req.plot,
        provenance=dict(
            base=provenance,
            dataset=req.data.dataset,
            seed=runtime.seed,
            train_config=config.to_dict(),
            roi_mode="align",
            balance=req.balance,
            init=str(req.init),
        ),
    )
    result, history, history_path = saved.result, saved.history, saved.history_path
    total, _ = count_parameters(model.net)
    summary = {
        "model": model.spec.arch,
        "backbone": f"{source.spec.arch} from {req.init} ({copied} tensors, frozen)",
        "dataset": req.data.dataset,
        "parameters": total,
        "trained (head)": count_parameters(head)[0],
        "train regions": len(train_ds),
        "val regions": len(val_ds),
        "feature extraction s": round(extract_seconds, 2),
        "best epoch": result.best_epoch,
        "best val accuracy": result.best_val_accuracy,
        "device": str(device),
        "artifact": str(req.output),
        "history": str(history_path),
    }
    return TrainOutcome(model=model, history_frame=history, summary=summary)
